//! Counters a writer exposes through [`AuditLog::stats`](super::AuditLog::stats).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;
use uuid::Uuid;

use crate::hash::Sha256Hex;

/// Bytes a record takes in the queue between callers and the writer, beside its JSON
/// line and request id (each a heap allocation of its own): for sizing
/// [`queue_capacity`](super::AuditLogBuilder::queue_capacity).
pub const QUEUED_RECORD_BYTES: usize = std::mem::size_of::<super::entry::Entry>();

/// A snapshot of a writer's counters.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// The writer's stream id.
    pub stream: Uuid,
    /// Records accepted by `log`/`log_async`.
    pub accepted: u64,
    /// Records stored in the sink.
    pub stored: u64,
    /// Batches stored in the sink.
    pub batches_stored: u64,
    /// Records accepted but not yet stored.
    pub pending: u64,
    /// Upload attempts that were retries.
    pub retries: u64,
    /// Time spent storing the stored batches, retries included, in microseconds (divided
    /// by `batches_stored`: the mean upload latency).
    pub upload_micros: u64,
    /// Failed upload rounds (transient, retried later) and permanent failures.
    pub failures: u64,
    /// Records dropped by the `DropNewest` overflow policy (each drop is also recorded in
    /// the stream as a `worm.records_dropped` record).
    pub dropped: u64,
    /// Records below the configured minimum level, not stored by configuration.
    pub filtered: u64,
    /// Records `log`/`log_async` refused with an error other than an overflow (the writer
    /// was closed, or the record is larger than `max_record_bytes`): never stored. The
    /// caller got the error; `WormLayer` and `WormLogger`, which cannot return one, also
    /// log a `worm.invalid_input` record where they can, and write to stderr.
    pub refused: u64,
    /// Records recovered from the spool of a previous run (not counted as accepted).
    pub recovered: u64,
    /// Age of the oldest record not yet stored.
    #[serde(with = "opt_secs")]
    pub oldest_pending_age: Option<Duration>,
    /// Seq and hash of the newest sealed batch.
    pub chain_head: Option<(u64, Sha256Hex)>,
    /// Bytes of sealed batches awaiting storage held in memory.
    pub backlog_memory_bytes: u64,
    /// Bytes of sealed batches awaiting storage held in the spool.
    pub backlog_spool_bytes: u64,
    /// The error of the latest failed upload round (a failed preflight of the sink
    /// included) since a batch was last stored; `None` once one is.
    pub last_error: Option<String>,
    /// Each target's own figures, in the order the targets were given (one entry for a
    /// writer without replicas).
    pub targets: Vec<TargetStats>,
    /// The anchor store's figures, when there is one: `batches_stored` counts the
    /// checkpoints published, `backlog_batches` those waiting or in flight, `missed` those
    /// given up (past the bound of waiting checkpoints) or not published at close.
    pub anchor: Option<TargetStats>,
}

/// One replication target's figures (see [`Stats::targets`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStats {
    /// The target's name (its store, e.g. `s3://bucket`, unless named otherwise).
    pub name: String,
    /// Batches this target holds, stored by this writer.
    pub batches_stored: u64,
    /// Sealed batches this target does not have yet (its backlog).
    pub backlog_batches: u64,
    /// Bytes of that backlog.
    pub backlog_bytes: u64,
    /// Failed upload rounds (transient, retried later) and permanent failures.
    pub failures: u64,
    /// Batches this target never received: its backlog when the writer closed without a
    /// spool to keep it (with a spool, the backlog waits there for the next run).
    pub missed: u64,
    /// The error of the latest failed upload round to this target since one last
    /// succeeded.
    pub last_error: Option<String>,
    /// When this target last stored a batch of this writer (`None`: not yet). A replica
    /// that falls behind silently shows here first.
    pub last_stored_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Live counters of one target.
#[derive(Debug)]
pub(crate) struct TargetCounters {
    pub name: String,
    pub batches_stored: AtomicU64,
    pub backlog_batches: AtomicU64,
    pub backlog_bytes: AtomicU64,
    pub failures: AtomicU64,
    pub missed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
    /// Unix time in milliseconds of the last batch stored; 0: none yet.
    pub last_stored_ms: AtomicU64,
}

impl TargetCounters {
    pub fn new(name: String) -> Self {
        TargetCounters {
            name,
            batches_stored: AtomicU64::new(0),
            backlog_batches: AtomicU64::new(0),
            backlog_bytes: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            missed: AtomicU64::new(0),
            last_error: Mutex::new(None),
            last_stored_ms: AtomicU64::new(0),
        }
    }

    /// A batch was stored: count it and note when.
    pub fn stored(&self) {
        self.batches_stored.fetch_add(1, Relaxed);
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        self.last_stored_ms.store(now, Relaxed);
    }

    /// A batch joins (`add`) or leaves this target's backlog.
    pub fn backlog(&self, size: usize, add: bool) {
        if add {
            self.backlog_batches.fetch_add(1, Relaxed);
            self.backlog_bytes.fetch_add(size as u64, Relaxed);
        } else {
            self.backlog_batches.fetch_sub(1, Relaxed);
            self.backlog_bytes.fetch_sub(size as u64, Relaxed);
        }
    }

