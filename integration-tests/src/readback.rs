//! Reading a store back batch by batch, for assertions about what the pipeline wrote.
//! (The verifier is the tool for auditors; this is a plain, independent reader so that
//! pipeline tests do not trust the code they test.)

use std::collections::BTreeMap;

use futures::TryStreamExt;
use serde_json::Value;
use worm::batch::{self, Compression};
use worm::{Sha256Hex, WormSink};

/// One batch as read back.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Object key.
    pub key: String,
    /// Parsed header.
    pub header: batch::Header,
    /// Whether the seal says final.
    pub is_final: bool,
    /// Hash of the whole uncompressed body.
    pub chain_hash: Sha256Hex,
    /// The records.
    pub records: Vec<Value>,
}

/// Every batch under `prefix`, grouped by stream and ordered by seq. Panics on anything
/// unreadable or on a seal that does not match its content.
pub async fn read_streams(sink: &dyn WormSink, prefix: &str) -> BTreeMap<uuid::Uuid, Vec<Batch>> {
    let infos: Vec<_> = sink.list(prefix).try_collect().await.expect("list");
    let mut streams: BTreeMap<uuid::Uuid, Vec<Batch>> = BTreeMap::new();
    for info in infos {
        let obj = sink.get(&info.key).await.expect("get");
        let body = Compression::from_key(&info.key)
            .decompress(&obj.body, 1 << 30)
            .expect("decompress");
        let p = batch::parse(&body).unwrap_or_else(|e| panic!("{}: {e}", info.key));
        assert_eq!(p.seal.sha256, p.computed_sha256, "seal of {}", info.key);
        let records = body[p.records.clone()]
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).expect("record json"))
            .collect();
        streams.entry(p.header.stream).or_default().push(Batch {
            key: info.key,
            header: p.header,
            is_final: p.seal.is_final,
            chain_hash: p.chain_hash,
            records,
        });
    }
    for batches in streams.values_mut() {
        batches.sort_by_key(|b| b.header.seq);
    }
    streams
}

/// Assert seq 0.. without gaps, `prev` links, record counts, and (if `closed`) exactly
/// one final batch, the last.
pub fn assert_chain(batches: &[Batch], closed: bool) {
    let mut prev = None;
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b.header.seq, i as u64, "seq gap before {}", b.key);
        assert_eq!(b.header.prev, prev, "prev link of {}", b.key);
        assert_eq!(
            b.header.records as usize,
            b.records.len(),
            "record count of {}",
            b.key
        );
        assert!(
            b.key.contains(&b.header.batch.to_string()),
            "key {} lacks batch id",
            b.key
        );
        prev = Some(b.chain_hash);
        let last = i + 1 == batches.len();
        assert_eq!(b.is_final, closed && last, "final flag of {}", b.key);
    }
}
