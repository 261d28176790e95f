//! Reading records back: every record of a store that matches a [`Filter`], stream by
//! stream in seq order, each tied to the batch key and seq it came from.
//!
//! ```no_run
//! # async fn run(sink: &dyn worm_core::WormSink) {
//! use futures::StreamExt;
//! use worm_core::query::{Filter, Query};
//! let query = Query::new(Filter { request_id: Some("req-12345".into()), ..Filter::default() })
//!     .prefix("audit-logs/");
//! let mut hits = query.records(sink);
//! while let Some(hit) = hits.next().await {
//!     match hit {
//!         Ok(h) => println!("{} (from {} seq {})", h.raw, h.key, h.seq),
//!         Err(e) => eprintln!("skipped: {e}"),
//!     }
//! }
//! # }
//! ```
//!
//! The store is read in two passes so that memory stays small however large it is: the
//! first reads every object and keeps, per batch that holds at least one match, its key,
//! stream, seq and first timestamp; the second reads those batches again in stream and
//! seq order and yields their matching records. A batch that cannot be read, or whose
//! content does not match its seal, is skipped and reported as an `Err` item (run the
//! verifier for the full picture). Streams come in the order of their first timestamp.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::batch;
use crate::error::{Error, Result};
use crate::record::{AuditRecord, Level};
use crate::sink::{ObjectInfo, WormSink};
use crate::verify::fetch::{self, BatchReader, ReadError};

/// Which records to return. Every set field must match; an empty filter matches all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Records at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Records before this time.
    pub until: Option<DateTime<Utc>>,
    /// Service name (the record's, or its batch's when the record names none).
    pub service: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Minimum level.
    pub min_level: Option<Level>,
    /// Action.
    pub action: Option<String>,
}

impl Filter {
    /// Whether `record`, stored in a batch of `batch_service`, matches.
    pub fn matches(&self, record: &AuditRecord, batch_service: &str) -> bool {
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == have)
        };
        self.since.is_none_or(|t| record.timestamp >= t)
            && self.until.is_none_or(|t| record.timestamp < t)
            && self.min_level.is_none_or(|l| record.level >= l)
            && eq(
                &self.service,
                Some(record.service_name.as_deref().unwrap_or(batch_service)),
            )
            && eq(&self.request_id, record.request_id.as_deref())
            && eq(&self.user_id, record.user_id.as_deref())
            && eq(&self.action, record.action.as_deref())
    }
}

/// The quoted values (`"<value>"`) that a record line must contain to match the filter's
/// request id, user id and action: checked on the raw bytes before a line is parsed, so
/// that a query for one request reads a large store at the speed of a byte search.
#[derive(Debug, Default)]
struct Needles(Vec<memchr::memmem::Finder<'static>>);

impl Needles {
    fn of(f: &Filter) -> Self {
        Needles(
            [&f.request_id, &f.user_id, &f.action]
                .into_iter()
                .flatten()
                .map(|v| {
                    let mut quoted = Vec::with_capacity(v.len() + 2);
                    quoted.push(b'"');
                    quoted.extend_from_slice(v.as_bytes());
                    quoted.push(b'"');
                    memchr::memmem::Finder::new(&quoted).into_owned()
                })
                .collect(),
        )
    }

    /// False only when `line` cannot match: it holds no backslash, so every JSON string
    /// in it is written literally, and one of the quoted values is not in it. (A value
    /// that JSON must escape can only appear in a line with a backslash.)
    fn may_match(&self, line: &[u8]) -> bool {
        self.0.is_empty()
            || memchr::memchr(b'\\', line).is_some()
            || self.0.iter().all(|f| f.find(line).is_some())
    }
}

/// One matching record and where it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The record.
    pub record: AuditRecord,
    /// The record's line exactly as stored (no newline).
    pub raw: String,
    /// Key of the batch object holding it.
    pub key: String,
    /// Stream id.
    pub stream: Uuid,
    /// The batch's seq in its stream.
    pub seq: u64,
    /// Position of the record in its batch, from 0.
    pub line: u64,
    /// The record's secret salt, when its batch is encrypted: its Merkle leaf is
    /// `SHA-256(0x00 || salt || raw)` ([`crate::crypt`]).
    pub salt: Option<[u8; crate::crypt::SALT_LEN]>,
}

