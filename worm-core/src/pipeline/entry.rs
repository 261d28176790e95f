//! A record on its way from a caller to a batch: the one type the handle, the spool and
//! the batcher share.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::record::{AuditRecord, Level};

/// A position in the WAL: segment and byte offset after a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct WalPos {
    /// Segment number.
    pub seg: u64,
    /// Offset just past a record.
    pub off: u64,
}

/// One accepted record, already serialised on the caller's thread.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The record's JSON line, without newline. Lines that `log` queues share an
    /// allocation with their thread's neighbours (see `handle::queued_line`).
    pub line: Bytes,
    /// Record time.
    pub ts: DateTime<Utc>,
    /// Record level.
    pub level: Level,
    /// Request id, used in the key when this record opens a batch; `None` means "read it
    /// from the line" (what `log` does: the line holds it already).
    pub request_id: Option<Box<str>>,
    /// Whether the writer made this record itself (gap records); not counted as accepted.
    pub synthetic: bool,
    /// Where the record sits in the spool's WAL, when a spool is used.
    pub wal: Option<WalPos>,
    /// The caller's position in its source after this record
    /// ([`AuditLog::log_with_cursor`](super::AuditLog::log_with_cursor)): kept in the
    /// record's own WAL frame.
    pub cursor: Option<Box<str>>,
}

impl Entry {
    /// A record the writer makes itself (gap and damage records): not counted as accepted.
    pub(crate) fn synthetic(rec: &AuditRecord) -> Entry {
        let mut line = Vec::with_capacity(256);
        rec.write_json(&mut line);
        Entry {
            line: line.into(),
            ts: rec.timestamp,
            level: rec.level,
            request_id: rec.request_id.clone().map(String::into_boxed_str),
            synthetic: true,
            wal: None,
            cursor: None,
        }
    }
}
