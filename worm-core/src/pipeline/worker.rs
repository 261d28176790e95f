//! The background worker: drains the queue, cuts and seals batches, runs uploads with
//! bounded concurrency, retries failed rounds, and answers flush and close.
//!
//! It runs on its own thread with its own single-threaded tokio runtime, so callers may be
//! plain sync code or any async runtime.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;

use super::anchor::{AnchorState, Pending, anchor_key, publish};
use super::batcher::OpenBatch;
use super::budget::QueueBytes;
use super::config::Config;
use super::control::{CloseReport, Control, Reply};
use super::entry::Entry;
use super::replicas::{Target, marker_id};
use super::sealed::{Position, Sealed, StreamPos};
use super::spool::{Recovery, Spool};
use super::stats::{Counters, TargetCounters, lock};
use super::upload::{Preflight, upload_round};
use crate::error::{BatchError, Error, Result};
use crate::record::{AuditRecord, Level, timestamp};

type Upload = Spawned<(Sealed, Result<()>)>;
type AnchorPut = BoxFuture<'static, (Pending, Result<()>)>;

/// An upload running as its own task on the writer's runtime: its result, or its panic
/// carried on to the worker (as when the worker polled it itself). Dropping it (the
/// worker ended) cancels the upload.
struct Spawned<T>(tokio::task::JoinHandle<T>);

impl<T> std::future::Future for Spawned<T> {
    type Output = T;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<T> {
        std::pin::Pin::new(&mut self.0)
            .poll(cx)
            .map(|joined| match joined {
                Ok(out) => out,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Only aborting the task cancels it, and only `drop` below aborts.
                Err(e) => panic!("worm: an upload task was cancelled while awaited: {e}"),
            })
    }
}

impl<T> Drop for Spawned<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Channels and counters shared with the handles.
pub(crate) struct Inbox {
    pub records: mpsc::Receiver<Entry>,
    pub control: mpsc::UnboundedReceiver<Control>,
    /// The queue's byte budget: bytes of taken records go back to it.
    pub bytes: Arc<QueueBytes>,
}

impl Drop for Inbox {
    /// The worker has ended: callers waiting for room in the queue are told it is closed.
    fn drop(&mut self) {
        self.bytes.close();
    }
}

enum Waiter {
    /// Waiting for the records sent before the call to arrive.
    Receiving { upto: u64, reply: Reply<Result<()>> },
    /// Waiting for every batch below `bound` to be stored.
    Storing {
        bound: u64,
        reply: Reply<Result<()>>,
    },
}

struct Closing {
    upto: u64,
    reply: Option<Reply<Result<CloseReport>>>,
    deadline: Instant,
    final_seq: Option<u64>,
}

/// One replication target as the worker drives it.
pub(crate) struct TargetState {
    target: Target,
    preflight: Arc<Preflight>,
    counters: Arc<TargetCounters>,
    /// Its id in the spool's markers.
    marker: String,
    /// Its uploads in flight (each target has `max_in_flight` of its own, so a slow or
    /// dead target never takes the others' slots).
    inflight: usize,
}

impl TargetState {
    pub fn new(target: Target, counters: Arc<TargetCounters>, preflight: bool) -> Self {
        TargetState {
            marker: marker_id(&counters.name),
            target,
            preflight: Arc::new(Preflight::new(preflight)),
            counters,
            inflight: 0,
        }
    }

    /// Start this target's preflight now rather than before its first upload.
    pub fn start_preflight(&self) {
        self.preflight.start_early(&self.target.sink);
    }
}

/// A sealed batch on its way to every target.
struct Progress {
    stream: uuid::Uuid,
    seq: u64,
    user_records: u64,
    size: usize,
    spooled: bool,
    /// Which targets have it, by index.
    done: Vec<bool>,
    /// Its uploads refused permanently, waiting for `retry_failed` or close.
    parked: usize,
    /// Enough targets have it for the acknowledgement policy.
    acked: bool,
}

