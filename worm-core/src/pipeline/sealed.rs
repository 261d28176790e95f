//! A sealed batch and the stream position sealing advances: shared by the batcher that
//! makes them, the spool that keeps them and the uploads that store them.

use std::time::Instant;

use bytes::Bytes;
use uuid::Uuid;

use super::entry::WalPos;
use crate::batch::{Predecessor, TreeHash};
use crate::hash::Sha256Hex;
use crate::sink::PutOptions;
use crate::tlog::Frontier;

/// A sealed batch: its key and bytes are fixed, so every retry is the same PUT.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    /// The batch's stream (a recovered spool may hold batches of an earlier stream).
    pub stream: Uuid,
    pub seq: u64,
    /// The worker's upload order: unique across streams, so flush can wait for "every
    /// batch sealed before".
    pub order: u64,
    pub key: String,
    pub body: Bytes,
    /// sha256 of the stored bytes (compressed, when compressed).
    pub sha256: Sha256Hex,
    /// sha256 of the uncompressed body: what the next batch's `prev` names.
    pub chain: Sha256Hex,
    /// Records from callers (excludes gap records).
    pub user_records: u64,
    pub opts: PutOptions,
    pub opened_at: Instant,
    /// Failed rounds so far.
    pub rounds: u32,
    /// WAL position just past the batch's newest spooled record.
    pub wal_end: Option<WalPos>,
    /// Whether this is the stream's final batch.
    pub is_final: bool,
    /// Whether an earlier attempt may have reached the store.
    pub maybe_sent: bool,
    /// Size of the stored bytes.
    pub size: usize,
    /// When spooled, the bytes live in this file and `body` is empty.
    pub spool_file: Option<std::path::PathBuf>,
    /// The stream's tree after this batch: size and compact range.
    pub tree: (u64, Vec<TreeHash>),
    /// The replication target this copy is uploaded to (index into the writer's
    /// targets); each target's upload is its own copy of the sealed batch.
    pub target: usize,
    /// The signed checkpoint its seal carries (with a signer), for an anchor store.
    pub checkpoint: Option<String>,
}

/// Where a stream continues: used when a spool resumes a previous run.
#[derive(Debug, Clone)]
pub(crate) struct StreamPos {
    pub stream: Uuid,
    pub next_seq: u64,
    pub prev: Option<Sha256Hex>,
    /// The stream's Merkle tree so far.
    pub tree: Frontier,
    /// For a new stream: the previous stream of the same writer identity.
    pub pred: Option<Predecessor>,
}

/// Where a batch goes in its stream.
pub(crate) struct Position<'a> {
    pub stream: Uuid,
    pub seq: u64,
    pub prev: Option<Sha256Hex>,
    /// The stream's tree; sealing advances it past the batch's records.
    pub tree: &'a mut Frontier,
    /// Only for seq 0: the previous stream of the same writer identity.
    pub pred: Option<Predecessor>,
}
