//! The durable spool: a writer process that dies (abort, SIGKILL) loses nothing it
//! acknowledged, and the next writer finishes the same stream without duplicates.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::readback::{assert_chain, read_streams};
use worm::fs::FsSink;
use worm::pipeline::SpoolSync;
use worm::{AuditLogBuilder, AuditRecord, Level, WormSink};

fn sink(dir: &Path) -> Arc<dyn WormSink> {
    Arc::new(FsSink::builder(dir).build().unwrap())
}

fn writer(store: &Path, spool: &Path, sync: SpoolSync) -> (worm::AuditLog, worm::WriterGuard) {
    AuditLogBuilder::new(sink(store), "camera_service")
        .max_records(100)
        .spool_dir(spool, sync)
        .build()
        .unwrap()
}

/// Entry point of the child writer process (run by the tests below, ignored otherwise).
/// Logs records numbered from 0, prints each acknowledged number, never closes.
#[test]
#[ignore = "child process of the crash tests"]
fn child_writer() {
    let (Ok(store), Ok(spool)) = (std::env::var("WORM_STORE"), std::env::var("WORM_SPOOL")) else {
        return;
    };
    let limit: u64 = std::env::var("WORM_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let sync = if std::env::var("WORM_SYNC_EVERY").is_ok() {
        SpoolSync::EveryRecord
    } else {
        SpoolSync::default()
    };
    let (log, guard) = if std::env::var("WORM_NO_UPLOAD").is_ok() {
        // Seal and spool batches but never store one: the next writer must do it all.
        AuditLogBuilder::new(
            Arc::new(Unreachable(sink(Path::new(&store)))),
            "camera_service",
        )
        .max_records(100)
        .spool_dir(Path::new(&spool), sync)
        .build()
        .unwrap()
    } else {
        writer(Path::new(&store), Path::new(&spool), sync)
    };
    let with_cursor = std::env::var("WORM_CURSOR").is_ok();
    let mut out = std::io::stdout().lock();
    if let Some(k) = std::env::var("WORM_RESERVE")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        // Groups of k records, each group reserved, added, committed (one WAL write),
        // then acknowledged.
        let mut n = 0;
        while n < limit {
            let group = k.min(limit - n);
            let mut r = log.try_reserve(group as usize).unwrap();
            for i in n..n + group {
                let rec = AuditRecord::new(Level::Info, "motion")
                    .action("motion_detected")
                    .field("n", i);
                r.add(&rec).unwrap();
            }
            r.commit().unwrap();
            for i in n..n + group {
                writeln!(out, "ack {i}").unwrap();
            }
            n += group;
        }
        out.flush().unwrap();
        std::mem::forget(guard);
        std::process::abort();
    }
    for n in 0..limit {
        let rec = AuditRecord::new(Level::Info, "motion")
            .action("motion_detected")
            .field("n", n);
        if with_cursor {
            // The cursor is the next number to log, as a tailer's is the next offset.
            log.log_with_cursor(rec, &(n + 1).to_string()).unwrap();
        } else {
            log.log(rec).unwrap();
        }
        writeln!(out, "ack {n}").unwrap();
        if n % 64 == 0 {
            out.flush().unwrap();
        }
    }
    out.flush().unwrap();
    // Die without closing: no final batch, no flush.
    std::mem::forget(guard);
    std::process::abort();
}

/// A store whose every PUT fails transiently (an outage that never ends).
#[derive(Debug)]
struct Unreachable(Arc<dyn WormSink>);

#[async_trait::async_trait]
impl WormSink for Unreachable {
    async fn put(
        &self,
        key: &str,
        _: bytes::Bytes,
        _: &worm::PutOptions,
    ) -> worm::Result<worm::PutReceipt> {
        Err(worm::Error::transient(
            format!("put {key}"),
            "connection refused",
        ))
    }
    async fn get(&self, key: &str) -> worm::Result<worm::StoredObject> {
        self.0.get(key).await
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> futures::stream::BoxStream<'a, worm::Result<worm::ObjectInfo>> {
        self.0.list(prefix)
    }
    fn capabilities(&self) -> worm::Capabilities {
        self.0.capabilities()
    }
    fn describe(&self) -> String {
        "unreachable".into()
    }
}

