//! The background worker: drains the queue, cuts and seals batches, runs uploads with
//! bounded concurrency, retries failed rounds, and answers flush and close.
//!
//! It runs on its own thread with its own single-threaded tokio runtime, so callers may be
//! plain sync code or any async runtime.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::batcher::{Entry, OpenBatch, Sealed};
use super::config::Config;
use super::stats::{Counters, lock};
use super::upload::upload_round;
use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::record::{AuditRecord, Level, timestamp};
use crate::sink::WormSink;

/// How a flush or close is answered.
pub(crate) type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// Messages from handles to the worker, in one FIFO queue so that a flush is ordered
/// after every record accepted before it.
pub(crate) enum Msg {
    Record(Entry),
    Flush(Reply<Result<()>>),
    Close(Reply<Result<CloseReport>>),
}

/// What `close` achieved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CloseReport {
    /// The stream that was closed.
    pub stream: Uuid,
    /// Seq of the final batch.
    pub final_seq: u64,
    /// Batches stored over the writer's life.
    pub batches_stored: u64,
    /// Records stored over the writer's life.
    pub records_stored: u64,
}

/// Where a stream continues: used when a spool resumes a previous run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamPos {
    pub stream: Uuid,
    pub next_seq: u64,
    pub prev: Option<Sha256Hex>,
}

type Upload = BoxFuture<'static, (Sealed, Result<()>)>;

pub(crate) struct Worker {
    cfg: Arc<Config>,
    sink: Arc<dyn WormSink>,
    counters: Arc<Counters>,
    rx: mpsc::Receiver<Msg>,
    pos: StreamPos,
    open: OpenBatch,
    /// Sealed batches waiting for an upload slot, with the time they may start.
    ready: VecDeque<(Instant, Sealed)>,
    /// Batches stopped by a permanent error, retried only on an explicit flush or close.
    parked: Vec<(Sealed, Error)>,
    inflight: FuturesUnordered<Upload>,
    /// Sealed and not yet stored: seq -> when its first record arrived.
    unstored: BTreeMap<u64, Instant>,
    parked_seqs: BTreeSet<u64>,
    waiters: Vec<(u64, Reply<Result<()>>)>,
    closing: Option<(Reply<Result<CloseReport>>, Instant, u64)>,
    drops_reported: u64,
    rng: fastrand::Rng,
}

impl Worker {
    pub fn new(
        cfg: Arc<Config>,
        sink: Arc<dyn WormSink>,
        counters: Arc<Counters>,
        rx: mpsc::Receiver<Msg>,
        pos: StreamPos,
    ) -> Self {
        let rng = match cfg.retry.jitter_seed {
            Some(seed) => fastrand::Rng::with_seed(seed),
            None => fastrand::Rng::new(),
        };
        Worker {
            cfg,
            sink,
            counters,
            rx,
            pos,
            open: OpenBatch::new(),
            ready: VecDeque::new(),
            parked: Vec::new(),
            inflight: FuturesUnordered::new(),
            unstored: BTreeMap::new(),
            parked_seqs: BTreeSet::new(),
            waiters: Vec::new(),
            closing: None,
            drops_reported: 0,
            rng,
        }
    }

