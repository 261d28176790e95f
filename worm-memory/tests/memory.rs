//! MemorySink's own rules, and fault injection through FaultySink.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use worm_core::{Error, PutOptions, Retention, RetentionMode, WormSink, WormSinkExt};
use worm_memory::MemorySink;
use worm_memory::testing::{Calls, Failure, FaultySink, Op};

fn opts() -> PutOptions {
    PutOptions::default()
}

fn with_retention(mode: RetentionMode, secs: i64) -> PutOptions {
    PutOptions {
        retention: Some(Retention {
            mode,
            retain_until: Utc::now() + chrono::Duration::seconds(secs),
        }),
        ..PutOptions::default()
    }
}

async fn put(sink: &MemorySink, key: &str, o: &PutOptions) {
    sink.put(key, Bytes::from_static(b"body"), o).await.unwrap();
}

#[tokio::test]
async fn delete_follows_retention_and_legal_hold() {
    let sink = MemorySink::new();
    put(
        &sink,
        "gov",
        &with_retention(RetentionMode::Governance, 3600),
    )
    .await;
    put(
        &sink,
        "comp",
        &with_retention(RetentionMode::Compliance, 3600),
    )
    .await;
    put(
        &sink,
        "expired",
        &with_retention(RetentionMode::Compliance, -1),
    )
    .await;
    put(&sink, "plain", &opts()).await;
    let hold = PutOptions {
        legal_hold: true,
        ..with_retention(RetentionMode::Governance, -1)
    };
    put(&sink, "held", &hold).await;

    let denied = |r: worm_core::Result<()>, key: &str, why: &str| match r {
        Err(e @ Error::PermissionDenied { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(key) && msg.contains(why), "{msg}");
        }
        other => panic!("delete of {key} must be refused, got {other:?}"),
    };
    denied(sink.delete("gov", false), "gov", "bypass_governance");
    denied(sink.delete("comp", false), "comp", "COMPLIANCE");
    denied(sink.delete("comp", true), "comp", "COMPLIANCE");
    denied(sink.delete("held", true), "held", "legal hold");
    sink.delete("gov", true).unwrap();
    sink.delete("expired", false).unwrap();
    sink.delete("plain", false).unwrap();
    sink.set_legal_hold("held", false).unwrap();
    sink.delete("held", false).unwrap();
    assert_eq!(sink.keys(), vec!["comp".to_string()]);
    assert!(matches!(
        sink.delete("gone", true),
        Err(Error::NotFound { .. })
    ));
    assert!(matches!(
        sink.delete("../x", true),
        Err(Error::InvalidInput { .. })
    ));

    denied(
        sink.overwrite("comp", Bytes::from_static(b"x")),
        "comp",
        "never changed",
    );
    assert_eq!(
        sink.get("comp").await.unwrap().body,
        Bytes::from_static(b"body")
    );
}

#[tokio::test]
async fn injected_failures_hit_the_right_calls() {
    let sink = FaultySink::new(MemorySink::new());
    sink.fail_next_puts(2, Failure::Transient);
    sink.fail_next(Op::Get, 1, Failure::Permanent);
    for _ in 0..2 {
        let e = sink
            .put("k", Bytes::from_static(b"a"), &opts())
            .await
            .unwrap_err();
        assert!(
            matches!(e, Error::Transient { .. }) && e.is_retryable(),
            "{e}"
        );
        assert!(e.to_string().contains("'k'"), "{e}");
    }
    assert!(sink.is_empty(), "a failed put must store nothing");
    sink.put("k", Bytes::from_static(b"a"), &opts())
        .await
        .unwrap();
    let e = sink.get("k").await.unwrap_err();
    assert!(
        matches!(e, Error::Backend { .. }) && !e.is_retryable(),
        "{e}"
    );
    assert_eq!(sink.get("k").await.unwrap().body, Bytes::from_static(b"a"));

    sink.fail_next(Op::Any, 3, Failure::Permanent);
    assert!(sink.list_all("").await.is_err());
    assert!(sink.get("k").await.is_err());
    assert!(sink.put("k2", Bytes::new(), &opts()).await.is_err());
    assert_eq!(sink.list_all("").await.unwrap().len(), 1);
    assert_eq!(
        sink.calls(),
        Calls {
            put: 4,
            get: 3,
            list: 2
        }
    );

    sink.fail_next_puts(5, Failure::Transient).clear_faults();
    sink.put("k3", Bytes::new(), &opts()).await.unwrap();
    assert_eq!(sink.put_calls(), 5);
}