/// How the child writer runs.
enum Child {
    /// Writes `n` records to a store that never answers, then aborts: recovery has
    /// everything to do.
    NoUpload(u64),
    /// Writes up to `n` records to the real store, until killed.
    Load(u64),
    /// As `Load`, each record with its cursor (`log_with_cursor`).
    Cursor(u64),
    /// As `NoUpload`, the records logged in reservations of the second number each
    /// (`try_reserve`, one WAL write per group).
    Reserved(u64, u64),
}

fn spawn_child(store: &Path, spool: &Path, mode: Child) -> std::process::Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        "child_writer",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("WORM_STORE", store)
    .env("WORM_SPOOL", spool)
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    match mode {
        Child::NoUpload(n) => cmd
            .env("WORM_LIMIT", n.to_string())
            .env("WORM_NO_UPLOAD", "1"),
        Child::Load(n) => cmd.env("WORM_LIMIT", n.to_string()),
        Child::Cursor(n) => cmd.env("WORM_LIMIT", n.to_string()).env("WORM_CURSOR", "1"),
        Child::Reserved(n, k) => cmd
            .env("WORM_LIMIT", n.to_string())
            .env("WORM_NO_UPLOAD", "1")
            .env("WORM_RESERVE", k.to_string()),
    };
    cmd.spawn().unwrap()
}

/// A number the child printed as acknowledged (the test harness may prefix the line).
fn ack_of(line: &str) -> Option<u64> {
    line.split("ack ").nth(1)?.trim().parse().ok()
}

/// The child's acknowledged numbers, read on a thread while it runs (until it dies).
fn read_acks(child: &mut std::process::Child) -> std::thread::JoinHandle<Vec<u64>> {
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .filter_map(|l| ack_of(&l))
            .collect()
    })
}

/// Numbers printed by the child: acknowledged records.
fn acked(child: &mut std::process::Child) -> BTreeSet<u64> {
    let out = child.stdout.take().unwrap();
    BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| ack_of(&l))
        .collect()
}

