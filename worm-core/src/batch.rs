//! The batch object format: a header line, one line per record, a seal line.
//!
//! `worm-batch/3` (written since this version):
//! ```text
//! {"worm":{"v":3,"stream":"…","batch":"…","service":"…","seq":42,"prev":"<hex>|null","records":5,"first_ts":"…","last_ts":"…",
//!          "at":"<seal time>","writer":"svc@host","tree":{"size":N,"frontier":["<b64>",…]},"heartbeat_ms":60000,"interval_ms":15000,
//!          "pred":{"stream":"…","size":M,"root":"<b64>"}}}
//! { record }
//! {"worm_seal":{"sha256":"<hex of the header line>","tree_size":N+5,"root":"<b64>","checkpoint":"<signed note>","final":false}}
//! ```
//! - Each stream is an RFC 6962 Merkle tree over its record lines (each line as stored,
//!   without its newline), in stream order. `tree` says where the tree stood before this
//!   batch: its size and its compact range (the roots of its perfect subtrees, left to
//!   right). From that and the batch's own lines anyone can recompute the tree size and
//!   root after the batch, which the seal commits to, without reading any other batch.
//! - The record lines are committed to by that root alone: the seal's `sha256` covers
//!   every byte before the seal line *but the plain record lines* (so the header line,
//!   and an encrypted batch's ciphertext line, whose leaves a reader without the key
//!   cannot recompute). Lines end at `\n` and hold none, so the leaves in order give back
//!   the record section byte for byte, and a reader checks a batch's content by
//!   recomputing the root: every byte is hashed once, as a leaf, where `/2` hashed it
//!   twice (once more for a body hash).
//! - `checkpoint` (when a signing key is configured) is a C2SP signed note whose text is
//!   a tlog-checkpoint: origin `worm/<stream>`, tree size, base64 root, then the extension
//!   lines `seq N`, `batch <hex of the seal's sha256>`, `final true|false` and
//!   `time <seal time>`. Its one signature therefore covers the content, the tree, the
//!   position and the finality of the batch.
//! - `pred` (first batch of a stream only) names the last checkpoint the writer knew of
//!   the previous stream of the same `writer` identity, so a removed stream is visible.
//! - `heartbeat_ms` / `interval_ms` tell a verifier how often the writer seals while
//!   idle, so that silence beyond them can be reported.
//!
//! `worm-batch/2` (still read): the same, but the seal's `sha256` covers every byte before
//! the seal line, record lines included.
//!
//! `worm-batch/1` (still read): the `/2` layout without the tree, and with an Ed25519
//! `sig` over [`signed_message`] (the seal's sha256 and its `final` flag).
//!
//! The hash that the next batch's `prev` names (the chain hash) is the sha256 of the
//! bytes the seal's `sha256` covers followed by the seal line: in `/1` and `/2` the whole
//! uncompressed body; in `/3` the header line (and ciphertext line) and the seal line,
//! whose root commits to the records.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::sign::Signer;
use crate::tlog::note;
use crate::tlog::{Frontier, origin_for};

mod scan;
pub use scan::{
    Fault, Limits, MAX_HEADER_LINE, OnRecord, ScanError, Scanned, Scanner, scan_reader,
};
pub(crate) use scan::{scan_slice, scan_slice_or_leaves};

/// Largest zstd window a reader accepts, as a power of two (8 MiB). A frame may ask for
/// up to 2 GiB of window, which the decoder would allocate up front; writers compress
/// at level 3 (2 MiB windows at most) and `zstd -19` stays within 8 MiB.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Format version the writer uses (`worm-batch/3`).
pub const VERSION: u32 = 3;

/// The first format version with a Merkle tree (`worm-batch/2`), still read and, when a
/// header asks for it, written ([`encode_v2`]).
pub const VERSION_2: u32 = 2;

/// The oldest format version still read.
pub const VERSION_1: u32 = 1;

