//! The offline verifier: proves, from the stored objects alone, that a store of
//! `worm-batch/1` batches is what its writers wrote.
//!
//! It works on any [`WormSink`]: a live S3 bucket, a directory through worm-fs (also a
//! plain download or `aws s3 sync` copy of a bucket), or memory. It lists every object
//! under a prefix, reads each one (gzip/zstd recognised by their magic bytes, falling back
//! to `Content-Encoding` and the key extension, with an expansion limit), keeps a few
//! dozen bytes of metadata per batch and drops the body, then checks each stream.
//!
//! ```no_run
//! # async fn run(sink: &dyn worm_core::WormSink) -> worm_core::Result<()> {
//! use worm_core::sign::PublicKey;
//! use worm_core::verify::Verifier;
//! let key = PublicKey::from_file("audit.pub".as_ref())?;
//! let report = Verifier::new().prefix("audit-logs/").public_key(key).verify(sink).await?;
//! for p in &report.problems {
//!     eprintln!("{p}");
//! }
//! assert!(report.is_intact());
//! # Ok(()) }
//! ```
//!
//! # Hostile stores: what reading costs
//!
//! The store may have been written by an attacker, so reading it is bounded by the
//! verifier's settings, never by what the store holds (details in
//! [`fetch`](BatchReader)):
//! - an object is decompressed as a stream and scanned line by line; it stops at
//!   [`max_object_bytes`](Verifier::max_object_bytes) (default 64 MiB, sixteen times the
//!   largest preset batch) or at a line longer than a sixteenth of it (a header line
//!   longer than 64 KiB), and is reported `oversized` with its key; an object listed or
//!   fetched larger than any such batch could be stored as is not read at all;
//! - the zstd window is capped at 8 MiB;
//! - at most [`concurrency`](Verifier::concurrency) objects (default 8) are in flight,
//!   their stored bytes share a budget of 128 MiB, and each holds at most four lines.
//!
//! Memory is thus at most `128 MiB + concurrency × (max_object_bytes / 4 + 9 MiB)`, 328 MiB
//! with the defaults, plus the report, which grows with the number of keys (one small
//! entry per finding). Entries a writer never makes (links, FIFOs, sockets, devices,
//! directory loops under a file-system store's root) are reported `not_a_file` from the
//! listing and never opened; empty and foreign objects are `inserted`.
//!
//! # What is checked
//!
//! Per object: that it is readable and parses as a batch (else `unreadable`, or `inserted`
//! for a foreign object, `oversized` past the caps, `not_a_file` for what is no file); that the content hashes to its seal (`modified`); that the
//! header's record count and `first_ts`/`last_ts` agree with the records (`modified`);
//! that the key carries the batch id (`misplaced`); that the Ed25519 signature over
//! [`batch::signed_message`](crate::batch::signed_message) verifies with an expected key
//! (`bad_signature`), and that there is one when keys are given (`unsigned`).
//!
//! Per stream (batches grouped by the stream id in their header, ordered by seq): one
//! batch per seq (identical copies are a benign `duplicate`; a different second batch at a
//! taken seq is `inserted`, the genuine one being the validly signed one, else the one the
//! chain links); no gaps (`missing`, or `truncated` when the gap ends at the final batch);
//! every `prev` names the chain hash of the batch before (`reordered` when it names
//! another batch of the stream, else the batch whose content changed is `modified`);
//! nothing after the final batch (`inserted`); a final batch at all (`open`, a warning, or
//! `truncated` with [`Verifier::require_closed`]). With a [`VersionSource`] (S3), shadowed
//! versions (`duplicate` when identical, `modified` when not) and delete markers
//! (`delete_marker`) are reported too.
//!
//! # What a clean report proves
//!
//! With a public key: every batch present was written by a holder of the signing key, no
//! batch was changed, and within each stream no batch between its first present batch and
//! its last was removed, added or moved. For a closed stream (final batch present), no
//! batch was removed at all: the signature covers the `final` flag, so a truncated stream
//! cannot be re-marked as closed without the key.
//!
//! # Completeness (`worm-batch/2` and `/3`)
//!
//! Each batch's Merkle tree size and root are recomputed from its header's compact range
//! and its records (`modified` when the seal says otherwise), and each batch must start
//! where the one before it ended. Signed checkpoints are checked against the batch they
//! seal. An open stream whose last checkpoint is older than the allowed silence
//! ([`Verifier::max_silence`], default 3 heartbeats) is `stale`; a stream named as
//! predecessor that is absent or shorter is `missing_stream`; an [`Anchor`] whose stream is
//! gone or shorter is `missing_stream`, and one whose root differs at the anchored size is
//! `inconsistent`. The same batch under another key is `copied`.
//!
//! # What it cannot prove
//!
//! - **A key holder can rewrite what no anchor holds.** Whoever holds the signing key can
//!   rebuild and re-sign a whole stream; an anchor taken earlier catches it, nothing else
//!   does.
//! - **Without signatures the chain only proves internal consistency**; only anchors or
//!   the storage's own immutability stop a rewrite.
//! - **A whole stream that no successor names and no anchor holds** can vanish without a
//!   trace.
//! - **The newest tail of an open stream**, within the allowed silence, cannot be told
//!   from batches not yet written.
//! - **Time.** Timestamps are what the writer's clock said; they are checked for
//!   consistency between header and records, not for truth.
//! - **Which of two conflicting unsigned batches is genuine** when no chain link decides
//!   (e.g. at the tail of an open stream): both are reported.