    fn snapshot(&self) -> TargetStats {
        TargetStats {
            name: self.name.clone(),
            batches_stored: self.batches_stored.load(Relaxed),
            backlog_batches: self.backlog_batches.load(Relaxed),
            backlog_bytes: self.backlog_bytes.load(Relaxed),
            failures: self.failures.load(Relaxed),
            missed: self.missed.load(Relaxed),
            last_error: lock(&self.last_error).clone(),
            last_stored_at: match self.last_stored_ms.load(Relaxed) {
                0 => None,
                ms => chrono::DateTime::from_timestamp_millis(ms as i64),
            },
        }
    }
}

mod opt_secs {
    use super::*;
    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// Shared live counters.
#[derive(Debug)]
pub(crate) struct Counters {
    pub stream: Uuid,
    pub accepted: AtomicU64,
    pub stored: AtomicU64,
    pub batches_stored: AtomicU64,
    pub retries: AtomicU64,
    pub upload_micros: AtomicU64,
    pub failures: AtomicU64,
    pub dropped: AtomicU64,
    pub filtered: AtomicU64,
    pub refused: AtomicU64,
    pub recovered: AtomicU64,
    /// Records whose send to the worker began (counted before sending, for flush
    /// ordering).
    pub sent: AtomicU64,
    /// Sends that failed (dropped by policy, or refused after close).
    pub unsent: AtomicU64,
    /// Wakes the worker when `unsent` grows.
    pub unsent_changed: tokio::sync::Notify,
    /// Drops not yet written into the stream: count, first and last time.
    pub unreported_drops: Mutex<Option<DropSpan>>,
    pub oldest_pending: Mutex<Option<Instant>>,
    pub backlog_memory_bytes: AtomicU64,
    pub backlog_spool_bytes: AtomicU64,
    pub chain_head: Mutex<Option<(u64, Sha256Hex)>>,
    pub last_error: Mutex<Option<String>>,
    pub targets: Vec<std::sync::Arc<TargetCounters>>,
    pub anchor: Option<std::sync::Arc<TargetCounters>>,
}

/// Records dropped since the last gap record.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropSpan {
    pub count: u64,
    pub first: chrono::DateTime<chrono::Utc>,
    pub last: chrono::DateTime<chrono::Utc>,
}

impl Counters {
    pub fn new(stream: Uuid, targets: Vec<std::sync::Arc<TargetCounters>>) -> Self {
        Counters {
            stream,
            accepted: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            batches_stored: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            upload_micros: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            recovered: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            unsent: AtomicU64::new(0),
            unsent_changed: tokio::sync::Notify::new(),
            unreported_drops: Mutex::new(None),
            oldest_pending: Mutex::new(None),
            backlog_memory_bytes: AtomicU64::new(0),
            backlog_spool_bytes: AtomicU64::new(0),
            chain_head: Mutex::new(None),
            last_error: Mutex::new(None),
            targets,
            anchor: None,
        }
    }

    /// A send that began failed: the worker must not wait for it.
    pub fn record_unsent(&self) {
        self.unsent.fetch_add(1, Relaxed);
        self.unsent_changed.notify_one();
    }

    pub fn record_drop(&self, at: chrono::DateTime<chrono::Utc>) {
        self.dropped.fetch_add(1, Relaxed);
        let mut g = lock(&self.unreported_drops);
        match g.as_mut() {
            Some(span) => {
                span.count += 1;
                span.last = at;
            }
            None => {
                *g = Some(DropSpan {
                    count: 1,
                    first: at,
                    last: at,
                })
            }
        }
    }

    pub fn snapshot(&self) -> Stats {
        let accepted = self.accepted.load(Relaxed);
        let stored = self.stored.load(Relaxed);
        let recovered = self.recovered.load(Relaxed);
        Stats {
            stream: self.stream,
            accepted,
            stored,
            batches_stored: self.batches_stored.load(Relaxed),
            pending: (accepted + recovered).saturating_sub(stored),
            retries: self.retries.load(Relaxed),
            upload_micros: self.upload_micros.load(Relaxed),
            failures: self.failures.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            filtered: self.filtered.load(Relaxed),
            refused: self.refused.load(Relaxed),
            recovered,
            oldest_pending_age: lock(&self.oldest_pending).map(|t| t.elapsed()),
            chain_head: *lock(&self.chain_head),
            backlog_memory_bytes: self.backlog_memory_bytes.load(Relaxed),
            backlog_spool_bytes: self.backlog_spool_bytes.load(Relaxed),
            last_error: lock(&self.last_error).clone(),
            targets: self.targets.iter().map(|t| t.snapshot()).collect(),
            anchor: self.anchor.as_ref().map(|t| t.snapshot()),
        }
    }
}

/// Lock a mutex, recovering the data if a panicking thread poisoned it: every value
/// guarded here is a plain counter snapshot, valid at any point.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
