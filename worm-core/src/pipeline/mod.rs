//! The writer pipeline: from `log(record)` to sealed, hash-chained batches stored once.
//!
//! ```text
//! callers ──log()──▶ bounded queue ──▶ worker thread ──seal──▶ uploads (max_in_flight)
//!                                       batches by max_records / max_bytes / max_age
//! ```
//!
//! Guarantees:
//! - `flush()` returns only when every record accepted before it is stored, or returns
//!   the error that prevents it.
//! - Transient upload errors are retried (backoff with jitter, `max_retries` per round,
//!   then capped backoff between rounds); a batch is never given up on. Permanent errors
//!   stop the batch and are reported by `flush`/`close`; the batch is tried again by
//!   `retry_failed()` (after the cause is fixed) and once more by `close`.
//! - A batch's key and bytes are fixed when it is sealed: a retry of a PUT that in fact
//!   succeeded finds its key taken with the same sha256 and counts as stored.
//! - The only way a record is not stored is the explicit `DropNewest` policy, and every
//!   drop is counted and written into the stream as a `worm.records_dropped` record — or a
//!   close deadline passing with the store unreachable, which `close` reports as an error
//!   naming what is left (use a spool to keep those records on disk).

//!
//! Modules, leaves first (each imports only those above it):
//! `config`, `stats`, `entry`, `sealed`, `control`, `replicas`, `budget` (shared types, the control
//! protocol, the replication targets and the queue's byte budget); `anchor` (publishing checkpoints); `batcher` (cutting and sealing), `spool` (durability), `upload` (one
//! upload round); `worker` (drives them; never sees the handle); `handle` (what callers
//! hold); `builder` (wires it all up).

mod anchor;
mod batcher;
mod budget;
mod builder;
mod config;
mod control;
mod entry;
mod handle;
mod replicas;
mod sealed;
mod spool;
mod stats;
mod succession;
mod upload;
mod worker;

pub use anchor::anchor_key;
pub use batcher::HANDLER_VERSION;
pub use builder::AuditLogBuilder;
pub use config::{
    Config, DEFAULT_HEARTBEAT, DEFAULT_MAX_QUEUE_BYTES, Overflow, RetryConfig, SpoolSync,
};
pub use control::CloseReport;
pub use handle::{AuditLog, Reservation, WriterGuard};
pub use replicas::{AckTargets, Target, TargetLocks};
pub use stats::QUEUED_RECORD_BYTES;
pub use stats::{Stats, TargetStats};
