//! Fault drill on a real S3 server: the Ceph gateway stopped for 30 s in the middle of a
//! load and started again. Its own test binary, because it takes the gateway away from
//! every test running beside it.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::fixtures::{motion, unique_prefix};
use integration_tests::readback::{assert_chain, read_streams};
use integration_tests::s3::S3Env;
use worm::AuditLogBuilder;
use worm::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm::pipeline::{RetryConfig, SpoolSync};

fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/s3-server.sh")
}

fn gateway(cmd: &str) {
    let st = Command::new(script()).args([cmd, "ceph"]).status().unwrap();
    assert!(st.success(), "scripts/s3-server.sh {cmd} ceph");
}

/// The gateway is down while this lives; it comes back on drop, also when the test fails.
struct Outage;

impl Outage {
    fn start() -> Outage {
        gateway("gateway-stop");
        Outage
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        gateway("gateway-start");
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// The Ceph gateway stopped for 30 s in the middle of a load and started again: the writer
/// keeps accepting into its spool, reports the backlog, and stores everything once the
/// gateway is back — nothing lost, nothing twice, memory bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_outage_of_30s_loses_nothing_and_duplicates_nothing() {
    let Some(env) = S3Env::get() else { return };
    if std::env::var("WORM_TEST_S3_SERVER").ok().as_deref() != Some("ceph") {
        eprintln!(
            "skipped here: the outage drill stops the Ceph gateway (WORM_TEST_S3_SERVER=ceph)"
        );
        return;
    }
    let sink = Arc::new(env.sink().await);
    let prefix = unique_prefix("outage");
    let spool = tempfile::tempdir().unwrap();
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .max_records(200)
        .max_age(Duration::from_millis(500))
        .keys(KeyTemplate::new(DEFAULT_TEMPLATE, &prefix).unwrap())
        .retry(RetryConfig {
            max_retries: 2,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            max_round_backoff: Duration::from_secs(2),
            jitter_seed: None,
        })
        .spool_dir(spool.path(), SpoolSync::default())
        .build()
        .unwrap();

    const TOTAL: u64 = 30_000;
    let rss_before = rss_kib();
    let mut n = 0;
    // Before: a third of the load with the gateway up.
    while n < TOTAL / 3 {
        log.log(motion(n)).unwrap();
        n += 1;
    }
    let outage = Outage::start();
    let down_at = Instant::now();
    // During: the rest is accepted into the spool while nothing can be stored.
    while n < TOTAL {
        log.log(motion(n)).unwrap();
        n += 1;
        if n % 1000 == 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let remaining = Duration::from_secs(30).saturating_sub(down_at.elapsed());
    tokio::time::sleep(remaining).await;
    let during = log.stats();
    let rss_during = rss_kib();
    eprintln!("during the outage: {during:?}, RSS {rss_before} -> {rss_during} KiB");
    assert_eq!(
        during.accepted, TOTAL,
        "every record was accepted while the store was down"
    );
    assert!(during.pending > 0 && during.failures > 0, "{during:?}");
    assert!(
        during.oldest_pending_age.unwrap() >= Duration::from_secs(25),
        "{during:?}"
    );
    // The sealed batches wait in the spool, not in memory.
    assert_eq!(during.backlog_memory_bytes, 0, "{during:?}");
    assert!(during.backlog_spool_bytes > 0, "{during:?}");

    drop(outage); // the gateway starts again
    let back_at = Instant::now();
    log.flush().await.unwrap();
    let recovery = back_at.elapsed();
    let after = log.stats();
    eprintln!("recovered in {recovery:?}: {after:?}");
    assert_eq!(after.stored, TOTAL);
    assert_eq!(after.pending, 0);
    guard.close().await.unwrap();

    let streams = read_streams(sink.as_ref(), &format!("{prefix}/")).await;
    assert_eq!(streams.len(), 1);
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let mut seen = BTreeSet::new();
    for r in batches.iter().flat_map(|b| &b.records) {
        let n = r["n"].as_u64().unwrap();
        assert!(seen.insert(n), "record {n} stored twice");
    }
    assert_eq!(seen.len() as u64, TOTAL, "nothing lost");
    let versions = sink.list_versions(&format!("{prefix}/")).await.unwrap();
    assert_eq!(
        versions.len(),
        batches.len(),
        "one version per batch: no duplicate PUTs"
    );
    eprintln!(
        "outage drill: sent {TOTAL}, acknowledged {}, stored {}, duplicates 0, lost 0, recovery {recovery:?}",
        after.accepted, after.stored
    );
}
