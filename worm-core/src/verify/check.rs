//! Checks on one object on its own: readable, seal, signature, header against records,
//! key carries the batch id. What survives is a small [`BatchMeta`]; the body is dropped.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::fetch;
use super::report::{Kind, Problem, Severity};
use crate::batch::{self, Fault, Predecessor, Scanned, TreeHash, VERSION, VERSION_1};
use crate::hash::Sha256Hex;
use crate::record::timestamp;
use crate::sign::PublicKey;
use crate::tlog::{Frontier, leaf_hash, note};

/// What a batch's signature turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigState {
    /// Verified with an expected key.
    Valid,
    /// Present but wrong, or by a key that is not expected.
    Invalid,
    /// No signature.
    Missing,
    /// Present, not checked (no public key given).
    Unchecked,
}

/// The little that is kept of each batch for the stream checks.
#[derive(Debug, Clone)]
pub(crate) struct BatchMeta {
    pub key: String,
    pub stream: Uuid,
    pub seq: u64,
    pub prev: Option<Sha256Hex>,
    pub chain: Sha256Hex,
    pub records: u64,
    pub is_final: bool,
    pub sig: SigState,
    /// The seal matches and the header agrees with the records.
    pub sound: bool,
    /// The key does not carry the batch id.
    pub misplaced: bool,
    pub first_ts: Option<DateTime<Utc>>,
    pub last_ts: Option<DateTime<Utc>>,
    /// `worm-batch/2` and `/3` only.
    pub v2: Option<Box<V2Meta>>,
}

/// What a `worm-batch/2` or `/3` batch adds: its place in the stream's Merkle tree, its writer,
/// its liveness settings and its checkpoint.
#[derive(Debug, Clone)]
pub(crate) struct V2Meta {
    /// Tree size before the batch and a digest of the compact range there.
    pub start: (u64, Sha256Hex),
    /// The same after the batch, as recomputed from the records.
    pub end: (u64, Sha256Hex),
    /// Root after the batch, as recomputed (as the seal says, for encrypted records not
    /// opened).
    pub root: TreeHash,
    /// Root of the tree before the batch (the header's compact range folded).
    pub start_root: TreeHash,
    /// Whether the records were read, so `end` is recomputed: false for encrypted records
    /// read without a matching identity, whose `end.1` is then unknown (zero).
    pub opened: bool,
    pub at: Option<DateTime<Utc>>,
    pub writer: Option<String>,
    pub pred: Option<Predecessor>,
    pub heartbeat_ms: Option<u64>,
    pub interval_ms: Option<u64>,
    /// The signed checkpoint, when present.
    pub checkpoint: Option<String>,
}

/// A digest naming a tree state (size and compact range) exactly.
pub(crate) fn frontier_digest(size: u64, hashes: &[[u8; 32]]) -> Sha256Hex {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(size.to_be_bytes());
    for x in hashes {
        h.update(x);
    }
    Sha256Hex(h.finalize().into())
}

/// Everything found about one object.
#[derive(Debug)]
pub(crate) struct Checked {
    pub meta: Option<BatchMeta>,
    pub service: String,
    pub key_id: Option<String>,
    pub problems: Vec<Problem>,
}

/// Settings the per-object checks need.
#[derive(Debug, Clone)]
pub(crate) struct CheckOptions {
    pub keys: Vec<PublicKey>,
    /// Identities to open encrypted records with (none: keyless checks).
    pub identities: crate::crypt::Identities,
    /// Largest plaintext accepted.
    pub max_body: u64,
}

fn frontier_of(h: &batch::Header) -> Result<Frontier, String> {
    let t = h
        .tree
        .as_ref()
        .ok_or_else(|| "a worm-batch/2 or /3 header without its tree".to_string())?;
    Frontier::from_parts(t.size, t.frontier.iter().map(|x| x.0).collect())
        .map_err(|e| format!("header tree: {e}"))
}

