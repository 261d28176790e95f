//! Fault injection for tests (feature `testing`): [`FaultySink`] wraps any sink and fails,
//! delays or stalls its calls on command.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use worm_core::{
    Capabilities, ObjectInfo, PutOptions, PutReceipt, Result, Sha256Hex, StoredObject, WormSink,
};

use crate::faults::Faults;
pub use crate::faults::{Calls, Failure, Op};

/// A [`WormSink`] that passes every call to `S` unless a fault switched on says
/// otherwise. Every switch acts on all clones; it derefs to `S` for the inner sink's own
/// methods (e.g. [`MemorySink::len`](crate::MemorySink::len)).
///
/// | call | effect |
/// |------|--------|
/// | [`fail_next_puts(n, Failure::Transient)`](Self::fail_next_puts) | the next `n` puts fail with a retryable error, storing nothing |
/// | [`fail_next(Op::Any, n, Failure::Permanent)`](Self::fail_next) | the next `n` calls of any kind fail permanently |
/// | [`store_then_fail_next_puts(n)`](Self::store_then_fail_next_puts) | the next `n` puts store their object, then report a transient failure |
/// | [`set_latency(d)`](Self::set_latency) | every call waits `d` first (`tokio::time`) |
/// | [`stall_puts()`](Self::stall_puts) / [`release_puts()`](Self::release_puts) | puts hang until released; [`wait_until_stalled(n)`](Self::wait_until_stalled) waits for `n` of them |
/// | [`calls()`](Self::calls), [`put_calls()`](Self::put_calls) | calls received, failed ones included |
/// | [`clear_faults()`](Self::clear_faults) | all of the above off |
///
/// ```
/// use bytes::Bytes;
/// use worm_core::{PutOptions, WormSink};
/// use worm_memory::MemorySink;
/// use worm_memory::testing::{Failure, FaultySink};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sink = FaultySink::new(MemorySink::new());
/// sink.fail_next_puts(1, Failure::Transient);
/// let first = sink.put("k", Bytes::new(), &PutOptions::default()).await;
/// assert!(first.unwrap_err().is_retryable());
/// assert!(sink.put("k", Bytes::new(), &PutOptions::default()).await.is_ok());
/// assert_eq!((sink.put_calls(), sink.len()), (2, 1));
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FaultySink<S> {
    inner: S,
    faults: Arc<Faults>,
}

impl<S> Deref for FaultySink<S> {
    type Target = S;

    fn deref(&self) -> &S {
        &self.inner
    }
}

impl<S: WormSink> FaultySink<S> {
    /// `inner` with every fault off.
    pub fn new(inner: S) -> Self {
        FaultySink {
            inner,
            faults: Arc::new(Faults::default()),
        }
    }

    /// The wrapped sink, without faults.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// Fail the next `n` calls of `op` (or of every call, with [`Op::Any`]) with
    /// `failure`, before they reach the inner sink. Repeated calls queue up.
    pub fn fail_next(&self, op: Op, n: u32, failure: Failure) -> &Self {
        self.faults.fail_next(op, n, failure);
        self
    }

    /// Fail the next `n` puts with `failure`; shorthand for [`fail_next`](Self::fail_next).
    pub fn fail_next_puts(&self, n: u32, failure: Failure) -> &Self {
        self.fail_next(Op::Put, n, failure)
    }

    /// Let the next `n` puts store their object and then report a transient failure, as
    /// when a response is lost after the server committed. A retry then meets
    /// `AlreadyExists`; the object exists once.
    pub fn store_then_fail_next_puts(&self, n: u32) -> &Self {
        self.faults.store_then_fail_next_puts(n);
        self
    }

    /// Add `latency` before every call (zero turns it off). Uses `tokio::time`, so paused
    /// test clocks apply.
    pub fn set_latency(&self, latency: Duration) -> &Self {
        self.faults.set_latency(latency);
        self
    }

    /// Make every put wait, before storing, until [`release_puts`](Self::release_puts):
    /// a full, unresponsive backend for back-pressure tests.
    pub fn stall_puts(&self) -> &Self {
        self.faults.set_stalled(true);
        self
    }

    /// Let stalled and future puts proceed.
    pub fn release_puts(&self) -> &Self {
        self.faults.set_stalled(false);
        self
    }

    /// How many puts are waiting in a stall right now.
    pub fn stalled_puts(&self) -> usize {
        self.faults.stalled_now()
    }

    /// Wait until at least `n` puts are waiting in a stall.
    pub async fn wait_until_stalled(&self, n: usize) {
        self.faults.wait_until_stalled(n).await;
    }

    /// Switch every fault off: pending failures, latency, stall (counters stay).
    pub fn clear_faults(&self) -> &Self {
        self.faults.clear();
        self
    }

    /// Calls received so far, failed ones included.
    pub fn calls(&self) -> Calls {
        self.faults.calls()
    }

    /// `put` calls received so far, failed ones included.
    pub fn put_calls(&self) -> u64 {
        self.calls().put
    }
}

#[async_trait]
impl<S: WormSink> WormSink for FaultySink<S> {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        let target = || self.inner.describe();
        self.faults
            .before(Op::Put, || format!("put '{key}' to {}", target()))
            .await?;
        let receipt = self.inner.put(key, body, opts).await?;
        if self.faults.take_store_then_fail() {
            return Err(Failure::Transient.to_error(format!(
                "put '{key}' to {} (stored, response injected as lost)",
                target()
            )));
        }
        Ok(receipt)
    }

    async fn get(&self, key: &str) -> Result<StoredObject> {
        self.faults
            .before(Op::Get, || {
                format!("get '{key}' from {}", self.inner.describe())
            })
            .await?;
        self.inner.get(key).await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        let before = self.faults.before(Op::List, move || {
            format!("list '{prefix}' in {}", self.inner.describe())
        });
        stream::once(before)
            .map_ok(move |()| self.inner.list(prefix))
            .try_flatten()
            .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    async fn stored_sha256(&self, key: &str) -> Result<Sha256Hex> {
        self.faults
            .before(Op::Get, || {
                format!("get '{key}' from {}", self.inner.describe())
            })
            .await?;
        self.inner.stored_sha256(key).await
    }

    async fn preflight(&self) -> Result<()> {
        self.inner.preflight().await
    }
}
