//! Starting and stopping a writer on S3 as a user meets it: `build` does no network I/O,
//! and what the store refuses comes back from `close` with its kind.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::{Duration, Instant};

use integration_tests::fixtures::motion;
use integration_tests::readback::read_streams;
use integration_tests::s3::{S3Env, unique_bucket};
use worm::pipeline::RetryConfig;
use worm::{AuditLogBuilder, Error, ErrorKind, WormSinkExt};

fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 1,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
        max_round_backoff: Duration::from_millis(200),
        jitter_seed: Some(1),
    }
}

/// `build` inside an async runtime returns at once although the S3 server is down: the
/// preflight runs on the writer's thread before the first upload, and its failure is what
/// `close` and the stats report.
#[tokio::test(flavor = "multi_thread")]
async fn build_returns_at_once_with_the_server_unreachable_and_close_reports_it() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let sink = worm_s3::S3SinkBuilder::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .with_credentials("test-key", "test-secret")
        .with_bucket("unreachable")
        .build()
        .unwrap();
    let started = Instant::now();
    let (log, guard) = AuditLogBuilder::new(sink, "camera_service")
        .retry(fast_retry())
        .close_deadline(Duration::from_secs(2))
        .build()
        .unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_millis(500), "build took {took:?}");
    log.log(motion(1)).unwrap();
    let err = guard.close().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("1 records not stored"), "{err}");
    let stats = log.stats();
    assert_eq!((stats.stored, stats.pending), (0, 1));
    let last = stats
        .last_error
        .expect("the failed preflight is in the stats");
    assert!(
        last.contains("s3://unreachable") && last.contains("Connection refused"),
        "{last}"
    );
}

/// A bucket without Object Lock: the preflight before the first upload says so, and
/// `close` returns an error whose kind is `NotWorm`, naming the batch.
#[tokio::test(flavor = "multi_thread")]
async fn close_on_a_bucket_without_object_lock_returns_not_worm() {
    let Some(env) = S3Env::get() else { return };
    let bucket = unique_bucket();
    env.test_setup(&bucket).create_plain_bucket().await.unwrap();
    let sink = env.builder(&bucket).build().unwrap();
    let (log, guard) = AuditLogBuilder::new(sink, "camera_service")
        .retry(fast_retry())
        .build()
        .unwrap();
    for n in 0..3 {
        log.log(motion(n)).unwrap();
    }
    let err = guard.close().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotWorm, "{err}");
    let Error::Batch(batch) = &err else {
        panic!("a batch error: {err:?}")
    };
    assert_eq!(batch.records(), 3);
    assert!(batch.key().starts_with("audit-logs/"), "{err}");
    assert!(
        matches!(batch.cause(), Error::NotWorm { target, .. } if target.contains(&bucket)),
        "{err}"
    );
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<Error>());
    assert!(matches!(source, Some(Error::NotWorm { .. })), "{source:?}");
    assert!(
        log.stats()
            .last_error
            .is_some_and(|e| e.contains("not WORM storage")),
        "{:?}",
        log.stats()
    );
}

/// The writer owns the key prefix: `.prefix("prod")` puts every batch under `prod/`.
#[tokio::test(flavor = "multi_thread")]
async fn prefix_prod_writes_every_batch_under_prod() {
    let Some(env) = S3Env::get() else { return };
    // This binary's own bucket: nothing else writes there.
    let sink = env.sink().await;
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .prefix("prod")
        .max_records(2)
        .build()
        .unwrap();
    for n in 0..5 {
        log.log(motion(n)).unwrap();
    }
    let report = guard.close().await.unwrap();
    assert_eq!(report.batches_stored, 3);
    let all = sink.list_all("").await.unwrap();
    assert_eq!(all.len(), 3, "{all:?}");
    assert!(all.iter().all(|o| o.key.starts_with("prod/")), "{all:?}");
    let streams = read_streams(&sink, "prod/").await;
    assert_eq!(
        streams
            .values()
            .flatten()
            .map(|b| b.records.len())
            .sum::<usize>(),
        5
    );
}

#[test]
fn a_prefix_that_is_not_a_safe_key_part_is_refused_by_build() {
    let err = AuditLogBuilder::new(worm::memory::MemorySink::new(), "camera_service")
        .prefix("a/../b")
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}
