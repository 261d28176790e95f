//! Building a writer.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use uuid::Uuid;

use super::anchor::AnchorState;
use super::budget::QueueBytes;
use super::config::{Config, Overflow, RetryConfig, SpoolSync};
use super::handle::{AuditLog, Shared, WriterGuard};
use super::replicas::{AckTargets, Target, names};
use super::sealed::StreamPos;
use super::spool::Spool;
use super::stats::{Counters, TargetCounters};
use super::worker::{Inbox, TargetState, Worker};
use crate::batch::Compression;
use crate::error::{Error, Result};
use crate::key::KeyTemplate;
use crate::record::Level;
use crate::sign::Signer;
use crate::sink::{RetentionMode, WormSink};
use crate::tlog::Frontier;

/// Builds an [`AuditLog`] and its [`WriterGuard`].
///
/// Any [`WormSink`] will do, by value or as an `Arc<dyn WormSink>`. [`build`](Self::build)
/// does no network I/O: the sink's preflight (reachability, credentials, Object Lock) runs
/// on the writer's thread as it starts, and again before each upload until it passes; a
/// failure reaches the caller through [`AuditLog::flush`], [`WriterGuard::close`] and
/// [`Stats::last_error`](super::Stats::last_error).
///
/// ```
/// # use worm_core::pipeline::AuditLogBuilder;
/// # fn demo(sink: impl worm_core::WormSink + 'static) -> worm_core::Result<()> {
/// let (log, guard) = AuditLogBuilder::new(sink, "camera_service")
///     .max_records(100)
///     .max_age(std::time::Duration::from_secs(5))
///     .retention(worm_core::RetentionMode::Governance, 2557)
///     .build()?;
/// log.log(worm_core::AuditRecord::new(worm_core::Level::Info, "camera online"))?;
/// guard.close_blocking()?;
/// # Ok(()) }
/// ```
///
/// Replication: [`replicate_to`](Self::replicate_to) adds a store that receives every
/// batch too, under the same key with the same bytes; [`ack_targets`](Self::ack_targets)
/// says when a batch counts as stored. Each target has its own backlog (in the spool,
/// with one), so a target that is down neither blocks the others nor loses a batch.
///
/// ```
/// # use worm_core::pipeline::{AckTargets, AuditLogBuilder};
/// # fn demo(a: impl worm_core::WormSink + 'static, b: impl worm_core::WormSink + 'static)
/// # -> worm_core::Result<()> {
/// let (log, guard) = AuditLogBuilder::new(a, "camera_service")
///     .replicate_to(b)
///     .ack_targets(AckTargets::All)
///     .spool_dir("/var/spool/worm", Default::default())
///     .build()?;
/// # drop((log, guard)); Ok(()) }
/// ```
#[derive(Debug)]
pub struct AuditLogBuilder {
    targets: Vec<Target>,
    anchor: Option<Target>,
    cfg: Config,
    /// A setter's bad value, reported by `build` (setters chain, so they cannot fail).
    invalid: Option<Error>,
}

impl AuditLogBuilder {
    /// Plain settings: 1000 records / 1 MiB / 5 s batches, no retention set by the
    /// writer (the bucket default applies), all levels.
    pub fn new(sink: impl WormSink + 'static, service: impl Into<String>) -> Self {
        Self::to_target(Target::new(sink), service)
    }

    /// The same with a [`Target`] (a name, or lock settings of its own) as the first
    /// store.
    pub fn to_target(target: Target, service: impl Into<String>) -> Self {
        AuditLogBuilder {
            targets: vec![target],
            anchor: None,
            cfg: Config::new(service),
            invalid: None,
        }
    }

    /// Store every batch in `sink` too: same key, same bytes, the writer's lock settings.
    pub fn replicate_to(self, sink: impl WormSink + 'static) -> Self {
        self.replica(Target::new(sink))
    }

