//! Building stores of hash-chained batches directly with [`batch::encode_v2`] (as the
//! pipeline would; or the older [`batch::encode`] for `worm-batch/1` stores), and tampering with them through each backend's raw path.

use std::path::PathBuf;

use bytes::Bytes;
use chrono::{DateTime, Duration, Utc};
use uuid::Uuid;
use worm::batch::{self, Compression, Header};
use worm::fs::FsSink;
use worm::key::{KeyParts, KeyTemplate};
use worm::memory::MemorySink;
use worm::record::timestamp;
use worm::sign::Signer;
use worm::{AuditRecord, Level, PutOptions, Sha256Hex, WormSink};

/// What stream to build.
#[derive(Debug, Clone)]
pub struct StreamSpec {
    /// Service name.
    pub service: String,
    /// Batches holding records (a closed stream gets one more, empty, final batch).
    pub batches: u64,
    /// Records per batch.
    pub records_per_batch: u64,
    /// Signs every seal when set.
    pub signer: Option<Signer>,
    /// Whole-object compression.
    pub compression: Compression,
    /// Write a final batch.
    pub close: bool,
    /// Time of the first record; each next record is one millisecond later.
    pub start: DateTime<Utc>,
    /// Key layout.
    pub template: KeyTemplate,
    /// Write the older `worm-batch/1` format.
    pub v1: bool,
    /// Write the older `worm-batch/2` format (the seal hashes the whole body).
    pub v2: bool,
    /// Writer identity written in v2 headers.
    pub writer: Option<String>,
    /// Heartbeat (ms) written in v2 headers: makes the stream's silence judged.
    pub heartbeat_ms: Option<u64>,
    /// Seal time of every batch (default: the time of its last record).
    pub sealed_at: Option<DateTime<Utc>>,
    /// The predecessor named by seq 0 (v2).
    pub pred: Option<batch::Predecessor>,
    /// Encrypt the records to these recipients (v2). [`StreamSpec::new`] sets
    /// [`test_recipients`] when `WORM_TEST_ENCRYPT=1`, so that a whole suite runs again
    /// on encrypted stores.
    pub encrypt: Option<worm::crypt::Recipients>,
}

/// A fixed age identity for tests (never a real one).
pub const TEST_IDENTITY: &str =
    "AGE-SECRET-KEY-1CPVURLE6LDEH76856PAR9ATKPGZQJXNN2PNQMRQ96KUF5N96ZT6S3SAP68";
/// Its recipient.
pub const TEST_RECIPIENT: &str = "age1r2lkx37w75quv4n2fz7m5pc0hh2qdfclmqrserlr9cds6lymmaqs4lhwsy";

/// [`TEST_RECIPIENT`] as recipients.
pub fn test_recipients() -> worm::crypt::Recipients {
    worm::crypt::Recipients::parse([TEST_RECIPIENT]).expect("test recipient")
}

/// [`TEST_IDENTITY`] as identities.
pub fn test_identities() -> worm::crypt::Identities {
    worm::crypt::Identities::parse(TEST_IDENTITY, "test identity").expect("test identity")
}

/// Whether this run builds encrypted stores (`WORM_TEST_ENCRYPT=1`).
pub fn encrypting() -> bool {
    std::env::var("WORM_TEST_ENCRYPT").is_ok_and(|v| v == "1")
}

