//! Record proofs: for each record a query matches, a standalone `worm-proof/1` bundle
//! (the record, its index in its stream's Merkle tree, the RFC 9162 audit path and the
//! stream's latest signed checkpoint) that anyone can check without the store.
//!
//! ```no_run
//! # async fn run(sink: &dyn worm_core::WormSink) -> worm_core::Result<()> {
//! use worm_core::query::Filter;
//! use worm_core::prove::Prover;
//! let filter = Filter { request_id: Some("req-12345".into()), ..Filter::default() };
//! let summary = Prover::new(filter).prefix("audit-logs/").prove(sink, |bundle| {
//!     println!("{}", bundle.to_json());
//!     Ok(())
//! }).await?;
//! eprintln!("{} proofs", summary.proofs);
//! # Ok(()) }
//! ```
//!
//! Two passes: the query finds the matching records; then every batch of their streams
//! is read once more for its leaf hashes (32 bytes per record of those streams in
//! memory), the tree is built and one audit path per record is taken. The checkpoint is
//! the one in the seal of the stream's last batch present, so it must be signed, and the
//! stream must be whole from seq 0 up to it (else the stream is refused, naming why).

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::batch::Header;
use crate::error::{Error, Result};
use crate::query::{Filter, Hit, Query};
use crate::sink::WormSink;
use crate::tlog::proof::ProofBundle;
use crate::tlog::{Hash, MerkleTree, leaf_hash};
use crate::verify::{BatchReader, DEFAULT_CONCURRENCY, DEFAULT_MAX_OBJECT_BYTES};

/// What a proving run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProveSummary {
    /// Bundles emitted.
    pub proofs: u64,
    /// Matching records that got no proof, with the reason (one line each).
    pub refused: Vec<String>,
}

/// Makes record proofs for the records a [`Filter`] matches.
#[derive(Debug, Clone)]
pub struct Prover {
    filter: Filter,
    prefix: String,
    identities: crate::crypt::Identities,
}

/// One batch of a wanted stream, as read in the second pass.
struct BatchLeaves {
    leaves: Vec<Hash>,
    tree_size: Option<u64>,
    root: Option<crate::batch::TreeHash>,
    checkpoint: Option<String>,
    key: String,
}

impl Prover {
    /// Proofs for the records `filter` matches.
    pub fn new(filter: Filter) -> Self {
        Prover {
            filter,
            prefix: String::new(),
            identities: crate::crypt::Identities::default(),
        }
    }

    /// Decrypt encrypted batches with these identities: every batch of a proven stream
    /// must open, since the tree is rebuilt from its (salted) leaves.
    pub fn identities(mut self, ids: crate::crypt::Identities) -> Self {
        self.identities = ids;
        self
    }

    /// Only objects whose key starts with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Make the proofs and hand each to `emit`. `Err` when the store cannot be listed
    /// or `emit` fails; records that cannot be proven are in the summary.
    pub async fn prove(
        &self,
        sink: &dyn WormSink,
        mut emit: impl FnMut(ProofBundle) -> Result<()>,
    ) -> Result<ProveSummary> {
        let mut summary = ProveSummary::default();
        let query = Query::new(self.filter.clone())
            .prefix(self.prefix.clone())
            .identities(self.identities.clone());
        let mut hits: Vec<Hit> = Vec::new();
        let mut records = query.records(sink);
        while let Some(h) = records.next().await {
            match h {
                Ok(h) => hits.push(h),
                Err(e @ Error::NoIdentity { .. }) => return Err(e),
                Err(e @ (Error::InvalidInput { .. } | Error::NotFound { .. })) => {
                    summary.refused.push(format!("skipped {e}"));
                }
                Err(e) => return Err(e),
            }
        }
        drop(records);
        let wanted: HashSet<Uuid> = hits.iter().map(|h| h.stream).collect();
        let streams = self.read_streams(sink, &wanted).await?;
        let mut trees: HashMap<Uuid, std::result::Result<StreamTree, String>> = HashMap::new();
        for (id, batches) in streams {
            trees.insert(id, StreamTree::build(id, batches));
        }
        for h in hits {
            let tree = match trees.get(&h.stream) {
                Some(Ok(t)) => t,
                Some(Err(why)) => {
                    summary
                        .refused
                        .push(format!("record {} of '{}': {why}", h.line, h.key));
                    continue;
                }
                None => {
                    summary.refused.push(format!(
                        "record {} of '{}': its stream vanished",
                        h.line, h.key
                    ));
                    continue;
                }
            };
            let Some(start) = tree.starts.get(&h.seq) else {
                summary.refused.push(format!(
                    "record {} of '{}': batch seq {} is not part of the stream's tree",
                    h.line, h.key, h.seq
                ));
                continue;
            };
            let index = start + h.line;
            let leaf = match &h.salt {
                Some(salt) => crate::batch::salted_leaf_hash(salt, h.raw.as_bytes()),
                None => leaf_hash(h.raw.as_bytes()),
            };
            let Some(path) = tree
                .tree
                .inclusion_proof(index)
                .filter(|_| tree.tree.leaves().get(index as usize) == Some(&leaf))
            else {
                summary.refused.push(format!(
                    "record {} of '{}': not found at index {index} of its stream's tree",
                    h.line, h.key
                ));
                continue;
            };
            let bundle = ProofBundle::new(
                &h.raw,
                h.stream,
                index,
                tree.tree.size(),
                &path,
                &tree.checkpoint,
            );
            emit(match &h.salt {
                Some(salt) => bundle.with_salt(salt),
                None => bundle,
            })?;
            summary.proofs += 1;
        }
        Ok(summary)
    }

