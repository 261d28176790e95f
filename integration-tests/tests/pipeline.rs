//! The writer pipeline against the memory and fs sinks: nothing lost, nothing twice,
//! chains intact, failures retried or reported.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;
use std::time::Duration;

use integration_tests::readback::{assert_chain, read_streams};
use serde_json::Value;
use worm::memory::MemorySink;
use worm::memory::testing::{Failure, FaultySink};
use worm::pipeline::RetryConfig;
use worm::{AuditLogBuilder, AuditRecord, Error, ErrorKind, Level, Overflow, WormSink};

fn fast_retry() -> RetryConfig {
    RetryConfig {
        max_retries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(5),
        max_round_backoff: Duration::from_millis(20),
        jitter_seed: Some(1),
    }
}

fn rec(thread: u64, n: u64) -> AuditRecord {
    AuditRecord::new(Level::Info, format!("event {n} from thread {thread}"))
        .request_id(format!("req-{thread}-{n}"))
        .user_id(format!("user{thread}"))
        .action("motion_detected")
        .field("thread", thread)
        .field("n", n)
}

/// 100,000 records from 8 threads, then flush: each stored exactly once, in order per
/// thread, seq gap-free, chain links correct.
async fn many_threads(sink: Arc<dyn WormSink>) {
    const THREADS: u64 = 8;
    const PER: u64 = 12_500;
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .max_records(1000)
        .queue_capacity(10_000)
        .build()
        .unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let log = log.clone();
            std::thread::spawn(move || {
                for n in 0..PER {
                    log.log(rec(t, n)).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    log.flush().await.unwrap();
    let stats = log.stats();
    assert_eq!(
        (stats.accepted, stats.stored, stats.pending),
        (THREADS * PER, THREADS * PER, 0)
    );
    let report = guard.close().await.unwrap();
    assert_eq!(report.records_stored, THREADS * PER);

    let streams = read_streams(sink.as_ref(), "audit-logs/").await;
    assert_eq!(streams.len(), 1);
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let mut next = vec![0u64; THREADS as usize];
    for r in batches.iter().flat_map(|b| &b.records) {
        assert_eq!(r["service_name"], "camera_service");
        let t = r["thread"].as_u64().unwrap() as usize;
        let n = r["n"].as_u64().unwrap();
        assert_eq!(n, next[t], "thread {t}: record out of order or duplicated");
        next[t] += 1;
    }
    assert_eq!(
        next,
        vec![PER; THREADS as usize],
        "every record exactly once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_100k_records_8_threads() {
    many_threads(Arc::new(MemorySink::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fs_100k_records_8_threads() {
    let dir = tempfile::tempdir().unwrap();
    let sink = worm::fs::FsSink::builder(dir.path()).build().unwrap();
    many_threads(Arc::new(sink)).await;
}

#[tokio::test]
async fn transient_failures_are_retried_and_nothing_is_lost() {
    let mem = FaultySink::new(MemorySink::new());
    mem.fail_next_puts(7, Failure::Transient);
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(10)
        .retry(fast_retry())
        .build()
        .unwrap();
    for n in 0..50 {
        log.log(rec(0, n)).unwrap();
    }
    log.flush().await.unwrap();
    let s = log.stats();
    assert_eq!(s.stored, 50);
    assert!(s.retries >= 5, "retries counted: {s:?}");
    assert!(
        s.failures >= 1,
        "a round of 4 attempts failed at least once: {s:?}"
    );
    guard.close().await.unwrap();
    let streams = read_streams(&mem, "").await;
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    assert_eq!(batches.iter().map(|b| b.records.len()).sum::<usize>(), 50);
}

#[tokio::test]
async fn permanent_error_is_returned_by_flush_and_nothing_counts_as_stored() {
    let mem = FaultySink::new(MemorySink::new());
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(10)
        .retry(fast_retry())
        .build()
        .unwrap();
    mem.fail_next_puts(1, Failure::Permanent);
    for n in 0..10 {
        log.log(rec(0, n)).unwrap();
    }
    let err = log.flush().await.unwrap_err();
    assert!(
        err.to_string().contains("injected permanent failure"),
        "{err}"
    );
    // The batch's key and the store's error, whole: its kind and as `source()`.
    assert_eq!(err.kind(), ErrorKind::Backend);
    let Error::Batch(batch) = &err else {
        panic!("a batch error: {err:?}")
    };
    assert!(batch.key().starts_with("audit-logs/"), "{err}");
    assert_eq!((batch.seq(), batch.records()), (0, 10));
    let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<Error>());
    assert!(
        matches!(source, Some(Error::Backend { message, .. }) if message == "injected permanent failure"),
        "{source:?}"
    );
    assert!(
        log.stats()
            .last_error
            .is_some_and(|e| e.contains("injected permanent failure"))
    );
    let s = log.stats();
    assert_eq!((s.stored, s.pending), (0, 10));
    assert_eq!(mem.put_calls(), 1, "a permanent error is not retried");
    assert!(mem.is_empty());
    // A second flush still reports it: nothing is retried behind the caller's back.
    assert!(log.flush().await.is_err());
    assert_eq!(mem.put_calls(), 1);
    // Once the cause is fixed (the injected fault is used up), retry_failed stores it.
    log.retry_failed().await.unwrap();
    assert_eq!(log.stats().stored, 10);
    guard.close().await.unwrap();
}

#[tokio::test]
async fn retried_put_that_had_succeeded_yields_one_object() {
    let mem = FaultySink::new(MemorySink::new());
    mem.store_then_fail_next_puts(1);
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(5)
        .retry(fast_retry())
        .build()
        .unwrap();
    for n in 0..5 {
        log.log(rec(0, n)).unwrap();
    }
    log.flush().await.unwrap();
    assert_eq!(mem.len(), 1, "one object, not two");
    assert_eq!(mem.put_calls(), 2);
    assert_eq!(log.stats().retries, 1);
    guard.close().await.unwrap();
    assert_eq!(mem.len(), 2, "plus the final batch");
}

#[test]
fn dropping_the_guard_stores_everything_and_writes_the_final_batch() {
    let mem = FaultySink::new(MemorySink::new());
    {
        let (log, _guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
            .max_records(10)
            .max_age(Duration::from_secs(3600))
            .build()
            .unwrap();
        for n in 0..25 {
            log.log(rec(0, n)).unwrap();
        }
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&mem, ""));
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    assert_eq!(batches.iter().map(|b| b.records.len()).sum::<usize>(), 25);
}

#[test]
fn dropping_the_guard_waits_at_most_the_drop_timeout_then_the_writer_goes_on_alone() {
    let mem = FaultySink::new(MemorySink::new());
    mem.stall_puts();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .close_deadline(Duration::from_secs(600))
        .drop_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    for n in 0..5 {
        log.log(rec(0, n)).unwrap();
    }
    let started = std::time::Instant::now();
    drop(guard);
    // Far below the 600 s close deadline: the drop gave up waiting after its timeout.
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(60), "drop waited {waited:?}");
    assert!(matches!(log.log(rec(0, 9)), Err(Error::Closed)));
    // The writer's thread keeps going: once the store answers, the records land.
    mem.release_puts();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let give_up = std::time::Instant::now() + Duration::from_secs(60);
        while log.stats().stored < 5 {
            assert!(std::time::Instant::now() < give_up, "{:?}", log.stats());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    let streams = rt.block_on(read_streams(&mem, ""));
    assert_chain(streams.values().next().unwrap(), true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_counts_drops_and_writes_a_gap_record() {
    let mem = FaultySink::new(MemorySink::new());
    mem.stall_puts();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(5)
        .queue_capacity(10)
        .max_pending_bytes(1)
        .max_in_flight(1)
        .overflow(Overflow::DropNewest)
        .build()
        .unwrap();
    let mut refused = 0;
    for n in 0..200 {
        match log.log(rec(0, n)) {
            Ok(()) => {}
            Err(Error::Overflow { capacity: 10, .. }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    mem.wait_until_stalled(1).await;
    let s = log.stats();
    assert!(refused > 0, "a stalled sink fills the queue");
    assert_eq!(s.dropped, refused);
    mem.release_puts();
    log.flush().await.unwrap();
    let s = log.stats();
    assert_eq!(s.stored + s.dropped, 200);
    guard.close().await.unwrap();

    let streams = read_streams(&mem, "").await;
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let records: Vec<&Value> = batches.iter().flat_map(|b| &b.records).collect();
    let gaps: Vec<&&Value> = records
        .iter()
        .filter(|r| r["action"] == "worm.records_dropped")
        .collect();
    assert!(!gaps.is_empty());
    let recorded: u64 = gaps
        .iter()
        .map(|g| g["dropped_count"].as_u64().unwrap())
        .sum();
    assert_eq!(recorded, refused, "every drop is written into the stream");
    assert!(gaps[0]["first_dropped_at"].is_string() && gaps[0]["last_dropped_at"].is_string());
    assert_eq!(records.len() as u64 - gaps.len() as u64, 200 - refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_takes_room_for_all_its_records_or_none() {
    let mem = FaultySink::new(MemorySink::new());
    mem.stall_puts();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(5)
        .queue_capacity(10)
        .max_pending_bytes(1)
        .max_in_flight(1)
        .max_record_bytes(2_000)
        // Block: a reservation never waits nor drops whatever the policy.
        .overflow(Overflow::Block)
        .build()
        .unwrap();
    assert!(matches!(
        log.try_reserve(11),
        Err(Error::Overflow { capacity: 10, .. })
    ));
    let mut r = log.try_reserve(8).unwrap();
    assert!(matches!(log.try_reserve(3), Err(Error::Overflow { .. })));
    assert_eq!(log.queue_room(), 2);
    for n in 0..6 {
        r.add(&rec(0, n)).unwrap();
    }
    // Refused as `log` refuses it, counted, and taking no room.
    let big = AuditRecord::new(Level::Info, "x".repeat(3_000));
    assert!(matches!(r.add(&big), Err(Error::InvalidInput { .. })));
    r.add(&rec(0, 6)).unwrap();
    r.add(&rec(0, 7)).unwrap();
    assert!(matches!(
        r.add(&rec(0, 8)),
        Err(Error::Overflow { capacity: 8, .. })
    ));
    assert_eq!(r.commit().unwrap(), 8);
    let s = log.stats();
    assert_eq!((s.accepted, s.refused, s.dropped), (8, 1, 0));
    // A reservation dropped uncommitted gives its room back and logs nothing.
    let mut r = log.try_reserve(2).unwrap();
    r.add(&rec(1, 0)).unwrap();
    drop(r);
    let mut r = log.try_reserve(2).unwrap();
    r.add(&rec(0, 8)).unwrap();
    r.add(&rec(0, 9)).unwrap();
    assert_eq!(r.commit().unwrap(), 2);
    mem.release_puts();
    guard.close().await.unwrap();
    let streams = read_streams(&mem, "").await;
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let ns: Vec<u64> = batches
        .iter()
        .flat_map(|b| &b.records)
        .filter_map(|r| r["n"].as_u64())
        .collect();
    assert_eq!(ns, (0..10).collect::<Vec<_>>(), "in order, once each");
    assert!(matches!(log.try_reserve(1), Err(Error::Closed)));
}

/// The queue is bounded in bytes as well as in records: large records fill it long
/// before `queue_capacity`, and the overflow policy applies there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_bounded_in_bytes_whatever_the_records_sizes() {
    let mem = FaultySink::new(MemorySink::new());
    mem.stall_puts();
    let budget = 64 << 10;
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(5)
        .queue_capacity(100_000)
        .max_queue_bytes(budget)
        .max_pending_bytes(1)
        .max_in_flight(1)
        .overflow(Overflow::DropNewest)
        .build()
        .unwrap();
    let pad = "p".repeat(4096);
    let mut refused = 0u64;
    for n in 0..200 {
        match log.log(rec(0, n).field("pad", pad.as_str())) {
            Ok(()) => {}
            Err(Error::Overflow { bytes, .. }) => {
                assert_eq!(bytes, budget, "the error names the byte bound");
                refused += 1;
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    mem.wait_until_stalled(1).await;
    let accepted = 200 - refused;
    // At most 16 records of 4 KiB fit in 64 KiB, plus the first batch of 5 the worker
    // sealed before it stopped taking records (its sink stalled, its backlog full) and
    // the few it had taken meanwhile.
    assert!(
        accepted <= 16 + 5 + 5,
        "{accepted} records of 4 KiB accepted into a 64 KiB queue"
    );
    assert!(log.queue_bytes_room() < 4096, "{}", log.queue_bytes_room());
    assert!(
        log.queue_room() > 99_000,
        "the record count was not the bound"
    );
    assert_eq!(log.stats().dropped, refused);
    mem.release_puts();
    log.flush().await.unwrap();
    let s = log.stats();
    assert_eq!(s.stored + s.dropped, 200);
    assert_eq!(log.queue_bytes_room(), budget, "every byte given back");
    // A reservation takes bytes record by record, refuses past the budget (never waits
    // nor drops), and gives back what it never queued.
    let mut r = log.try_reserve(100).unwrap();
    let mut added = 0;
    while r.add(&rec(1, added).field("pad", pad.as_str())).is_ok() {
        added += 1;
    }
    assert!(
        (14..=16).contains(&added),
        "{added} records of 4 KiB reserved in 64 KiB"
    );
    assert!(log.queue_bytes_room() < 4096);
    drop(r);
    assert_eq!(log.queue_bytes_room(), budget);
    assert_eq!(log.stats().dropped, refused, "a reservation drops nothing");
    guard.close().await.unwrap();
}

#[test]
fn block_policy_waits_instead_of_dropping() {
    let mem = FaultySink::new(MemorySink::new());
    mem.set_latency(Duration::from_millis(2));
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .max_records(2)
        .queue_capacity(2)
        .max_pending_bytes(1)
        .build()
        .unwrap();
    for n in 0..100 {
        log.log(rec(0, n)).unwrap();
    }
    let report = guard.close_blocking().unwrap();
    assert_eq!(report.records_stored, 100);
    assert_eq!(log.stats().dropped, 0);
}

#[test]
fn works_from_inside_a_current_thread_runtime() {
    let mem = FaultySink::new(MemorySink::new());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
            .build()
            .unwrap();
        log.log(rec(0, 0)).unwrap();
        log.log_async(rec(0, 1)).await.unwrap();
        log.flush().await.unwrap();
        log.flush_blocking(Some(Duration::from_secs(10))).unwrap();
        drop(guard); // blocking close inside a runtime must not panic
        assert!(matches!(log.log(rec(0, 2)), Err(Error::Closed)));
    });
    assert_eq!(mem.len(), 2);
}

#[tokio::test]
async fn close_with_the_sink_down_reports_what_is_left() {
    let mem = FaultySink::new(MemorySink::new());
    mem.fail_next_puts(u32::MAX, Failure::Transient);
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .retry(fast_retry())
        .close_deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    for n in 0..3 {
        log.log(rec(0, n)).unwrap();
    }
    let err = guard.close().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("1 batches with 3 records not stored"), "{msg}");
    assert!(log.stats().pending == 3);
}

#[tokio::test]
async fn level_filter_and_metadata() {
    let mem = FaultySink::new(MemorySink::new());
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "camera_service")
        .high_volume()
        .max_records(2)
        .build()
        .unwrap();
    log.log(AuditRecord::new(Level::Info, "not audited at this level"))
        .unwrap();
    log.log(AuditRecord::new(Level::Warn, "w").request_id("req-9"))
        .unwrap();
    log.log(AuditRecord::new(Level::Error, "e")).unwrap();
    log.flush().await.unwrap();
    assert_eq!(log.stats().filtered, 1);
    let key = mem.keys().into_iter().next().unwrap();
    assert!(
        key.starts_with("audit-logs/") && key.contains("/req-9-") && key.ends_with(".json.zst"),
        "{key}"
    );
    let obj = mem.get(&key).await.unwrap();
    assert_eq!(obj.metadata["service_name"], "camera_service");
    assert_eq!(obj.metadata["request_id"], "req-9");
    assert_eq!(obj.metadata["log_level"], "ERROR");
    assert!(obj.metadata.contains_key("timestamp"));
    assert!(obj.metadata.contains_key("worm_handler_version"));
    assert_eq!(obj.metadata["worm-seq"], "0");
    assert_eq!(
        obj.metadata["worm-sha256"],
        worm::Sha256Hex::of(&obj.body).to_hex()
    );
    assert_eq!(obj.content_encoding.as_deref(), Some("zstd"));
    let ret = obj.retention.unwrap();
    assert_eq!(ret.mode, worm::RetentionMode::Governance);
    let days = (ret.retain_until - chrono::Utc::now()).num_days();
    assert!((2555..=2557).contains(&days), "{days}");
    guard.close().await.unwrap();
}

#[tokio::test]
async fn close_with_a_permanent_refusal_returns_the_batch_error_without_waiting_out_the_deadline() {
    let mem = FaultySink::new(MemorySink::new());
    mem.fail_next_puts(u32::MAX, Failure::Permanent);
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), "svc")
        .retry(fast_retry())
        .close_deadline(Duration::from_secs(600))
        .build()
        .unwrap();
    for n in 0..3 {
        log.log(rec(0, n)).unwrap();
    }
    // Close tries the refused batches once more; refused again, nothing is left to wait
    // for, so it returns long before the 600 s deadline.
    let err = tokio::time::timeout(Duration::from_secs(60), guard.close())
        .await
        .expect("close returns once all that is left was refused again")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    let Error::Batch(batch) = &err else {
        panic!("a batch error: {err:?}")
    };
    assert!(batch.key().starts_with("audit-logs/"), "{err}");
    assert!(
        err.to_string()
            .contains("1 batches with 3 records not stored"),
        "{err}"
    );
}

/// The benchmark-only `/1` writer (the tree's cost is measured against it in one build)
/// writes real `worm-batch/1`: no tree, no checkpoint, a v1 signature, and the verifier of
/// this version reads it as intact.
#[tokio::test]
async fn legacy_v1_writer_writes_batches_the_verifier_reads_as_v1() {
    let sink = Arc::new(MemorySink::new());
    let key = worm::sign::Signer::from_seed([3; 32]);
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .max_records(10)
        .signer(key.clone())
        .legacy_v1_format()
        .build()
        .unwrap();
    for n in 0..25 {
        log.log(rec(0, n)).unwrap();
    }
    guard.close().await.unwrap();
    let streams = read_streams(sink.as_ref(), "").await;
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    assert_eq!(batches.len(), 3);
    for b in batches {
        assert_eq!(
            (b.header.v, b.header.tree.is_none()),
            (1, true),
            "{}",
            b.key
        );
    }
    let report = worm::verify::Verifier::new()
        .public_key(key.public_key())
        .verify(sink.as_ref())
        .await
        .unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.records, 25);
}

/// A memory sink that holds a new writer at its start (the writer's look for its
/// predecessor lists the store) until released, notes how far sealing had got when the
/// first upload began, and counts preflights.
#[derive(Debug)]
struct FirstUpload {
    inner: MemorySink,
    start: tokio::sync::watch::Sender<bool>,
    log: std::sync::OnceLock<worm::AuditLog>,
    /// The newest sealed batch's seq when the first PUT arrived.
    sealed_then: std::sync::OnceLock<Option<u64>>,
    preflights: std::sync::atomic::AtomicU64,
}

impl FirstUpload {
    fn new() -> Self {
        FirstUpload {
            inner: MemorySink::new(),
            start: tokio::sync::watch::Sender::new(false),
            log: std::sync::OnceLock::new(),
            sealed_then: std::sync::OnceLock::new(),
            preflights: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn preflights(&self) -> u64 {
        self.preflights.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn note(&self) {
        self.sealed_then.get_or_init(|| {
            self.log
                .get()
                .and_then(|l| l.stats().chain_head.map(|(seq, _)| seq))
        });
    }
}

#[async_trait::async_trait]
impl WormSink for FirstUpload {
    async fn put(
        &self,
        key: &str,
        body: bytes::Bytes,
        opts: &worm::PutOptions,
    ) -> worm::Result<worm::PutReceipt> {
        self.note();
        self.inner.put(key, body, opts).await
    }
    async fn put_unique(
        &self,
        key: &str,
        body: bytes::Bytes,
        opts: &worm::PutOptions,
    ) -> worm::Result<worm::PutReceipt> {
        self.note();
        self.inner.put_unique(key, body, opts).await
    }
    async fn get(&self, key: &str) -> worm::Result<worm::StoredObject> {
        self.inner.get(key).await
    }
    fn list<'a>(
        &'a self,
        prefix: &'a str,
    ) -> futures::stream::BoxStream<'a, worm::Result<worm::ObjectInfo>> {
        use futures::StreamExt;
        let mut started = self.start.subscribe();
        futures::stream::once(async move {
            // The sender lives in `self`, which outlives the stream.
            let _ = started.wait_for(|go| *go).await;
        })
        .flat_map(move |()| self.inner.list(prefix))
        .boxed()
    }
    fn capabilities(&self) -> worm::Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn preflight(&self) -> worm::Result<()> {
        self.preflights
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.preflight().await
    }
}

/// Records that arrive faster than they are stored do not all wait to be sealed before the
/// first upload: the writer starts a batch's upload before it seals the next, so that the
/// store works while the writer does. (It once sealed a whole queue first: with 200
/// batches waiting, the first PUT left after the last was sealed.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_upload_starts_before_the_queue_is_all_sealed() {
    const BATCHES: u64 = 20;
    const PER: u64 = 100;
    let sink = Arc::new(FirstUpload::new());
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "svc")
        .max_records(PER as usize)
        .build()
        .unwrap();
    sink.log.set(log.clone()).unwrap();
    // Every record is queued while the writer is held at its start.
    for n in 0..BATCHES * PER {
        log.log(rec(0, n)).unwrap();
    }
    sink.start.send_replace(true);
    log.flush().await.unwrap();
    let sealed = sink.sealed_then.get().copied().flatten();
    assert!(
        sealed.is_some_and(|seq| seq < 2),
        "the first upload began with batches up to {sealed:?} sealed, of {BATCHES}"
    );
    assert_eq!(log.stats().stored, BATCHES * PER);
    guard.close().await.unwrap();
    let streams = read_streams(sink.as_ref(), "").await;
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let records: usize = batches.iter().map(|b| b.records.len()).sum();
    assert_eq!(records as u64, BATCHES * PER);
}

/// The writer checks its store as its thread starts, beside its look for its predecessor
/// (held here) and before any record arrives, so the first batch's upload does not wait
/// for it; `build` itself still does no I/O, and a passed preflight is not asked again.
#[tokio::test]
async fn the_preflight_goes_out_as_the_writer_starts_and_once() {
    let sink = Arc::new(FirstUpload::new());
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "svc")
        .max_records(2)
        .build()
        .unwrap();
    sink.log.set(log.clone()).unwrap();
    let started = std::time::Instant::now();
    while sink.preflights() == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no preflight while the writer looked for its predecessor"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    sink.start.send_replace(true);
    for n in 0..5 {
        log.log(rec(0, n)).unwrap();
    }
    guard.close().await.unwrap();
    assert_eq!(
        sink.preflights(),
        1,
        "the uploads asked for the preflight again"
    );
    assert_eq!(log.stats().stored, 5);
}
