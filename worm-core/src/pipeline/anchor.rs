//! Publishing signed checkpoints to an anchor store: a separate store that receives only
//! the checkpoints, so that a rewrite of the main store, even re-signed with the writer's
//! key, is caught by `worm verify --anchor-store` for everything anchored before it.
//!
//! Every checkpoint is published, in order, with up to [`MAX_IN_FLIGHT`] PUTs at once:
//! the anchor store then holds one signed checkpoint per stored batch, each an object of
//! its own with the time the store received it. Memory is bounded: past
//! [`MAX_WAITING`] waiting checkpoints (the anchor store down for long), the oldest
//! waiting one of the stream is given up, since each later checkpoint of a stream covers
//! the earlier ones (its tree has theirs as a prefix) for consistency proofs; each one
//! given up, and each one still unpublished at close, is counted
//! ([`TargetStats::missed`](super::TargetStats::missed)).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::config::RetryConfig;
use super::replicas::Target;
use super::stats::{TargetCounters, lock};
use crate::error::Result;
use crate::hash::Sha256Hex;
use crate::sink::{PutOptions, WormSink};

/// The key of a stream's checkpoint after batch `seq`, under the writer's key prefix.
pub fn anchor_key(prefix: &str, stream: Uuid, seq: u64) -> String {
    let name = format!("checkpoints/{stream}/{seq:012}.checkpoint");
    if prefix.is_empty() {
        name
    } else {
        format!("{prefix}/{name}")
    }
}

/// A checkpoint waiting to be published.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub stream: Uuid,
    pub key: String,
    pub text: String,
}

/// Checkpoint PUTs in flight at once.
pub(crate) const MAX_IN_FLIGHT: usize = 4;

/// Checkpoints waiting for the anchor store (a few hundred bytes each) before the oldest
/// waiting one is given up.
pub(crate) const MAX_WAITING: usize = 4096;

/// The anchor store as the worker drives it.
pub(crate) struct AnchorState {
    pub target: Target,
    pub counters: Arc<TargetCounters>,
    /// Checkpoints not yet published, oldest first.
    pending: VecDeque<Pending>,
    /// PUTs in flight.
    inflight: usize,
    /// After a failed round: not before this.
    pub retry_at: Option<Instant>,
    pub rounds: u32,
}

impl AnchorState {
    pub fn new(target: Target, counters: Arc<TargetCounters>) -> Self {
        AnchorState {
            target,
            counters,
            pending: VecDeque::new(),
            inflight: 0,
            retry_at: None,
            rounds: 0,
        }
    }

    /// Queue a checkpoint to publish. Past [`MAX_WAITING`], the oldest waiting one of the
    /// same stream (else the oldest) is given up and counted as missed.
    pub fn offer(&mut self, p: Pending) {
        if self.pending.len() >= MAX_WAITING {
            let at = self
                .pending
                .iter()
                .position(|q| q.stream == p.stream)
                .unwrap_or(0);
            if let Some(old) = self.pending.remove(at) {
                self.counters.missed.fetch_add(1, Relaxed);
                tracing::warn!(target: "worm", key = %old.key, anchor_store = %self.counters.name,
                    "anchor store too far behind: an older checkpoint is not published (later ones cover it)");
            }
        }
        self.pending.push_back(p);
        self.publish_backlog();
    }

    /// Whether nothing waits and nothing is in flight.
    pub fn idle(&self) -> bool {
        self.pending.is_empty() && self.inflight == 0
    }

    /// When the worker should wake to start a PUT: `None` when nothing can start.
    pub fn wake_at(&self) -> Option<Instant> {
        if self.pending.is_empty() || self.inflight >= MAX_IN_FLIGHT {
            return None;
        }
        Some(self.retry_at.unwrap_or_else(Instant::now))
    }

    /// The next checkpoint to publish now, if any.
    pub fn take(&mut self, now: Instant) -> Option<Pending> {
        if self.inflight >= MAX_IN_FLIGHT || self.retry_at.is_some_and(|t| t > now) {
            return None;
        }
        let p = self.pending.pop_front()?;
        self.inflight += 1;
        Some(p)
    }

    /// A PUT ended.
    pub fn done(&mut self, p: Pending, res: Result<()>, retry: &RetryConfig) {
        self.inflight -= 1;
        match res {
            Ok(()) => {
                self.rounds = 0;
                self.retry_at = None;
                self.counters.stored();
                *lock(&self.counters.last_error) = None;
            }
            Err(e) => {
                self.counters.failures.fetch_add(1, Relaxed);
                tracing::warn!(target: "worm", key = %p.key, anchor_store = %self.counters.name, error = %e,
                    "checkpoint not published to the anchor store; tried again later");
                *lock(&self.counters.last_error) = Some(e.to_string());
                self.rounds += 1;
                self.retry_at = Some(Instant::now() + retry.round_backoff(self.rounds));
                // Back at the front: published in order once the store answers again.
                self.pending.push_front(p);
            }
        }
        self.publish_backlog();
    }