mod anchor;
mod check;
pub(crate) mod fetch;
pub(crate) use check::TreeAcc;
mod report;
mod stream;
mod versions;

use std::sync::Arc;

use futures::TryStreamExt;

use crate::error::{Error, Result};
use crate::sign::PublicKey;
use crate::sink::{ObjectInfo, WormSink};

pub use anchor::{Anchor, MAX_ANCHOR_BYTES};
pub use fetch::{
    BatchReader, DEFAULT_MAX_OBJECT_BYTES, DEFAULT_READ_BUDGET, ReadError, max_stored, scan,
};
pub use report::{Kind, Problem, Report, Severity, Signed, StreamSummary};
pub use versions::{ObjectVersion, VersionSource};

use check::{CheckOptions, Checked};
use stream::{StreamRules, Streams};

/// Progress after each object, for a progress bar.
#[derive(Debug, Clone, Copy)]
pub struct ObjectProgress<'a> {
    /// The object just checked.
    pub key: &'a str,
    /// Its stored size.
    pub size: u64,
    /// Objects checked so far, this one included.
    pub objects_done: u64,
    /// Stored bytes read so far.
    pub bytes_done: u64,
}

/// Progress callback, called once per object in listing order.
pub type ProgressFn = Box<dyn Fn(&ObjectProgress<'_>) + Send + Sync>;

/// Default number of objects fetched at once.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// Verifies a store. Built with setters, run with [`Verifier::verify`].
pub struct Verifier {
    prefix: String,
    keys: Vec<PublicKey>,
    concurrency: usize,
    max_object_bytes: u64,
    require_closed: bool,
    on_object: Option<ProgressFn>,
    versions: Option<Arc<dyn VersionSource>>,
    now: Option<chrono::DateTime<chrono::Utc>>,
    max_silence: Option<std::time::Duration>,
    anchors: Vec<Anchor>,
    identities: crate::crypt::Identities,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("prefix", &self.prefix)
            .field(
                "keys",
                &self.keys.iter().map(PublicKey::key_id).collect::<Vec<_>>(),
            )
            .field("concurrency", &self.concurrency)
            .field("max_object_bytes", &self.max_object_bytes)
            .field("require_closed", &self.require_closed)
            .field("versions", &self.versions)
            .finish_non_exhaustive()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier {
            prefix: String::new(),
            keys: Vec::new(),
            concurrency: DEFAULT_CONCURRENCY,
            max_object_bytes: DEFAULT_MAX_OBJECT_BYTES,
            require_closed: false,
            on_object: None,
            versions: None,
            now: None,
            max_silence: None,
            anchors: Vec::new(),
            identities: crate::crypt::Identities::default(),
        }
    }
}