pub(crate) fn problem(kind: Kind, key: &str, message: String) -> Problem {
    let severity = match kind {
        Kind::Duplicate => Severity::Info,
        Kind::Open => Severity::Warning,
        _ => Severity::Error,
    };
    Problem {
        kind,
        severity,
        key: key.to_string(),
        stream: None,
        seq: None,
        version_ids: Vec::new(),
        message,
    }
}

impl Checked {
    pub(crate) fn failed(key: &str, kind: Kind, message: String) -> Self {
        Checked {
            meta: None,
            service: String::new(),
            key_id: None,
            problems: vec![problem(kind, key, message)],
        }
    }
}

/// A `worm-batch/2` or `/3` batch's tree as its record lines stream past: started from the
/// header's compact range at the first line, then one leaf per line.
#[derive(Debug, Default)]
pub(crate) struct TreeAcc {
    /// Start (size and digest of the compact range) and the tree so far.
    tree: Option<TreeSoFar>,
    /// For encrypted records: the identities and cap to open them with, and the key.
    open_with: Option<(crate::crypt::Identities, u64, String)>,
    /// Encrypted records: `None` not opened, `Some(Ok)` opened and their leaves pushed,
    /// `Some(Err)` opened but wrong.
    opened: Option<std::result::Result<(), String>>,
    /// Record lines not yet hashed into the tree, held so that their independent leaves
    /// are hashed several at a time ([`crate::tlog::lanes`]).
    pending: Pending,
}

/// Record lines waiting to be hashed as leaves: copies of at most [`Pending::LINES`]
/// lines and [`Pending::BYTES`] bytes (a longer line is hashed on its own, uncopied), so
/// what a verifier holds per object stays small whatever the object holds.
#[derive(Debug, Default)]
struct Pending {
    /// The lines, back to back.
    bytes: Vec<u8>,
    /// Where each line ends in `bytes`.
    ends: Vec<usize>,
    /// The group's leaf hashes (kept to reuse the allocation).
    leaves: Vec<crate::tlog::Hash>,
}

impl Pending {
    /// Lines per group: enough to keep every lane busy across lines of mixed lengths.
    const LINES: usize = 16;
    /// Bytes per group.
    const BYTES: usize = 64 * 1024;

    /// Add the leaf of `line` to `tree`, now or with the group it joins; the leaves reach
    /// the tree in line order.
    fn push(&mut self, tree: &mut Frontier, line: &[u8]) {
        if line.len() > Self::BYTES {
            self.flush(tree);
            tree.push(leaf_hash(line));
            return;
        }
        if self.bytes.len() + line.len() > Self::BYTES {
            self.flush(tree);
        }
        self.bytes.extend_from_slice(line);
        self.ends.push(self.bytes.len());
        if self.ends.len() == Self::LINES {
            self.flush(tree);
        }
    }

    /// Hash the waiting lines and add their leaves to `tree`.
    fn flush(&mut self, tree: &mut Frontier) {
        if self.ends.is_empty() {
            return;
        }
        let mut start = 0;
        let lines = self.ends.iter().map(|&end| {
            let line = &self.bytes[start..end];
            start = end;
            line
        });
        self.leaves.clear();
        crate::tlog::lanes::leaf_hashes(lines, &mut self.leaves);
        tree.extend(&self.leaves);
        self.bytes.clear();
        self.ends.clear();
    }
}

/// The tree's start (size and digest of the compact range) and the tree so far, or why
/// the header's tree cannot be used.
type TreeSoFar = std::result::Result<((u64, Sha256Hex), Frontier), String>;

impl TreeAcc {
    /// One record line of a batch with header `h`.
    pub(crate) fn on_record(&mut self, h: &batch::Header, line: &[u8]) {
        if !batch::has_tree(h.v) {
            return;
        }
        if h.enc.is_some() {
            return self.on_encrypted(h, line);
        }
        if let Ok((_, f)) = self.tree.get_or_insert_with(|| start_of(h)) {
            self.pending.push(f, line);
        }
    }

    /// A tree accumulator that opens encrypted records with `ids` (when not empty).
    pub(crate) fn opening(opts: &CheckOptions, key: &str) -> Self {
        TreeAcc {
            open_with: (!opts.identities.is_empty())
                .then(|| (opts.identities.clone(), opts.max_body, key.to_string())),
            ..TreeAcc::default()
        }
    }