impl StreamSpec {
    /// `batches` × `records_per_batch`, unsigned, uncompressed, closed, default layout.
    pub fn new(batches: u64, records_per_batch: u64) -> Self {
        StreamSpec {
            service: "camera_service".into(),
            batches,
            records_per_batch,
            signer: None,
            compression: Compression::None,
            close: true,
            start: timestamp::parse("2025-06-12T10:30:00Z").unwrap_or_else(|_| Utc::now()),
            template: KeyTemplate::default(),
            v1: false,
            v2: false,
            writer: Some("camera_service@test-host".into()),
            heartbeat_ms: None,
            sealed_at: None,
            pred: None,
            encrypt: encrypting().then(test_recipients),
        }
    }
    /// Encrypt the records to `to`.
    pub fn encrypted(mut self, to: &worm::crypt::Recipients) -> Self {
        self.encrypt = Some(to.clone());
        self
    }
    /// Write `worm-batch/1`.
    pub fn v1(mut self) -> Self {
        self.v1 = true;
        self
    }
    /// Write `worm-batch/2`.
    pub fn v2(mut self) -> Self {
        self.v2 = true;
        self
    }
    /// Heartbeat every `ms`, every batch sealed at `at`.
    pub fn live(mut self, ms: u64, at: DateTime<Utc>) -> Self {
        self.heartbeat_ms = Some(ms);
        self.sealed_at = Some(at);
        self
    }
    /// Keys under `prefix` (default layout).
    pub fn under(mut self, prefix: &str) -> Self {
        self.template = KeyTemplate::new(worm::key::DEFAULT_TEMPLATE, prefix).expect("prefix");
        self
    }
    /// Name `p` as the predecessor stream.
    pub fn after(mut self, p: batch::Predecessor) -> Self {
        self.pred = Some(p);
        self
    }
    /// Sign with `s`.
    pub fn signed(mut self, s: &Signer) -> Self {
        self.signer = Some(s.clone());
        self
    }
    /// Compress with `c`.
    pub fn compressed(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }
    /// Leave the stream open (no final batch).
    pub fn open(mut self) -> Self {
        self.close = false;
        self
    }
    /// Service name.
    pub fn service(mut self, s: &str) -> Self {
        self.service = s.into();
        self
    }
    /// Time of the first record.
    pub fn starting(mut self, t: DateTime<Utc>) -> Self {
        self.start = t;
        self
    }
}

/// One batch as written.
#[derive(Debug, Clone)]
pub struct BuiltBatch {
    /// Object key.
    pub key: String,
    /// Seq.
    pub seq: u64,
    /// Batch id.
    pub batch: Uuid,
    /// sha256 of the whole uncompressed body.
    pub chain: Sha256Hex,
    /// Whether it is the final batch.
    pub is_final: bool,
    /// The stream's tree size after this batch.
    pub tree_size: u64,
    /// The stream's tree root after this batch.
    pub root: batch::TreeHash,
}

/// A stream as written.
#[derive(Debug, Clone)]
pub struct BuiltStream {
    /// Stream id.
    pub stream: Uuid,
    /// Batches in seq order.
    pub batches: Vec<BuiltBatch>,
    /// Uncompressed bytes written.
    pub plain_bytes: u64,
}

impl BuiltStream {
    /// Key of the batch at `seq`.
    pub fn key(&self, seq: usize) -> &str {
        &self.batches[seq].key
    }
}

/// The record at position `n` of a stream.
pub fn record(spec: &StreamSpec, n: u64) -> AuditRecord {
    let level = match n % 50 {
        0 => Level::Error,
        k if k % 10 == 0 => Level::Warn,
        _ => Level::Info,
    };
    let actions = ["motion_detected", "login", "export", "camera_offline"];
    let n_i64 = i64::try_from(n).unwrap_or(i64::MAX);
    AuditRecord::new(
        level,
        format!("Motion detected in camera cam{:03} frame {n}", n % 17),
    )
    .at(spec.start + Duration::milliseconds(n_i64))
    .service(spec.service.clone())
    .request_id(format!("req-{:06}", n / 10))
    .user_id(format!("user{}", n % 7))
    .action(actions[(n % 4) as usize])
    .field("camera_id", format!("cam{:03}", n % 17))
    .field("confidence", 0.5 + (n % 50) as f64 / 100.0)
    .field("detection_count", n % 5)
}