    /// Second pass: the leaf hashes of every batch of the wanted streams.
    async fn read_streams(
        &self,
        sink: &dyn WormSink,
        wanted: &HashSet<Uuid>,
    ) -> Result<HashMap<Uuid, BTreeMap<u64, BatchLeaves>>> {
        let mut out: HashMap<Uuid, BTreeMap<u64, BatchLeaves>> = HashMap::new();
        if wanted.is_empty() {
            return Ok(out);
        }
        let reader = BatchReader::new(DEFAULT_MAX_OBJECT_BYTES);
        let wanted_list: std::sync::Arc<HashSet<Uuid>> = std::sync::Arc::new(wanted.clone());
        let mut read = sink
            .list(&self.prefix)
            .map_ok(|info| {
                let reader = reader.clone();
                let wanted = wanted_list.clone();
                let ids = self.identities.clone();
                async move {
                    let key = info.key.clone();
                    let r = reader
                        .read(
                            sink,
                            &info,
                            (Vec::<Hash>::new(), None::<String>),
                            move |(acc, failed), h: &Header, l| {
                                if !wanted.contains(&h.stream) || l.is_empty() {
                                    return;
                                }
                                if h.enc.is_none() {
                                    return acc.push(leaf_hash(l));
                                }
                                let what = format!("batch seq {} of stream {}", h.seq, h.stream);
                                match crate::crypt::open_section(
                                    h,
                                    l,
                                    &ids,
                                    DEFAULT_MAX_OBJECT_BYTES,
                                    &what,
                                ) {
                                    Ok(o) => acc.extend(
                                        o.records()
                                            .map(|(s, l)| crate::batch::salted_leaf_hash(s, l)),
                                    ),
                                    Err(e) => *failed = Some(e.to_string()),
                                }
                            },
                        )
                        .await;
                    Ok::<_, Error>((key, r))
                }
            })
            .try_buffered(DEFAULT_CONCURRENCY);
        while let Some((key, r)) = read.try_next().await? {
            let Ok((s, (leaves, failed))) = r else {
                continue;
            };
            if let Some(why) = failed {
                // The stream's tree cannot be rebuilt: its batch of this seq stays absent,
                // so the stream is refused naming the gap; say why here.
                tracing::warn!(target: "worm", key = %key, "{why}");
                continue;
            }
            if !wanted.contains(&s.header.stream) || s.seal.sha256 != s.computed_sha256 {
                continue;
            }
            let by_seq = out.entry(s.header.stream).or_default();
            // A copy under another key is the same batch: keep one.
            by_seq.entry(s.header.seq).or_insert(BatchLeaves {
                leaves,
                tree_size: s.seal.tree_size,
                root: s.seal.root,
                checkpoint: s.seal.checkpoint,
                key,
            });
        }
        Ok(out)
    }
}

/// One stream's whole tree and its latest signed checkpoint.
struct StreamTree {
    tree: MerkleTree,
    /// Index of each batch's first leaf, by seq.
    starts: HashMap<u64, u64>,
    checkpoint: String,
}

impl StreamTree {
    fn build(id: Uuid, batches: BTreeMap<u64, BatchLeaves>) -> std::result::Result<Self, String> {
        let mut leaves = Vec::new();
        let mut starts = HashMap::new();
        let mut last: Option<&BatchLeaves> = None;
        for (expect, (seq, b)) in batches.iter().enumerate() {
            if *seq != expect as u64 {
                return Err(format!(
                    "stream {id} lacks seq {expect}: no proof can be made (run `worm verify`)"
                ));
            }
            starts.insert(*seq, leaves.len() as u64);
            leaves.extend_from_slice(&b.leaves);
            last = Some(b);
        }
        let last = last.ok_or_else(|| format!("stream {id} has no batch"))?;
        let checkpoint = last.checkpoint.clone().ok_or_else(|| {
            format!(
                "stream {id} has no signed checkpoint (unsigned, or worm-batch/1): sign with --sign-key to get record proofs"
            )
        })?;
        if last.tree_size != Some(leaves.len() as u64) {
            return Err(format!(
                "stream {id}: the last batch '{}' commits to tree size {:?}, its batches hold {} records",
                last.key,
                last.tree_size,
                leaves.len()
            ));
        }
        let tree = MerkleTree::new(leaves);
        if last.root.map(|r| r.0) != Some(tree.root()) {
            return Err(format!(
                "stream {id}: its records do not give the root that its last batch '{}' commits to (run `worm verify`)",
                last.key
            ));
        }
        Ok(StreamTree {
            tree,
            starts,
            checkpoint,
        })
    }
}