    pub async fn run(mut self) {
        let mut rx_open = true;
        loop {
            self.report_drops();
            self.start_uploads();
            self.answer_waiters();
            self.publish_oldest();
            if let Some((_, deadline, _)) = &self.closing {
                if self.unstored.is_empty() || Instant::now() >= *deadline {
                    break;
                }
            } else if !rx_open {
                // Every handle is gone without close(): behave as close() would.
                self.begin_close(Box::new(|_| {}));
                continue;
            }
            let wake = self.next_wakeup();
            tokio::select! {
                biased;
                Some((batch, res)) = self.inflight.next(), if !self.inflight.is_empty() => {
                    self.on_uploaded(batch, res);
                }
                msg = self.rx.recv(), if rx_open && self.closing.is_none() => match msg {
                    Some(msg) => {
                        self.handle(msg);
                        // Drain what is already queued so batching falls out of the loop.
                        for _ in 0..4096 {
                            match self.rx.try_recv() {
                                Ok(msg) => self.handle(msg),
                                Err(_) => break,
                            }
                        }
                    }
                    None => rx_open = false,
                },
                _ = sleep_until(wake) => {
                    if self.open.deadline(&self.cfg).is_some_and(|d| d <= Instant::now()) {
                        self.cut(false);
                    }
                }
            }
        }
        self.finish();
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let mut wake = self.open.deadline(&self.cfg);
        let mut consider = |t: Instant| wake = Some(wake.map_or(t, |w: Instant| w.min(t)));
        if self.inflight.len() < self.cfg.max_in_flight {
            if let Some(t) = self.ready.iter().map(|(t, _)| *t).min() {
                consider(t);
            }
        }
        if let Some((_, deadline, _)) = &self.closing {
            consider(*deadline);
        }
        wake
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Record(e) => self.push(e),
            Msg::Flush(reply) => {
                self.report_drops();
                if !self.open.is_empty() {
                    self.cut(false);
                }
                self.unpark();
                self.waiters.push((self.pos.next_seq, reply));
            }
            Msg::Close(reply) => self.begin_close(reply),
        }
    }

    fn begin_close(&mut self, reply: Reply<Result<CloseReport>>) {
        // No new sends succeed from here; what is already queued still belongs to us.
        self.rx.close();
        let mut extra_closes = Vec::new();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Close(r) => extra_closes.push(r),
                other => self.handle(other),
            }
        }
        self.report_drops();
        let final_seq = self.pos.next_seq;
        self.cut(true);
        self.unpark();
        let deadline = Instant::now() + self.cfg.close_deadline;
        let reply: Reply<Result<CloseReport>> = if extra_closes.is_empty() {
            reply
        } else {
            Box::new(move |r: Result<CloseReport>| {
                for other in extra_closes {
                    other(r.as_ref().map(Clone::clone).map_err(Error::clone_lossy));
                }
                reply(r);
            })
        };
        self.closing = Some((reply, deadline, final_seq));
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
        let Some(span) = lock(&self.counters.unreported_drops).take() else {
            return;
        };
        self.drops_reported += span.count;
        let rec = AuditRecord::new(
            Level::Warn,
            format!(
                "{} audit records dropped: queue full (capacity {}), overflow policy DropNewest",
                span.count, self.cfg.queue_capacity
            ),
        )
        .service(self.cfg.service.clone())
        .action("worm.records_dropped")
        .field("dropped_count", span.count)
        .field("first_dropped_at", timestamp::format(&span.first))
        .field("last_dropped_at", timestamp::format(&span.last));
        tracing::warn!(target: "worm", count = span.count, "audit records dropped by overflow policy");
        let mut line = Vec::with_capacity(256);
        rec.write_json(&mut line);
        self.push(Entry {
            line,
            ts: rec.timestamp,
            level: rec.level,
            request_id: None,
            synthetic: true,
        });
    }

    fn cut(&mut self, is_final: bool) {
        let seq = self.pos.next_seq;
        let sealed = self.open.seal(&self.cfg, self.pos.stream, seq, self.pos.prev, is_final);
        self.pos.next_seq += 1;
        self.pos.prev = Some(sealed.chain);
        *lock(&self.counters.chain_head) = Some((seq, sealed.chain));
        self.unstored.insert(seq, sealed.opened_at);
        tracing::debug!(target: "worm", seq, key = %sealed.key, records = sealed.user_records, is_final, "batch sealed");
        self.ready.push_back((Instant::now(), sealed));
    }

    fn unpark(&mut self) {
        for (batch, _) in self.parked.drain(..) {
            self.parked_seqs.remove(&batch.seq);
            self.ready.push_back((Instant::now(), batch));
        }
    }

    fn start_uploads(&mut self) {
        let now = Instant::now();
        while self.inflight.len() < self.cfg.max_in_flight {
            let Some(i) = self.ready.iter().position(|(t, _)| *t <= now) else {
                break;
            };
            let Some((_, batch)) = self.ready.remove(i) else {
                break;
            };
            let sink = self.sink.clone();
            let cfg = self.cfg.clone();
            let counters = self.counters.clone();
            let mut rng = fastrand::Rng::with_seed(self.rng.u64(..));
            self.inflight.push(Box::pin(async move {
                let res = upload_round(&sink, &batch, &cfg.retry, &counters, &mut rng).await;
                (batch, res)
            }));
        }
    }

    fn on_uploaded(&mut self, mut batch: Sealed, res: Result<()>) {
        match res {
            Ok(()) => {
                self.unstored.remove(&batch.seq);
                self.counters.stored.fetch_add(batch.user_records, Relaxed);
                self.counters.batches_stored.fetch_add(1, Relaxed);
                tracing::debug!(target: "worm", seq = batch.seq, key = %batch.key, "batch stored");
            }
            Err(e) if e.is_retryable() => {
                batch.rounds += 1;
                self.counters.failures.fetch_add(1, Relaxed);
                let wait = self.cfg.retry.round_backoff(batch.rounds);
                tracing::error!(target: "worm", seq = batch.seq, key = %batch.key, error = %e, rounds = batch.rounds,
                    retry_in_s = wait.as_secs_f64(), "batch not stored yet; kept pending and retried later");
                self.ready.push_back((Instant::now() + wait, batch));
            }
            Err(e) => {
                self.counters.failures.fetch_add(1, Relaxed);
                tracing::error!(target: "worm", seq = batch.seq, key = %batch.key, error = %e,
                    "batch refused permanently; kept pending, retried on the next flush or close");
                self.parked_seqs.insert(batch.seq);
                self.parked.push((batch, e));
            }
        }
    }

    fn answer_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let mut i = 0;
        while i < self.waiters.len() {
            let bound = self.waiters[i].0;
            let mut below = self.unstored.range(..bound).map(|(s, _)| *s);
            let outcome = match below.next() {
                None => Some(Ok(())),
                Some(first) => {
                    let all_parked = std::iter::once(first)
                        .chain(below)
                        .all(|s| self.parked_seqs.contains(&s));
                    all_parked.then(|| Err(self.parked_error(bound)))
                }
            };
            match outcome {
                Some(r) => {
                    let (_, reply) = self.waiters.swap_remove(i);
                    reply(r);
                }
                None => i += 1,
            }
        }
    }

    fn parked_error(&self, bound: u64) -> Error {
        self.parked
            .iter()
            .filter(|(b, _)| b.seq < bound)
            .min_by_key(|(b, _)| b.seq)
            .map(|(b, e)| Error::Backend {
                context: format!(
                    "storing batch {} ({} records) at '{}'",
                    b.seq, b.user_records, b.key
                ),
                message: e.to_string(),
            })
            .unwrap_or(Error::Closed)
    }

    fn publish_oldest(&self) {
        let oldest = self
            .unstored
            .values()
            .next()
            .copied()
            .or(self.open.opened_at);
        *lock(&self.counters.oldest_pending) = oldest;
    }

    fn finish(mut self) {
        let Some((reply, _, final_seq)) = self.closing.take() else {
            return;
        };
        let stats = self.counters.snapshot();
        let result = if self.unstored.is_empty() {
            Ok(CloseReport {
                stream: self.pos.stream,
                final_seq,
                batches_stored: stats.batches_stored,
                records_stored: stats.stored,
            })
        } else {
            let keys: Vec<String> = self
                .ready
                .iter()
                .map(|(_, b)| b)
                .chain(self.parked.iter().map(|(b, _)| b))
                .map(|b| b.key.clone())
                .take(5)
                .collect();
            let left = format!(
                "{} batches with {} records not stored (e.g. {}); {}",
                self.unstored.len(),
                stats.pending,
                keys.join(", "),
                self.parked
                    .first()
                    .map_or(String::new(), |(_, e)| format!("last error: {e}"))
            );
            tracing::error!(target: "worm", %left, "closing with audit records not stored");
            Err(Error::Timeout {
                what: "closing the audit log".into(),
                seconds: self.cfg.close_deadline.as_secs_f64(),
                left,
            })
        };
        for (_, w) in self.waiters.drain(..) {
            w(Err(Error::Closed));
        }
        reply(result);
    }
}

async fn sleep_until(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t.into()).await,
        None => futures::future::pending().await,
    }
}
