//! Batching rules and sealing, kept apart from the worker that drives uploads.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::config::Config;
use super::entry::{Entry, WalPos};
use super::sealed::Position;
use super::sealed::Sealed;
use crate::batch::{self, CONTENT_TYPE, Compression, Header, TreeHash};
use crate::bufpool::BufPool;
use crate::hash::Sha256Hex;
use crate::key::KeyParts;
use crate::record::{Level, timestamp};
use crate::sink::{PutOptions, Retention};

/// Version written into each object's `worm_handler_version` metadata.
pub const HANDLER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The batch being filled.
#[derive(Debug)]
pub(crate) struct OpenBatch {
    /// [`batch::HEADER_ROOM`] bytes of room for the header, then the record lines: a
    /// `/3` batch is sealed in place (no copy of the records into a new body).
    body: Vec<u8>,
    /// Buffers of stored bodies whose uploads are done, for the next batches.
    pool: Arc<BodyPool>,
    records: u64,
    synthetic: u64,
    first: Option<(DateTime<Utc>, Option<Box<str>>)>,
    last_ts: Option<DateTime<Utc>>,
    max_level: Level,
    pub opened_at: Option<Instant>,
    /// WAL position just past the newest record in the batch.
    pub wal_end: Option<WalPos>,
}

impl OpenBatch {
    /// An empty batch whose buffers are kept for `cfg`'s uploads in flight.
    pub fn new(cfg: &Config) -> Self {
        let pool = Arc::new(BodyPool::new(cfg));
        OpenBatch {
            body: pool.take(),
            pool,
            records: 0,
            synthetic: 0,
            first: None,
            last_ts: None,
            max_level: Level::Trace,
            opened_at: None,
            wal_end: None,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    pub fn push(&mut self, e: Entry) {
        if self.first.is_none() {
            // `log` leaves the request id in the line (one allocation less per record on
            // the caller's thread); it is read back here, once per batch.
            let request_id = e.request_id.or_else(|| request_id_of(&e.line));
            self.first = Some((e.ts, request_id));
            self.opened_at = Some(Instant::now());
        }
        self.last_ts = Some(e.ts);
        self.max_level = self.max_level.max(e.level);
        self.body.extend_from_slice(&e.line);
        self.body.push(b'\n');
        self.records += 1;
        self.synthetic += u64::from(e.synthetic);
        if e.wal.is_some() {
            self.wal_end = e.wal;
        }
    }

    /// Whether adding a record of `next_len` bytes would pass a limit.
    pub fn is_full(&self, cfg: &Config) -> bool {
        self.records as usize >= cfg.max_records || self.records_len() >= cfg.max_bytes
    }

    /// Whether adding `next_len` more bytes would pass the byte budget.
    pub fn would_overflow(&self, cfg: &Config, next_len: usize) -> bool {
        !self.is_empty() && self.records_len() + next_len + 1 > cfg.max_bytes
    }

    /// Bytes of record lines in the batch.
    fn records_len(&self) -> usize {
        self.body.len() - batch::HEADER_ROOM
    }

    /// The record lines, each ending in `\n`.
    fn records(&self) -> &[u8] {
        &self.body[batch::HEADER_ROOM..]
    }

    /// When the batch must be cut by age.
    pub fn deadline(&self, cfg: &Config) -> Option<Instant> {
        self.opened_at.map(|t| t + cfg.max_age)
    }

    /// Seal into the `worm-batch/3` format (`/1` when configured) and reset for the next batch.
    pub fn seal(&mut self, cfg: &Config, at: Position<'_>, is_final: bool) -> Sealed {
        let Position {
            stream,
            seq,
            prev,
            tree,
            pred,
        } = at;
        let batch_id = Uuid::now_v7();
        let now = timestamp::now();
        let (first_ts, request_id) = self.first.take().unwrap_or((now, None));
        let last_ts = self.last_ts.take().unwrap_or(first_ts);
        let header = Header {
            v: batch::VERSION,
            stream,
            batch: batch_id,
            service: cfg.service.clone(),
            seq,
            prev,
            records: self.records,
            first_ts: (self.records > 0).then(|| timestamp::format(&first_ts)),
            last_ts: (self.records > 0).then(|| timestamp::format(&last_ts)),
            at: Some(timestamp::format(&now)),
            writer: Some(cfg.writer_id()),
            tree: None,
            heartbeat_ms: cfg.heartbeat.map(|d| d.as_millis() as u64),
            interval_ms: Some(cfg.max_age.as_millis() as u64),
            pred,
            enc: None,
        };
        let plain = if cfg.legacy_v1 {
            // The `/1` header: no tree and none of the fields `/2` and `/3` added.
            let header = Header {
                v: 1,
                at: None,
                writer: None,
                heartbeat_ms: None,
                interval_ms: None,
                pred: None,
                ..header
            };
            Plain::Copied(batch::encode(
                &header,
                self.records(),
                is_final,
                cfg.signer.as_ref(),
            ))
        } else if let Some(to) = &cfg.encrypt {
            let mut t = tree.clone();
            match batch::encode_v2_encrypted(
                &header,
                self.records(),
                is_final,
                &mut t,
                cfg.signer.as_ref(),
                to,
            ) {
                Ok(sealed) => {
                    *tree = t;
                    Plain::Copied(sealed)
                }
                Err(e) => {
                    // Only drawing the salts from the OS can fail (or, never in practice,
                    // compressing in memory). Storing the records in the clear would break
                    // the promise made to the caller, and dropping them is a loss: stop
                    // the process loudly instead.
                    panic!("worm: cannot encrypt batch seq {seq} of stream {stream}: {e}")
                }
            }
        } else {
            let sealed = batch::encode_v2_in_place(
                &header,
                &mut self.body,
                batch::HEADER_ROOM,
                is_final,
                tree,
                cfg.signer.as_ref(),
                // A compressed body's stored digest is the compressed bytes'.
                cfg.compression == Compression::None,
            );
            Plain::InPlace(sealed)
        };
        let plain_bytes = match &plain {
            Plain::Copied((body, _)) => &body[..],
            Plain::InPlace(s) => &self.body[s.start..],
        };
        let checkpoint = signed_checkpoint(plain_bytes);
        let encrypted = cfg.encrypt.is_some();
        let tree_after = (
            tree.size(),
            tree.hashes().iter().map(|h| TreeHash(*h)).collect(),
        );
        let compression = if encrypted {
            // Compressed inside the ciphertext already; ciphertext does not compress.
            Compression::None
        } else {
            cfg.compression
        };
        let compressed = match compression {
            Compression::None => None,
            c => match c.compress(plain_bytes) {
                Ok(z) => Some((Bytes::from(z), c)),
                Err(e) => {
                    // Compressing bytes in memory does not fail in practice; if it ever
                    // does, the batch is stored uncompressed rather than lost.
                    tracing::error!(target: "worm", error = %e, seq, "compression failed; storing batch uncompressed");
                    None
                }
            },
        };
        // The chain hash, and the whole body's sha256 when known (the same but in `/3`).
        let (chain, body_sha256) = match &plain {
            Plain::Copied((_, chain)) => (*chain, Some(*chain)),
            Plain::InPlace(s) => (s.chain, s.sha256),
        };
        let (stored, compression) = match (compressed, plain) {
            (Some(z), _) => z,
            // Stored as encoded: no copy, and its sha256 is already known.
            (None, Plain::Copied((body, _))) => (Bytes::from(body), Compression::None),
            (None, Plain::InPlace(sealed)) => {
                // The open batch's buffer becomes the stored body; the next batch takes
                // one whose upload is done, when there is one.
                self.pool.last_len.store(self.body.len(), Ordering::Relaxed);
                let buf = std::mem::replace(&mut self.body, self.pool.take());
                (
                    self.pool.buffers.bytes(buf).slice(sealed.start..),
                    Compression::None,
                )
            }
        };
        // Hashed here when not known: compressed bytes, or a body stored uncompressed
        // after compressing it failed.
        let sha256 = match (compression, body_sha256) {
            (Compression::None, Some(known)) => known,
            _ => Sha256Hex::of(&stored),
        };
        // Encrypted: no record content in the key (the layout has no {request_id}
        // either, see `AuditLogBuilder::encrypt_to`) or the metadata.
        let request_id = request_id.filter(|_| !encrypted);
        let key = cfg.keys.render(&KeyParts {
            time: first_ts,
            request_id: request_id.as_deref(),
            service: &cfg.service,
            batch: batch_id,
            stream,
            seq,
            ext: compression.ext(),
        });
        let level = if self.records > 0 {
            self.max_level
        } else {
            Level::Info
        };
        let mut metadata = BTreeMap::new();
        metadata.insert("service_name".into(), cfg.service.clone());
        if encrypted {
            metadata.insert("worm-encrypted".into(), "age".into());
        } else {
            metadata.insert(
                "request_id".into(),
                crate::key::sanitize_part(request_id.as_deref()),
            );
            metadata.insert("log_level".into(), level.as_str().into());
            metadata.insert("timestamp".into(), timestamp::format(&first_ts));
        }
        metadata.insert("worm_handler_version".into(), HANDLER_VERSION.into());
        metadata.insert("worm-stream".into(), stream.to_string());
        metadata.insert("worm-seq".into(), seq.to_string());
        metadata.insert("worm-sha256".into(), sha256.to_hex());
        let opts = PutOptions {
            content_type: Some(CONTENT_TYPE.into()),
            content_encoding: compression.content_encoding().map(Into::into),
            metadata,
            retention: cfg
                .retention
                .map(|(mode, days)| Retention::days_from_now(mode, days)),
            legal_hold: cfg.legal_hold,
            // Hashed once here, shared by every target's upload.
            body_sha256: Some(sha256),
        };
        let size = stored.len();
        let mut sealed = Sealed {
            stream,
            seq,
            order: 0,
            key,
            body: stored,
            sha256,
            chain,
            user_records: self.records - self.synthetic,
            opts,
            opened_at: self.opened_at.take().unwrap_or_else(Instant::now),
            rounds: 0,
            wal_end: self.wal_end.take(),
            is_final,
            maybe_sent: false,
            size: 0,
            spool_file: None,
            tree: tree_after,
            target: 0,
            checkpoint,
        };
        sealed.size = size;
        self.body.truncate(batch::HEADER_ROOM);
        self.records = 0;
        self.synthetic = 0;
        self.max_level = Level::Trace;
        sealed
    }
}

/// A sealed body before it is stored: encoded into a new buffer, or in the open batch's
/// buffer from this offset on. Both with the chain hash.
enum Plain {
    Copied((Vec<u8>, Sha256Hex)),
    InPlace(batch::InPlace),
}

/// Stored bodies' buffers, given back when the last reference to a body is dropped (its
/// uploads and spooling done) and taken by the next open batch, so that the writer
/// thread neither faults in a fresh buffer for every batch ([`crate::bufpool`]) nor grows
/// one while it fills (a `realloc` of a large buffer is an `mremap`, whose TLB shootdown
/// interrupts the other cores too).
///
/// It keeps one buffer more than the uploads a target may have in flight: the open
/// batch's, and one for each body out. That is what the writer holds anyway while its
/// uploads are out, so keeping them adds nothing to its peak.
#[derive(Debug)]
pub(crate) struct BodyPool {
    buffers: Arc<BufPool>,
    /// Bytes of the last body sealed: a new buffer is made that large and a little more
    /// at once (growing one by doubling copies what it holds, and may leave half of it
    /// unused).
    last_len: AtomicUsize,
    /// The room a buffer gets before any batch was sealed: the byte limit, up to
    /// [`FIRST_ROOM_MAX`]. Pages not written to are not taken from the system.
    first_room: usize,
}

/// The most a buffer is made with before the first batch is sealed.
const FIRST_ROOM_MAX: usize = 4 << 20;

/// Room after the records for the seal line, and for a batch a little longer than the last.
const SEAL_ROOM: usize = 4096;

impl BodyPool {
    fn new(cfg: &Config) -> Self {
        BodyPool {
            buffers: Arc::new(BufPool::new(cfg.max_in_flight.clamp(1, 16) + 1, usize::MAX)),
            last_len: AtomicUsize::new(0),
            first_room: cfg
                .max_bytes
                .saturating_add(batch::HEADER_ROOM + SEAL_ROOM)
                .min(FIRST_ROOM_MAX),
        }
    }

    /// An empty body: [`batch::HEADER_ROOM`] bytes of room, no records.
    fn take(&self) -> Vec<u8> {
        let last = self.last_len.load(Ordering::Relaxed);
        let room = if last == 0 {
            self.first_room
        } else {
            last.saturating_add(last / 8 + SEAL_ROOM)
        };
        let mut buf = self.buffers.take(room);
        buf.resize(batch::HEADER_ROOM, b' ');
        buf
    }
}

/// The signed checkpoint a sealed body's seal line carries, if any (for an anchor store).
fn signed_checkpoint(plain: &[u8]) -> Option<String> {
    let body = plain.strip_suffix(b"\n").unwrap_or(plain);
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let seal: serde_json::Value = serde_json::from_slice(&body[start..]).ok()?;
    seal.get("worm_seal")?
        .get("checkpoint")?
        .as_str()
        .map(String::from)
}

/// The top-level `request_id` of a record line, when it has one.
fn request_id_of(line: &[u8]) -> Option<Box<str>> {
    #[derive(serde::Deserialize)]
    struct Head<'a> {
        #[serde(borrow, default)]
        request_id: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Head<'_>>(line)
        .ok()
        .and_then(|h| h.request_id)
        .map(|r| r.into_owned().into_boxed_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::Frontier;

    /// Fill `open` with `n` records whose `x` field is `pad` bytes long.
    fn fill(open: &mut OpenBatch, n: u64, pad: usize) {
        for i in 0..n {
            let line = format!(r#"{{"level":"INFO","n":{i},"x":"{}"}}"#, "y".repeat(pad));
            open.push(Entry {
                line: Bytes::from(line),
                ts: Utc::now(),
                level: Level::Info,
                request_id: None,
                synthetic: false,
                wal: None,
                cursor: None,
            });
        }
    }

    fn seal(open: &mut OpenBatch, cfg: &Config, tree: &mut Frontier, seq: u64) -> Sealed {
        open.seal(
            cfg,
            Position {
                stream: Uuid::nil(),
                seq,
                prev: None,
                tree,
                pred: None,
            },
            false,
        )
    }

    #[test]
    fn bodies_in_flight_come_back_and_a_longer_batch_does_not_grow_its_buffer() {
        let cfg = Config::new("svc");
        assert_eq!(cfg.max_in_flight, 2);
        let mut tree = Frontier::default();
        let mut open = OpenBatch::new(&cfg);
        // Before any seal: room for a whole batch of the byte limit, so filling never
        // reallocates.
        let first = open.body.as_ptr();
        fill(&mut open, 800, 300);
        assert_eq!(open.body.as_ptr(), first, "the first batch grew its buffer");
        let a = seal(&mut open, &cfg, &mut tree, 0);
        // The next batch's records are each 10 bytes longer, and it holds 60 more: still
        // no realloc.
        let second = open.body.as_ptr();
        fill(&mut open, 860, 310);
        assert_eq!(
            open.body.as_ptr(),
            second,
            "a slightly longer batch grew its buffer"
        );
        let b = seal(&mut open, &cfg, &mut tree, 1);
        // Two bodies out (the uploads in flight), then both done: both buffers are kept,
        // and the batches after the one open now fill them rather than new ones.
        let out: Vec<usize> = [&a, &b].iter().map(|s| s.body.as_ptr() as usize).collect();
        drop((a, b));
        // A body is a slice of its buffer from where its header starts, inside the room.
        let kept = |p: *const u8| {
            out.iter()
                .position(|o| (p as usize).abs_diff(*o) < batch::HEADER_ROOM)
        };
        fill(&mut open, 10, 10);
        let _c = seal(&mut open, &cfg, &mut tree, 2);
        fill(&mut open, 10, 10);
        let d = seal(&mut open, &cfg, &mut tree, 3);
        let d_in = kept(d.body.as_ptr()).expect("no buffer in flight came back");
        let next_in = kept(open.body.as_ptr()).expect("only one buffer in flight was kept");
        assert_ne!(d_in, next_in);
    }

    #[test]
    fn request_id_is_read_back_from_the_line() {
        let rid = |l: &str| request_id_of(l.as_bytes()).map(String::from);
        assert_eq!(
            rid(r#"{"level":"INFO","request_id":"req-1","n":1}"#).as_deref(),
            Some("req-1")
        );
        // Escapes are undone, as the record's own field had them.
        assert_eq!(
            rid(r#"{"request_id":"a\"b\\c\u00e9"}"#).as_deref(),
            Some("a\"b\\cé")
        );
        // Only the top-level field counts, not one inside a nested object or a string.
        assert_eq!(
            rid(r#"{"level":"INFO","ctx":{"request_id":"inner"},"m":"\"request_id\":\"x\""}"#),
            None
        );
        assert_eq!(rid(r#"{"request_id":null}"#), None);
    }
}
