//! One upload round of a sealed batch: the first attempt plus up to `max_retries`
//! retries with jittered backoff. Retry lives here, never inside a provider.

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use super::config::RetryConfig;
use super::sealed::Sealed;
use super::stats::Counters;
use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::sink::{PutReceipt, WormSink};

/// The sink's preflight (credentials, bucket, Object Lock), run when the writer's thread
/// starts rather than in `build`, so that building a writer does no network I/O. Until it
/// passes it runs again before each upload attempt, and its error is that attempt's: a
/// bucket without Object Lock parks the batch with [`Error::NotWorm`], which `flush` and
/// `close` then return.
#[derive(Debug)]
pub(crate) struct Preflight {
    enabled: bool,
    passed: tokio::sync::OnceCell<()>,
}

impl Preflight {
    pub fn new(enabled: bool) -> Self {
        Preflight {
            enabled,
            passed: tokio::sync::OnceCell::new(),
        }
    }

    /// Run the preflight now, in a task of the current runtime, so that the first upload
    /// finds it done (or under way: it then waits for it rather than asking again). A
    /// failure is logged at once, naming the store; the first upload runs the preflight
    /// again, and its error is that upload's (in `flush`, `close` and the stats).
    pub fn start_early(self: &Arc<Self>, sink: &Arc<dyn WormSink>) {
        if !self.enabled || self.passed.initialized() {
            return;
        }
        let (me, sink) = (self.clone(), sink.clone());
        tokio::spawn(async move {
            if let Err(e) = me.ensure(&sink).await {
                tracing::warn!(target: "worm", target_store = %sink.describe(), error = %e,
                    "the store's preflight failed as the writer started; it runs again before the first upload");
            }
        });
    }

    async fn ensure(&self, sink: &Arc<dyn WormSink>) -> Result<()> {
        if !self.enabled {
            return Ok(());
        }
        self.passed.get_or_try_init(|| sink.preflight()).await?;
        Ok(())
    }
}

/// What a PUT of bytes whose sha256 is `ours` came to: a key found taken counts as
/// stored when it holds the same bytes (an earlier attempt whose reply was lost), and is
/// a conflict naming both hashes otherwise.
pub(crate) async fn put_outcome(
    sink: &dyn WormSink,
    put: Result<PutReceipt>,
    ours: &Sha256Hex,
) -> Result<()> {
    match put {
        Ok(_) => Ok(()),
        Err(Error::AlreadyExists { key, .. }) => match sink.stored_sha256(&key).await {
            Ok(stored) if stored == *ours => {
                tracing::debug!(target: "worm", key = %key, "already stored by an earlier attempt");
                Ok(())
            }
            Ok(stored) => Err(Error::Conflict {
                key,
                stored: stored.to_hex(),
                ours: ours.to_hex(),
            }),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Store `batch` once. A PUT that finds its key taken compares the stored sha256 with
/// ours: equal means an earlier attempt (whose reply was lost) succeeded; different is a
/// conflict naming both hashes. Transient errors are retried within the round; the caller
/// decides what happens after a failed round.
pub(crate) async fn upload_round(
    sink: &Arc<dyn WormSink>,
    batch: &Sealed,
    retry: &RetryConfig,
    preflight: &Preflight,
    counters: &Counters,
    rng: &mut fastrand::Rng,
) -> Result<()> {
    let body = match &batch.spool_file {
        Some(path) => super::spool::read_sealed_body(path, &batch.sha256).await?,
        None => batch.body.clone(),
    };
    let mut attempt = 0;
    loop {
        // Only the very first attempt may skip the provider's guards against other writers:
        // any later one may meet our own earlier PUT.
        let first = attempt == 0 && !batch.maybe_sent;
        let put = match preflight.ensure(sink).await {
            Err(e) => Err(e),
            Ok(()) if first => sink.put_unique(&batch.key, body.clone(), &batch.opts).await,
            Ok(()) => sink.put(&batch.key, body.clone(), &batch.opts).await,
        };
        match put_outcome(sink.as_ref(), put, &batch.sha256).await {
            Ok(()) => return Ok(()),
            Err(e) if e.is_retryable() && attempt < retry.max_retries => {
                attempt += 1;
                counters.retries.fetch_add(1, Relaxed);
                let wait = retry.backoff(attempt, rng);
                tracing::warn!(target: "worm", key = %batch.key, attempt, error = %e, wait_ms = wait.as_millis() as u64, "upload failed, retrying");
                tokio::time::sleep(wait).await;
            }
            Err(e) => return Err(e),
        }
    }
}