#[tokio::test]
async fn stored_but_reported_failed_put_leaves_one_object() {
    let sink = FaultySink::new(MemorySink::new());
    sink.store_then_fail_next_puts(1);
    let body = Bytes::from_static(b"batch 7");
    let e = sink.put("b/7", body.clone(), &opts()).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    // The retry finds the object stored and can confirm it by hash.
    let retry = sink.put("b/7", body.clone(), &opts()).await.unwrap_err();
    assert!(matches!(retry, Error::AlreadyExists { .. }), "{retry}");
    assert_eq!(
        sink.stored_sha256("b/7").await.unwrap(),
        worm_core::Sha256Hex::of(&body)
    );
    assert_eq!(sink.keys(), vec!["b/7".to_string()]);
    assert_eq!(sink.put_calls(), 2);
}

#[tokio::test(start_paused = true)]
async fn latency_delays_every_call() {
    let sink = FaultySink::new(MemorySink::new());
    sink.set_latency(Duration::from_secs(2));
    let start = tokio::time::Instant::now();
    sink.put("k", Bytes::new(), &opts()).await.unwrap();
    sink.get("k").await.unwrap();
    sink.list_all("").await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(6));
    sink.set_latency(Duration::ZERO);
    let start = tokio::time::Instant::now();
    sink.get("k").await.unwrap();
    assert_eq!(start.elapsed(), Duration::ZERO);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_puts_wait_until_released() {
    let sink = FaultySink::new(MemorySink::new());
    sink.stall_puts();
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let s = sink.clone();
            tokio::spawn(async move {
                s.put(&format!("k{i}"), Bytes::new(), &PutOptions::default())
                    .await
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(5), sink.wait_until_stalled(3))
        .await
        .unwrap();
    assert_eq!(sink.stalled_puts(), 3);
    assert!(sink.is_empty(), "stalled puts must not store yet");
    // Reads still work while puts hang.
    assert_eq!(sink.list_all("").await.unwrap().len(), 0);
    sink.release_puts();
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
    assert_eq!(sink.len(), 3);
    assert_eq!(sink.stalled_puts(), 0);
}

#[tokio::test]
async fn cancelled_stalled_put_is_uncounted() {
    let sink = FaultySink::new(MemorySink::new());
    sink.stall_puts();
    let s = sink.clone();
    let t = tokio::spawn(async move { s.put("k", Bytes::new(), &PutOptions::default()).await });
    sink.wait_until_stalled(1).await;
    t.abort();
    let _ = t.await;
    assert_eq!(sink.stalled_puts(), 0);
    assert!(sink.is_empty());
}

#[tokio::test]
async fn clones_share_state_and_debug_is_short() {
    let a = FaultySink::new(MemorySink::new());
    let b = a.clone();
    a.put("x", Bytes::from_static(b"1"), &opts()).await.unwrap();
    assert!(b.exists("x").await.unwrap());
    b.fail_next_puts(1, Failure::Permanent);
    assert!(a.put("y", Bytes::new(), &opts()).await.is_err());
    assert_eq!(b.describe(), "memory:");
    let dbg = format!("{a:?}");
    assert!(dbg.contains("objects: 1"), "{dbg}");
    let got = a.get("x").await.unwrap();
    assert_eq!(got.legal_hold, Some(false));
    assert_eq!(got.version_id.as_deref(), Some("v1"));
}
