//! Without a spool, a new stream learns its predecessor from the store: the newest batch
//! of the same writer identity names the stream it continues from and its last checkpoint.
//!
//! Batch ids are UUID v7, so the newest batches sort last by the id their keys carry. The
//! scan lists the prefix once (keys only), keeps the [`CANDIDATES`] newest, and reads
//! their headers newest first until one of this writer identity turns up. It gives up
//! after [`SCAN_TIME`], and then the new stream names no predecessor (logged): the
//! store's size must never keep a writer from starting.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Duration;

use futures::StreamExt;
use uuid::Uuid;

use super::config::Config;
use crate::batch::{self, Predecessor};
use crate::sink::{ObjectInfo, WormSink};
use crate::verify::{BatchReader, DEFAULT_MAX_OBJECT_BYTES};

/// Newest objects whose headers are read at most.
pub(crate) const CANDIDATES: usize = 64;
/// Time the whole scan may take.
pub(crate) const SCAN_TIME: Duration = Duration::from_secs(10);

/// The last checkpoint of the newest other stream of this writer identity, if any.
pub(crate) async fn find(sink: &dyn WormSink, cfg: &Config, own: Uuid) -> Option<Predecessor> {
    match tokio::time::timeout(SCAN_TIME, scan(sink, cfg, own)).await {
        Ok(found) => found,
        Err(_) => {
            tracing::warn!(target: "worm", "looking for the previous stream of this writer took over {}s; the new stream names none", SCAN_TIME.as_secs());
            None
        }
    }
}

async fn scan(sink: &dyn WormSink, cfg: &Config, own: Uuid) -> Option<Predecessor> {
    let writer = cfg.writer_id();
    let prefix = cfg.keys.list_prefix();
    let mut newest: BinaryHeap<Reverse<(Uuid, String, u64)>> = BinaryHeap::new();
    let mut list = sink.list(&prefix);
    while let Some(item) = list.next().await {
        let info = match item {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(target: "worm", error = %e, "listing the store for the previous stream failed");
                return None;
            }
        };
        // Entries no writer makes are never opened.
        if info.not_a_file.is_some() {
            continue;
        }
        let Some(id) = batch_id_in(&info.key) else {
            continue;
        };
        newest.push(Reverse((id, info.key, info.size)));
        if newest.len() > CANDIDATES {
            newest.pop();
        }
    }
    drop(list);
    let mut keys: Vec<(Uuid, String, u64)> = newest.into_iter().map(|Reverse(x)| x).collect();
    keys.sort_by_key(|k| std::cmp::Reverse(k.0));
    // The store may hold anything: read through the verifier's bounded reader.
    let reader = BatchReader::new(DEFAULT_MAX_OBJECT_BYTES);
    for (_, key, size) in keys {
        let info = ObjectInfo {
            key,
            size,
            last_modified: None,
            not_a_file: None,
        };
        let Ok((p, ())) = reader.read(sink, &info, (), |_, _, _| {}).await else {
            continue;
        };
        if !batch::has_tree(p.header.v)
            || p.seal.sha256 != p.computed_sha256
            || p.header.stream == own
            || p.header.writer.as_deref() != Some(writer.as_str())
        {
            continue;
        }
        let (Some(size), Some(root)) = (p.seal.tree_size, p.seal.root) else {
            continue;
        };
        tracing::debug!(target: "worm", stream = %p.header.stream, size, "previous stream of this writer found");
        return Some(Predecessor {
            stream: p.header.stream,
            size,
            root,
        });
    }
    None
}

/// The last UUID v7 in a key (the batch id every key carries).
fn batch_id_in(key: &str) -> Option<Uuid> {
    let b = key.as_bytes();
    (0..b.len().saturating_sub(35))
        .rev()
        .filter_map(|i| key.get(i..i + 36))
        .filter_map(|s| Uuid::try_parse(s).ok())
        .find(|u| u.get_version_num() == 7)
}
