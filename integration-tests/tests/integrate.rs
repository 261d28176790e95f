//! `tracing` and `log` integration: events become audit records with span context.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;
use std::time::Instant;

use integration_tests::readback::read_streams;
use tracing_subscriber::prelude::*;
use worm::integrate::{WormLayer, WormLogger};
use worm::memory::MemorySink;
use worm::{AuditLogBuilder, Level};

#[test]
fn span_fields_and_event_fields_make_one_record() {
    let mem = MemorySink::new();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "camera_service")
        .build()
        .unwrap();
    let subscriber =
        tracing_subscriber::registry().with(WormLayer::new(log.clone()).min_level(Level::Info));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = "req-1", camera_id = "cam001");
        let _e = span.enter();
        let inner = tracing::info_span!("inner", camera_id = "cam002");
        let _i = inner.enter();
        tracing::info!(
            user_id = "user123",
            action = "motion_detected",
            confidence = 0.92,
            detection_count = 3u64,
            "Motion detected"
        );
        tracing::debug!(action = "below_min_level", "not stored");
        tracing::info!(target: "worm", "the writer's own diagnostics are not audit records");
    });
    guard.close_blocking().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&mem, ""));
    let records: Vec<_> = streams
        .values()
        .flat_map(|b| b.iter().flat_map(|b| b.records.clone()))
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["request_id"], "req-1");
    assert_eq!(r["user_id"], "user123");
    assert_eq!(r["action"], "motion_detected");
    assert_eq!(r["message"], "Motion detected");
    assert_eq!(r["service_name"], "camera_service");
    assert_eq!(r["level"], "INFO");
    assert_eq!(r["camera_id"], "cam002", "the inner span wins");
    assert_eq!(r["confidence"], 0.92);
    assert_eq!(r["detection_count"], 3);
    assert_eq!(r["logger_name"], "integrate");
    assert!(r["line"].as_u64().unwrap() > 0);
}

#[test]
fn log_crate_records_are_stored() {
    let mem = MemorySink::new();
    let (audit, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "auth_service")
        .build()
        .unwrap();
    let logger = WormLogger::new(audit, log::LevelFilter::Info);
    log::Log::log(
        &logger,
        &log::Record::builder()
            .level(log::Level::Warn)
            .target("auth")
            .args(format_args!("user {} locked out", "user7"))
            .build(),
    );
    log::Log::log(
        &logger,
        &log::Record::builder()
            .level(log::Level::Debug)
            .args(format_args!("skip"))
            .build(),
    );
    guard.close_blocking().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&mem, ""));
    let records: Vec<_> = streams
        .values()
        .flat_map(|b| b.iter().flat_map(|b| b.records.clone()))
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["message"], "user user7 locked out");
    assert_eq!(records[0]["level"], "WARN");
    assert_eq!(records[0]["logger_name"], "auth");
}

/// A rough figure of what one audit event costs on the caller's thread (the criterion
/// benchmark is the real measurement); printed, not asserted.
#[test]
fn caller_cost_rough_figure() {
    let mem = MemorySink::new();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .queue_capacity(200_000)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(WormLayer::new(log.clone()));
    let n = 20_000;
    let took = tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("request", request_id = "req-1");
        let _e = span.enter();
        let t = Instant::now();
        for i in 0..n {
            tracing::info!(
                user_id = "user123",
                action = "motion_detected",
                i,
                "Motion detected"
            );
        }
        t.elapsed()
    });
    guard.close_blocking().unwrap();
    eprintln!("caller cost (this build profile): {:?} per event", took / n);
    assert_eq!(log.stats().stored, u64::from(n));
}

/// A record the writer refuses is never silent: `log` returns the error, and every
/// refusal is counted in `stats().refused` — including tracing events, which cannot
/// return an error (an oversized one also leaves a `worm.invalid_input` stub).
#[test]
fn refused_records_are_counted() {
    let mem = MemorySink::new();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_record_bytes(2048)
        .build()
        .unwrap();
    let big = "x".repeat(4096);
    let layer = || tracing_subscriber::registry().with(WormLayer::new(log.clone()));
    tracing::subscriber::with_default(layer(), || {
        tracing::info!(action = "kept", "stored");
        tracing::info!(
            action = "too_big",
            blob = big.as_str(),
            "refused, stub stored"
        );
    });
    let e = log
        .log(worm::AuditRecord::new(Level::Info, big.clone()))
        .unwrap_err();
    assert!(e.to_string().contains("max_record_bytes"), "{e}");
    assert_eq!(log.stats().refused, 2);
    guard.close_blocking().unwrap();
    tracing::subscriber::with_default(layer(), || {
        tracing::info!(action = "late", "after close");
    });
    let e = log
        .log(worm::AuditRecord::new(Level::Info, "late"))
        .unwrap_err();
    assert!(matches!(e, worm::Error::Closed), "{e}");
    let s = log.stats();
    assert_eq!(s.refused, 4, "{s:?}");
    assert_eq!(s.stored, 2, "the kept record and the stub: {s:?}");
    assert_eq!(s.dropped, 0);
}
