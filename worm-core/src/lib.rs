//! # worm-core
//!
//! The heart of `worm`: immutable (write once, read many) storage for structured JSON
//! audit logs. This crate holds the pieces every backend and front end share:
//!
//! - [`AuditRecord`]: the audit record schema, one JSON object per line;
//! - [`WormSink`]: the write-once storage contract (put once, get, list, capabilities);
//! - [`batch`]: the `worm-batch/1` object format, sealed and hash-chained;
//! - [`sign`]: Ed25519 seal signatures;
//! - [`crypt`]: client-side encryption of records to age recipients;
//! - [`tlog`]: Merkle trees, signed notes, checkpoints and record proofs;
//! - [`key`]: object key layouts;
//! - [`input`]: NDJSON input into records, with the rules for bad lines;
//! - [`replica`]: replicas compared by key and sha256, and missing objects copied;
//! - `testing` (feature `testing`): the conformance suite every provider runs.
//!
//! ```
//! use worm_core::{AuditRecord, Level};
//! let line = AuditRecord::new(Level::Info, "user logged in")
//!     .service("auth_service")
//!     .user_id("user123")
//!     .action("login")
//!     .to_json_line();
//! assert!(line.contains(r#""service_name":"auth_service","user_id":"user123","action":"login""#));
//! ```
#![deny(missing_docs)]

pub mod batch;
pub mod bufpool;
pub mod crypt;
pub mod env;
pub mod error;
pub mod hash;
pub mod input;
pub mod integrate;
pub(crate) mod json;
pub mod key;
pub mod line;
pub mod pipeline;
pub mod prove;
pub mod query;
pub mod record;
pub mod replica;
pub mod sign;
pub mod sink;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tlog;
pub mod verify;

pub use error::{BatchError, Error, ErrorKind, Result};
pub use hash::Sha256Hex;
pub use pipeline::{AuditLog, AuditLogBuilder, Config, Overflow, Stats, WriterGuard};
pub use record::{AuditRecord, Level};
pub use sink::{
    Capabilities, Immutability, ObjectInfo, PutOptions, PutReceipt, Retention, RetentionMode,
    StoredObject, WormSink, WormSinkExt,
};
pub use verify::{Report, Verifier};