/// A record query over a store.
#[derive(Debug, Clone)]
pub struct Query {
    filter: Arc<Filter>,
    needles: Arc<Needles>,
    prefix: String,
    concurrency: usize,
    reader: BatchReader,
    identities: crate::crypt::Identities,
    max_object_bytes: u64,
}

/// What the first pass keeps of a batch with matches.
#[derive(Debug)]
struct Entry {
    key: String,
    size: u64,
    stream: Uuid,
    seq: u64,
    first_ts: Option<String>,
    /// The batch's chain hash: identical copies share it.
    chain: crate::hash::Sha256Hex,
    /// The batch id its key should carry.
    batch: Uuid,
}

impl Query {
    /// A query for the records matching `filter`, over the whole store.
    pub fn new(filter: Filter) -> Self {
        Query {
            needles: Arc::new(Needles::of(&filter)),
            filter: Arc::new(filter),
            prefix: String::new(),
            concurrency: crate::verify::DEFAULT_CONCURRENCY,
            reader: BatchReader::new(fetch::DEFAULT_MAX_OBJECT_BYTES),
            identities: crate::crypt::Identities::default(),
            max_object_bytes: fetch::DEFAULT_MAX_OBJECT_BYTES,
        }
    }

    /// Decrypt encrypted batches with these identities (each tried in turn). A batch that
    /// none of them opens is an `Err` item of kind [`ErrorKind::NoIdentity`](crate::ErrorKind)
    /// naming its recipients.
    pub fn identities(mut self, ids: crate::crypt::Identities) -> Self {
        self.identities = ids;
        self
    }

    /// Only objects whose key starts with `prefix`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Objects fetched at once (default 8, at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Largest decompressed object accepted (default 64 MiB); larger ones are skipped
    /// as `Err` items. Memory is bounded as the [verifier's](crate::verify) is.
    pub fn max_object_bytes(mut self, n: u64) -> Self {
        self.reader = BatchReader::new(n);
        self.max_object_bytes = n;
        self
    }

    /// The matching records. `Err` items are batches that were skipped (and a listing
    /// failure, which ends the stream).
    pub fn records<'a>(&'a self, sink: &'a dyn WormSink) -> BoxStream<'a, Result<Hit>> {
        stream::once(self.index(sink))
            .flat_map(move |res| match res {
                Err(e) => stream::iter(vec![Err(e)]).boxed(),
                Ok((mut errors, entries)) => {
                    let entries = skip_copies(entries, &mut errors);
                    stream::iter(errors.into_iter().map(Err))
                        .chain(self.read_in_order(sink, entries))
                        .boxed()
                }
            })
            .boxed()
    }

    /// First pass: which batches hold a match.
    async fn index(&self, sink: &dyn WormSink) -> Result<(Vec<Error>, Vec<Entry>)> {
        let mut errors = Vec::new();
        let mut entries = Vec::new();
        let mut scanned = sink
            .list(&self.prefix)
            .map_ok(
                |info| async move { Ok::<_, Error>(self.scan(sink, info, Mode::FirstMatch).await) },
            )
            .try_buffered(self.concurrency);
        while let Some(item) = scanned.try_next().await? {
            match item {
                Err(e) => errors.push(e),
                Ok(s) if s.hits.is_empty() => {}
                Ok(s) => entries.push(Entry {
                    key: s.key,
                    size: s.size,
                    stream: s.header.stream,
                    seq: s.header.seq,
                    first_ts: s.header.first_ts,
                    chain: s.chain,
                    batch: s.header.batch,
                }),
            }
        }
        Ok((errors, entries))
    }