/// Whether batches of format version `v` carry a Merkle tree (`/2` and later).
pub fn has_tree(v: u32) -> bool {
    v >= VERSION_2
}

/// Whether the seal's `sha256` of a batch with header `h` covers its record section:
/// always but in a plain (not encrypted) `worm-batch/3` batch, whose record lines only
/// its tree root commits to.
pub fn seal_hash_covers_records(h: &Header) -> bool {
    h.v < VERSION || h.enc.is_some()
}

/// MIME type of a batch object.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// The first line of a batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Format version (1, 2 or 3).
    pub v: u32,
    /// The writer's stream id.
    pub stream: Uuid,
    /// This batch's id; every key contains it.
    pub batch: Uuid,
    /// Service name.
    pub service: String,
    /// Position in the stream, from 0, without gaps.
    pub seq: u64,
    /// Hash of the previous batch of the stream (`None` for seq 0).
    pub prev: Option<Sha256Hex>,
    /// Number of record lines.
    pub records: u64,
    /// First record's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    /// Last record's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    /// When the batch was sealed (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
    /// The writer identity (default `service@host`), for succession between streams (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// The stream's Merkle tree before this batch (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree: Option<TreeStart>,
    /// How often the writer seals a checkpoint while idle, in ms; absent when it does not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_ms: Option<u64>,
    /// The writer's batch interval (`max_age`) in ms (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// First batch of a stream: the last checkpoint of the previous stream of the same
    /// writer identity that this writer knew of (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pred: Option<Predecessor>,
    /// Set when the records are encrypted: the age recipients. The record section is then
    /// one line, `{"age":"<base64 age ciphertext>"}` (none when the batch holds no
    /// records), and `first_ts`/`last_ts` are left out (see [`crate::crypt`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enc: Option<crate::crypt::Encryption>,
}

/// A Merkle tree hash, as base64 in JSON.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TreeHash(pub [u8; 32]);

impl TreeHash {
    /// Standard base64, as in checkpoints.
    pub fn to_base64(&self) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parse standard base64 of 32 bytes.
    pub fn from_base64(s: &str) -> Option<Self> {
        use base64::Engine as _;
        let v = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
        Some(TreeHash(v.try_into().ok()?))
    }
}

impl std::fmt::Debug for TreeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl std::fmt::Display for TreeHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for TreeHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for TreeHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TreeHash::from_base64(&s)
            .ok_or_else(|| serde::de::Error::custom("not the base64 of a 32-byte hash"))
    }
}

/// Where a stream's Merkle tree stood before a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TreeStart {
    /// Leaves (records) before this batch.
    pub size: u64,
    /// The tree's compact range: roots of its perfect subtrees, left to right.
    pub frontier: Vec<TreeHash>,
}

/// The checkpoint of a previous stream that a new stream names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Predecessor {
    /// The previous stream of the same writer identity.
    pub stream: Uuid,
    /// Its tree size as last known.
    pub size: u64,
    /// Its root at that size.
    pub root: TreeHash,
}

/// The last line of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// sha256 of every byte before the seal line.
    pub sha256: Sha256Hex,
    /// Ed25519 signature (base64) of [`signed_message`], when a key is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The stream's tree size after this batch (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// The stream's tree root after this batch (v2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<TreeHash>,
    /// The signed checkpoint (C2SP signed note) of this batch (v2, when signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// Whether this is the stream's last batch (written by `close`).
    #[serde(rename = "final")]
    pub is_final: bool,
}

#[derive(Serialize, Deserialize)]
struct HeaderLine {
    worm: Header,
}

#[derive(Serialize, Deserialize)]
struct SealLine {
    worm_seal: Seal,
}

/// What a signature covers: the domain, the body hash and the `final` flag.
pub fn signed_message(sha256: &Sha256Hex, is_final: bool) -> Vec<u8> {
    format!("worm-batch/1 sha256={} final={is_final}", sha256.to_hex()).into_bytes()
}

