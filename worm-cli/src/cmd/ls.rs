//! `worm ls`: the objects of a store, each with what its batch header says.

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use uuid::Uuid;
use worm::verify::{BatchReader, ReadError};
use worm::{ObjectInfo, WormSink};

use crate::cli::LsArgs;
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::output::{Stdout, Written};
use crate::store::{self, Access};
use crate::time;

/// One listed object.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Object key.
    pub key: String,
    /// Stored size in bytes.
    pub size: u64,
    /// Stream id (absent when the object is not a readable batch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<Uuid>,
    /// Service in the batch header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Seq in the stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Records in the batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// First record's timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    /// Last record's timestamp.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    /// Whether this is its stream's final batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_final: Option<bool>,
    /// Signing key id, when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The age recipients its records are encrypted to, when encrypted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encrypted_to: Option<Vec<String>>,
    /// The key does not carry the batch's id: the batch was moved or copied here (verify
    /// says `misplaced`, or `copied` when the original is there too). Absent otherwise.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub misplaced: bool,
    /// Why the object could not be read as a batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// List the store.
pub async fn run(a: LsArgs) -> CliResult<u8> {
    let (since, until) = time::range(&a.time)?;
    let store = store::open(a.store.as_deref(), Access::Read, &a.s3)?;
    let sink = store.sink.as_ref();
    // The verifier's caps and budget, so that ls is as bounded as verify.
    let reader = BatchReader::new(worm::verify::DEFAULT_MAX_OBJECT_BYTES);
    let ids = crate::crypt::reader_identities(&a.identities)?;
    let mut entries = sink
        .list(&store.list_prefix)
        .map_ok(|info| describe(sink, &reader, info, ids.clone()))
        .try_buffered(worm::verify::DEFAULT_CONCURRENCY);
    let mut out = Stdout::new();
    if !a.json {
        out.line(&format!(
            "{:<8} {:>5} {:>6} {:>7} {:<24} {:<5} KEY",
            "STREAM", "SEQ", "RECS", "SIZE", "FIRST_TS", "FINAL"
        ))?;
    }
    let mut shown = 0u64;
    while let Some(e) = entries.try_next().await.map_err(|e| {
        crate::crypt::no_identity(&e)
            .unwrap_or_else(|| CliError::fatal(format!("cannot list store '{}': {e}", store.name)))
    })? {
        if !in_range(&e, since, until) {
            continue;
        }
        shown += 1;
        let line = if a.json {
            serde_json::to_string(&e)
                .map_err(|err| CliError::context("cannot format JSON output", err))?
        } else {
            table_row(&e)
        };
        if out.line(&line)? == Written::Closed {
            return Ok(EXIT_OK);
        }
    }
    out.flush()?;
    if shown == 0 && !a.json {
        eprintln!("worm: no objects in '{}'", store.name);
    }
    Ok(EXIT_OK)
}

/// Whether the batch's records may fall in `[since, until)`. Objects that are not
/// readable batches are always shown: they are what the user most needs to see.
fn in_range(e: &Entry, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
    let parse = |t: &Option<String>| {
        t.as_deref()
            .and_then(|s| worm::record::timestamp::parse(s).ok())
    };
    let (first, last) = (parse(&e.first_ts), parse(&e.last_ts));
    if e.error.is_some() {
        return true;
    }
    if e.records == Some(0) || first.is_none() {
        // A final batch without records: show it with an unbounded listing only.
        return since.is_none() && until.is_none();
    }
    since.is_none_or(|s| last.is_none_or(|l| l >= s))
        && until.is_none_or(|u| first.is_none_or(|f| f < u))
}

fn table_row(e: &Entry) -> String {
    let short = |u: &Option<Uuid>| {
        u.map(|u| {
            let s = u.simple().to_string();
            s[s.len() - 8..].to_string()
        })
        .unwrap_or_else(|| "-".into())
    };
    let opt = |v: Option<u64>| v.map_or("-".into(), |v| v.to_string());
    match &e.error {
        Some(err) => format!(
            "{:<8} {:>5} {:>6} {:>7} {:<24} {:<5} {}  ({err})",
            "-", "-", "-", e.size, "-", "-", e.key
        ),
        None => format!(
            "{:<8} {:>5} {:>6} {:>7} {:<24} {:<5} {}{}",
            short(&e.stream),
            opt(e.seq),
            opt(e.records),
            e.size,
            e.first_ts.as_deref().unwrap_or(match &e.encrypted_to {
                Some(_) => "(encrypted)",
                None => "-",
            }),
            if e.is_final == Some(true) {
                "yes"
            } else {
                "no"
            },
            e.key,
            if e.misplaced {
                "  (not under its batch's own key: moved or copied here; see verify)"
            } else {
                ""
            }
        ),
    }
}

/// Read one object and describe it from its batch header and seal.
async fn describe(
    sink: &dyn WormSink,
    reader: &BatchReader,
    info: ObjectInfo,
    ids: worm::crypt::Identities,
) -> worm::Result<Entry> {
    let mut e = Entry {
        key: info.key.clone(),
        size: info.size,
        stream: None,
        service: None,
        seq: None,
        records: None,
        first_ts: None,
        last_ts: None,
        is_final: None,
        key_id: None,
        encrypted_to: None,
        misplaced: false,
        error: None,
    };
    // Encrypted records are opened (with identities) only for their first and last
    // timestamps, which the header leaves out.
    let limit = worm::verify::DEFAULT_MAX_OBJECT_BYTES;
    let what = format!("batch '{}'", info.key);
    let opened = (
        None::<worm::Result<(Option<String>, Option<String>)>>,
        ids,
        what,
    );
    match reader
        .read(sink, &info, opened, move |(out, ids, what), h, l| {
            if h.enc.is_none() || ids.is_empty() {
                return;
            }
            *out = Some(worm::crypt::open_section(h, l, ids, limit, what).map(|o| {
                let ts = |l: &[u8]| {
                    worm::AuditRecord::from_json(std::str::from_utf8(l).unwrap_or_default())
                        .ok()
                        .map(|r| worm::record::timestamp::format(&r.timestamp))
                };
                let mut recs = o.records().map(|(_, l)| l);
                let first = recs.next();
                let last = recs.last().or(first);
                (first.and_then(ts), last.and_then(ts))
            }));
        })
        .await
    {
        Ok((s, (opened, _, _))) => {
            if let Some(enc) = &s.header.enc {
                e.encrypted_to = Some(enc.age.clone());
            }
            if let Some(o) = opened {
                let (first, last) = o?;
                e.first_ts = first;
                e.last_ts = last;
            }
            e.misplaced = !worm::key::carries_batch_id(&info.key, s.header.batch);
            e.stream = Some(s.header.stream);
            e.service = Some(s.header.service);
            e.seq = Some(s.header.seq);
            e.records = Some(s.header.records);
            if s.header.enc.is_none() {
                e.first_ts = s.header.first_ts;
                e.last_ts = s.header.last_ts;
            }
            e.is_final = Some(s.seal.is_final);
            e.key_id = s.seal.key_id;
        }
        Err(err @ (ReadError::Gone | ReadError::Fetch(_) | ReadError::NotAFile(_))) => {
            e.error = Some(err.to_string())
        }
        Err(ReadError::Scan(err)) => e.error = Some(format!("not a readable batch: {err}")),
    }
    Ok(e)
}
