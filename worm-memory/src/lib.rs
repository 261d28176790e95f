//! # worm-memory
//!
//! [`MemorySink`]: a [`WormSink`](worm_core::WormSink) kept in memory, for tests and demos.
//! It enforces the same rules as real WORM storage — a put never overwrites
//! ([`Error::AlreadyExists`](worm_core::Error::AlreadyExists)) — and it reports
//! retention, legal hold and metadata back as put.
//!
//! ```
//! use bytes::Bytes;
//! use worm_core::{Error, PutOptions, WormSink};
//! use worm_memory::MemorySink;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> worm_core::Result<()> {
//! let sink = MemorySink::new();
//! let opts = PutOptions::default();
//! let receipt = sink.put("audit/1.json", Bytes::from_static(b"{}\n"), &opts).await?;
//! assert_eq!(receipt.size, 3);
//! let again = sink.put("audit/1.json", Bytes::from_static(b"[]\n"), &opts).await;
//! assert!(matches!(again, Err(Error::AlreadyExists { .. })));
//! assert_eq!(sink.get("audit/1.json").await?.body, Bytes::from_static(b"{}\n"));
//! # Ok(())
//! # }
//! ```
//!
//! With the `testing` feature, `testing::FaultySink` wraps any sink (this one or
//! another) to inject failures, latency and stalls, and `MemorySink` gains an
//! administrator's `delete` and `overwrite` so tests can show the raw path is closed.
#![deny(missing_docs)]

#[cfg(feature = "testing")]
mod faults;
mod sink;
#[cfg(feature = "testing")]
pub mod testing;

pub use sink::MemorySink;
