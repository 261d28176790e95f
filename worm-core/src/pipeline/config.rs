//! Writer settings, presets and the retry policy.

use std::time::Duration;

use crate::batch::Compression;
use crate::key::KeyTemplate;
use crate::record::Level;
use crate::sign::Signer;
use crate::sink::RetentionMode;

/// What `log` does when the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wait for room (backpressure). Nothing is ever dropped.
    #[default]
    Block,
    /// Drop the new record, count it, and write a `worm.records_dropped` gap record into
    /// the stream with the count and time range.
    DropNewest,
}

/// Retry policy for uploads: exponential backoff with full jitter inside a round, and a
/// capped backoff between rounds. A batch is never given up on because of transient
/// errors; only permanent errors stop it (and are reported by `flush`/`close`).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Retries after the first attempt within one round.
    pub max_retries: u32,
    /// First backoff.
    pub initial_backoff: Duration,
    /// Largest backoff within a round.
    pub max_backoff: Duration,
    /// Largest pause between two rounds of the same batch.
    pub max_round_backoff: Duration,
    /// Seed of the jitter source; `None` seeds from the OS. Tests fix it.
    pub jitter_seed: Option<u64>,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            max_round_backoff: Duration::from_secs(60),
            jitter_seed: None,
        }
    }
}

impl RetryConfig {
    /// Backoff before retry number `attempt` (1-based) of a round: a uniformly random
    /// duration in `[0, min(max_backoff, initial * 2^(attempt-1))]` ("full jitter").
    pub fn backoff(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
        let cap = exp.min(self.max_backoff);
        cap.mul_f64(rng.f64())
    }

    /// Pause before round `round` (1-based) of a batch whose earlier rounds failed.
    pub fn round_backoff(&self, round: u32) -> Duration {
        self.max_backoff
            .saturating_mul(1u32 << round.saturating_sub(1).min(20))
            .min(self.max_round_backoff)
    }
}

/// When the WAL is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpoolSync {
    /// fsync before every `log` returns: survives power loss; costs one fsync per record
    /// (callers on many threads still serialise on it).
    EveryRecord,
    /// Write before `log` returns, fsync at this interval: survives a crash or kill of the
    /// process (the data is in the kernel), but a power loss or kernel crash can lose the
    /// records of the last interval.
    Interval(Duration),
}

impl Default for SpoolSync {
    fn default() -> Self {
        SpoolSync::Interval(Duration::from_millis(50))
    }
}

/// Everything a writer is configured with, as [`AuditLogBuilder::config`] and
/// [`AuditLog::config`](super::AuditLog::config) show it. Only the builder makes one, so
/// every value has passed its checks; presets mirror the original system.
///
/// [`AuditLogBuilder::config`]: super::AuditLogBuilder::config
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct Config {
    /// Service name stamped on records that lack one and written in batch headers.
    pub service: String,
    /// Cut a batch at this many records.
    pub max_records: usize,
    /// Cut a batch when its records reach this many bytes.
    pub max_bytes: usize,
    /// Cut a batch this long after its first record arrived.
    pub max_age: Duration,
    /// Concurrent uploads.
    pub max_in_flight: usize,
    /// Records the queue between callers and the worker holds.
    pub queue_capacity: usize,
    /// Bytes of records (their JSON lines plus their place in the queue) the queue holds:
    /// whichever of this and `queue_capacity` is reached first makes the queue full, so
    /// the overflow policy applies. A record larger than this still fits alone.
    pub max_queue_bytes: usize,
    /// Bytes of sealed batches awaiting storage at which the worker stops taking records,
    /// so that the queue fills and the overflow policy applies (bounded memory during an
    /// outage).
    pub max_pending_bytes: usize,
    /// Bytes of sealed batches waiting in the spool (during an outage) at which the worker
    /// stops taking records, so the overflow policy applies: the spool's size bound.
    pub max_spool_bytes: usize,
    /// Largest accepted record line in bytes.
    pub max_record_bytes: usize,
    /// What to do when the queue is full.
    pub overflow: Overflow,
    /// Upload retries.
    pub retry: RetryConfig,
    /// Object Lock retention applied to each batch: mode and days.
    pub retention: Option<(RetentionMode, u32)>,
    /// Legal hold on each batch.
    pub legal_hold: bool,
    /// Whole-object compression.
    pub compression: Compression,
    /// Key layout.
    pub keys: KeyTemplate,
    /// Seal signing key.
    pub signer: Option<Signer>,
    /// Records below this level are not stored (counted as filtered).
    pub min_level: Level,
    /// How long closing tries to store the last batches before giving up on them.
    pub close_deadline: Duration,
    /// How long dropping the guard (instead of closing it) waits for the close.
    pub drop_timeout: Duration,
    /// Run the sink's WORM preflight as the writer starts and before uploads until it passes.
    pub preflight: bool,
    /// Durable spool directory and its fsync policy.
    pub spool: Option<(std::path::PathBuf, SpoolSync)>,
    /// Writer identity for succession between streams; `None`: `service@host`.
    pub writer: Option<String>,
    /// Seal an empty batch (a fresh signed checkpoint) after this long without one, so a
    /// verifier can tell a live idle writer from a dead one. `None`: no heartbeat.
    pub heartbeat: Option<Duration>,
    /// Without a spool, look in the store at start for the last checkpoint of the
    /// previous stream of the same writer identity, and name it in the new stream.
    pub find_predecessor: bool,
    /// Write `worm-batch/1` (no Merkle tree, no checkpoint) instead of `/3`. Only for
    /// comparison benchmarks and compatibility tests: a `/1` stream cannot prove
    /// completeness.
    #[doc(hidden)]
    pub legacy_v1: bool,
    /// Encrypt each batch's records (and the spool's log) to these age recipients.
    pub encrypt: Option<crate::crypt::Recipients>,
    /// Identities that decrypt an encrypted spool log a previous run left.
    pub spool_identities: crate::crypt::Identities,
    /// With replicas: when a batch counts as stored.
    pub ack: super::replicas::AckTargets,
}

