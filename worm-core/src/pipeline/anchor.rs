//! Publishing signed checkpoints to an anchor store: a separate store that receives only
//! the checkpoints, so that a rewrite of the main store, even re-signed with the writer's
//! key, is caught by `worm verify --anchor-store` for everything anchored before it.
//!
//! Each later checkpoint of a stream covers the earlier ones (its tree has theirs as a
//! prefix), so only the newest waiting one is kept: one PUT in flight, bounded memory, and
//! a store that is down costs nothing but a count. Checkpoints never published are
//! counted ([`TargetStats::missed`](super::TargetStats::missed)) at close.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::config::RetryConfig;
use super::replicas::Target;
use super::stats::{TargetCounters, lock};
use crate::error::{Error, Result};
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
    pub seq: u64,
    pub key: String,
    pub text: String,
}

/// The anchor store as the worker drives it.
pub(crate) struct AnchorState {
    pub target: Target,
    pub counters: Arc<TargetCounters>,
    /// The newest checkpoint not yet published.
    pub pending: Option<Pending>,
    /// A PUT is in flight.
    pub busy: bool,
    /// After a failed round: not before this.
    pub retry_at: Option<Instant>,
    pub rounds: u32,
}

impl AnchorState {
    pub fn new(target: Target, counters: Arc<TargetCounters>) -> Self {
        AnchorState {
            target,
            counters,
            pending: None,
            busy: false,
            retry_at: None,
            rounds: 0,
        }
    }

    /// Offer a stream's checkpoint: it replaces a waiting older one of the same stream.
    pub fn offer(&mut self, p: Pending) {
        let newer = self
            .pending
            .as_ref()
            .is_none_or(|q| q.stream != p.stream || q.seq < p.seq);
        if newer {
            self.pending = Some(p);
            self.publish_backlog();
        }
    }

    /// Whether nothing waits and nothing is in flight.
    pub fn idle(&self) -> bool {
        self.pending.is_none() && !self.busy
    }

    /// The checkpoint to publish now, if any.
    pub fn take(&mut self, now: Instant) -> Option<Pending> {
        if self.busy || self.retry_at.is_some_and(|t| t > now) {
            return None;
        }
        let p = self.pending.take()?;
        self.busy = true;
        Some(p)
    }

    /// A PUT ended.
    pub fn done(&mut self, p: Pending, res: Result<()>, retry: &RetryConfig) {
        self.busy = false;
        match res {
            Ok(()) => {
                self.rounds = 0;
                self.retry_at = None;
                self.counters.batches_stored.fetch_add(1, Relaxed);
                *lock(&self.counters.last_error) = None;
            }
            Err(e) => {
                self.counters.failures.fetch_add(1, Relaxed);
                tracing::warn!(target: "worm", key = %p.key, anchor_store = %self.counters.name, error = %e,
                    "checkpoint not published to the anchor store; tried again later");
                *lock(&self.counters.last_error) = Some(e.to_string());
                self.rounds += 1;
                self.retry_at = Some(Instant::now() + retry.round_backoff(self.rounds));
                if self.pending.is_none() {
                    self.pending = Some(p);
                }
            }
        }
        self.publish_backlog();
    }

    fn publish_backlog(&self) {
        let n = u64::from(!self.idle());
        self.counters.backlog_batches.store(n, Relaxed);
    }

    /// At close: a checkpoint never published is counted.
    pub fn settle(&self) {
        if self.pending.is_some() || self.busy {
            self.counters.missed.fetch_add(1, Relaxed);
            tracing::error!(target: "worm", anchor_store = %self.counters.name,
                "closing with the newest checkpoint not published to the anchor store");
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
        let res = match sink.put(&p.key, body.clone(), &opts).await {
            Ok(_) => Ok(()),
            Err(Error::AlreadyExists { key, .. }) => match sink.stored_sha256(&key).await {
                Ok(s) if s == sha => Ok(()),
                Ok(s) => Err(Error::Conflict {
                    key,
                    stored: s.to_hex(),
                    ours: sha.to_hex(),
                }),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match res {
            Err(e) if e.is_retryable() && attempt < retry.max_retries => {
                attempt += 1;
                tokio::time::sleep(retry.backoff(attempt, &mut rng)).await;
            }
            other => return other,
        }
    }
}