pub(crate) struct Worker {
    cfg: Arc<Config>,
    targets: Vec<TargetState>,
    /// Targets that must hold a batch before it counts as stored.
    need: usize,
    counters: Arc<Counters>,
    inbox: Inbox,
    pos: StreamPos,
    open: OpenBatch,
    /// Records received from handles (gap records excluded).
    received: u64,
    /// Uploads (a sealed batch for one target) waiting for a slot of their target, with
    /// the time they may start.
    ready: VecDeque<(Instant, Sealed)>,
    /// Uploads stopped by a permanent error, retried only on an explicit flush or close.
    parked: Vec<(Sealed, Arc<Error>)>,
    inflight: FuturesUnordered<Upload>,
    /// Sealed and not yet stored (acknowledged): order -> when its first record arrived.
    unstored: BTreeMap<u64, Instant>,
    /// Sealed and not yet in every target, by order.
    progress: BTreeMap<u64, Progress>,
    /// The backlog was full and the target behind it named.
    backlog_named: bool,
    /// The anchor store, receiving each acknowledged batch's signed checkpoint.
    anchor: Option<AnchorState>,
    anchor_inflight: FuturesUnordered<AnchorPut>,
    /// The next upload order (see `Sealed::order`).
    next_order: u64,
    /// Bytes of sealed batches not yet stored, held in memory.
    backlog_bytes: usize,
    /// Bytes of sealed batches not yet stored, held in the spool.
    spool_bytes: usize,
    waiters: Vec<Waiter>,
    closing: Option<Closing>,
    drops_reported: u64,
    rng: fastrand::Rng,
    spool: Option<Arc<Spool>>,
    /// Records are not taken before this instant (see `REST`).
    rest_until: Option<Instant>,
    /// When the last batch was sealed (for heartbeats).
    last_seal: Instant,
    /// Bytes of records taken since they were last given back to the queue's budget.
    taken_bytes: usize,
}

/// How long the worker lets records gather after a wake-up that found fewer than
/// `REST_BELOW` of them. Adds at most this much to the time from `log` to stored.
const REST: std::time::Duration = std::time::Duration::from_millis(1);
const REST_BELOW: usize = 64;

impl Worker {
    pub fn new(
        cfg: Arc<Config>,
        targets: Vec<TargetState>,
        counters: Arc<Counters>,
        inbox: Inbox,
        pos: StreamPos,
    ) -> Self {
        let rng = match cfg.retry.jitter_seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Worker {
            need: cfg.ack.needed(targets.len()),
            targets,
            counters,
            inbox,
            pos,
            open: OpenBatch::new(&cfg),
            received: 0,
            ready: VecDeque::new(),
            parked: Vec::new(),
            inflight: FuturesUnordered::new(),
            unstored: BTreeMap::new(),
            progress: BTreeMap::new(),
            backlog_named: false,
            anchor: None,
            anchor_inflight: FuturesUnordered::new(),
            next_order: 0,
            backlog_bytes: 0,
            spool_bytes: 0,
            waiters: Vec::new(),
            closing: None,
            drops_reported: 0,
            rng,
            spool: None,
            rest_until: None,
            cfg,
            last_seal: Instant::now(),
            taken_bytes: 0,
        }
    }

    /// Publish signed checkpoints to this anchor store.
    pub fn anchor(mut self, anchor: Option<AnchorState>) -> Self {
        self.anchor = anchor;
        self
    }

    /// Offer an acknowledged batch's checkpoint to the anchor store.
    fn offer_anchor(&mut self, stream: uuid::Uuid, seq: u64, checkpoint: Option<&String>) {
        let (Some(a), Some(text)) = (&mut self.anchor, checkpoint) else {
            return;
        };
        a.offer(Pending {
            stream,
            key: anchor_key(self.cfg.keys.prefix(), stream, seq),
            text: text.clone(),
        });
    }

    fn start_anchor(&mut self) {
        let now = Instant::now();
        while let Some(a) = &mut self.anchor
            && let Some(p) = a.take(now)
        {
            self.start_anchor_put(p);
        }
    }

    fn start_anchor_put(&mut self, p: Pending) {
        let Some(a) = &self.anchor else { return };
        let sink = a.target.sink.clone();
        let opts = a.target.opts(&crate::sink::PutOptions {
            content_type: Some("text/plain; charset=utf-8".into()),
            retention: self
                .cfg
                .retention
                .map(|(mode, days)| crate::sink::Retention::days_from_now(mode, days)),
            legal_hold: self.cfg.legal_hold,
            ..Default::default()
        });
        let retry = self.cfg.retry.clone();
        let rng = fastrand::Rng::with_seed(self.rng.u64(..));
        self.anchor_inflight.push(Box::pin(async move {
            let res = publish(sink, &p, opts, retry, rng).await;
            (p, res)
        }));
    }

