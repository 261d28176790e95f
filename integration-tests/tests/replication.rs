//! Replication: every batch in every target, a target that is down never blocks the
//! others and never loses a batch (its backlog waits in the spool), and a writer killed
//! in the middle of replicating finishes every store on restart without storing anything
//! twice. The outage drill with a real S3 server paused is `replication_outage.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use integration_tests::fixtures::{motion, unique_prefix};
use integration_tests::replicas::{Replica, assert_replicas};
use integration_tests::s3::S3Env;
use worm::fs::FsSink;
use worm::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm::pipeline::{AckTargets, RetryConfig, SpoolSync, Target};
use worm::{
    AuditLogBuilder, Capabilities, Error, ObjectInfo, PutOptions, PutReceipt, StoredObject,
    WormSink,
};

fn fs(dir: &Path) -> Arc<dyn WormSink> {
    Arc::new(FsSink::builder(dir).build().unwrap())
}

fn quick_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 1,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(200),
        max_round_backoff: Duration::from_millis(500),
        jitter_seed: Some(7),
    }
}

/// A real store behind a switch: while `down`, every call fails as an unreachable server
/// does (transient); `delay` slows every PUT (a distant or slow replica).
#[derive(Debug)]
struct Switch {
    inner: Arc<dyn WormSink>,
    down: AtomicBool,
    delay: Duration,
}

