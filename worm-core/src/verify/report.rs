//! What verification found: problems (kind, severity, key) and per-stream summaries.

use std::fmt;

use serde::Serialize;
use uuid::Uuid;

/// What is wrong with an object or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Kind {
    /// The content no longer matches its seal, or no longer hashes to what the next batch
    /// of the stream names as `prev`.
    Modified,
    /// One or more seqs of a stream are absent (reported on the batch after the gap).
    Missing,
    /// An object that does not belong: a foreign (non-batch) object, a second batch at a
    /// seq that is already taken by the genuine one, or a batch after the stream's final.
    Inserted,
    /// An identical second S3 version of a batch under its own key (a retried PUT on a
    /// server that ignores `If-None-Match`). Benign.
    Duplicate,
    /// The same batch content stored again under another key: an object no writer wrote.
    /// Readers skip it; it is an error because someone copied it there.
    Copied,
    /// A batch whose key does not carry its own batch id (content moved or copied).
    Misplaced,
    /// A batch's `prev` names another batch of the stream than the one before it.
    Reordered,
    /// A closed stream lost batches right before its final one, or (when every stream
    /// must be closed) a stream has no final batch.
    Truncated,
    /// The stream has no final batch (yet): its writer is running, crashed, or its tail
    /// including the final batch was removed, which cannot be told apart.
    Open,
    /// A signature that does not verify, or one by a key that is not expected.
    BadSignature,
    /// No signature where a public key is expected.
    Unsigned,
    /// The object cannot be read, decompressed or parsed as a batch.
    Unreadable,
    /// An S3 delete marker hides an audit object.
    DeleteMarker,
    /// An object larger than any batch within the reader's cap, or with a line longer
    /// than any writer's: not read past the cap.
    Oversized,
    /// An entry that is not a regular file (a symbolic link, FIFO, socket, device, or a
    /// directory reached twice): no writer makes one, and it is never read.
    NotAFile,
    /// An open stream whose last checkpoint is older than the allowed silence: its writer
    /// died without a spool, or its tail (heartbeats included) was removed.
    Stale,
    /// A stream that another stream names as its predecessor, or that an anchor holds, is
    /// absent or shorter than named.
    MissingStream,
    /// The stream is not an append-only extension of what an anchor or a successor
    /// recorded: its tree at the recorded size has another root (history was rewritten).
    Inconsistent,
}

impl Kind {
    /// The snake_case name used in reports (`bad_signature`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Modified => "modified",
            Kind::Missing => "missing",
            Kind::Inserted => "inserted",
            Kind::Duplicate => "duplicate",
            Kind::Misplaced => "misplaced",
            Kind::Reordered => "reordered",
            Kind::Truncated => "truncated",
            Kind::Open => "open",
            Kind::BadSignature => "bad_signature",
            Kind::Unsigned => "unsigned",
            Kind::Unreadable => "unreadable",
            Kind::DeleteMarker => "delete_marker",
            Kind::Oversized => "oversized",
            Kind::NotAFile => "not_a_file",
            Kind::Copied => "copied",
            Kind::Stale => "stale",
            Kind::MissingStream => "missing_stream",
            Kind::Inconsistent => "inconsistent",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How bad a problem is. Only [`Severity::Error`] makes a store fail verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth knowing, not a problem (a benign duplicate).
    Info,
    /// Not tampering, but not proven complete either (an open stream).
    Warning,
    /// Integrity is broken or cannot be shown.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding, tied to the object key it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What is wrong.
    pub kind: Kind,
    /// How bad it is.
    pub severity: Severity,
    /// The object the finding is about. For a gap (`missing`, `truncated`) it is the
    /// batch right after the gap; for `open` the stream's last batch.
    pub key: String,
    /// The stream, when the object could be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<Uuid>,
    /// The seq the object claims, when it could be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// S3 version ids involved, for version findings.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub version_ids: Vec<String>,
    /// What exactly is wrong, in words.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} '{}'", self.severity, self.kind, self.key)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Whether a stream's batches carry signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signed {
    /// Every batch is signed.
    All,
    /// Some are, some are not.
    Partly,
    /// None is.
    None,
}

/// One stream as found in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StreamSummary {
    /// Stream id.
    pub stream: Uuid,
    /// Service name (of the first batch).
    pub service: String,
    /// Batches found (each seq counted once).
    pub batches: u64,
    /// Records in those batches.
    pub records: u64,
    /// Lowest seq found.
    pub first_seq: u64,
    /// Highest seq found.
    pub last_seq: u64,
    /// First record's timestamp of the first batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    /// Last record's timestamp of the last batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
    /// Whether the final batch was found.
    pub closed: bool,
    /// Whether batches are signed.
    pub signed: Signed,
    /// Key ids named in seals.
    pub key_ids: Vec<String>,
    /// Key of the first batch.
    pub first_key: String,
    /// Key of the last batch.
    pub last_key: String,
    /// The writer identity (`worm-batch/2` and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// Tree size after the last batch (`worm-batch/2` and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tree_size: Option<u64>,
    /// Tree root after the last batch (`worm-batch/2` and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root: Option<crate::batch::TreeHash>,
    /// When the last batch was sealed (`worm-batch/2` and later).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sealed: Option<String>,
    /// The last batch's signed checkpoint (C2SP signed note), when signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

/// The result of verifying a store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The store, as the sink describes itself.
    pub store: String,
    /// The prefix listed.
    pub prefix: String,
    /// Objects listed.
    pub objects: u64,
    /// Stored (possibly compressed) bytes read.
    pub bytes: u64,
    /// Batches parsed.
    pub batches: u64,
    /// Records in parsed batches.
    pub records: u64,
    /// Whether signatures were checked against public keys.
    pub signatures_checked: bool,
    /// Whether object versions and delete markers were examined.
    pub versions_checked: bool,
    /// Streams, ordered by their first timestamp.
    pub streams: Vec<StreamSummary>,
    /// Every finding, errors first, then by key.
    pub problems: Vec<Problem>,
}

impl Report {
    /// True when no finding is an [`Severity::Error`]: nothing was found modified,
    /// removed, inserted, reordered, misplaced or badly signed. Open streams and benign
    /// duplicates do not count.
    pub fn is_intact(&self) -> bool {
        !self.problems.iter().any(|p| p.severity == Severity::Error)
    }

    /// Findings of severity [`Severity::Error`].
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    /// Findings of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(move |p| p.kind == kind)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}{}: {} objects, {} bytes, {} batches, {} records in {} streams",
            self.store,
            if self.prefix.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.prefix)
            },
            self.objects,
            self.bytes,
            self.batches,
            self.records,
            self.streams.len()
        )?;
        for p in &self.problems {
            writeln!(f, "{p}")?;
        }
        let errors = self.errors().count();
        if errors == 0 {
            write!(f, "intact")
        } else {
            write!(f, "NOT intact: {errors} error(s)")
        }
    }
}
