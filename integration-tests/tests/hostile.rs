//! Hostile input through the API: every case gets a clear answer, nothing already
//! accepted is lost, and no key leaves its prefix.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;

use integration_tests::readback::{assert_chain, read_streams};
use tracing_subscriber::prelude::*;
use worm::integrate::WormLayer;
use worm::key::validate_key;
use worm::memory::MemorySink;
use worm::{AuditLogBuilder, AuditRecord, Error, Level};

#[test]
fn hostile_records_are_stored_or_refused_clearly_and_keys_stay_in_their_prefix() {
    let mem = MemorySink::new();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "camera_service")
        .max_records(1) // one batch per record: every request id shapes a key
        .build()
        .unwrap();
    let long = "r".repeat(10_000);
    let tricks = [
        "../../etc/passwd",
        "/",
        "..",
        "a/../../b",
        "\u{0}\n\r\t",
        "é日本",
        long.as_str(),
        "",
    ];
    for (i, rid) in tricks.iter().enumerate() {
        log.log(
            AuditRecord::new(Level::Info, "path trick")
                .request_id(*rid)
                .field("i", i as u64),
        )
        .unwrap();
    }
    // Control characters and NUL in values are kept, JSON-escaped.
    log.log(AuditRecord::new(Level::Warn, "nul \u{0} bell \u{7} newline \n end").field("i", 100))
        .unwrap();
    // A 50 MiB record is refused with a reason; nothing before or after is affected.
    let huge = AuditRecord::new(Level::Info, "x".repeat(50 << 20)).action("huge");
    let err = log.log(huge).unwrap_err();
    assert!(matches!(&err, Error::InvalidInput { .. }), "{err}");
    assert!(err.to_string().contains("max_record_bytes"), "{err}");
    log.log(AuditRecord::new(Level::Info, "after the huge one").field("i", 101))
        .unwrap();
    // Untrusted JSON: duplicate keys, deep nesting, NaN are refused with the reason.
    for (bad, why) in [
        (
            r#"{"user_id":"alice","user_id":"mallory"}"#,
            "duplicate key",
        ),
        (
            &format!("{{\"a\":{}1{}}}", "[".repeat(10_000), "]".repeat(10_000)),
            "recursion limit",
        ),
        (r#"{"confidence":NaN}"#, "expected value"),
    ] {
        let e = AuditRecord::from_json(bad).unwrap_err();
        assert!(e.to_string().contains(why), "{e}");
    }
    guard.close_blocking().unwrap();

    for key in mem.keys() {
        validate_key(&key).unwrap();
        assert!(key.starts_with("audit-logs/"), "{key}");
        assert_eq!(
            key.matches('/').count(),
            4,
            "request id added a path segment: {key}"
        );
        assert!(key.len() < 300, "{key}");
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&mem, ""));
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let records: Vec<_> = batches.iter().flat_map(|b| &b.records).collect();
    assert_eq!(records.len(), tricks.len() + 2);
    let nul = records.iter().find(|r| r["i"] == 100).unwrap();
    assert_eq!(nul["message"], "nul \u{0} bell \u{7} newline \n end");
    let odd = records.iter().find(|r| r["i"] == 4).unwrap();
    assert_eq!(
        odd["request_id"], "\u{0}\n\r\t",
        "the record keeps the raw id; only the key is sanitised"
    );
}

#[test]
fn a_refused_event_from_tracing_leaves_a_trace_in_the_stream() {
    let mem = MemorySink::new();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_record_bytes(4096)
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(WormLayer::new(log.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let big = "y".repeat(10_000);
        tracing::info!(
            request_id = "req-7",
            user_id = "u1",
            action = "export",
            blob = big.as_str(),
            "too big"
        );
        tracing::info!(score = f64::NAN, "NaN survives as text");
    });
    guard.close_blocking().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&mem, ""));
    let records: Vec<_> = streams
        .values()
        .flatten()
        .flat_map(|b| b.records.clone())
        .collect();
    let stub = records
        .iter()
        .find(|r| r["action"] == "worm.invalid_input")
        .expect("a stub record");
    assert_eq!(stub["request_id"], "req-7");
    assert_eq!(stub["user_id"], "u1");
    assert!(
        stub["reason"]
            .as_str()
            .unwrap()
            .contains("max_record_bytes")
    );
    let nan = records
        .iter()
        .find(|r| r["message"] == "NaN survives as text")
        .unwrap();
    assert_eq!(nan["score"], "NaN");
}