/// Whole-object compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Compression {
    /// Plain NDJSON, `.json`.
    #[default]
    None,
    /// gzip, `.json.gz`, `Content-Encoding: gzip`.
    Gzip,
    /// zstd, `.json.zst`, `Content-Encoding: zstd`.
    Zstd,
}

impl Compression {
    /// Key extension.
    pub fn ext(self) -> &'static str {
        match self {
            Compression::None => ".json",
            Compression::Gzip => ".json.gz",
            Compression::Zstd => ".json.zst",
        }
    }

    /// `Content-Encoding` value.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Guess from a key's extension (used by readers of plain copies).
    pub fn from_key(key: &str) -> Self {
        if key.ends_with(".gz") {
            Compression::Gzip
        } else if key.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Compress a body.
    pub fn compress(self, body: &[u8]) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::io("compressing batch", e);
        match self {
            Compression::None => Ok(body.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::fast(),
                );
                enc.write_all(body).map_err(err)?;
                enc.finish().map_err(err)
            }
            Compression::Zstd => zstd::bulk::compress(body, 3).map_err(err),
        }
    }

    /// A reader of the uncompressed bytes of `body`, decompressing as it is read; the
    /// zstd window is capped at [`ZSTD_WINDOW_LOG_MAX`].
    pub fn reader(self, body: &[u8]) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(match self {
            Compression::None => Box::new(body),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(body)),
            Compression::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(body)?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Box::new(d)
            }
        })
    }

    /// Decompress a body, refusing to expand past `limit` bytes (a hostile object must not
    /// exhaust memory).
    pub fn decompress(self, body: &[u8], limit: u64) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::invalid("compressed batch", e.to_string());
        let mut out = Vec::new();
        self.reader(body)
            .map_err(err)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(err)?;
        if out.len() as u64 > limit {
            return Err(Error::invalid(
                "compressed batch",
                format!("expands past {limit} bytes"),
            ));
        }
        Ok(out)
    }
}

/// Build an uncompressed batch body. `records` holds the record lines, each ending in
/// `\n`. Returns the body and its chain hash (sha256 of the whole body).
pub fn encode(
    header: &Header,
    records: &[u8],
    is_final: bool,
    signer: Option<&Signer>,
) -> (Vec<u8>, Sha256Hex) {
    let mut body = Vec::with_capacity(records.len() + 512);
    // Serialising a struct of strings, numbers and uuids cannot fail.
    let _ = serde_json::to_writer(
        &mut body,
        &HeaderLine {
            worm: header.clone(),
        },
    );
    body.push(b'\n');
    body.extend_from_slice(records);
    // One pass over the body gives both digests: the seal's is a prefix of the chain's.
    let mut hasher = Sha256::new();
    hasher.update(&body);
    let sha256 = Sha256Hex(hasher.clone().finalize().into());
    let seal_start = body.len();
    let (sig, key_id) = match signer {
        Some(s) => {
            let (sig, id) = s.sign(&signed_message(&sha256, is_final));
            (Some(sig), Some(id))
        }
        None => (None, None),
    };
    let seal = SealLine {
        worm_seal: Seal {
            sha256,
            sig,
            key_id,
            tree_size: None,
            root: None,
            checkpoint: None,
            is_final,
        },
    };
    let _ = serde_json::to_writer(&mut body, &seal);
    body.push(b'\n');
    hasher.update(&body[seal_start..]);
    let chain = Sha256Hex(hasher.finalize().into());
    (body, chain)
}