impl Switch {
    fn new(inner: Arc<dyn WormSink>, delay: Duration) -> Arc<Switch> {
        Arc::new(Switch {
            inner,
            down: AtomicBool::new(false),
            delay,
        })
    }
    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }
    fn check(&self, what: &str) -> worm::Result<()> {
        if self.down.load(Ordering::SeqCst) {
            return Err(Error::transient(
                what.to_string(),
                "connection refused (switched off)",
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl WormSink for Switch {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> worm::Result<PutReceipt> {
        tokio::time::sleep(self.delay).await;
        self.check(key)?;
        self.inner.put(key, body, opts).await
    }
    async fn get(&self, key: &str) -> worm::Result<StoredObject> {
        self.check(key)?;
        self.inner.get(key).await
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, worm::Result<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn stored_sha256(&self, key: &str) -> worm::Result<worm::Sha256Hex> {
        self.check(key)?;
        self.inner.stored_sha256(key).await
    }
    async fn preflight(&self) -> worm::Result<()> {
        self.check("preflight")?;
        self.inner.preflight().await
    }
}

fn files_in(dir: &Path, ext: &str) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| {
        d.filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(ext))
            .count()
    })
}

async fn wait_for(what: &str, limit: Duration, mut ok: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_down_never_blocks_the_others_and_catches_up_from_the_spool() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, spool) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("spool"),
    );
    let down = Switch::new(fs(&b), Duration::ZERO);
    down.set_down(true);
    let (log, guard) = AuditLogBuilder::new(fs(&a), "camera_service")
        .replicate_to(down.clone())
        .ack_targets(AckTargets::Quorum(1))
        .max_records(50)
        .retry(quick_retry())
        .heartbeat(None)
        .spool_dir(&spool, SpoolSync::default())
        .build()
        .unwrap();
    for n in 0..1000 {
        log.log(motion(n)).unwrap();
    }
    // Quorum 1: stored once `a` has it, while `b` is down.
    tokio::time::timeout(Duration::from_secs(20), log.flush())
        .await
        .expect("a down replica does not block a flush under quorum 1")
        .unwrap();
    let s = log.stats();
    assert_eq!(s.stored, 1000);
    let (ta, tb) = (&s.targets[0], &s.targets[1]);
    assert_eq!((ta.batches_stored, ta.backlog_batches), (20, 0), "{ta:?}");
    assert_eq!((tb.batches_stored, tb.backlog_batches), (0, 20), "{tb:?}");
    assert!(tb.failures > 0 && tb.last_error.is_some(), "{tb:?}");
    assert!(s.last_error.as_deref().unwrap().contains(&tb.name), "{s:?}");
    // `b`'s backlog waits on disk, with a marker per batch saying `a` has it.
    let sealed = spool.join("camera_service").join("sealed");
    assert_eq!(files_in(&sealed, ".batch"), 20);
    assert_eq!(files_in(&sealed, ".done"), 20);
    assert_eq!(s.backlog_memory_bytes, 0);
    assert!(s.backlog_spool_bytes > 0);

    down.set_down(false);
    wait_for("b catches up", Duration::from_secs(20), || {
        log.stats().targets[1].backlog_batches == 0
    })
    .await;
    guard.close().await.unwrap();
    let s = log.stats();
    assert_eq!(
        s.targets[1].batches_stored, 21,
        "20 batches and the final one"
    );
    assert_eq!(files_in(&sealed, ".batch") + files_in(&sealed, ".done"), 0);
    let replicas = [("a", fs(&a)), ("b", fs(&b))].map(|(n, sink)| Replica {
        name: n.into(),
        sink,
        prefix: String::new(),
    });
    assert_replicas(&replicas, &(0..1000).collect(), 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_spool_a_replica_still_down_at_close_is_counted_as_missed() {
    let dir = tempfile::tempdir().unwrap();
    let down = Switch::new(fs(&dir.path().join("b")), Duration::ZERO);
    down.set_down(true);
    let build = |ack| {
        AuditLogBuilder::new(fs(&dir.path().join("a")), "camera_service")
            .replicate_to(down.clone())
            .ack_targets(ack)
            .max_records(10)
            .retry(quick_retry())
            .heartbeat(None)
            .close_deadline(Duration::from_millis(800))
            .build()
            .unwrap()
    };
    // Quorum 1: every record is stored (in `a`), and `b` missed every batch, counted.
    let (log, guard) = build(AckTargets::Quorum(1));
    for n in 0..100 {
        log.log(motion(n)).unwrap();
    }
    guard.close().await.unwrap();
    let s = log.stats();
    assert_eq!((s.stored, s.pending), (100, 0));
    assert_eq!(
        s.targets[1].missed, 11,
        "10 batches and the final one: {s:?}"
    );
    assert_eq!(s.targets[1].batches_stored, 0);
    // All (the default): the close fails and names what was not stored.
    let (log, guard) = build(AckTargets::All);
    for n in 0..100 {
        log.log(motion(n)).unwrap();
    }
    let err = guard.close().await.unwrap_err();
    assert!(err.to_string().contains("not stored"), "{err}");
    assert_eq!(log.stats().targets[1].missed, 11);
    // A quorum larger than the targets is refused by build.
    let e = AuditLogBuilder::new(fs(&dir.path().join("a")), "s")
        .replicate_to(down.clone())
        .ack_targets(AckTargets::Quorum(3))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("quorum 3"), "{e}");
}

/// The stores of the crash test: two directories (the second slow, so that a kill finds
/// it behind) and, with an S3 server, `bucket` (`WORM_REPL_BUCKET`) on it.
async fn crash_targets(dir: &Path, bucket: &str, slow: bool) -> Vec<(String, Arc<dyn WormSink>)> {
    let delay = if slow {
        Duration::from_millis(40)
    } else {
        Duration::ZERO
    };
    let mut t: Vec<(String, Arc<dyn WormSink>)> = vec![
        ("fs-a".into(), fs(&dir.join("a"))),
        ("fs-b".into(), Switch::new(fs(&dir.join("b")), delay)),
    ];
    if let Some(env) = S3Env::get() {
        let sink = env.builder(bucket).build().unwrap();
        sink.preflight().await.unwrap();
        t.push((format!("s3-{}", env.server), Arc::new(sink)));
    }
    t
}

fn crash_writer(
    targets: Vec<(String, Arc<dyn WormSink>)>,
    prefix: &str,
    spool: &Path,
) -> (worm::AuditLog, worm::WriterGuard) {
    let mut it = targets.into_iter();
    let (name, first) = it.next().unwrap();
    let mut b = AuditLogBuilder::to_target(Target::from_arc(first).name(name), "camera_service");
    for (name, sink) in it {
        b = b.replica(Target::from_arc(sink).name(name));
    }
    b.keys(KeyTemplate::new(DEFAULT_TEMPLATE, prefix).unwrap())
        .max_records(100)
        .retry(quick_retry())
        .heartbeat(None)
        .close_deadline(Duration::from_secs(60))
        .spool_dir(spool, SpoolSync::default())
        .build()
        .unwrap()
}

/// Entry point of the child writer (run by the crash test, ignored otherwise): logs
/// records numbered from 0 and prints each acknowledged number, until killed.
#[test]
#[ignore = "child process of the crash test"]
fn replicating_child() {
    let (Ok(dir), Ok(prefix)) = (
        std::env::var("WORM_REPL_DIR"),
        std::env::var("WORM_REPL_PREFIX"),
    ) else {
        return;
    };
    let dir = Path::new(&dir);
    // Kept for the child's life: the S3 sink was made in it.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let bucket = std::env::var("WORM_REPL_BUCKET").unwrap_or_default();
    let targets = rt.block_on(crash_targets(dir, &bucket, true));
    let (log, _guard) = crash_writer(targets, &prefix, &dir.join("spool"));
    let mut out = std::io::stdout().lock();
    // 100 batches, then nothing more: the slow store is still catching up when killed.
    for n in 0..10_000 {
        log.log(motion(n)).unwrap();
        writeln!(out, "ack {n}").unwrap();
    }
    out.flush().unwrap();
    loop {
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_replicating_then_restart_every_store_complete_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = unique_prefix("repl-crash");
    let bucket = match S3Env::get() {
        Some(env) => env.shared_bucket().await,
        None => String::new(),
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "replicating_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("WORM_REPL_DIR", dir.path())
        .env("WORM_REPL_PREFIX", &prefix)
        .env("WORM_REPL_BUCKET", &bucket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| l.split("ack ").nth(1)?.trim().parse::<u64>().ok())
            .collect::<BTreeSet<u64>>()
    });
    // Until the faster stores hold batches the slow one does not have yet.
    let sealed = dir
        .path()
        .join("spool")
        .join("camera_service")
        .join("sealed");
    let start = Instant::now();
    while files_in(&sealed, ".done") < 20 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the child replicates"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let acked = reader.join().unwrap();
    let (batches, markers) = (files_in(&sealed, ".batch"), files_in(&sealed, ".done"));
    eprintln!(
        "killed with {} records acknowledged, {batches} sealed batches in the spool, {markers} per-target markers",
        acked.len()
    );
    assert!(
        batches > 0 && markers > 0,
        "the kill came in the middle of replicating"
    );

    let targets = crash_targets(dir.path(), &bucket, false).await;
    let names: Vec<String> = targets.iter().map(|(n, _)| n.clone()).collect();
    let sinks: Vec<Arc<dyn WormSink>> = targets.iter().map(|(_, s)| s.clone()).collect();
    let (log, guard) = crash_writer(targets, &prefix, &dir.path().join("spool"));
    let recovered = log.stats().recovered;
    guard.close().await.unwrap();
    assert_eq!(files_in(&sealed, ".batch") + files_in(&sealed, ".done"), 0);
    let replicas: Vec<Replica> = names
        .into_iter()
        .zip(sinks)
        .map(|(name, sink)| Replica {
            prefix: if name.starts_with("s3") {
                format!("{prefix}/")
            } else {
                String::new()
            },
            name,
            sink,
        })
        .collect();
    let checked = assert_replicas(&replicas, &acked, 1).await;
    eprintln!(
        "recovered {recovered} records; {} stores hold the same {} objects and {} records, none twice",
        replicas.len(),
        checked.objects,
        checked.records
    );
}