    /// Second pass: matching records, stream by stream (by first timestamp), seq order.
    fn read_in_order<'a>(
        &'a self,
        sink: &'a dyn WormSink,
        mut entries: Vec<Entry>,
    ) -> BoxStream<'a, Result<Hit>> {
        let mut stream_start: HashMap<Uuid, Option<String>> = HashMap::new();
        for e in &entries {
            let start = stream_start
                .entry(e.stream)
                .or_insert_with(|| e.first_ts.clone());
            if e.first_ts.is_some() && (start.is_none() || e.first_ts < *start) {
                *start = e.first_ts.clone();
            }
        }
        entries.sort_by(|a, b| {
            (&stream_start[&a.stream], a.stream, a.seq, &a.key).cmp(&(
                &stream_start[&b.stream],
                b.stream,
                b.seq,
                &b.key,
            ))
        });
        stream::iter(entries)
            .map(move |e| {
                let info = ObjectInfo {
                    key: e.key,
                    size: e.size,
                    last_modified: None,
                    not_a_file: None,
                };
                self.scan(sink, info, Mode::All)
            })
            .buffered(self.concurrency)
            .flat_map(|res| match res {
                Ok(s) => stream::iter(s.hits).boxed(),
                Err(e) => stream::iter(vec![Err(e)]).boxed(),
            })
            .boxed()
    }

    /// Read one batch and return its matching records (or only the first).
    async fn scan(&self, sink: &dyn WormSink, info: ObjectInfo, mode: Mode) -> Result<Scanned> {
        let read = {
            let found = Found {
                filter: self.filter.clone(),
                needles: self.needles.clone(),
                key: info.key.clone(),
                mode,
                line: 0,
                hits: Vec::new(),
                open_with: (self.identities.clone(), self.max_object_bytes),
                tree: crate::verify::TreeAcc::default(),
            };
            self.reader.read(sink, &info, found, Found::record).await
        };
        batch_matches(info.key, info.size, read, &|| sink.describe())
    }
}

/// The matches of a batch once read, or why it is skipped.
fn batch_matches(
    key: String,
    size: u64,
    read: std::result::Result<(batch::Scanned, Found), ReadError>,
    store: &dyn Fn() -> String,
) -> Result<Scanned> {
    let (scanned, mut found) = match read {
        Ok(r) => r,
        Err(ReadError::Gone) => {
            return Err(Error::NotFound {
                key,
                target: store(),
            });
        }
        Err(ReadError::Fetch(e)) => return Err(e),
        Err(e @ ReadError::NotAFile(_)) => {
            return Err(Error::invalid(format!("object '{key}'"), e.to_string()));
        }
        Err(ReadError::Scan(e)) => {
            return Err(Error::invalid(format!("batch '{key}'"), e.to_string()));
        }
    };
    if !std::mem::take(&mut found.tree).records_match_seal(&scanned) {
        return Err(Error::invalid(
            format!("batch '{key}'"),
            "content does not match its seal; skipped (run `worm verify` to see what changed)",
        ));
    }
    Ok(Scanned {
        key,
        size,
        header: scanned.header,
        chain: scanned.chain_hash,
        hits: found.hits,
    })
}

/// The same batch stored under several keys is read once: the copy under the key that
/// carries its batch id (else the first key) is kept, every other copy is reported as
/// skipped, so no record is returned twice.
fn skip_copies(mut entries: Vec<Entry>, errors: &mut Vec<Error>) -> Vec<Entry> {
    let own_key = |e: &Entry| crate::key::carries_batch_id(&e.key, e.batch);
    entries.sort_by(|a, b| {
        (a.stream, a.seq, a.chain, !own_key(a), &a.key).cmp(&(
            b.stream,
            b.seq,
            b.chain,
            !own_key(b),
            &b.key,
        ))
    });
    let mut kept: Vec<Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        match kept.last() {
            Some(k) if (k.stream, k.seq, k.chain) == (e.stream, e.seq, e.chain) => {
                errors.push(Error::invalid(
                    format!("batch '{}'", e.key),
                    format!(
                        "a copy of '{}' (same batch) under a key no writer used: skipped, so its records are not returned twice",
                        k.key
                    ),
                ));
            }
            _ => kept.push(e),
        }
    }
    kept
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    FirstMatch,
    All,
}