    fn on_encrypted(&mut self, h: &batch::Header, line: &[u8]) {
        let Some((ids, limit, key)) = &self.open_with else {
            return;
        };
        if self.opened.is_some() {
            // A second section line: the line count check reports it.
            self.opened = Some(Err("more than one encrypted section".into()));
            return;
        }
        let what = format!("batch '{key}'");
        match crate::crypt::open_section(h, line, ids, *limit, &what) {
            Ok(o) => {
                if let Ok((_, f)) = self.tree.get_or_insert_with(|| start_of(h)) {
                    for (salt, l) in o.records() {
                        f.push(batch::salted_leaf_hash(salt, l));
                    }
                }
                self.opened = Some(Ok(()));
            }
            // Encrypted to other recipients (a rotation): checked as without identities.
            Err(crate::Error::NoIdentity { .. }) => {}
            Err(e) => self.opened = Some(Err(e.to_string())),
        }
    }

    /// Every record line's leaf of a plain `worm-batch/2` or `/3` batch with header `h`, hashed by
    /// the reader (see [`fetch::BatchReader::read_leaves`]): pushed as
    /// [`TreeAcc::on_record`] would push them one by one.
    pub(crate) fn on_leaves(&mut self, h: &batch::Header, leaves: &[crate::tlog::Hash]) {
        if !batch::has_tree(h.v) || h.enc.is_some() {
            return;
        }
        if let Ok((_, f)) = self.tree.get_or_insert_with(|| start_of(h)) {
            self.pending.flush(f);
            f.extend(leaves);
        }
    }

    fn finish(
        self,
        h: &batch::Header,
    ) -> std::result::Result<((u64, Sha256Hex), Frontier), String> {
        let mut tree = self.tree.unwrap_or_else(|| start_of(h));
        if let Ok((_, f)) = &mut tree {
            let mut pending = self.pending;
            pending.flush(f);
        }
        tree
    }

    /// For a reader that is not a verifier (`cat`, `prove`): whether the records of the
    /// batch `p` are what its seal commits to, given the record lines seen through
    /// [`TreeAcc::on_record`]. The seal's sha256 says it for every batch but a plain
    /// `worm-batch/3` one, whose records only its tree root commits to.
    pub(crate) fn records_match_seal(self, p: &Scanned) -> bool {
        if p.seal.sha256 != p.computed_sha256 {
            return false;
        }
        if batch::seal_hash_covers_records(&p.header) {
            return true;
        }
        match self.finish(&p.header) {
            Ok((_, f)) => {
                p.seal.tree_size == Some(f.size()) && p.seal.root == Some(TreeHash(f.root()))
            }
            Err(_) => false,
        }
    }
}

fn start_of(h: &batch::Header) -> TreeSoFar {
    let f = frontier_of(h)?;
    Ok(((f.size(), frontier_digest(f.size(), f.hashes())), f))
}

/// Check one object from what reading it gave.
pub(crate) fn check_object(
    key: &str,
    read: Result<(Scanned, TreeAcc), fetch::ReadError>,
    opts: &CheckOptions,
) -> Checked {
    use fetch::ReadError;
    let (scanned, tree) = match read {
        Ok(s) => s,
        Err(ReadError::Gone) => {
            return Checked::failed(key, Kind::Missing, ReadError::Gone.to_string());
        }
        Err(e @ ReadError::Fetch(_)) => {
            return Checked::failed(key, Kind::Unreadable, e.to_string());
        }
        Err(e @ ReadError::NotAFile(_)) => {
            return Checked::failed(key, Kind::NotAFile, e.to_string());
        }
        Err(ReadError::Scan(e)) => {
            let (kind, message) = match e.fault {
                Fault::TooLarge => (
                    Kind::Oversized,
                    format!("{e}: no writer makes such an object; not read further"),
                ),
                Fault::Damaged => (Kind::Unreadable, format!("damaged batch: {e}")),
                Fault::NotABatch => (
                    Kind::Inserted,
                    format!("foreign object: not a worm batch ({e})"),
                ),
            };
            return Checked::failed(key, kind, message);
        }
    };
    check_parsed(key, scanned, tree, opts)
}