/// Default bound on the bytes of records waiting in the queue (8 MiB): about 27,000
/// records of 300 bytes, 2,900 of 2.8 KiB.
pub const DEFAULT_MAX_QUEUE_BYTES: usize = 8 << 20;

/// Default heartbeat interval.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_secs(60);

impl Config {
    /// The writer identity: the configured one, else `service@host`.
    pub fn writer_id(&self) -> String {
        self.writer
            .clone()
            .unwrap_or_else(|| format!("{}@{}", self.service, hostname()))
    }
}

/// This machine's host name (`unknown-host` when it cannot be read).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

impl Config {
    /// Plain settings: 1000 records / 1 MiB / 5 s batches, no retention set by the writer
    /// (the bucket default applies), all levels.
    pub(crate) fn new(service: impl Into<String>) -> Self {
        Config {
            service: service.into(),
            max_records: 1000,
            max_bytes: 1 << 20,
            max_age: Duration::from_secs(5),
            max_in_flight: 2,
            queue_capacity: 100_000,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            max_pending_bytes: 64 << 20,
            max_spool_bytes: 1 << 30,
            max_record_bytes: 1 << 20,
            overflow: Overflow::Block,
            retry: RetryConfig::default(),
            retention: None,
            legal_hold: false,
            compression: Compression::None,
            keys: KeyTemplate::default(),
            signer: None,
            min_level: Level::Trace,
            close_deadline: Duration::from_secs(30),
            drop_timeout: Duration::from_secs(5),
            preflight: true,
            spool: None,
            writer: None,
            heartbeat: Some(DEFAULT_HEARTBEAT),
            legacy_v1: false,
            find_predecessor: true,
            encrypt: None,
            spool_identities: crate::crypt::Identities::default(),
            ack: super::replicas::AckTargets::All,
        }
    }

    /// The original's compliance handler: 5 records / 15 s, 7 years (2557 days)
    /// GOVERNANCE retention, all levels.
    pub(crate) fn compliance(service: impl Into<String>) -> Self {
        Config {
            max_records: 5,
            max_age: Duration::from_secs(15),
            retention: Some((RetentionMode::Governance, 2557)),
            ..Config::new(service)
        }
    }

    /// The original's high-volume handler: 50 records / 60 s, WARN and above, bigger byte
    /// budget (4 MiB), zstd, 7 years GOVERNANCE retention.
    pub(crate) fn high_volume(service: impl Into<String>) -> Self {
        Config {
            max_records: 50,
            max_bytes: 4 << 20,
            max_age: Duration::from_secs(60),
            retention: Some((RetentionMode::Governance, 2557)),
            compression: Compression::Zstd,
            min_level: Level::Warn,
            ..Config::new(service)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_capped_and_jittered() {
        let r = RetryConfig::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 1..40 {
            let d = r.backoff(attempt, &mut rng);
            assert!(d <= r.max_backoff);
            assert!(d <= r.initial_backoff * (1 << (attempt - 1).min(20)));
        }
        assert_eq!(r.round_backoff(1), Duration::from_secs(5));
        assert_eq!(r.round_backoff(10), Duration::from_secs(60));
    }

    #[test]
    fn presets_match_the_original() {
        let c = Config::compliance("s");
        assert_eq!((c.max_records, c.max_age.as_secs()), (5, 15));
        assert_eq!(c.retention, Some((RetentionMode::Governance, 2557)));
        let h = Config::high_volume("s");
        assert_eq!(
            (h.max_records, h.max_age.as_secs(), h.min_level),
            (50, 60, Level::Warn)
        );
        assert_eq!(h.compression, Compression::Zstd);
    }
}
