//! # worm-fs
//!
//! [`FsSink`]: a [`WormSink`](worm_core::WormSink) that keeps each object as one file
//! `root/<key>`, written exactly once:
//!
//! 1. the key is checked ([`worm_core::key::validate_key`]) and its parent directories
//!    opened one by one, each relative to the one before with `O_NOFOLLOW` (created where
//!    missing), refusing symbolic links under the root; every later step names its file
//!    relative to the parent's handle, so a link swapped in meanwhile cannot redirect
//!    the write (reads go the same way);
//! 2. the body goes to a temporary file `.worm-tmp-…` in the same directory (never
//!    listed), which is made read-only (0444) and fsynced;
//! 3. `link()` gives it its final name, failing with
//!    [`Error::AlreadyExists`](worm_core::Error::AlreadyExists) if the name is taken —
//!    nothing is ever replaced, and no partial file ever appears under a final name;
//! 4. the temporary name is removed, optionally the Linux immutable attribute set, and
//!    the directory fsynced.
//!
//! Read-only files stop accidents, not root. With [`immutable(true)`](FsSinkBuilder::immutable)
//! files also get the immutable attribute, which even root must clear (with
//! `CAP_LINUX_IMMUTABLE`) before changing or deleting a file; the builder probes whether
//! that works and [`capabilities`](worm_core::WormSink::capabilities) reports
//! [`ImmutableFiles`](worm_core::Immutability::ImmutableFiles) or
//! [`ReadOnlyFiles`](worm_core::Immutability::ReadOnlyFiles) accordingly. Retention,
//! legal hold and metadata are not kept (a plain file system cannot enforce them; batch
//! bodies describe themselves).
//!
//! ```
//! use bytes::Bytes;
//! use worm_core::{Error, Immutability, PutOptions, WormSink, WormSinkExt};
//! use worm_fs::FsSink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> worm_core::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let root = dir.path().join("worm-data");
//! let sink = FsSink::builder(&root).build()?;
//! assert_eq!(sink.capabilities().immutability, Immutability::ReadOnlyFiles);
//! let opts = PutOptions::default();
//! sink.put("audit/2025/06/12/none-1.json", Bytes::from_static(b"{}\n"), &opts).await?;
//! let again = sink.put("audit/2025/06/12/none-1.json", Bytes::new(), &opts).await;
//! assert!(matches!(again, Err(Error::AlreadyExists { .. })));
//! assert_eq!(sink.list_all("audit/").await?.len(), 1);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod builder;
mod dir;
mod immutable;
mod list;
mod path;
mod sink;
mod write;

pub use builder::FsSinkBuilder;
pub use sink::FsSink;