/// The header fields of batch `seq` of `stream` holding `records` (JSON lines).
pub fn header_for(
    spec: &StreamSpec,
    stream: Uuid,
    seq: u64,
    prev: Option<Sha256Hex>,
    recs: &[AuditRecord],
) -> Header {
    let v1 = Header {
        v: batch::VERSION_1,
        stream,
        batch: Uuid::now_v7(),
        service: spec.service.clone(),
        seq,
        prev,
        records: recs.len() as u64,
        first_ts: recs.first().map(|r| timestamp::format(&r.timestamp)),
        last_ts: recs.last().map(|r| timestamp::format(&r.timestamp)),
        ..Default::default()
    };
    if spec.v1 {
        return v1;
    }
    let at = spec
        .sealed_at
        .or(recs.last().map(|r| r.timestamp))
        .unwrap_or(spec.start);
    Header {
        v: if spec.v2 {
            batch::VERSION_2
        } else {
            batch::VERSION
        },
        at: Some(timestamp::format(&at)),
        writer: spec.writer.clone(),
        heartbeat_ms: spec.heartbeat_ms,
        pred: if seq == 0 { spec.pred.clone() } else { None },
        ..v1
    }
}

/// The default-layout key of a batch.
pub fn key_for(spec: &StreamSpec, h: &Header, first: Option<&AuditRecord>) -> String {
    spec.template.render(&KeyParts {
        time: first.map_or(spec.start, |r| r.timestamp),
        request_id: first
            .filter(|_| spec.encrypt.is_none())
            .and_then(|r| r.request_id.as_deref()),
        service: &spec.service,
        batch: h.batch,
        stream: h.stream,
        seq: h.seq,
        ext: spec.compression.ext(),
    })
}