fn check_parsed(key: &str, p: Scanned, tree: TreeAcc, opts: &CheckOptions) -> Checked {
    let h = &p.header;
    let mut problems = Vec::new();
    let mut add = |kind: Kind, message: String| {
        let mut pr = problem(kind, key, message);
        pr.stream = Some(h.stream);
        pr.seq = Some(h.seq);
        problems.push(pr);
    };
    let mut sound = true;
    if h.v > VERSION || h.v < VERSION_1 {
        add(
            Kind::Unreadable,
            format!(
                "unsupported format version {} (this verifier reads {VERSION_1} to {VERSION})",
                h.v
            ),
        );
        sound = false;
    }
    if p.seal.sha256 != p.computed_sha256 {
        add(
            Kind::Modified,
            format!(
                "content does not match its seal: the seal says sha256 {}, the content hashes to {}",
                p.seal.sha256, p.computed_sha256
            ),
        );
        sound = false;
    }
    // Encrypted records are one section line (none for an empty batch).
    let lines_expected = if h.enc.is_some() {
        u64::from(h.records > 0)
    } else {
        h.records
    };
    if p.record_lines != lines_expected {
        add(
            Kind::Modified,
            format!(
                "header says {} records ({lines_expected} lines), the batch holds {} lines",
                h.records, p.record_lines
            ),
        );
        sound = false;
    }
    let (first_ts, last_ts) = match check_timestamps(h, &p) {
        Ok(ts) => ts,
        Err(msg) => {
            add(Kind::Modified, msg);
            sound = false;
            (None, None)
        }
    };
    let misplaced = !crate::key::carries_batch_id(key, h.batch);
    if misplaced {
        add(
            Kind::Misplaced,
            format!(
                "the key does not carry batch id {} (stream {} seq {}): the content was moved or copied here",
                h.batch, h.stream, h.seq
            ),
        );
    }
    let (v2, sig) = if batch::has_tree(h.v) {
        // A batch already shown modified is not blamed twice for its tree.
        let v2 = check_tree(h, &p, tree, &mut |k, m| {
            if sound {
                add(k, m)
            }
        });
        sound &= v2.is_some();
        // An encrypted batch's tree is taken from its seal, so it survives a changed
        // ciphertext; that change is reported once, as modified content, not again as
        // a checkpoint that does not describe it.
        let v2_for_sig = v2
            .as_deref()
            .filter(|_| h.enc.is_none() || p.seal.sha256 == p.computed_sha256);
        let sig = check_checkpoint(&p, v2_for_sig, &opts.keys, &mut add);
        (v2, sig)
    } else {
        (None, check_signature(&p, &opts.keys, &mut add))
    };
    let key_id = match &v2 {
        Some(m) => m.checkpoint.as_deref().and_then(checkpoint_key_names),
        None => p.seal.key_id.clone(),
    };
    Checked {
        meta: Some(BatchMeta {
            key: key.to_string(),
            stream: h.stream,
            seq: h.seq,
            prev: h.prev,
            chain: p.chain_hash,
            records: if h.enc.is_some() {
                h.records
            } else {
                p.record_lines
            },
            is_final: p.seal.is_final,
            sig,
            sound,
            misplaced,
            first_ts,
            last_ts,
            v2,
        }),
        service: p.header.service.clone(),
        key_id,
        problems,
    }
}