    /// Store every batch in this target too (with its own name or lock settings).
    pub fn replica(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Publish the signed checkpoint of each stored batch (and nothing else) to this
    /// separate store, under `<prefix>/checkpoints/<stream>/<seq>.checkpoint`
    /// ([`anchor_key`](super::anchor_key)), for `worm verify --anchor-store`. Every
    /// checkpoint is published (a few PUTs at once); while the anchor store is down they
    /// wait in memory, a bounded number, past which the oldest is given up (each later
    /// one covers it). One never published is counted in
    /// [`Stats::anchor`](super::Stats::anchor). Needs a [`signer`](Self::signer).
    pub fn anchor_to(mut self, target: Target) -> Self {
        self.anchor = Some(target);
        self
    }

    /// When a batch counts as stored with several targets (default
    /// [`AckTargets::All`]). Every target receives every batch either way; `build`
    /// refuses a quorum larger than the number of targets.
    pub fn ack_targets(mut self, ack: AckTargets) -> Self {
        self.cfg.ack = ack;
        self
    }

    /// Apply the `compliance` preset, keeping the service name and the acknowledgement
    /// policy: the original's
    /// compliance handler, 5 records / 15 s, 7 years (2557 days) GOVERNANCE retention,
    /// all levels.
    pub fn compliance(mut self) -> Self {
        let ack = self.cfg.ack;
        self.cfg = Config::compliance(self.cfg.service);
        self.cfg.ack = ack;
        self
    }

    /// Apply the `high_volume` preset, keeping the service name and the acknowledgement
    /// policy: the original's
    /// high-volume handler, 50 records / 60 s, WARN and above, 4 MiB, zstd, 7 years
    /// GOVERNANCE retention.
    pub fn high_volume(mut self) -> Self {
        let ack = self.cfg.ack;
        self.cfg = Config::high_volume(self.cfg.service);
        self.cfg.ack = ack;
        self
    }

    /// Records per batch.
    pub fn max_records(mut self, n: usize) -> Self {
        self.cfg.max_records = n.max(1);
        self
    }

    /// Byte budget per batch.
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.cfg.max_bytes = n.max(1);
        self
    }

    /// Longest time a record waits in an open batch.
    pub fn max_age(mut self, d: Duration) -> Self {
        self.cfg.max_age = d;
        self
    }