/// Record lines, each ending in `\n`.
pub fn lines(recs: &[AuditRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in recs {
        r.write_json(&mut out);
        out.push(b'\n');
    }
    out
}

/// Write one stream into `sink`. Panics on a failed put (tests only).
pub async fn write_stream(sink: &dyn WormSink, spec: &StreamSpec) -> BuiltStream {
    let stream = Uuid::now_v7();
    let mut out = BuiltStream {
        stream,
        batches: Vec::new(),
        plain_bytes: 0,
    };
    let mut prev = None;
    let mut tree = worm::tlog::Frontier::new();
    let total = spec.batches + u64::from(spec.close);
    for seq in 0..total {
        let is_final = spec.close && seq == spec.batches;
        let recs: Vec<AuditRecord> = if is_final {
            Vec::new()
        } else {
            (0..spec.records_per_batch)
                .map(|i| record(spec, seq * spec.records_per_batch + i))
                .collect()
        };
        let h = header_for(spec, stream, seq, prev, &recs);
        let (body, chain) = if spec.v1 {
            batch::encode(&h, &lines(&recs), is_final, spec.signer.as_ref())
        } else if let Some(to) = &spec.encrypt {
            batch::encode_v2_encrypted(
                &h,
                &lines(&recs),
                is_final,
                &mut tree,
                spec.signer.as_ref(),
                to,
            )
            .expect("encrypt")
        } else {
            batch::encode_v2(&h, &lines(&recs), is_final, &mut tree, spec.signer.as_ref())
        };
        out.plain_bytes += body.len() as u64;
        let key = key_for(spec, &h, recs.first());
        let stored = spec.compression.compress(&body).expect("compress");
        let opts = PutOptions {
            content_type: Some(batch::CONTENT_TYPE.into()),
            content_encoding: spec.compression.content_encoding().map(str::to_string),
            ..PutOptions::default()
        };
        sink.put(&key, Bytes::from(stored), &opts)
            .await
            .expect("put batch");
        out.batches.push(BuiltBatch {
            key,
            seq,
            batch: h.batch,
            chain,
            is_final,
            tree_size: tree.size(),
            root: batch::TreeHash(tree.root()),
        });
        prev = Some(chain);
    }
    out
}

/// The uncompressed body stored under `key`.
pub async fn plain_body(sink: &dyn WormSink, key: &str) -> Vec<u8> {
    let stored = sink.get(key).await.expect("get").body;
    Compression::from_key(key)
        .decompress(&stored, 1 << 30)
        .expect("decompress")
}

/// Re-encode a stored body after changing its header (and optionally its records),
/// recomputing the seal: what a forger without the key (or with `signer`) can do.
pub fn reencode(
    body: &[u8],
    edit: impl FnOnce(&mut Header),
    records: Option<&[u8]>,
    signer: Option<&Signer>,
) -> (Vec<u8>, Sha256Hex) {
    let p = batch::parse(body).expect("parse");
    let mut h = p.header.clone();
    edit(&mut h);
    if let Some(enc) = &p.header.enc {
        // Encrypted: the forger here holds the identity (the strongest case), opens the
        // records and encrypts its own to the same public recipients; unchanged records
        // keep their ciphertext and leaves, and only the seal is made again.
        let Some(recs) = records else {
            return reseal(body, &h, signer);
        };
        let recs = recs.to_vec();
        let t = h.tree.clone().expect("a worm-batch/2 batch");
        let mut tree =
            worm::tlog::Frontier::from_parts(t.size, t.frontier.iter().map(|x| x.0).collect())
                .expect("tree in header");
        let to = worm::crypt::Recipients::parse(&enc.age).expect("recipients");
        return batch::encode_v2_encrypted(&h, &recs, p.seal.is_final, &mut tree, signer, &to)
            .expect("encrypt");
    }
    let recs = records.unwrap_or(&body[p.records.clone()]);
    match &h.tree {
        Some(t) if batch::has_tree(h.v) => {
            let mut tree =
                worm::tlog::Frontier::from_parts(t.size, t.frontier.iter().map(|x| x.0).collect())
                    .expect("tree in header");
            batch::encode_v2(&h, recs, p.seal.is_final, &mut tree, signer)
        }
        _ => batch::encode(&h, recs, p.seal.is_final, signer),
    }
}

/// An encrypted batch's records (at least one), opened with [`TEST_IDENTITY`].
pub fn opened(plain: &[u8]) -> worm::crypt::Opened {
    let p = batch::parse(plain).expect("parse");
    let line = batch::record_lines(&plain[p.records.clone()])
        .next()
        .unwrap_or_default();
    worm::crypt::open_section(&p.header, line, &test_identities(), 1 << 30, "test")
        .expect("open with the test identity")
}

/// The record lines (each ending in `\n`) of a batch, plain or encrypted.
pub fn open_records(plain: &[u8]) -> Vec<u8> {
    let p = batch::parse(plain).expect("parse");
    if p.header.enc.is_none() || p.header.records == 0 {
        return plain[p.records.clone()].to_vec();
    }
    let mut out = Vec::new();
    for (_, l) in opened(plain).records() {
        out.extend_from_slice(l);
        out.push(b'\n');
    }
    out
}

/// An encrypted batch with header `h` and its own record section, sealed again (and
/// signed by `signer`).
fn reseal(body: &[u8], h: &Header, signer: Option<&Signer>) -> (Vec<u8>, Sha256Hex) {
    let p = batch::parse(body).expect("parse");
    let t = h.tree.clone().expect("a worm-batch/2 batch");
    let mut tree =
        worm::tlog::Frontier::from_parts(t.size, t.frontier.iter().map(|x| x.0).collect())
            .expect("tree in header");
    if p.header.records > 0 {
        for (salt, l) in opened(body).records() {
            tree.push(batch::salted_leaf_hash(salt, l));
        }
    }
    let mut out = serde_json::to_vec(&serde_json::json!({ "worm": h })).expect("header");
    out.push(b'\n');
    out.extend_from_slice(&body[p.records.clone()]);
    let sha256 = Sha256Hex::of(&out);
    let root = batch::TreeHash(tree.root());
    let checkpoint = signer.map(|s| {
        let text = batch::checkpoint_text(h, &sha256, tree.size(), &root, p.seal.is_final);
        worm::tlog::note::sign(&text, s).expect("sign")
    });
    let seal = batch::Seal {
        sha256,
        sig: None,
        key_id: None,
        tree_size: Some(tree.size()),
        root: Some(root),
        checkpoint,
        is_final: p.seal.is_final,
    };
    out.extend_from_slice(
        &serde_json::to_vec(&serde_json::json!({ "worm_seal": seal })).expect("seal"),
    );
    out.push(b'\n');
    let chain = Sha256Hex::of(&out);
    (out, chain)
}

/// Where a `worm-batch/2` batch leaves its stream's tree: what the next batch's header
/// must start from (a forger who appends or rewrites computes this).
pub fn tree_after(plain: &[u8]) -> batch::TreeStart {
    let p = batch::parse(plain).expect("parse");
    let t = p.header.tree.expect("a worm-batch/2 batch");
    let mut f = worm::tlog::Frontier::from_parts(t.size, t.frontier.iter().map(|x| x.0).collect())
        .expect("tree in header");
    if p.header.enc.is_some() && p.header.records > 0 {
        for (salt, l) in opened(plain).records() {
            f.push(batch::salted_leaf_hash(salt, l));
        }
    } else {
        for l in batch::record_lines(&plain[p.records.clone()]) {
            f.push(worm::tlog::leaf_hash(l));
        }
    }
    batch::TreeStart {
        size: f.size(),
        frontier: f.hashes().iter().map(|h| batch::TreeHash(*h)).collect(),
    }
}

/// A fresh directory store (immutable files where the process may set the attribute,
/// read-only files otherwise) in a temporary directory that lives as long as the guard.
pub fn fs_store() -> (tempfile::TempDir, FsSink) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = FsSink::builder(dir.path().join("worm-data"))
        .immutable(true)
        .allow_read_only_fallback(true)
        .build()
        .expect("fs store");
    (dir, sink)
}

