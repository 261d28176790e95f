//! Sinks for measurements: one that stores nothing, one that notes when records land.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use worm_core::{
    Capabilities, Error, ObjectInfo, PutOptions, PutReceipt, Result, Sha256Hex, StoredObject,
    WormSink,
};

/// Accepts every PUT and keeps nothing: the writer's own cost, without a store's.
#[derive(Debug, Default)]
pub struct NullSink {
    puts: AtomicU64,
    bytes: AtomicU64,
}

impl NullSink {
    /// PUT calls so far.
    pub fn puts(&self) -> u64 {
        self.puts.load(Relaxed)
    }
    /// Body bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }
}

#[async_trait]
impl WormSink for NullSink {
    async fn put(&self, key: &str, body: Bytes, _opts: &PutOptions) -> Result<PutReceipt> {
        self.puts.fetch_add(1, Relaxed);
        self.bytes.fetch_add(body.len() as u64, Relaxed);
        Ok(PutReceipt {
            key: key.to_string(),
            version_id: None,
            sha256: Sha256Hex([0; 32]),
            size: body.len() as u64,
        })
    }
    async fn get(&self, key: &str) -> Result<StoredObject> {
        Err(Error::NotFound {
            key: key.to_string(),
            target: self.describe(),
        })
    }
    fn list<'a>(&'a self, _prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        Box::pin(futures::stream::empty())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    fn describe(&self) -> String {
        "null:".into()
    }
}

/// Wraps a sink and notes, for each stored record carrying an `"n":<number>` field, when
/// its batch's PUT returned. Only plain (uncompressed) batches are read.
#[derive(Debug)]
pub struct TimedSink<S> {
    inner: S,
    stored_at: Arc<Mutex<Vec<(u64, Instant)>>>,
}

impl<S> TimedSink<S> {
    /// Wrap `inner`.
    pub fn new(inner: S) -> Self {
        TimedSink {
            inner,
            stored_at: Arc::default(),
        }
    }

    /// `(n, when stored)` for every record stored so far.
    pub fn stored(&self) -> Vec<(u64, Instant)> {
        self.stored_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// The value of the first `"n":` field of a JSON line.
fn record_number(line: &[u8]) -> Option<u64> {
    let pat = b",\"n\":";
    let at = line.windows(pat.len()).position(|w| w == pat)? + pat.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits])
        .ok()?
        .parse()
        .ok()
}

#[async_trait]
impl<S: WormSink> WormSink for TimedSink<S> {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        let receipt = self.inner.put(key, body.clone(), opts).await?;
        let now = Instant::now();
        let numbers: Vec<u64> = body
            .split(|&b| b == b'\n')
            .filter_map(record_number)
            .collect();
        self.stored_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(numbers.into_iter().map(|n| (n, now)));
        Ok(receipt)
    }
    async fn get(&self, key: &str) -> Result<StoredObject> {
        self.inner.get(key).await
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_record_number() {
        assert_eq!(super::record_number(br#"{"a":1,"n":42,"m":3}"#), Some(42));
        assert_eq!(super::record_number(br#"{"a":1}"#), None);
    }
}

/// Wraps a sink and holds every PUT until [`Gated::open`]: lets a benchmark seal a whole
/// backlog first and then time the uploads alone.
#[derive(Debug)]
pub struct Gated<S> {
    inner: S,
    open: tokio::sync::watch::Sender<bool>,
}

impl<S> Gated<S> {
    /// Wrap `inner`, closed.
    pub fn new(inner: S) -> Self {
        Gated {
            inner,
            open: tokio::sync::watch::Sender::new(false),
        }
    }
    /// Let every PUT through from now on.
    pub fn open(&self) {
        self.open.send_replace(true);
    }
}

#[async_trait]
impl<S: WormSink> WormSink for Gated<S> {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        let mut rx = self.open.subscribe();
        // The sender lives in `self`, which outlives this call.
        let _ = rx.wait_for(|open| *open).await;
        self.inner.put(key, body, opts).await
    }
    async fn put_unique(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        let mut rx = self.open.subscribe();
        let _ = rx.wait_for(|open| *open).await;
        self.inner.put_unique(key, body, opts).await
    }
    async fn get(&self, key: &str) -> Result<StoredObject> {
        self.inner.get(key).await
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    async fn preflight(&self) -> Result<()> {
        self.inner.preflight().await
    }
}