/// Recompute the tree after the batch from the header's start and the records, and
/// compare with what the seal commits to.
fn check_tree(
    h: &batch::Header,
    p: &Scanned,
    acc: TreeAcc,
    add: &mut impl FnMut(Kind, String),
) -> Option<Box<V2Meta>> {
    let encrypted = h.enc.is_some() && h.records > 0;
    let opened = match &acc.opened {
        Some(Err(e)) => {
            add(
                Kind::Modified,
                format!("the encrypted records do not open to what the header names: {e}"),
            );
            return None;
        }
        Some(Ok(())) => true,
        None => !encrypted,
    };
    let (start, tree) = match acc.finish(h) {
        Ok(t) => t,
        Err(e) => {
            add(Kind::Modified, e);
            return None;
        }
    };
    let start_root = TreeHash(
        Frontier::from_parts(
            start.0,
            frontier_of(h)
                .map(|f| f.hashes().to_vec())
                .unwrap_or_default(),
        )
        .map(|f| f.root())
        .unwrap_or_default(),
    );
    if !opened {
        // Keyless: the leaves are inside the ciphertext. The seal must add exactly the
        // header's record count; its root is checked against the next batch's start
        // (which must fold to it) and by the checkpoint's signature.
        let size = start.0.saturating_add(h.records);
        let Some(root) = p.seal.root.filter(|_| p.seal.tree_size == Some(size)) else {
            add(
                Kind::Modified,
                format!(
                    "the seal commits to tree size {}, the header's start {} and {} records give {size}",
                    p.seal.tree_size.map_or("none".into(), |n| n.to_string()),
                    start.0,
                    h.records
                ),
            );
            return None;
        };
        return finish_v2(
            p,
            start,
            (size, Sha256Hex([0; 32])),
            root,
            start_root,
            false,
            add,
        );
    }
    let root = TreeHash(tree.root());
    let end = (tree.size(), frontier_digest(tree.size(), tree.hashes()));
    if p.seal.tree_size != Some(end.0) || p.seal.root != Some(root) {
        add(
            Kind::Modified,
            format!(
                "content does not match its seal: the seal commits to tree size {} root {}, the records give size {} root {root}",
                p.seal.tree_size.map_or("none".into(), |n| n.to_string()),
                p.seal.root.map_or("none".into(), |r| r.to_string()),
                end.0
            ),
        );
        return None;
    }
    finish_v2(p, start, end, root, start_root, true, add)
}

fn finish_v2(
    p: &Scanned,
    start: (u64, Sha256Hex),
    end: (u64, Sha256Hex),
    root: TreeHash,
    start_root: TreeHash,
    opened: bool,
    add: &mut impl FnMut(Kind, String),
) -> Option<Box<V2Meta>> {
    let h = &p.header;
    let at = match h.at.as_deref().map(timestamp::parse).transpose() {
        Ok(t) => t,
        Err(e) => {
            add(Kind::Modified, format!("header at: {e}"));
            return None;
        }
    };
    Some(Box::new(V2Meta {
        start,
        end,
        root,
        start_root,
        opened,
        at,
        writer: h.writer.clone(),
        pred: h.pred.clone(),
        heartbeat_ms: h.heartbeat_ms,
        interval_ms: h.interval_ms,
        checkpoint: p.seal.checkpoint.clone(),
    }))
}

/// The names and note key ids that signed a checkpoint, for the stream summary.
fn checkpoint_key_names(note_text: &str) -> Option<String> {
    let n = note::Note::parse(note_text).ok()?;
    let ids: Vec<String> = n
        .signatures
        .iter()
        .map(|s| format!("{}+{}", s.name, crate::hash::hex_encode(&s.key_id)))
        .collect();
    (!ids.is_empty()).then(|| ids.join(","))
}

/// A `worm-batch/2` or `/3` seal's checkpoint: its text must be exactly what the batch implies,
/// and with public keys one of them must have signed it.
fn check_checkpoint(
    p: &Scanned,
    v2: Option<&V2Meta>,
    keys: &[PublicKey],
    add: &mut impl FnMut(Kind, String),
) -> SigState {
    let Some(text) = p.seal.checkpoint.as_deref() else {
        return SigState::Missing;
    };
    let Some(v2) = v2 else {
        // The tree itself is broken (already reported); the checkpoint cannot match.
        return SigState::Unchecked;
    };
    let note = match note::Note::parse(text) {
        Ok(n) => n,
        Err(e) => {
            add(
                Kind::BadSignature,
                format!("checkpoint is not a signed note: {e}"),
            );
            return SigState::Invalid;
        }
    };
    let expected = batch::checkpoint_text(
        &p.header,
        &p.computed_sha256,
        v2.end.0,
        &v2.root,
        p.seal.is_final,
    );
    if note.text != expected {
        add(
            Kind::Modified,
            format!(
                "the checkpoint does not describe this batch: it says {:?}, the batch gives {:?}",
                note.text, expected
            ),
        );
        return SigState::Invalid;
    }
    if keys.is_empty() {
        return SigState::Unchecked;
    }
    match note.verify(keys) {
        Ok(_) => SigState::Valid,
        Err(e) => {
            add(Kind::BadSignature, format!("checkpoint signature: {e}"));
            SigState::Invalid
        }
    }
}