    /// Concurrent uploads.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.cfg.max_in_flight = n.max(1);
        self
    }

    /// Queue capacity in records (default 100,000).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.cfg.queue_capacity = n.max(1);
        self
    }

    /// Bytes of records the queue holds (default
    /// [`DEFAULT_MAX_QUEUE_BYTES`](super::DEFAULT_MAX_QUEUE_BYTES), 8 MiB): the queue's
    /// memory bound, whatever the records' sizes. The queue is full when this or
    /// [`queue_capacity`](Self::queue_capacity) is reached; the overflow policy applies.
    /// Values above 4 GiB count as 4 GiB.
    pub fn max_queue_bytes(mut self, n: usize) -> Self {
        self.cfg.max_queue_bytes = n.max(1);
        self
    }

    /// Bytes of sealed batches awaiting storage before the worker stops taking records.
    pub fn max_pending_bytes(mut self, n: usize) -> Self {
        self.cfg.max_pending_bytes = n.max(1);
        self
    }

    /// Bytes of sealed batches the spool may hold during an outage (default 1 GiB).
    pub fn max_spool_bytes(mut self, n: usize) -> Self {
        self.cfg.max_spool_bytes = n.max(1);
        self
    }

    /// Largest record accepted, in bytes of JSON.
    pub fn max_record_bytes(mut self, n: usize) -> Self {
        self.cfg.max_record_bytes = n;
        self
    }

    /// Overflow policy.
    pub fn overflow(mut self, o: Overflow) -> Self {
        self.cfg.overflow = o;
        self
    }

    /// Retry policy.
    pub fn retry(mut self, r: RetryConfig) -> Self {
        self.cfg.retry = r;
        self
    }

    /// Object Lock retention for each batch.
    pub fn retention(mut self, mode: RetentionMode, days: u32) -> Self {
        self.cfg.retention = Some((mode, days));
        self
    }

    /// No per-object retention (the bucket's default applies).
    pub fn no_retention(mut self) -> Self {
        self.cfg.retention = None;
        self
    }

    /// Legal hold on each batch.
    pub fn legal_hold(mut self, on: bool) -> Self {
        self.cfg.legal_hold = on;
        self
    }

    /// Whole-object compression.
    pub fn compression(mut self, c: Compression) -> Self {
        self.cfg.compression = c;
        self
    }

    /// Key layout (its prefix included).
    pub fn keys(mut self, t: KeyTemplate) -> Self {
        self.cfg.keys = t;
        self
    }

    /// Store new batches under `prefix` (default `audit-logs`; `AWS_S3_PREFIX` in
    /// [`env`](crate::env)), keeping the key layout. The writer, not the sink, owns the
    /// prefix. A prefix that is not a safe key part is reported by [`build`](Self::build).
    pub fn prefix(mut self, prefix: impl AsRef<str>) -> Self {
        match self.cfg.keys.with_prefix(prefix.as_ref()) {
            Ok(keys) => self.cfg.keys = keys,
            Err(e) => self.invalid = Some(e),
        }
        self
    }

    /// Sign every seal with this key.
    pub fn signer(mut self, s: Signer) -> Self {
        self.cfg.signer = Some(s);
        self
    }

    /// Encrypt every batch's records to these age X25519 recipients (`age1…`, e.g. from
    /// `worm keygen --age`); each recipient can decrypt alone. Headers, seals and
    /// checkpoints stay readable, so verification needs no key; keys and object metadata
    /// then carry no record content, and the spool's log is encrypted too. A recipient
    /// that does not parse is reported by [`build`](Self::build).
    ///
    /// With the default key layout, keys become `{prefix}/YYYY/MM/DD/{batch id}.json`
    /// ([`ENCRYPTED_TEMPLATE`](crate::key::ENCRYPTED_TEMPLATE)): no request id.
    pub fn encrypt_to<I, S>(mut self, recipients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        match crate::crypt::Recipients::parse(recipients) {
            Ok(r) => self.cfg.encrypt = Some(r),
            Err(e) => self.invalid = Some(e),
        }
        self
    }

    /// Identities to decrypt the encrypted spool log that a crashed run left (one of the
    /// recipients' identities). Without one, a spool holding encrypted records it has not
    /// sealed yet is refused by [`build`](Self::build) ([`Error::NoIdentity`]), and
    /// nothing in it is touched.
    pub fn spool_identities(mut self, ids: crate::crypt::Identities) -> Self {
        self.cfg.spool_identities = ids;
        self
    }

    /// Minimum level stored.
    pub fn min_level(mut self, l: Level) -> Self {
        self.cfg.min_level = l;
        self
    }

    /// How long closing tries to store the last batches (default 30 s).
    pub fn close_deadline(mut self, d: Duration) -> Self {
        self.cfg.close_deadline = d;
        self
    }

    /// How long dropping the [`WriterGuard`] without closing it waits (default 5 s):
    /// a drop blocks its thread, so it is kept short. [`WriterGuard::close`] waits up to
    /// the close deadline instead.
    pub fn drop_timeout(mut self, d: Duration) -> Self {
        self.cfg.drop_timeout = d;
        self
    }

    /// Keep a durable spool in `dir` (one subdirectory per service): `log` returns only
    /// after the record is in the spool's write-ahead log, and a restarted writer finishes
    /// what a crashed one left, in the same stream. See [`SpoolSync`] for the fsync
    /// trade-off.
    pub fn spool_dir(mut self, dir: impl Into<std::path::PathBuf>, sync: SpoolSync) -> Self {
        self.cfg.spool = Some((dir.into(), sync));
        self
    }

    /// Skip the sink's WORM preflight at start and before uploads (not recommended outside
    /// tests).
    pub fn skip_preflight(mut self) -> Self {
        self.cfg.preflight = false;
        self
    }

    /// Write the pre-tree `worm-batch/1` format. Only for comparison benchmarks (the cost
    /// of the Merkle tree, measured in one build) and compatibility tests: a `/1` stream
    /// has no tree and no checkpoints, so it cannot prove completeness.
    #[doc(hidden)]
    pub fn legacy_v1_format(mut self) -> Self {
        self.cfg.legacy_v1 = true;
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The writer identity that successive streams share (default `service@host`): a new
    /// stream names the last checkpoint of the previous stream of this identity, so that
    /// a removed stream is visible to `verify`.
    pub fn writer_id(mut self, id: impl Into<String>) -> Self {
        self.cfg.writer = Some(id.into());
        self
    }

    /// Seal an empty batch with a fresh checkpoint after `every` without one (default
    /// 60 s), so that `verify` can tell a live, idle writer from a dead one (`stale`).
    /// `None` turns heartbeats off.
    pub fn heartbeat(mut self, every: Option<Duration>) -> Self {
        self.cfg.heartbeat = every.filter(|d| !d.is_zero());
        self
    }

    /// Without a spool, whether to look in the store at start for the previous stream of
    /// this writer identity (default on; reads at most a few dozen object headers after
    /// listing the prefix, within 10 s).
    pub fn find_predecessor(mut self, on: bool) -> Self {
        self.cfg.find_predecessor = on;
        self
    }

    /// Start the worker thread and return the handle and its guard. No network I/O: safe
    /// to call from async code. With a spool, opening it reads and locks local files.
    pub fn build(self) -> Result<(AuditLog, WriterGuard)> {
        if let Some(e) = self.invalid {
            return Err(e);
        }
        let mut cfg = self.cfg;
        if cfg.encrypt.is_some() {
            cfg.keys = cfg.keys.without_record_content()?;
        }
        // The writer identity (`service@host` by default) is this writer's for its whole
        // life: read the host name once, not again for every batch header.
        cfg.writer = Some(cfg.writer_id());
        start(self.targets, self.anchor, cfg)
    }
}