/// Raw access to a store, past its WORM rules: what an attacker with root (fs) or
/// administrator (memory) rights can do.
pub trait Raw: WormSink {
    /// Replace (or create) `key` with exactly these stored bytes.
    fn raw_put(&self, key: &str, stored: Vec<u8>) -> impl Future<Output = ()> + Send;
    /// Remove `key`.
    fn raw_delete(&self, key: &str) -> impl Future<Output = ()> + Send;
}

impl Raw for FsSink {
    async fn raw_put(&self, key: &str, stored: Vec<u8>) {
        let path: PathBuf = self.path_of(key).expect("path");
        if path.exists() {
            self.raw_delete(key).await;
        }
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, stored).expect("write");
    }
    async fn raw_delete(&self, key: &str) {
        if self.is_immutable(key).expect("attrs") {
            self.clear_immutable(key)
                .expect("clear immutable (needs root)");
        }
        std::fs::remove_file(self.path_of(key).expect("path")).expect("remove");
    }
}

impl Raw for MemorySink {
    async fn raw_put(&self, key: &str, stored: Vec<u8>) {
        if self.keys().iter().any(|k| k == key) {
            self.raw_delete(key).await;
        }
        self.put(key, Bytes::from(stored), &PutOptions::default())
            .await
            .expect("put");
    }
    async fn raw_delete(&self, key: &str) {
        self.delete(key, true)
            .expect("delete (bypassing governance)");
    }
}

/// Store a plain body under `key`, compressed like the key says.
pub async fn raw_put_plain(raw: &impl Raw, key: &str, plain: &[u8]) {
    let stored = Compression::from_key(key)
        .compress(plain)
        .expect("compress");
    raw.raw_put(key, stored).await;
}