impl Verifier {
    /// A verifier of every object in the store, without signature checks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only objects whose key starts with `prefix` (e.g. `audit-logs/`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Expect seals signed by this key (may be called more than once, e.g. after a key
    /// rotation). Once a key is given, unsigned batches are errors.
    pub fn public_key(mut self, key: PublicKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Objects fetched at once (default 8, at least 1). Each one is decompressed and hashed
    /// on a blocking thread of its own, so this also bounds the cores verification keeps
    /// busy; the report does not depend on it.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Largest decompressed object accepted (default [`DEFAULT_MAX_OBJECT_BYTES`], 64 MiB);
    /// larger ones, and lines longer than a sixteenth of it, are `oversized`.
    pub fn max_object_bytes(mut self, n: u64) -> Self {
        self.max_object_bytes = n;
        self
    }

    /// Treat a stream without a final batch as `truncated` (an error) rather than `open`
    /// (a warning): for archives whose writers have all been closed.
    pub fn require_closed(mut self, yes: bool) -> Self {
        self.require_closed = yes;
        self
    }

    /// Call `f` after each object.
    pub fn on_object(mut self, f: impl Fn(&ObjectProgress<'_>) + Send + Sync + 'static) -> Self {
        self.on_object = Some(Box::new(f));
        self
    }

    /// Also examine every object version and delete marker (S3).
    pub fn versions(mut self, source: Arc<dyn VersionSource>) -> Self {
        self.versions = Some(source);
        self
    }

    /// The time against which an open stream's silence is judged (default: the clock
    /// when [`Verifier::verify`] runs).
    pub fn now(mut self, t: chrono::DateTime<chrono::Utc>) -> Self {
        self.now = Some(t);
        self
    }

    /// How long an open `worm-batch/2` or `/3` stream may go without a checkpoint before it is
    /// `stale` (default: 3 of its writer's heartbeats, or 3 batch intervals when it has
    /// no heartbeat).
    pub fn max_silence(mut self, d: std::time::Duration) -> Self {
        self.max_silence = Some(d);
        self
    }

    /// Prove that the store is an append-only extension of this checkpoint (may be
    /// called more than once): its stream must be present, at least as long, with the
    /// same root at the anchored size. With public keys, the anchor must be signed by one.
    pub fn anchor(mut self, a: Anchor) -> Self {
        self.anchors.push(a);
        self
    }

    /// Also open encrypted records with these identities, and recompute their Merkle
    /// leaves (batches encrypted to other recipients are checked as without one).
    /// Without identities, encrypted batches get every check that needs no key.
    pub fn identities(mut self, ids: crate::crypt::Identities) -> Self {
        self.identities = ids;
        self
    }

    /// Verify the store. `Err` only when the store cannot be listed; everything wrong
    /// with the objects themselves is in the [`Report`].
    pub async fn verify(&self, sink: &dyn WormSink) -> Result<Report> {
        // Silence is judged as of when the listing began: a checkpoint sealed later may
        // not be listed, and a long read must not make streams look staler than they are.
        let now = self.now.unwrap_or_else(chrono::Utc::now);
        let opts = Arc::new(CheckOptions {
            keys: self.keys.clone(),
            identities: self.identities.clone(),
            max_body: self.max_object_bytes,
        });
        let reader = BatchReader::new(self.max_object_bytes);
        let mut report = Report {
            store: sink.describe(),
            prefix: self.prefix.clone(),
            objects: 0,
            bytes: 0,
            batches: 0,
            records: 0,
            signatures_checked: !self.keys.is_empty(),
            versions_checked: self.versions.is_some(),
            streams: Vec::new(),
            problems: Vec::new(),
        };
        let mut streams = Streams::default();
        let mut checked = sink
            .list(&self.prefix)
            .map_err(|e| list_error(sink, &self.prefix, e))
            .map_ok(|info| check_one(sink, &reader, info, opts.clone()))
            .try_buffered(self.concurrency);
        while let Some((info, c)) = checked.try_next().await? {
            report.objects += 1;
            report.bytes += info.size;
            if let Some(m) = &c.meta {
                report.batches += 1;
                report.records += m.records;
            }
            if let Some(f) = &self.on_object {
                f(&ObjectProgress {
                    key: &info.key,
                    size: info.size,
                    objects_done: report.objects,
                    bytes_done: report.bytes,
                });
            }
            report.problems.extend(c.problems.iter().cloned());
            streams.add(c);
        }
        drop(checked);
        let rules = StreamRules {
            keys_expected: !self.keys.is_empty(),
            require_closed: self.require_closed,
            now,
            max_silence: self.max_silence,
        };
        let (summaries, trees) = streams.finish(rules, &mut report.problems);
        report.streams = summaries;
        anchor::check_anchors(&self.anchors, &self.keys, &trees, &mut report.problems);
        explain_gaps(&mut report.problems);
        if let Some(src) = &self.versions {
            versions::check_versions(
                src.as_ref(),
                &self.prefix,
                max_stored(self.max_object_bytes),
                &mut report.problems,
            )
            .await?;
        }
        report
            .problems
            .sort_by(|a, b| (b.severity, &a.key, a.kind).cmp(&(a.severity, &b.key, b.kind)));
        Ok(report)
    }
}

/// Verify every object under `prefix` without signature checks.
pub async fn verify(sink: &dyn WormSink, prefix: &str) -> Result<Report> {
    Verifier::new().prefix(prefix).verify(sink).await
}

/// An object that could not be parsed may be the batch a gap lacks: say so.
fn explain_gaps(problems: &mut [Problem]) {
    let unreadable = problems
        .iter()
        .filter(|p| p.kind == Kind::Unreadable)
        .count();
    if unreadable == 0 {
        return;
    }
    for p in problems
        .iter_mut()
        .filter(|p| matches!(p.kind, Kind::Missing | Kind::Truncated))
    {
        p.message.push_str(&format!(
            " ({unreadable} object(s) could not be read; the missing batch may be among them)"
        ));
    }
}

fn list_error(sink: &dyn WormSink, prefix: &str, e: Error) -> Error {
    Error::Backend {
        context: format!("listing '{prefix}' in {} for verification", sink.describe()),
        message: e.to_string(),
    }
}

async fn check_one(
    sink: &dyn WormSink,
    reader: &BatchReader,
    info: ObjectInfo,
    opts: Arc<CheckOptions>,
) -> Result<(ObjectInfo, Checked)> {
    let read = reader
        .read_leaves(
            sink,
            &info,
            check::TreeAcc::opening(&opts, &info.key),
            |acc, h, l| acc.on_record(h, l),
            |acc, h, leaves| acc.on_leaves(h, leaves),
        )
        .await;
    let c = check::check_object(&info.key, read, &opts);
    Ok((info, c))
}

#[cfg(test)]
mod tests;