/// Recover with a fresh writer, close it, and check the store: every acknowledged record
/// exactly once, one stream, gap-free chain, closed.
async fn recover_and_check(store: &Path, spool: &Path, acked: &BTreeSet<u64>) -> u64 {
    let (log, guard) = writer(store, spool, SpoolSync::default());
    let recovered = log.stats().recovered;
    guard.close().await.unwrap();
    let streams = read_streams(sink(store).as_ref(), "").await;
    assert_eq!(
        streams.len(),
        1,
        "the recovered writer continues the same stream"
    );
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let mut seen = BTreeSet::new();
    for r in batches.iter().flat_map(|b| &b.records) {
        if let Some(n) = r["n"].as_u64() {
            assert!(seen.insert(n), "record {n} stored twice");
        }
    }
    let missing: Vec<_> = acked.difference(&seen).take(10).collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");
    recovered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_after_acknowledging_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let mut child = spawn_child(&store, &spool, Child::NoUpload(5_050));
    let acked = acked(&mut child);
    assert_eq!(
        std::fs::read_dir(&store).map_or(0, |d| d.count()),
        0,
        "nothing was stored"
    );
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child aborts");
    assert_eq!(acked.len(), 5_050);
    let recovered = recover_and_check(&store, &spool, &acked).await;
    eprintln!("recovered {recovered} records from the spool");
    assert_eq!(recovered, 5_050, "every record was only in the spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_committed_in_reservations_survive_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    // Groups of 37 across batches of 100: the WAL positions within one write must be
    // each record's own for the checkpoint and replay to be right.
    let mut child = spawn_child(&store, &spool, Child::Reserved(5_050, 37));
    let acked = acked(&mut child);
    assert!(!child.wait().unwrap().success(), "the child aborts");
    assert_eq!(acked.len(), 5_050);
    let recovered = recover_and_check(&store, &spool, &acked).await;
    assert_eq!(recovered, 5_050, "every record was only in the spool");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let mut all_acked = BTreeSet::new();
    let mut rng = fastrand_seed();
    for round in 0..3 {
        let mut child = spawn_child(&store, &spool, Child::Load(100_000));
        let reader = read_acks(&mut child);
        std::thread::sleep(Duration::from_millis(300 + rng.next() % 700));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        assert!(
            !acked.is_empty(),
            "round {round}: the child acknowledged records before the kill"
        );
        eprintln!(
            "round {round}: {} records acknowledged before SIGKILL",
            acked.len()
        );
        // Each child numbers from 0; keep them apart by round.
        all_acked.extend(acked.into_iter().map(|n| (round, n)));
        // Recover, then count per round below.
        let t = std::time::Instant::now();
        let (log, guard) = writer(&store, &spool, SpoolSync::default());
        let recovered = log.stats().recovered;
        guard.close().await.unwrap();
        eprintln!(
            "round {round}: recovered {recovered} records in {:?}",
            t.elapsed()
        );
    }
    let streams = read_streams(sink(&store).as_ref(), "").await;
    // Each recovery closes the stream, so each round's writer left one closed stream.
    assert_eq!(streams.len(), 3);
    let mut per_round: Vec<BTreeSet<u64>> = vec![BTreeSet::new(); 3];
    let mut by_start: Vec<_> = streams.values().collect();
    by_start.sort_by_key(|b| b[0].header.stream); // uuid v7: creation order
    for (round, batches) in by_start.iter().enumerate() {
        assert_chain(batches, true);
        for r in batches.iter().flat_map(|b| &b.records) {
            if let Some(n) = r["n"].as_u64() {
                assert!(
                    per_round[round].insert(n),
                    "round {round}: record {n} stored twice"
                );
            }
        }
    }
    for (round, n) in &all_acked {
        assert!(
            per_round[*round].contains(n),
            "round {round}: acknowledged record {n} lost"
        );
    }
    let stored: usize = per_round.iter().map(BTreeSet::len).sum();
    eprintln!(
        "SIGKILL drill: acknowledged {}, stored {stored} (acknowledged or written just before the kill), duplicates 0, lost 0",
        all_acked.len()
    );
}

struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}
fn fastrand_seed() -> Lcg {
    Lcg(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn torn_wal_tail_keeps_the_good_prefix_and_records_the_damage() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let mut child = spawn_child(&store, &spool, Child::NoUpload(250));
    let acked = acked(&mut child);
    child.wait().unwrap();
    // Tear the newest segment: append half a frame.
    let svc = spool.join("camera_service");
    let mut segs: Vec<_> = std::fs::read_dir(&svc)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .collect();
    segs.sort();
    let last = segs.last().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(last).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"'])
        .unwrap();
    drop(f);
    recover_and_check(&store, &spool, &acked).await;
    let streams = read_streams(sink(&store).as_ref(), "").await;
    let damage: Vec<_> = streams
        .values()
        .flatten()
        .flat_map(|b| &b.records)
        .filter(|r| r["action"] == "worm.spool_damaged")
        .collect();
    assert_eq!(damage.len(), 1, "the damage is recorded in the stream");
    assert_eq!(damage[0]["damaged_bytes"], 10);
}

#[tokio::test]
async fn a_second_writer_on_the_same_spool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let (_log, guard) = writer(&store, &spool, SpoolSync::EveryRecord);
    let err = AuditLogBuilder::new(sink(&store), "camera_service")
        .spool_dir(&spool, SpoolSync::EveryRecord)
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("in use by another running worm writer"),
        "{err}"
    );
    guard.close().await.unwrap();
}