    fn anchor_idle(&self) -> bool {
        self.anchor.as_ref().is_none_or(AnchorState::idle)
    }

    /// Continue from a spool: upload what a previous run sealed, then replay its records
    /// (and note any damage) before taking new ones.
    pub fn resume(mut self, spool: Arc<Spool>, rec: Recovery) -> Self {
        self.spool = Some(spool);
        for mut b in rec.sealed {
            b.order = self.next_order;
            self.next_order += 1;
            // Targets that already have it (their markers) are not asked again.
            let marked = rec.done.get(&(b.stream, b.seq));
            let done: Vec<bool> = self
                .targets
                .iter()
                .map(|t| marked.is_some_and(|m| m.contains(&t.marker)))
                .collect();
            self.enqueue(b, done);
        }
        for e in rec.damage {
            self.push(e);
        }
        for e in rec.replay {
            self.push(e);
        }
        self
    }

    /// Sealed batches awaiting storage hold `max_pending_bytes` or more: stop taking
    /// records so the bounded queue fills and the overflow policy applies.
    fn backlogged(&self) -> bool {
        self.backlog_bytes >= self.cfg.max_pending_bytes
            || self.spool_bytes >= self.cfg.max_spool_bytes
    }

    /// Count a sealed batch into (or out of) the backlog, in memory or on disk.
    fn account(&mut self, spooled: bool, size: usize, add: bool) {
        let counter = if spooled {
            &mut self.spool_bytes
        } else {
            &mut self.backlog_bytes
        };
        if add {
            *counter += size;
        } else {
            *counter -= size;
        }
    }

    /// Queue a sealed batch (its `order` set) for every target that does not have it.
    fn enqueue(&mut self, b: Sealed, done: Vec<bool>) {
        let order = b.order;
        let have = done.iter().filter(|d| **d).count();
        let acked = have >= self.need;
        if have == self.targets.len() {
            // Every target had it before a crash; only its spool copy was left.
            self.counters.stored.fetch_add(b.user_records, Relaxed);
            self.counters.batches_stored.fetch_add(1, Relaxed);
            self.forget(b.stream, b.seq);
            return;
        }
        if acked {
            self.counters.stored.fetch_add(b.user_records, Relaxed);
            self.counters.batches_stored.fetch_add(1, Relaxed);
            self.offer_anchor(b.stream, b.seq, b.checkpoint.as_ref());
        } else {
            self.unstored.insert(order, b.opened_at);
        }
        self.account(b.spool_file.is_some(), b.size, true);
        self.progress.insert(
            order,
            Progress {
                stream: b.stream,
                seq: b.seq,
                user_records: b.user_records,
                size: b.size,
                spooled: b.spool_file.is_some(),
                done: done.clone(),
                parked: 0,
                acked,
            },
        );
        let missing: Vec<usize> = (0..self.targets.len()).filter(|i| !done[*i]).collect();
        let now = Instant::now();
        for &i in &missing {
            let t = &self.targets[i];
            let mut job = b.clone();
            job.target = i;
            job.opts = t.target.opts(&b.opts);
            t.counters.backlog(b.size, true);
            self.ready.push_back((now, job));
        }
    }

    /// Every target has the batch: drop its spool copy and markers.
    fn forget(&self, stream: uuid::Uuid, seq: u64) {
        if let Some(spool) = &self.spool {
            let markers: Vec<String> = if self.targets.len() > 1 {
                self.targets.iter().map(|t| t.marker.clone()).collect()
            } else {
                Vec::new()
            };
            if let Err(e) = spool.stored(stream, seq, &markers) {
                tracing::warn!(target: "worm", seq, error = %e, "could not remove a stored batch from the spool");
            }
        }
    }

    /// The target holding the most of a full backlog, when there are several.
    fn laggard(&self) -> Option<&TargetState> {
        if self.targets.len() < 2 {
            return None;
        }
        self.targets
            .iter()
            .max_by_key(|t| t.counters.backlog_bytes.load(Relaxed))
            .filter(|t| t.counters.backlog_batches.load(Relaxed) > 0)
    }