/// Build an uncompressed body of a format with a tree: `header` (its `v` and `tree` are
/// set here) and `records` (record lines, each ending in `\n`) are sealed, `tree`
/// advances past the batch's records, and with a signer the seal carries a signed
/// checkpoint. Returns the body and its chain hash.
///
/// The format is `worm-batch/3` ([`VERSION`]), or `worm-batch/2` when `header.v` says
/// [`VERSION_2`]: for tools and tests that write a store as earlier versions did.
pub fn encode_v2(
    header: &Header,
    records: &[u8],
    is_final: bool,
    tree: &mut Frontier,
    signer: Option<&Signer>,
) -> (Vec<u8>, Sha256Hex) {
    let mut leaves = Vec::new();
    crate::tlog::lanes::leaf_hashes(record_lines(records), &mut leaves);
    seal_v2(header, records, &leaves, is_final, tree, signer)
}

/// [`encode_v2`] with the records encrypted to `to` ([`crate::crypt`]): the header names
/// the recipients and carries no record timestamps, the record section is one ciphertext
/// line, and each leaf is `SHA-256(0x00 || salt || line)` with the record's secret salt.
pub fn encode_v2_encrypted(
    header: &Header,
    records: &[u8],
    is_final: bool,
    tree: &mut Frontier,
    signer: Option<&Signer>,
    to: &crate::crypt::Recipients,
) -> Result<(Vec<u8>, Sha256Hex)> {
    let mut h = header.clone();
    h.enc = Some(crate::crypt::Encryption {
        age: to.names().to_vec(),
    });
    h.first_ts = None;
    h.last_ts = None;
    let count = record_lines(records).count();
    if count == 0 {
        return Ok(seal_v2(&h, b"", &[], is_final, tree, signer));
    }
    let (mut section, salts) = crate::crypt::seal_section(records, count, to)?;
    section.push(b'\n');
    let leaves: Vec<_> = salts
        .iter()
        .zip(record_lines(records))
        .map(|(salt, line)| salted_leaf_hash(salt, line))
        .collect();
    Ok(seal_v2(&h, &section, &leaves, is_final, tree, signer))
}

/// The leaf of an encrypted record: `SHA-256(0x00 || salt || line)`, an RFC 6962 leaf
/// whose entry is the salt followed by the line.
pub fn salted_leaf_hash(salt: &[u8], line: &[u8]) -> crate::tlog::Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(salt);
    h.update(line);
    h.finalize().into()
}

fn seal_v2(
    header: &Header,
    section: &[u8],
    leaves: &[crate::tlog::Hash],
    is_final: bool,
    tree: &mut Frontier,
    signer: Option<&Signer>,
) -> (Vec<u8>, Sha256Hex) {
    let (h, line) = header_line_v2(header, tree);
    let mut body = Vec::with_capacity(line.len() + section.len() + 1024);
    body.extend_from_slice(&line);
    body.extend_from_slice(section);
    tree.extend(leaves);
    let mid = crate::tlog::lanes::Midstate::of(if seal_hash_covers_records(&h) {
        &body
    } else {
        &line
    });
    let chain = finish_v2(&h, &mut body, is_final, tree, signer, mid);
    (body, chain)
}

/// Room an open batch keeps in front of its records for the header line, so that
/// [`encode_v2_in_place`] writes the header there instead of copying the records into a
/// new body. A header holds at most 64 frontier hashes (~3.1 KiB with everything else).
pub const HEADER_ROOM: usize = 4096;

/// Where [`encode_v2_in_place`] put a body, and its digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InPlace {
    /// The body is `buf[start..]`.
    pub start: usize,
    /// Its chain hash (what the next batch's `prev` names).
    pub chain: Sha256Hex,
    /// sha256 of the whole body, seal line included: the stored bytes' digest when stored
    /// uncompressed (the chain hash too, but in `/3`). `None` for a `/3` body when it was
    /// not asked for (the body is stored compressed, and its digest is the compressed
    /// bytes').
    pub sha256: Option<Sha256Hex>,
}

