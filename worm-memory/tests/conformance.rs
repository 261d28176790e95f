//! The shared `worm_core::testing` suite against `MemorySink`, one test per case.

use async_trait::async_trait;
use bytes::Bytes;
use worm_core::testing::{Setup, Tamper};
use worm_memory::MemorySink;

/// The memory backend's raw path: its administrator delete (with the governance bypass,
/// the most privileged form) and in-place overwrite.
struct RawMemory(MemorySink);

#[async_trait]
impl Tamper for RawMemory {
    async fn delete(&self, key: &str) -> worm_core::Result<()> {
        self.0.delete(key, true)
    }
    async fn overwrite(&self, key: &str, body: Bytes) -> worm_core::Result<()> {
        self.0.overwrite(key, body)
    }
}

worm_core::conformance_tests!(async {
    let sink = MemorySink::new();
    Setup::new(sink.clone()).with_tamper(RawMemory(sink))
});

/// `run_all` works too, and a sink shared by every case keeps them apart by prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_sink() {
    let sink = MemorySink::new();
    let tamper = RawMemory(sink.clone());
    let prefix = worm_core::testing::unique_prefix("all");
    worm_core::testing::run_all(&sink, &prefix, Some(&tamper)).await;
    assert!(sink.keys().iter().all(|k| k.starts_with(&prefix)));
    assert!(sink.len() > 50, "only {} objects stored", sink.len());
}