#[derive(Debug)]
struct Scanned {
    key: String,
    size: u64,
    header: batch::Header,
    chain: crate::hash::Sha256Hex,
    hits: Vec<Result<Hit>>,
}

/// The matches of one batch so far, as its record lines stream past.
struct Found {
    filter: Arc<Filter>,
    needles: Arc<Needles>,
    key: String,
    mode: Mode,
    /// Index of the next non-empty record line.
    line: u64,
    hits: Vec<Result<Hit>>,
    /// Identities and plaintext cap for encrypted batches.
    open_with: (crate::crypt::Identities, u64),
    /// The tree of a plain `worm-batch/3` batch's records, which only its root commits to.
    tree: crate::verify::TreeAcc,
}

impl Found {
    fn record(&mut self, h: &batch::Header, line: &[u8]) {
        if !batch::seal_hash_covers_records(h) {
            self.tree.on_record(h, line);
        }
        if h.enc.is_none() {
            return self.plain_record(h, line, None);
        }
        let (ids, limit) = &self.open_with;
        match crate::crypt::open_section(h, line, ids, *limit, &format!("batch '{}'", self.key)) {
            Ok(o) => {
                for (salt, l) in o.records() {
                    self.plain_record(h, l, Some(*salt));
                }
            }
            Err(e) => self.hits.push(Err(e)),
        }
    }