type Stamps = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// `first_ts`/`last_ts` must be the first and last records' timestamps.
fn check_timestamps(h: &batch::Header, p: &Scanned) -> Result<Stamps, String> {
    let parse_hdr = |name: &str, v: &Option<String>| -> Result<Option<DateTime<Utc>>, String> {
        v.as_deref()
            .map(|s| timestamp::parse(s).map_err(|e| format!("header {name}: {e}")))
            .transpose()
    };
    let first = parse_hdr("first_ts", &h.first_ts)?;
    let last = parse_hdr("last_ts", &h.last_ts)?;
    let first_line = p.first_record.as_deref();
    let last_line = p.last_record.as_deref();
    let compare =
        |name: &str, hdr: Option<DateTime<Utc>>, line: Option<&[u8]>| -> Result<(), String> {
            match (hdr, line.map(record_ts)) {
                (None, None) => Ok(()),
                (Some(_), None) => Err(format!(
                    "header {name} is set but the batch holds no records"
                )),
                // A record without a timestamp cannot be checked; the writer always stamps one.
                (_, Some(None)) => Ok(()),
                (None, Some(Some(_))) => {
                    Err(format!("header has no {name} but the batch holds records"))
                }
                (Some(h), Some(Some(r))) if h == r => Ok(()),
                (Some(h), Some(Some(r))) => Err(format!(
                    "header {name} {} disagrees with the record's timestamp {}",
                    timestamp::format(&h),
                    timestamp::format(&r)
                )),
            }
        };
    compare("first_ts", first, first_line)?;
    compare("last_ts", last, last_line)?;
    Ok((first, last))
}

fn record_ts(line: &[u8]) -> Option<DateTime<Utc>> {
    #[derive(Deserialize)]
    struct Ts<'a> {
        #[serde(borrow)]
        timestamp: Option<Cow<'a, str>>,
    }
    let ts: Ts<'_> = serde_json::from_slice(line).ok()?;
    timestamp::parse(&ts.timestamp?).ok()
}

fn check_signature(
    p: &Scanned,
    keys: &[PublicKey],
    add: &mut impl FnMut(Kind, String),
) -> SigState {
    let Some(sig) = p.seal.sig.as_deref() else {
        return SigState::Missing;
    };
    if keys.is_empty() {
        return SigState::Unchecked;
    }
    let msg = batch::signed_message(&p.seal.sha256, p.seal.is_final);
    let claimed = p.seal.key_id.as_deref();
    let candidates: Vec<&PublicKey> = match claimed {
        Some(id) => keys.iter().filter(|k| k.key_id() == id).collect(),
        None => keys.iter().collect(),
    };
    if candidates.is_empty() {
        let expected: Vec<&str> = keys.iter().map(PublicKey::key_id).collect();
        add(
            Kind::BadSignature,
            format!(
                "signed with key id {}, which is not an expected key ({})",
                claimed.unwrap_or("?"),
                expected.join(", ")
            ),
        );
        return SigState::Invalid;
    }
    if candidates.iter().any(|k| k.verify(&msg, sig)) {
        return SigState::Valid;
    }
    add(
        Kind::BadSignature,
        format!(
            "the signature does not verify with key id {} over sha256 {} final={}",
            claimed.unwrap_or("(none named)"),
            p.seal.sha256,
            p.seal.is_final
        ),
    );
    SigState::Invalid
}