fn start(
    targets: Vec<Target>,
    anchor: Option<Target>,
    cfg: Config,
) -> Result<(AuditLog, WriterGuard)> {
    if cfg.service.is_empty() {
        return Err(Error::invalid("service name", "must not be empty"));
    }
    if anchor.is_some() && cfg.signer.is_none() {
        return Err(Error::invalid(
            "anchor store",
            "only signed checkpoints are published: give the writer a signing key",
        ));
    }
    let anchor = anchor.map(|t| {
        let c = Arc::new(TargetCounters::new(t.shown()));
        (t, c)
    });
    cfg.ack.check(targets.len())?;
    let target_counters: Vec<Arc<TargetCounters>> = names(&targets)?
        .into_iter()
        .map(|n| Arc::new(TargetCounters::new(n)))
        .collect();
    let sink: Arc<dyn WormSink> = targets[0].sink.clone();
    let (spool, recovery) = match &cfg.spool {
        Some((dir, sync)) => {
            let (spool, rec) = Spool::open(dir, &cfg.service, *sync, &cfg)?;
            (Some(spool), Some(rec))
        }
        None => (None, None),
    };
    let pos = recovery.as_ref().map_or_else(
        || StreamPos {
            stream: Uuid::now_v7(),
            next_seq: 0,
            prev: None,
            tree: Frontier::new(),
            pred: None,
        },
        |r| r.pos.clone(),
    );
    let mut pos = pos;
    let worker_spool = spool.clone();
    let cfg = Arc::new(cfg);
    let mut counters = Counters::new(pos.stream, target_counters.clone());
    counters.anchor = anchor.as_ref().map(|(_, c)| c.clone());
    let counters = Arc::new(counters);
    let anchor = anchor.map(|(t, c)| AnchorState::new(t, c));
    let states: Vec<TargetState> = targets
        .into_iter()
        .zip(target_counters)
        .map(|(t, c)| TargetState::new(t, c, cfg.preflight))
        .collect();
    if let Some(r) = &recovery {
        // Counted before `build` returns, so the caller sees them in `stats()` at once.
        let sealed: u64 = r.sealed.iter().map(|b| b.user_records).sum();
        counters
            .recovered
            .store(sealed + r.replay.len() as u64, Relaxed);
    }
    let (tx, records) = mpsc::channel(cfg.queue_capacity);
    let bytes = Arc::new(QueueBytes::new(cfg.max_queue_bytes));
    let (control_tx, control) = mpsc::unbounded_channel();
    let worker_cfg = cfg.clone();
    let worker_counters = counters.clone();
    let worker_bytes = bytes.clone();
    // Built here, so a failure is `build`'s error; the worker thread drives it.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the worm writer runtime", e))?;
    let thread = std::thread::Builder::new()
        .name("worm-writer".into())
        .spawn(move || {
            crate::integrate::mark_worker_thread();
            rt.block_on(async move {
                // The targets' preflights go out now, beside the predecessor scan, so
                // that the first batch does not wait for them (a few ms on S3).
                for t in &states {
                    t.start_preflight();
                }
                if pos.next_seq == 0 && pos.pred.is_none() && worker_cfg.find_predecessor {
                    pos.pred = super::succession::find(&*sink, &worker_cfg, pos.stream).await;
                }
                let worker = Worker::new(
                    worker_cfg,
                    states,
                    worker_counters,
                    Inbox {
                        records,
                        control,
                        bytes: worker_bytes,
                    },
                    pos,
                )
                .anchor(anchor);
                let worker = match (worker_spool, recovery) {
                    (Some(s), Some(r)) => worker.resume(s, r),
                    _ => worker,
                };
                worker.run().await;
            });
        })
        .map_err(|e| Error::io("spawning the worm writer thread", e))?;
    let log = AuditLog {
        shared: Arc::new(Shared {
            tx,
            bytes,
            control: control_tx,
            cfg,
            counters,
            closed: AtomicBool::new(false),
            spool,
            thread: Mutex::new(Some(thread)),
        }),
    };
    Ok((log.clone(), WriterGuard { log }))
}