/// [`encode_v2`] without copying the records: `buf` holds `room` bytes of space, then
/// the record lines (each ending in `\n`). The header line is written at the end of the
/// room and the seal line after the records, so the body is `buf[start..]`, byte for
/// byte what [`encode_v2`] returns. A header longer than `room` (a very long service or
/// writer name) moves the records to make space.
///
/// With `body_sha256` (or in `/2`, whose seal needs it anyway) the whole body's sha256
/// is hashed in one lane of [`crate::tlog::lanes`] while the others take the records'
/// leaves; without, the leaves have every lane.
pub fn encode_v2_in_place(
    header: &Header,
    buf: &mut Vec<u8>,
    room: usize,
    is_final: bool,
    tree: &mut Frontier,
    signer: Option<&Signer>,
    body_sha256: bool,
) -> InPlace {
    let room = room.min(buf.len());
    let (h, line) = header_line_v2(header, tree);
    let start = match room.checked_sub(line.len()) {
        Some(start) => {
            buf[start..room].copy_from_slice(&line);
            start
        }
        None => {
            buf.splice(..room, line.iter().copied());
            0
        }
    };
    let records_at = start + line.len();
    let covers_records = seal_hash_covers_records(&h);
    // The lines' leaves are independent, and of the body hash: all hashed side by
    // side, the body (when wanted) in one lane and the leaves in the others.
    let mut leaves = Vec::new();
    let lines = record_lines(&buf[records_at..]);
    let body = if covers_records || body_sha256 {
        Some(crate::tlog::lanes::prefix_and_leaves(
            &buf[start..],
            lines,
            &mut leaves,
        ))
    } else {
        crate::tlog::lanes::leaf_hashes(lines, &mut leaves);
        None
    };
    tree.extend(&leaves);
    // `/3`: the seal hashes the header line; the root alone commits to the records.
    let seal = match &body {
        Some(b) if covers_records => b.clone(),
        _ => crate::tlog::lanes::Midstate::of(&line),
    };
    let seal_start = buf.len();
    let chain = finish_v2(&h, buf, is_final, tree, signer, seal);
    let sha256 = match body {
        _ if covers_records => Some(chain),
        Some(b) => Some(Sha256Hex(b.finish(&buf[seal_start..]))),
        None => None,
    };
    InPlace {
        start,
        chain,
        sha256,
    }
}

/// The header (`v` and `tree` set from where `tree` stands: `/2` when `header.v` asks
/// for it, else `/3`) and its line, with the newline.
fn header_line_v2(header: &Header, tree: &Frontier) -> (Header, Vec<u8>) {
    let mut h = header.clone();
    if h.v != VERSION_2 {
        h.v = VERSION;
    }
    h.tree = Some(TreeStart {
        size: tree.size(),
        frontier: tree.hashes().iter().map(|x| TreeHash(*x)).collect(),
    });
    let mut line = Vec::with_capacity(1024);
    // Serialising a struct of strings, numbers and uuids cannot fail.
    let _ = serde_json::to_writer(&mut line, &HeaderLine { worm: h.clone() });
    line.push(b'\n');
    (h, line)
}

/// Seal a body (header line and record section, its leaves on `tree` already; `mid`
/// has hashed what the seal's sha256 covers): sign the checkpoint when a signer is
/// given, and append the seal line. Returns the chain hash (what `mid` hashed, then the
/// seal line).
fn finish_v2(
    h: &Header,
    body: &mut Vec<u8>,
    is_final: bool,
    tree: &mut Frontier,
    signer: Option<&Signer>,
    mid: crate::tlog::lanes::Midstate,
) -> Sha256Hex {
    let sha256 = Sha256Hex(mid.finish(b""));
    let size = tree.size();
    let root = TreeHash(tree.root());
    let checkpoint = signer.and_then(|s| {
        let text = checkpoint_text(h, &sha256, size, &root, is_final);
        // The text is made of a uuid, numbers, base64 and a timestamp: always a valid
        // note text. Should that ever break, the batch is still sealed and chained, and
        // verify reports it unsigned rather than the writer losing it.
        note::sign(&text, s)
            .inspect_err(
                |e| tracing::error!(target: "worm", error = %e, "could not sign the checkpoint"),
            )
            .ok()
    });
    let seal_start = body.len();
    let seal = SealLine {
        worm_seal: Seal {
            sha256,
            sig: None,
            key_id: None,
            tree_size: Some(size),
            root: Some(root),
            checkpoint,
            is_final,
        },
    };
    let _ = serde_json::to_writer(&mut *body, &seal);
    body.push(b'\n');
    Sha256Hex(mid.finish(&body[seal_start..]))
}

