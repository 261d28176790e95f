//! The replication outage drill (feature `docker`): one writer replicates to a local
//! directory, Ceph (the S3 server of `WORM_TEST_S3_ENDPOINT`) and SeaweedFS in a
//! container of its own. The container is paused for 30 s in the middle of the load
//! (`docker pause`: the server stops answering), then resumed. The other two stores keep
//! receiving every batch meanwhile, SeaweedFS's backlog waits in the spool (not in
//! memory), and afterwards all three hold the same objects byte for byte, each verifies
//! intact, and each holds every record once.
//!
//! Only the container this test starts is paused; the shared servers are never touched.
#![cfg(feature = "docker")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::docker::{self, SeaweedFsContainer, SeaweedFsOptions};
use integration_tests::fixtures::{motion, unique_prefix};
use integration_tests::replicas::{Replica, assert_replicas};
use integration_tests::s3::S3Env;
use worm::fs::FsSink;
use worm::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm::pipeline::{RetryConfig, SpoolSync, Target};
use worm::{AuditLogBuilder, WormSink};

const PAUSE: Duration = Duration::from_secs(30);

async fn s3_sink(env: &S3Env, bucket: &str) -> Arc<dyn WormSink> {
    let sink = env
        .builder(bucket)
        .with_timeouts(Duration::from_secs(5), Duration::from_secs(2))
        .build()
        .unwrap();
    sink.preflight()
        .await
        .unwrap_or_else(|e| panic!("preflight of {bucket} at {}: {e}", env.endpoint));
    Arc::new(sink)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drill_seaweedfs_paused_30s_while_replicating_to_fs_ceph_and_seaweedfs() {
    if let Err(e) = docker::engine().await {
        assert!(
            !docker::docker_required(),
            "WORM_TEST_REQUIRE_DOCKER=1 but {e}"
        );
        eprintln!("skipped: {e}");
        return;
    }
    let Some(ceph) = S3Env::get() else { return };
    let container = SeaweedFsContainer::start(&SeaweedFsOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sw = container.env().clone();
    assert_ne!(ceph.endpoint, sw.endpoint, "two different S3 servers");
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("repl-outage");
    let fs: Arc<dyn WormSink> = Arc::new(FsSink::builder(dir.path().join("fs")).build().unwrap());
    let ceph_sink = s3_sink(&ceph, &ceph.fresh_bucket().await).await;
    let sw_sink = s3_sink(&sw, &sw.fresh_bucket().await).await;
    let (log, guard) =
        AuditLogBuilder::to_target(Target::from_arc(fs.clone()).name("fs"), "camera_service")
            .replica(Target::from_arc(ceph_sink.clone()).name(format!("ceph {}", ceph.endpoint)))
            .replica(Target::from_arc(sw_sink.clone()).name(format!("seaweedfs {}", sw.endpoint)))
            .keys(KeyTemplate::new(DEFAULT_TEMPLATE, &prefix).unwrap())
            .max_records(200)
            .max_age(Duration::from_millis(500))
            .retry(RetryConfig {
                max_retries: 1,
                initial_backoff: Duration::from_millis(50),
                max_backoff: Duration::from_millis(500),
                max_round_backoff: Duration::from_secs(2),
                jitter_seed: None,
            })
            .heartbeat(None)
            .close_deadline(Duration::from_secs(60))
            .spool_dir(dir.path().join("spool"), SpoolSync::default())
            .build()
            .unwrap();

    let mut n = 0;
    while n < 2_000 {
        log.log(motion(n)).unwrap();
        n += 1;
    }
    log.flush().await.unwrap();
    let before = log.stats();

    container.container().pause().await.expect("docker pause");
    let paused_at = Instant::now();
    // 30 s of load, paced: 250 records every second.
    while paused_at.elapsed() < PAUSE - Duration::from_secs(2) {
        for _ in 0..250 {
            log.log(motion(n)).unwrap();
            n += 1;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // The others are not blocked: fs and Ceph hold every batch sealed so far.
    let start = Instant::now();
    let during = loop {
        let s = log.stats();
        if s.targets[0].backlog_batches == 0 && s.targets[1].backlog_batches == 0 {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "fs and Ceph keep up: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(PAUSE.saturating_sub(paused_at.elapsed())).await;
    let paused = log.stats();
    container
        .container()
        .unpause()
        .await
        .expect("docker unpause");
    let back_at = Instant::now();
    log.flush().await.unwrap();
    let caught_up = back_at.elapsed();
    guard.close().await.unwrap();
    let after = log.stats();

    let sw_stats = &paused.targets[2];
    assert!(
        sw_stats.backlog_batches > 10 && sw_stats.failures > 0,
        "SeaweedFS fell behind while paused: {sw_stats:?}"
    );
    assert!(
        during.targets[0].batches_stored > before.targets[0].batches_stored + 10
            && during.targets[1].batches_stored > before.targets[1].batches_stored + 10,
        "fs and Ceph kept storing during the pause: {during:?}"
    );
    assert_eq!(
        paused.backlog_memory_bytes, 0,
        "the backlog waits in the spool, not in memory"
    );
    assert!(paused.backlog_spool_bytes > 0);
    assert_eq!(after.pending, 0);
    for t in &after.targets {
        assert_eq!((t.backlog_batches, t.missed), (0, 0), "{t:?}");
        assert_eq!(t.batches_stored, after.batches_stored, "{t:?}");
    }
    let replicas = [
        ("fs", fs, String::new()),
        ("ceph", ceph_sink, format!("{prefix}/")),
        ("seaweedfs", sw_sink, format!("{prefix}/")),
    ]
    .map(|(name, sink, prefix)| Replica {
        name: name.into(),
        sink,
        prefix,
    });
    let checked = assert_replicas(&replicas, &(0..n).collect(), 1).await;
    eprintln!(
        "replication outage: {n} records, SeaweedFS paused {PAUSE:?} with {} batches ({} bytes) \
         waiting for it in the spool and {} failed rounds while fs and Ceph stored {} batches; \
         caught up {caught_up:.1?} after resuming; fs, Ceph and SeaweedFS hold the same {} \
         objects byte for byte, each intact, {} records each, none twice",
        sw_stats.backlog_batches,
        sw_stats.backlog_bytes,
        sw_stats.failures,
        during.targets[0].batches_stored - before.targets[0].batches_stored,
        checked.objects,
        checked.records,
    );
    container.remove().await.unwrap();
}