    fn publish_backlog(&self) {
        let n = (self.pending.len() + self.inflight) as u64;
        self.counters.backlog_batches.store(n, Relaxed);
    }

    /// At close: each checkpoint never published is counted.
    pub fn settle(&self) {
        let left = self.pending.len() + self.inflight;
        if left > 0 {
            self.counters.missed.fetch_add(left as u64, Relaxed);
            tracing::error!(target: "worm", anchor_store = %self.counters.name, checkpoints = left,
                "closing with checkpoints not published to the anchor store");
        }
    }
}

/// PUT one checkpoint, retrying transient errors within the round; a key already holding
/// the same bytes counts as published.
pub(crate) async fn publish(
    sink: Arc<dyn WormSink>,
    p: &Pending,
    opts: PutOptions,
    retry: RetryConfig,
    mut rng: fastrand::Rng,
) -> Result<()> {
    let body = Bytes::from(p.text.clone());
    let sha = Sha256Hex::of(&body);
    let mut attempt = 0;
    loop {
        let put = sink.put(&p.key, body.clone(), &opts).await;
        match super::upload::put_outcome(sink.as_ref(), put, &sha).await {
            Err(e) if e.is_retryable() && attempt < retry.max_retries => {
                attempt += 1;
                tokio::time::sleep(retry.backoff(attempt, &mut rng)).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use std::time::Duration;

    use async_trait::async_trait;
    use futures::stream::BoxStream;

    use super::*;
    use crate::error::Error;
    use crate::sink::{Capabilities, ObjectInfo, PutReceipt, StoredObject};

    /// A store the state machine never calls (the worker does the PUTs).
    #[derive(Debug)]
    struct Unused;

    #[async_trait]
    impl WormSink for Unused {
        async fn put(&self, _: &str, _: Bytes, _: &PutOptions) -> Result<PutReceipt> {
            unreachable!()
        }
        async fn get(&self, _: &str) -> Result<StoredObject> {
            unreachable!()
        }
        fn list<'a>(&'a self, _: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
            unreachable!()
        }
        fn capabilities(&self) -> Capabilities {
            Capabilities::NONE
        }
        fn describe(&self) -> String {
            "unused:".into()
        }
    }

    fn pending(stream: Uuid, seq: u64) -> Pending {
        Pending {
            stream,
            key: anchor_key("p", stream, seq),
            text: format!("checkpoint {seq}"),
        }
    }

    /// Every checkpoint is kept in order, a failed one goes back to the front, and past
    /// the bound the oldest waiting one of the stream is given up and counted.
    #[test]
    fn every_checkpoint_waits_in_order_within_a_bound() {
        let counters = Arc::new(TargetCounters::new("anchors".into()));
        let mut a = AnchorState::new(Target::new(Unused), counters.clone());
        let (s, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        a.offer(pending(other, 0));
        for seq in 0..MAX_WAITING as u64 {
            a.offer(pending(s, seq));
        }
        // Full: the other stream's lone checkpoint stays; stream s's oldest goes.
        assert_eq!(counters.missed.load(Relaxed), 1);
        assert_eq!(counters.backlog_batches.load(Relaxed), MAX_WAITING as u64);
        let now = Instant::now();
        let taken: Vec<Pending> = std::iter::from_fn(|| a.take(now)).collect();
        assert_eq!(taken.len(), MAX_IN_FLIGHT);
        assert_eq!(taken[0].key, anchor_key("p", other, 0));
        assert_eq!(taken[1].key, anchor_key("p", s, 1));
        let retry = RetryConfig::default();
        let mut it = taken.into_iter();
        a.done(it.next().unwrap(), Ok(()), &retry);
        let failed = it.next().unwrap();
        a.done(failed.clone(), Err(Error::invalid("x", "y")), &retry);
        assert_eq!(counters.batches_stored.load(Relaxed), 1);
        assert_eq!(counters.failures.load(Relaxed), 1);
        // Not before the backoff; then the failed one first.
        assert!(a.take(now).is_none());
        let later = Instant::now() + Duration::from_secs(3600);
        assert_eq!(a.take(later).unwrap().key, failed.key);
        for p in it {
            a.done(p, Ok(()), &retry);
        }
        a.settle();
        // Unpublished at close: all that wait, and the one taken above.
        assert_eq!(
            counters.missed.load(Relaxed),
            1 + (MAX_WAITING - MAX_IN_FLIGHT) as u64 + 1
        );
    }
}
