//! Checks on one object on its own: readable, seal, signature, header against records,
//! key carries the batch id. What survives is a small [`BatchMeta`]; the body is dropped.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::fetch;
use super::report::{Kind, Problem, Severity};
use crate::batch::{self, Fault, Scanned, VERSION};
use crate::hash::Sha256Hex;
use crate::record::timestamp;
use crate::sign::PublicKey;

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

/// Check one object from what reading it gave.
pub(crate) fn check_object(
    key: &str,
    read: Result<Scanned, fetch::ReadError>,
    opts: &CheckOptions,
) -> Checked {
    use fetch::ReadError;
    let scanned = match read {
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
                    format!("foreign object: not a worm-batch/1 batch ({e})"),
                ),
            };
            return Checked::failed(key, kind, message);
        }
    };
    check_parsed(key, scanned, opts)
}

fn check_parsed(key: &str, p: Scanned, opts: &CheckOptions) -> Checked {
    let h = &p.header;
    let mut problems = Vec::new();
    let mut add = |kind: Kind, message: String| {
        let mut pr = problem(kind, key, message);
        pr.stream = Some(h.stream);
        pr.seq = Some(h.seq);
        problems.push(pr);
    };
    let mut sound = true;
    if h.v != VERSION {
        add(
            Kind::Unreadable,
            format!(
                "unsupported format version {} (this verifier reads {VERSION})",
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
    if p.record_lines != h.records {
        add(
            Kind::Modified,
            format!(
                "header says {} records, the batch holds {} lines",
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
    let misplaced = !key_carries(key, h.batch);
    if misplaced {
        add(
            Kind::Misplaced,
            format!(
                "the key does not carry batch id {} (stream {} seq {}): the content was moved or copied here",
                h.batch, h.stream, h.seq
            ),
        );
    }
    let sig = check_signature(&p, &opts.keys, &mut add);
    Checked {
        meta: Some(BatchMeta {
            key: key.to_string(),
            stream: h.stream,
            seq: h.seq,
            prev: h.prev,
            chain: p.chain_hash,
            records: p.record_lines,
            is_final: p.seal.is_final,
            sig,
            sound,
            misplaced,
            first_ts,
            last_ts,
        }),
        service: p.header.service.clone(),
        key_id: p.seal.key_id.clone(),
        problems,
    }
}

fn key_carries(key: &str, batch: Uuid) -> bool {
    let mut buf = Uuid::encode_buffer();
    key.contains(&*batch.hyphenated().encode_lower(&mut buf))
        || key.contains(&*batch.simple().encode_lower(&mut buf))
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