    fn plain_record(&mut self, h: &batch::Header, line: &[u8], salt: Option<[u8; 16]>) {
        if line.is_empty() {
            return;
        }
        let i = self.line;
        self.line += 1;
        if (self.mode == Mode::FirstMatch && !self.hits.is_empty()) || !self.needles.may_match(line)
        {
            return;
        }
        let record: AuditRecord = match serde_json::from_slice(line) {
            Ok(r) => r,
            Err(e) => {
                self.hits.push(Err(Error::invalid(
                    format!("record {i} of batch '{}'", self.key),
                    e.to_string(),
                )));
                return;
            }
        };
        if !self.filter.matches(&record, &h.service) {
            return;
        }
        self.hits.push(Ok(Hit {
            record,
            raw: String::from_utf8_lossy(line).into_owned(),
            key: self.key.clone(),
            stream: h.stream,
            seq: h.seq,
            line: i,
            salt,
        }));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::record::timestamp;

    fn rec(ts: &str, level: Level, rid: &str) -> AuditRecord {
        AuditRecord::new(level, "m")
            .at(timestamp::parse(ts).unwrap())
            .request_id(rid)
            .user_id("u1")
            .action("login")
    }

    #[test]
    fn the_byte_prefilter_never_hides_a_match() {
        let f = Filter {
            request_id: Some("req-1".into()),
            user_id: Some("é\"q".into()),
            ..Filter::default()
        };
        let n = Needles::of(&f);
        // Both values literal: may match. One missing, no escapes: cannot.
        assert!(n.may_match(br#"{"request_id":"req-1","user_id":"\u00e9\"q"}"#));
        assert!(!n.may_match(r#"{"request_id":"req-1","user_id":"é"}"#.as_bytes()));
        assert!(!n.may_match(br#"{"request_id":"req-10"}"#));
        // Escapes anywhere: the line is parsed, since "\u0072eq-1" is "req-1" too.
        assert!(n.may_match(br#"{"request_id":"\u0072eq-1","x":"\n"}"#));
        let only_rid = Needles::of(&Filter {
            request_id: Some("req-1".into()),
            ..Filter::default()
        });
        assert!(only_rid.may_match(r#"{"message":"ok","request_id":"req-1"}"#.as_bytes()));
        assert!(!only_rid.may_match(br#"{"message":"see req-1"}"#));
        assert!(Needles::default().may_match(b"anything"));
    }

    #[test]
    fn filter_fields() {
        let r = rec("2025-06-12T10:00:00Z", Level::Warn, "r1");
        assert!(Filter::default().matches(&r, "svc"));
        let f = Filter {
            service: Some("svc".into()),
            min_level: Some(Level::Warn),
            ..Filter::default()
        };
        assert!(f.matches(&r, "svc"));
        assert!(!f.matches(&r, "other"));
        assert!(
            !Filter {
                min_level: Some(Level::Error),
                ..Filter::default()
            }
            .matches(&r, "svc")
        );
        let t = timestamp::parse("2025-06-12T10:00:00Z").unwrap();
        assert!(
            Filter {
                since: Some(t),
                ..Filter::default()
            }
            .matches(&r, "s")
        );
        assert!(
            !Filter {
                until: Some(t),
                ..Filter::default()
            }
            .matches(&r, "s")
        );
        assert!(
            !Filter {
                request_id: Some("r2".into()),
                ..Filter::default()
            }
            .matches(&r, "s")
        );
        assert!(
            Filter {
                user_id: Some("u1".into()),
                action: Some("login".into()),
                ..Filter::default()
            }
            .matches(&r, "s")
        );
    }

    #[test]
    fn scan_returns_matches_with_their_place_and_refuses_modified_batches() {
        let mut recs = Vec::new();
        for (i, lvl) in [Level::Info, Level::Error, Level::Error]
            .into_iter()
            .enumerate()
        {
            recs.extend_from_slice(
                rec(&format!("2025-06-12T10:00:0{i}Z"), lvl, "r")
                    .to_json_line()
                    .as_bytes(),
            );
            recs.push(b'\n');
        }
        let h = batch::Header {
            v: 1,
            stream: Uuid::now_v7(),
            batch: Uuid::now_v7(),
            service: "svc".into(),
            seq: 4,
            prev: None,
            records: 3,
            first_ts: None,
            last_ts: None,
            ..Default::default()
        };
        // `/1` (the seal hashes the records) and `/3` (only the tree root commits to them).
        let v1 = batch::encode(&h, &recs, false, None).0;
        let v3 = batch::encode_v2(&h, &recs, false, &mut crate::tlog::Frontier::new(), None).0;
        assert!(v3.starts_with(b"{\"worm\":{\"v\":3,"));
        for body in [v1, v3] {
            let f = Filter {
                min_level: Some(Level::Error),
                ..Filter::default()
            };
            let z = batch::Compression::Zstd.compress(&body).unwrap();
            let scan = |key: &str, stored: &[u8], mode: Mode| {
                let mut found = Found {
                    filter: Arc::new(f.clone()),
                    needles: Arc::new(Needles::of(&f)),
                    key: key.to_string(),
                    mode,
                    line: 0,
                    hits: Vec::new(),
                    open_with: (crate::crypt::Identities::default(), 1 << 20),
                    tree: crate::verify::TreeAcc::default(),
                };
                let limits = batch::Limits::for_body(1 << 20);
                let read = fetch::scan(stored, None, key, limits, &mut |h, l| found.record(h, l));
                batch_matches(
                    key.to_string(),
                    0,
                    read.map(|s| (s, found)).map_err(ReadError::Scan),
                    &|| "test".into(),
                )
            };
            let s = scan("k.json.zst", &z, Mode::All).unwrap();
            let hits: Vec<Hit> = s.hits.into_iter().map(Result::unwrap).collect();
            assert_eq!(hits.iter().map(|h| h.line).collect::<Vec<_>>(), vec![1, 2]);
            assert_eq!(
                (hits[0].seq, hits[0].stream, hits[0].key.as_str()),
                (4, h.stream, "k.json.zst")
            );
            assert!(hits[0].raw.contains("\"level\":\"ERROR\""));
            let s = scan("k", &body, Mode::FirstMatch).unwrap();
            assert_eq!(s.hits.len(), 1);
            let mut bad = body;
            let i = bad.windows(5).position(|w| w == b"ERROR").unwrap();
            bad[i] = b'X';
            let e = scan("k", &bad, Mode::All).unwrap_err();
            assert!(
                e.to_string().contains("batch 'k'") && e.to_string().contains("seal"),
                "{e}"
            );
        }
    }
}