#[tokio::test]
async fn a_clean_close_empties_the_spool_and_the_next_run_starts_a_new_stream() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    for _ in 0..2 {
        let (log, guard) = writer(&store, &spool, SpoolSync::EveryRecord);
        for n in 0..150 {
            log.log(AuditRecord::new(Level::Info, "x").field("n", n))
                .unwrap();
        }
        guard.close().await.unwrap();
        let sealed = std::fs::read_dir(spool.join("camera_service/sealed"))
            .unwrap()
            .count();
        assert_eq!(sealed, 0, "stored batches leave the spool");
    }
    let streams = read_streams(sink(&store).as_ref(), "").await;
    assert_eq!(streams.len(), 2);
    for b in streams.values() {
        assert_chain(b, true);
        assert_eq!(b.iter().map(|b| b.records.len()).sum::<usize>(), 150);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_with_the_store_down_keeps_everything_in_the_spool_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let (log, guard) = AuditLogBuilder::new(Arc::new(Unreachable(sink(&store))), "camera_service")
        .max_records(100)
        .close_deadline(Duration::from_millis(500))
        .spool_dir(&spool, SpoolSync::EveryRecord)
        .build()
        .unwrap();
    for n in 0..250 {
        log.log(AuditRecord::new(Level::Info, "x").field("n", n))
            .unwrap();
    }
    let err = guard.close().await.unwrap_err();
    assert!(err.to_string().contains("250 records not stored"), "{err}");
    drop(log);
    // The next run (store reachable again) stores all of it in the old, closed stream, and
    // starts its own.
    let (log, guard) = writer(&store, &spool, SpoolSync::default());
    assert_eq!(log.stats().recovered, 250);
    guard.close().await.unwrap();
    let streams = read_streams(sink(&store).as_ref(), "").await;
    assert_eq!(streams.len(), 2, "the closed stream, and the new run's own");
    let mut by_start: Vec<_> = streams.values().collect();
    by_start.sort_by_key(|b| b[0].header.stream);
    assert_chain(by_start[0], true);
    let ns: BTreeSet<u64> = by_start[0]
        .iter()
        .flat_map(|b| &b.records)
        .map(|r| r["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..250).collect::<BTreeSet<u64>>());
    assert_chain(by_start[1], true);
    assert_eq!(
        by_start[1].len(),
        1,
        "the new run wrote only its empty final batch"
    );
}

/// A source read again from `resume_cursor` after a SIGKILL neither loses nor repeats a
/// record: the cursor travels in the record's own WAL frame, and survives the checkpoint,
/// the deletion of WAL segments and the close of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cursor_of_the_last_spooled_record_survives_sigkill_and_close() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let mut child = spawn_child(&store, &spool, Child::Cursor(1_000_000));
    let reader = read_acks(&mut child);
    std::thread::sleep(Duration::from_millis(700));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let last_acked = reader
        .join()
        .unwrap()
        .into_iter()
        .max()
        .expect("acknowledged before the kill");

    // The restarted reader resumes at the cursor, logs 50 more, and closes.
    let (log, guard) = writer(&store, &spool, SpoolSync::default());
    let resume: u64 = log.resume_cursor().expect("a cursor").parse().unwrap();
    assert!(
        resume > last_acked,
        "cursor {resume} is past every acknowledged record (last {last_acked})"
    );
    for n in resume..resume + 50 {
        log.log_with_cursor(
            AuditRecord::new(Level::Info, "motion").field("n", n),
            &(n + 1).to_string(),
        )
        .unwrap();
    }
    guard.close().await.unwrap();
    drop(log); // the handle holds the spool's lock
    // After a clean close (a new stream next time) the cursor is still there.
    let (log, guard) = writer(&store, &spool, SpoolSync::default());
    assert_eq!(log.resume_cursor(), Some((resume + 50).to_string()));
    guard.close().await.unwrap();

    let mut seen = BTreeSet::new();
    for batches in read_streams(sink(&store).as_ref(), "").await.values() {
        for r in batches.iter().flat_map(|b| &b.records) {
            if let Some(n) = r["n"].as_u64() {
                assert!(seen.insert(n), "record {n} stored twice");
            }
        }
    }
    let expected: BTreeSet<u64> = (0..resume + 50).collect();
    assert_eq!(seen.len(), expected.len(), "records 0..{}", resume + 50);
    assert_eq!(seen, expected);
    eprintln!("cursor drill: {last_acked} acknowledged before SIGKILL, resumed at {resume}");
}