/// The record lines of a batch's record section, each without its newline.
pub fn record_lines(records: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = records.strip_suffix(b"\n").unwrap_or(records);
    let mut start = 0;
    let mut ends = memchr::memchr_iter(b'\n', body).chain(std::iter::once(body.len()));
    std::iter::from_fn(move || {
        if records.is_empty() {
            return None;
        }
        let end = ends.next()?;
        let line = &body[start..end];
        start = end + 1;
        Some(line)
    })
}

/// The tlog-checkpoint text a `worm-batch/2` or `/3` seal signs: origin `worm/<stream>`, tree
/// size, base64 root, then `seq`, `batch` (the seal's sha256), `final` and `time`
/// extension lines.
pub fn checkpoint_text(
    h: &Header,
    sha256: &Sha256Hex,
    size: u64,
    root: &TreeHash,
    is_final: bool,
) -> String {
    let mut extensions = vec![
        format!("seq {}", h.seq),
        format!("batch {}", sha256.to_hex()),
        format!("final {is_final}"),
    ];
    if let Some(at) = &h.at {
        extensions.push(format!("time {at}"));
    }
    let c = crate::tlog::checkpoint::Checkpoint {
        origin: origin_for(h.stream),
        size,
        root: root.0,
        extensions,
    };
    // A uuid origin, numbers, hex and a timestamp always make a valid checkpoint; were it
    // ever refused, the empty text fails to sign and verify reports the batch unsigned.
    c.to_text().unwrap_or_default()
}

/// A batch read back and split into its parts. Hashes are computed, not trusted.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The header.
    pub header: Header,
    /// The seal.
    pub seal: Seal,
    /// Byte range of the record lines within the body.
    pub records: std::ops::Range<usize>,
    /// Number of record lines actually present.
    pub record_lines: u64,
    /// sha256 of the bytes before the seal line, as computed.
    pub computed_sha256: Sha256Hex,
    /// sha256 of the whole body (what the next batch's `prev` must name).
    pub chain_hash: Sha256Hex,
}

