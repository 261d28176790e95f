//! # worm
//!
//! Immutable (write once, read many) storage for structured JSON audit logs.
//!
//! An application emits audit records; `worm` batches them, seals each batch into a
//! hash-chained, optionally Ed25519-signed object, and writes it exactly once to storage
//! that cannot be changed afterwards: S3 with Object Lock (feature `s3`), a local
//! directory of read-only or Linux-immutable files (feature `fs`, default), or memory for
//! tests (feature `memory`, default). [`verify`] proves later, offline, that nothing was
//! modified, removed, inserted or reordered.
//!
//! ```
//! use std::sync::Arc;
//! use worm::{AuditLogBuilder, AuditRecord, Level};
//!
//! # fn main() -> worm::Result<()> {
//! let sink = Arc::new(worm::memory::MemorySink::new());
//! let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
//!     .compliance() // 5 records / 15 s batches, 7 years GOVERNANCE retention
//!     .build()?;
//! log.log(
//!     AuditRecord::new(Level::Info, "Motion detected in camera cam001")
//!         .request_id("req-12345")
//!         .user_id("user123")
//!         .action("motion_detected")
//!         .field("camera_id", "cam001")
//!         .field("confidence", 0.92),
//! )?;
//! let report = guard.close_blocking()?; // flush + final batch
//! assert_eq!(report.records_stored, 1);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod init;
mod layer;

pub use init::{Logging, env_layer, init, init_with};
pub use layer::layer;
pub use worm_core::*;

/// In-memory sink that enforces WORM rules, for tests and demos (fault injection with
/// the `testing` feature).
#[cfg(feature = "memory")]
pub mod memory {
    pub use worm_memory::*;
}

/// Local directory of read-only (optionally Linux-immutable) files.
#[cfg(feature = "fs")]
pub mod fs {
    pub use worm_fs::*;
}

/// S3 with Object Lock, and bucket setup.
#[cfg(feature = "s3")]
pub mod s3 {
    pub use worm_s3::*;
}