    /// Say once per episode which target a full backlog waits for.
    fn name_backlog(&mut self) {
        let full = self.backlogged();
        if full
            && !self.backlog_named
            && let Some(t) = self.laggard()
        {
            tracing::warn!(target: "worm", target_store = %t.counters.name,
                backlog_batches = t.counters.backlog_batches.load(Relaxed),
                backlog_bytes = t.counters.backlog_bytes.load(Relaxed),
                overflow = ?self.cfg.overflow,
                "backlog full, waiting for a replication target: the overflow policy applies");
        }
        self.backlog_named = full;
    }

    pub async fn run(mut self) {
        let mut records_open = true;
        let mut control_open = true;
        // The last pass took records or sealed a batch (CPU work on this thread).
        let mut busy = false;
        loop {
            self.name_backlog();
            self.report_drops();
            self.progress_close();
            let started = self.start_uploads();
            // Uploads are tasks of this thread's runtime, and so are their HTTP
            // connections: they write requests and read answers only while the worker
            // waits. While records keep coming the worker would not wait at all (a run
            // of 200 batches was all sealed before the first PUT left), so it yields
            // after each pass that started an upload or did work while uploads are out:
            // the store works on one batch while the next is sealed.
            if (started || busy) && !self.inflight.is_empty() {
                tokio::task::yield_now().await;
            }
            busy = false;
            self.start_anchor();
            self.answer_waiters();
            self.publish_oldest();
            if let Some(c) = &self.closing {
                // Done when all is stored, when the deadline passed, or when all that is
                // left was refused permanently again after close's retry: waiting longer
                // would change nothing.
                if c.final_seq.is_some()
                    && ((self.progress.is_empty() && self.anchor_idle())
                        || Instant::now() >= c.deadline
                        || (self.only_parked_left() && self.anchor_idle()))
                {
                    break;
                }
            } else if !control_open {
                // Every handle is gone without close(): behave as close() would.
                let upto = self.counters.sent.load(Relaxed);
                self.begin_close(upto, None);
                continue;
            }
            if self.rest_until.is_some_and(|t| t <= Instant::now()) {
                self.rest_until = None;
            }
            let take_records = records_open
                && (self.closing.is_some() || !self.backlogged())
                && self.rest_until.is_none();
            let wake = self.next_wakeup();
            tokio::select! {
                biased;
                ctl = self.inbox.control.recv(), if control_open => match ctl {
                    Some(Control::Flush { upto, reply, retry_failed }) => {
                        if retry_failed {
                            self.unpark();
                        }
                        self.waiters.push(Waiter::Receiving { upto, reply });
                    }
                    Some(Control::Close { upto, reply }) => self.begin_close(upto, Some(reply)),
                    None => control_open = false,
                },
                Some((batch, res)) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.on_uploaded(batch, res);
                }
                Some((p, res)) = self.anchor_inflight.next(), if !self.anchor_inflight.is_empty() => {
                    if let Some(a) = &mut self.anchor {
                        a.done(p, res, &self.cfg.retry);
                    }
                }
                rec = self.inbox.records.recv(), if take_records => match rec {
                    Some(e) => {
                        busy = true;
                        let sealed = self.next_order;
                        self.take(e);
                        // Drain what is already queued so batching falls out of the loop,
                        // up to the first batch sealed: its upload starts before the next.
                        let mut taken = 1;
                        for _ in 0..4096 {
                            if (self.backlogged() && self.closing.is_none())
                                || self.next_order != sealed
                            {
                                break;
                            }
                            match self.inbox.records.try_recv() {
                                Ok(e) => self.take(e),
                                Err(_) => break,
                            }
                            taken += 1;
                        }
                        self.give_back();
                        // Woken for a handful of records: a busy caller would pay a futex
                        // wake-up per record or so. Let the next ones gather for a moment
                        // instead; control messages and uploads are still heard.
                        if taken < REST_BELOW
                            && self.next_order == sealed
                            && self.closing.is_none()
                        {
                            self.rest_until = Some(Instant::now() + REST);
                        }
                    }
                    None => records_open = false,
                },
                _ = self.counters.unsent_changed.notified() => {}
                _ = sleep_until(wake) => {
                    busy = true;
                    if self.open.deadline(&self.cfg).is_some_and(|d| d <= Instant::now()) {
                        self.cut(false);
                    } else if self.heartbeat_due().is_some_and(|t| t <= Instant::now()) {
                        // Idle: an empty batch carries a fresh checkpoint, proof of life.
                        self.cut(false);
                    }
                }
            }
        }
        self.finish();
    }

    /// Records accounted for: received, or whose send failed (dropped, or refused after
    /// close).
    fn accounted(&self) -> u64 {
        self.received + self.counters.unsent.load(Relaxed)
    }

    /// Take a record out of the queue; its bytes go back to the budget in
    /// [`give_back`](Self::give_back).
    fn take(&mut self, e: Entry) {
        self.received += 1;
        self.taken_bytes += self.inbox.bytes.cost(e.line.len()) as usize;
        self.push(e);
    }

    /// Return the bytes of the records taken since the last call to the queue's budget:
    /// once per wake-up rather than per record, and always before the worker waits again.
    fn give_back(&mut self) {
        self.inbox.bytes.give(std::mem::take(&mut self.taken_bytes));
    }

    /// When the next heartbeat is due: only while idle, not closing, with room to store.
    fn heartbeat_due(&self) -> Option<Instant> {
        let every = self.cfg.heartbeat?;
        (self.open.is_empty() && self.closing.is_none() && !self.backlogged())
            .then(|| self.last_seal + every)
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let mut wake = self.open.deadline(&self.cfg);
        if let Some(t) = self.heartbeat_due() {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        let ready = self
            .ready
            .iter()
            .filter(|(_, b)| self.targets[b.target].inflight < self.cfg.max_in_flight)
            .map(|(t, _)| *t)
            .min();
        let mut consider = |t: Instant| wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
        if let Some(t) = self.rest_until {
            consider(t);
        }
        if let Some(t) = ready {
            consider(t);
        }
        if let Some(t) = self.anchor.as_ref().and_then(AnchorState::wake_at) {
            consider(t);
        }
        if let Some(c) = &self.closing {
            consider(c.deadline);
        }
        wake
    }

    fn begin_close(&mut self, upto: u64, reply: Option<Reply<Result<CloseReport>>>) {
        if self.closing.is_some() {
            // Only the guard closes, and only once; a close that finds one under way (all
            // handles were dropped first) is told the stream is closed.
            if let Some(r) = reply {
                r(Err(Error::Closed));
            }
            return;
        }
        self.unpark();
        self.closing = Some(Closing {
            upto,
            reply,
            deadline: Instant::now() + self.cfg.close_deadline,
            final_seq: None,
        });
    }

    /// Once every record sent before close has arrived, refuse new ones, take what is
    /// still queued, and seal the final batch.
    fn progress_close(&mut self) {
        let Some(c) = &self.closing else { return };
        if c.final_seq.is_some() || self.accounted() < c.upto {
            return;
        }
        self.inbox.records.close();
        while let Ok(e) = self.inbox.records.try_recv() {
            self.take(e);
        }
        self.report_drops();
        let final_seq = self.pos.next_seq;
        self.cut(true);
        if let Some(c) = &mut self.closing {
            c.final_seq = Some(final_seq);
        }
    }

    fn push(&mut self, e: Entry) {
        if self.open.would_overflow(&self.cfg, e.line.len()) {
            self.cut(false);
        }
        self.open.push(e);
        if self.open.is_full(&self.cfg) {
            self.cut(false);
        }
    }

    /// Write a `worm.records_dropped` gap record for drops not yet in the stream.
    fn report_drops(&mut self) {
        let dropped = self.counters.dropped.load(Relaxed);
        if dropped == self.drops_reported {
            return;
        }
        // While the backlog is full the drops gather in one span, written once it drains
        // (or at close): a gap record per wake-up would grow the backlog without bound.
        if self.backlogged() && self.closing.is_none() {
            return;
        }
        let Some(span) = lock(&self.counters.unreported_drops).take() else {
            return;
        };
        self.drops_reported += span.count;
        let behind = self.laggard().map(|t| t.counters.name.clone());
        let mut rec = AuditRecord::new(
            Level::Warn,
            format!(
                "{} audit records dropped: queue full (capacity {}), overflow policy DropNewest{}",
                span.count,
                self.cfg.queue_capacity,
                behind
                    .as_ref()
                    .map(|n| format!(", backlog held by replication target {n}"))
                    .unwrap_or_default()
            ),
        )
        .service(self.cfg.service.clone())
        .action("worm.records_dropped")
        .field("dropped_count", span.count)
        .field("first_dropped_at", timestamp::format(&span.first))
        .field("last_dropped_at", timestamp::format(&span.last));
        if let Some(n) = behind {
            rec = rec.field("behind_target", n);
        }
        tracing::warn!(target: "worm", count = span.count, "audit records dropped by overflow policy");
        self.push(Entry::synthetic(&rec));
    }

    fn cut(&mut self, is_final: bool) {
        let seq = self.pos.next_seq;
        let pred = if seq == 0 { self.pos.pred.take() } else { None };
        let mut sealed = self.open.seal(
            &self.cfg,
            Position {
                stream: self.pos.stream,
                seq,
                prev: self.pos.prev,
                tree: &mut self.pos.tree,
                pred,
            },
            is_final,
        );
        self.last_seal = Instant::now();
        self.pos.next_seq += 1;
        self.pos.prev = Some(sealed.chain);
        *lock(&self.counters.chain_head) = Some((seq, sealed.chain));
        if let Some(spool) = &self.spool {
            // Before the upload starts: from here a crash re-sends these exact bytes.
            // The bytes then wait on disk, not in memory.
            match spool.seal(&sealed, self.pos.stream) {
                Ok(path) => {
                    sealed.spool_file = Some(path);
                    sealed.body = bytes::Bytes::new();
                }
                Err(e) => tracing::error!(target: "worm", seq, error = %e,
                    "could not spool the sealed batch; its records stay in the spool's log"),
            }
        }
        sealed.order = self.next_order;
        self.next_order += 1;
        tracing::debug!(target: "worm", seq, key = %sealed.key, records = sealed.user_records, is_final, "batch sealed");
        let none = vec![false; self.targets.len()];
        self.enqueue(sealed, none);
    }

    fn unpark(&mut self) {
        for (batch, _) in std::mem::take(&mut self.parked) {
            if let Some(p) = self.progress.get_mut(&batch.order) {
                p.parked -= 1;
            }
            self.ready.push_back((Instant::now(), batch));
        }
    }

    /// Whether a batch cannot be acknowledged without outside help: too many of its
    /// uploads were refused permanently.
    fn ack_blocked(&self, order: u64) -> bool {
        self.progress
            .get(&order)
            .is_some_and(|p| !p.acked && self.targets.len() - p.parked < self.need)
    }

    /// Start the uploads that have a free slot of their target, each as a task of the
    /// writer's runtime; whether any started.
    fn start_uploads(&mut self) -> bool {
        let now = Instant::now();
        let mut started = false;
        let max = self.cfg.max_in_flight;
        let mut i = 0;
        while i < self.ready.len() {
            if self.targets.iter().all(|t| t.inflight >= max) {
                break;
            }
            let (t, b) = &self.ready[i];
            if *t > now || self.targets[b.target].inflight >= max {
                i += 1;
                continue;
            }
            let Some((_, batch)) = self.ready.remove(i) else {
                break;
            };
            let target = &mut self.targets[batch.target];
            target.inflight += 1;
            let sink = target.target.sink.clone();
            let preflight = target.preflight.clone();
            let cfg = self.cfg.clone();
            let counters = self.counters.clone();
            let mut rng = fastrand::Rng::with_seed(self.rng.u64(..));
            self.inflight.push(Spawned(tokio::spawn(async move {
                let started = Instant::now();
                let res =
                    upload_round(&sink, &batch, &cfg.retry, &preflight, &counters, &mut rng).await;
                if res.is_ok() {
                    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                    counters.upload_micros.fetch_add(micros, Relaxed);
                }
                (batch, res)
            })));
            started = true;
        }
        started
    }

    fn on_uploaded(&mut self, mut batch: Sealed, res: Result<()>) {
        let ti = batch.target;
        self.targets[ti].inflight -= 1;
        let several = self.targets.len() > 1;
        match res {
            Ok(()) => {
                let t = &self.targets[ti];
                t.counters.stored();
                t.counters.backlog(batch.size, false);
                *lock(&t.counters.last_error) = None;
                self.publish_error();
                tracing::debug!(target: "worm", seq = batch.seq, key = %batch.key, target_store = %t.counters.name, "batch stored");
                // The target answers again: what waits for it need not wait out a backoff.
                let now = Instant::now();
                for (when, b) in self.ready.iter_mut() {
                    if b.target == ti && *when > now {
                        *when = now;
                    }
                }
                self.target_has(&batch, ti);
            }
            Err(e) if e.is_retryable() => {
                self.target_failed(ti, &e);
                batch.rounds += 1;
                batch.maybe_sent = true;
                let wait = self.cfg.retry.round_backoff(batch.rounds);
                let target_store = several.then(|| self.targets[ti].counters.name.clone());
                tracing::error!(target: "worm", seq = batch.seq, key = %batch.key, target_store, error = %e, rounds = batch.rounds,
                    retry_in_s = wait.as_secs_f64(), "batch not stored yet; kept pending and retried later");
                self.ready.push_back((Instant::now() + wait, batch));
            }
            Err(e) => {
                self.target_failed(ti, &e);
                batch.maybe_sent = true;
                let target_store = several.then(|| self.targets[ti].counters.name.clone());
                tracing::error!(target: "worm", seq = batch.seq, key = %batch.key, target_store, error = %e,
                    "batch refused permanently; kept pending, tried again by retry_failed or close");
                if let Some(p) = self.progress.get_mut(&batch.order) {
                    p.parked += 1;
                }
                self.parked.push((batch, Arc::new(e)));
            }
        }
    }

    /// Target `ti` has the batch: acknowledge it once enough targets do, let it go once
    /// all do.
    fn target_has(&mut self, batch: &Sealed, ti: usize) {
        let n = self.targets.len();
        let Some(p) = self.progress.get_mut(&batch.order) else {
            return;
        };
        p.done[ti] = true;
        let have = p.done.iter().filter(|d| **d).count();
        if !p.acked && have >= self.need {
            p.acked = true;
            self.unstored.remove(&batch.order);
            self.counters.stored.fetch_add(p.user_records, Relaxed);
            self.counters.batches_stored.fetch_add(1, Relaxed);
            self.offer_anchor(batch.stream, batch.seq, batch.checkpoint.as_ref());
        }
        let Some(p) = self.progress.get_mut(&batch.order) else {
            return;
        };
        if have == n {
            if let Some(p) = self.progress.remove(&batch.order) {
                self.account(p.spooled, p.size, false);
                self.forget(p.stream, p.seq);
            }
        } else if p.spooled
            && let Some(spool) = &self.spool
            && let Err(e) = spool.target_done(p.stream, p.seq, &self.targets[ti].marker)
        {
            tracing::warn!(target: "worm", seq = p.seq, error = %e, "could not mark a batch stored in one target");
        }
    }

    fn target_failed(&self, ti: usize, e: &Error) {
        let t = &self.targets[ti];
        t.counters.failures.fetch_add(1, Relaxed);
        *lock(&t.counters.last_error) = Some(e.to_string());
        self.counters.failures.fetch_add(1, Relaxed);
        self.publish_error();
    }

    /// The writer's last error: the first target's that has one (named, when there are
    /// several).
    fn publish_error(&self) {
        let several = self.targets.len() > 1;
        let e = self.targets.iter().find_map(|t| {
            lock(&t.counters.last_error).as_ref().map(|e| {
                if several {
                    format!("{}: {e}", t.counters.name)
                } else {
                    e.clone()
                }
            })
        });
        *lock(&self.counters.last_error) = e;
    }

    /// Whether every upload not yet done was refused permanently and none is queued or in
    /// flight.
    fn only_parked_left(&self) -> bool {
        self.ready.is_empty() && self.inflight.is_empty()
    }

    /// Whether nothing can move without outside help: the backlog is full and every batch
    /// in it was refused permanently.
    fn stuck(&self) -> bool {
        self.backlogged() && self.ready.is_empty() && self.inflight.is_empty()
    }

    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let accounted = self.accounted();
        let stuck = self.stuck();
        let mut i = 0;
        while i < self.waiters.len() {
            // Promote waiters whose records have all arrived: cut the open batch.
            if let Waiter::Receiving { upto, .. } = &self.waiters[i]
                && accounted >= *upto
            {
                if !self.open.is_empty() {
                    self.cut(false);
                    self.start_uploads();
                }
                let Waiter::Receiving { reply, .. } = self.waiters.swap_remove(i) else {
                    unreachable!("matched above")
                };
                self.waiters.push(Waiter::Storing {
                    bound: self.next_order,
                    reply,
                });
                continue;
            }
            let outcome = match &self.waiters[i] {
                Waiter::Receiving { .. } => stuck.then(|| self.parked_result(u64::MAX)),
                Waiter::Storing { bound, .. } => {
                    let mut below = self.unstored.range(..*bound).map(|(s, _)| *s).peekable();
                    if below.peek().is_none() {
                        Some(Ok(()))
                    } else if below.all(|s| self.ack_blocked(s)) {
                        Some(self.parked_result(*bound))
                    } else {
                        None
                    }
                }
            };
            match outcome {
                Some(r) => {
                    let (Waiter::Receiving { reply, .. } | Waiter::Storing { reply, .. }) =
                        self.waiters.swap_remove(i);
                    reply(r);
                }
                None => i += 1,
            }
        }
    }

    /// The oldest batch below `bound` refused permanently, with the store's error.
    fn parked_error(&self, bound: u64) -> Option<BatchError> {
        self.parked
            .iter()
            .filter(|(b, _)| b.order < bound)
            .min_by_key(|(b, _)| b.order)
            .map(|(b, e)| BatchError::new(b.key.clone(), b.seq, b.user_records, e.clone()))
    }

    fn parked_result(&self, bound: u64) -> Result<()> {
        Err(self
            .parked_error(bound)
            .map_or(Error::Closed, |b| Error::Batch(Box::new(b))))
    }

    fn publish_oldest(&self) {
        let oldest = self
            .unstored
            .values()
            .next()
            .copied()
            .or(self.open.opened_at);
        *lock(&self.counters.oldest_pending) = oldest;
        self.counters
            .backlog_memory_bytes
            .store(self.backlog_bytes as u64, Relaxed);
        self.counters
            .backlog_spool_bytes
            .store(self.spool_bytes as u64, Relaxed);
    }

    /// At close, what each target still lacks: kept in the spool for the next run, or,
    /// without one, missed by that target and counted.
    fn settle_backlogs(&self) {
        if let Some(a) = &self.anchor {
            a.settle();
        }
        for t in &self.targets {
            let left = t.counters.backlog_batches.load(Relaxed);
            if left == 0 {
                continue;
            }
            if self.spool.is_some() {
                tracing::warn!(target: "worm", target_store = %t.counters.name, batches = left,
                    "closing with batches not yet in this target; they stay in the spool for the next run");
            } else {
                t.counters.missed.fetch_add(left, Relaxed);
                tracing::error!(target: "worm", target_store = %t.counters.name, batches = left,
                    "closing without a spool: these batches never reached this target");
            }
        }
    }

    fn finish(mut self) {
        let Some(mut closing) = self.closing.take() else {
            return;
        };
        self.settle_backlogs();
        let stats = self.counters.snapshot();
        let result = if self.unstored.is_empty() {
            Ok(CloseReport {
                stream: self.pos.stream,
                final_seq: closing.final_seq.unwrap_or(self.pos.next_seq),
                batches_stored: stats.batches_stored,
                records_stored: stats.stored,
            })
        } else {
            let mut keys: Vec<String> = self
                .ready
                .iter()
                .map(|(_, b)| b)
                .chain(self.parked.iter().map(|(b, _)| b))
                .filter(|b| self.unstored.contains_key(&b.order))
                .map(|b| b.key.clone())
                .collect();
            keys.dedup();
            keys.truncate(5);
            let left = format!(
                "{} batches with {} records not stored (e.g. {})",
                self.unstored.len(),
                stats.pending,
                keys.join(", "),
            );
            tracing::error!(target: "worm", %left, "closing with audit records not stored");
            // A batch refused permanently names the cause, with its kind; otherwise the
            // deadline passed with the store still failing transiently (or unreachable).
            match self.parked_error(u64::MAX) {
                Some(b) => Err(Error::Batch(Box::new(b.with_left(left)))),
                None => Err(Error::Timeout {
                    what: "closing the audit log".into(),
                    seconds: self.cfg.close_deadline.as_secs_f64(),
                    left,
                }),
            }
        };
        for w in self.waiters.drain(..) {
            let (Waiter::Receiving { reply, .. } | Waiter::Storing { reply, .. }) = w;
            reply(Err(Error::Closed));
        }
        // Let go of the spool (and its lock) before answering: an async close returns
        // without waiting for this thread, and the caller may reopen the spool at once.
        drop(self.spool.take());
        if let Some(reply) = closing.reply.take() {
            reply(result);
        }
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => futures::future::pending().await,
    }
}