/// Split an uncompressed body into header, records and seal (a [`Scanner`] over the
/// whole body, so that the rules live in one place).
pub fn parse(body: &[u8]) -> Result<Parsed> {
    let mut scanner = Scanner::new(Limits::UNLIMITED);
    scanner
        .feed(body, &mut |_, _| {})
        .map_err(ScanError::into_error)?;
    let s = scanner.finish().map_err(ScanError::into_error)?;
    // The offsets are within `body`, which is in memory, so they fit a usize.
    let records = s.records.start as usize..s.records.end as usize;
    Ok(Parsed {
        header: s.header,
        seal: s.seal,
        records,
        record_lines: s.record_lines,
        computed_sha256: s.computed_sha256,
        chain_hash: s.chain_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::leaf_hash;

    #[test]
    fn record_lines_splits_as_a_plain_split_does() {
        for body in [
            &b""[..],
            b"\n",
            b"a",
            b"a\n",
            b"a\nbb\n",
            b"a\n\nb\n",
            b"a\nb",
        ] {
            let old: Vec<&[u8]> = if body.is_empty() {
                Vec::new()
            } else {
                body.strip_suffix(b"\n")
                    .unwrap_or(body)
                    .split(|&b| b == b'\n')
                    .collect()
            };
            assert_eq!(record_lines(body).collect::<Vec<_>>(), old, "{body:?}");
        }
    }

    pub(super) fn header(seq: u64, n: u64) -> Header {
        Header {
            v: VERSION_1,
            stream: Uuid::now_v7(),
            batch: Uuid::now_v7(),
            service: "svc".into(),
            seq,
            prev: None,
            records: n,
            first_ts: None,
            last_ts: None,
            ..Default::default()
        }
    }

    #[test]
    fn encode_parse_round_trip() {
        let recs = b"{\"a\":1}\n{\"b\":2}\n";
        let (body, chain) = encode(&header(0, 2), recs, true, None);
        let p = parse(&body).unwrap();
        assert_eq!(p.record_lines, 2);
        assert_eq!(&body[p.records.clone()], recs);
        assert_eq!(p.seal.sha256, p.computed_sha256);
        assert!(p.seal.is_final);
        assert_eq!(p.chain_hash, chain);
        assert_eq!(Sha256Hex::of(&body), chain);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("{\"worm\":{\"v\":1,\"stream\":"));
        assert!(text.contains("\"prev\":null"));
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("{\"worm_seal\":{\"sha256\":")
        );
    }

    #[test]
    fn empty_final_batch_and_compression() {
        let (body, _) = encode(&header(3, 0), b"", true, None);
        assert_eq!(parse(&body).unwrap().record_lines, 0);
        for c in [Compression::Gzip, Compression::Zstd] {
            let z = c.compress(&body).unwrap();
            assert_eq!(c.decompress(&z, 1 << 20).unwrap(), body);
            assert!(c.decompress(&z, 10).is_err());
        }
        assert!(parse(b"{\"worm\":{}}\n").is_err());
        assert!(parse(&body[..body.len() - 1]).is_err());
    }

    #[test]
    fn v2_commits_to_the_tree_and_signs_a_checkpoint() {
        use crate::tlog::{MerkleTree, note::Note};
        let signer = Signer::from_seed([3; 32]);
        let mut tree = Frontier::new();
        let lines = [b"{\"a\":1}".as_slice(), b"{\"b\":2}", b"{\"c\":3}"];
        let mut h = header(0, 2);
        h.v = VERSION;
        h.at = Some("2026-01-01T00:00:00.000Z".into());
        let (b0, _) = encode_v2(
            &h,
            b"{\"a\":1}\n{\"b\":2}\n",
            false,
            &mut tree,
            Some(&signer),
        );
        h.seq = 1;
        h.records = 1;
        let (b1, _) = encode_v2(&h, b"{\"c\":3}\n", true, &mut tree, Some(&signer));
        let all = MerkleTree::new(lines.iter().map(|l| leaf_hash(l)).collect());
        let p1 = parse(&b1).unwrap();
        assert_eq!(p1.seal.tree_size, Some(3));
        assert_eq!(p1.seal.root, Some(TreeHash(all.root())));
        assert_eq!(p1.header.tree.as_ref().unwrap().size, 2);
        let p0 = parse(&b0).unwrap();
        assert_eq!(p0.header.tree.as_ref().unwrap().size, 0);
        let note = Note::parse(p1.seal.checkpoint.as_deref().unwrap()).unwrap();
        note.verify(&[signer.public_key()]).unwrap();
        assert_eq!(
            note.text,
            checkpoint_text(
                &p1.header,
                &p1.computed_sha256,
                3,
                &TreeHash(all.root()),
                true
            )
        );
        assert!(note.text.starts_with(&format!("worm/{}\n3\n", h.stream)));
        assert!(
            note.text
                .ends_with("final true\ntime 2026-01-01T00:00:00.000Z\n")
        );
    }

    /// `/3` seals the header line and chains header and seal lines, the root alone
    /// committing to the records; a header asking for `/2` gets `/2`, whose seal and
    /// chain hash the whole body.
    #[test]
    fn v3_hashes_the_records_once_as_leaves_and_v2_is_still_written_on_request() {
        let recs = b"{\"a\":1}\n{\"b\":2}\n";
        for v in [VERSION, VERSION_2] {
            let mut h = header(0, 2);
            h.v = v;
            let (body, chain) = encode_v2(&h, recs, false, &mut Frontier::new(), None);
            let p = parse(&body).unwrap();
            assert_eq!(p.header.v, v);
            assert_eq!(p.seal.sha256, p.computed_sha256);
            assert_eq!(p.chain_hash, chain);
            let header_end = body.iter().position(|&b| b == b'\n').unwrap() + 1;
            let seal_at = p.records.end;
            assert_eq!(&body[header_end..seal_at], recs);
            let (sealed, chained) = if v == VERSION {
                (
                    Sha256Hex::of(&body[..header_end]),
                    Sha256Hex::of(&[&body[..header_end], &body[seal_at..]].concat()),
                )
            } else {
                (Sha256Hex::of(&body[..seal_at]), Sha256Hex::of(&body))
            };
            assert_eq!((p.computed_sha256, p.chain_hash), (sealed, chained), "v{v}");
            let leaves = record_lines(recs).map(leaf_hash).collect();
            let root = crate::tlog::MerkleTree::new(leaves).root();
            assert_eq!(p.seal.root, Some(TreeHash(root)));
        }
    }

    /// Sealing in place writes exactly what `encode_v2` writes, and leaves the tree in
    /// the same place: with and without records and signer, with a frontier in the
    /// header, and with a header longer than the room kept for it, in `/3` and `/2`.
    #[test]
    fn in_place_seal_is_byte_for_byte_encode_v2() {
        let signer = Signer::from_seed([5; 32]);
        let batches: [&[u8]; 4] = [
            b"{\"a\":1}\n{\"b\":2}\n",
            b"",
            b"{\"c\":3}\n",
            b"{}\n{}\n{}\n",
        ];
        for (room, sign, v) in [
            (HEADER_ROOM, false, VERSION),
            (HEADER_ROOM, true, VERSION),
            (40, true, VERSION),
            (0, false, VERSION),
            (HEADER_ROOM, true, VERSION_2),
            (0, false, VERSION_2),
        ] {
            let mut copied = Frontier::new();
            let mut in_place = Frontier::new();
            let mut h = header(0, 0);
            h.v = v;
            h.at = Some("2026-01-01T00:00:00.000Z".into());
            for (seq, records) in batches.iter().enumerate() {
                h.seq = seq as u64;
                h.records = record_lines(records).count() as u64;
                let signer = sign.then_some(&signer);
                let last = seq + 1 == batches.len();
                let (want, want_chain) = encode_v2(&h, records, last, &mut copied, signer);
                let mut buf = vec![b'?'; room];
                buf.extend_from_slice(records);
                // Without the body's digest asked for, the same body and tree.
                let mut bare_buf = buf.clone();
                let mut bare_tree = in_place.clone();
                let got = encode_v2_in_place(&h, &mut buf, room, last, &mut in_place, signer, true);
                let start = got.start;
                assert_eq!(&buf[start..], &want[..], "room {room} seq {seq}");
                assert_eq!(got.chain, want_chain);
                assert_eq!(got.sha256, Some(Sha256Hex::of(&want)));
                let bare = encode_v2_in_place(
                    &h,
                    &mut bare_buf,
                    room,
                    last,
                    &mut bare_tree,
                    signer,
                    false,
                );
                assert_eq!((bare.start, bare.chain), (start, want_chain));
                assert_eq!(bare.sha256, (v == VERSION_2).then(|| Sha256Hex::of(&want)));
                assert_eq!(bare_buf, buf);
                assert_eq!(bare_tree.root(), in_place.root());
                assert_eq!(in_place.size(), copied.size());
                assert_eq!(in_place.root(), copied.root());
            }
        }
    }
}
