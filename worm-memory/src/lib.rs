//! # worm-memory
//!
//! [`MemorySink`]: a [`WormSink`](worm_core::WormSink) kept in memory, for tests and demos.
//! It enforces the same rules as real WORM storage — a put never overwrites
//! ([`Error::AlreadyExists`](worm_core::Error::AlreadyExists)), an explicit
//! [`delete`](MemorySink::delete) is refused while retention or a legal hold holds, and
//! [`overwrite`](MemorySink::overwrite) is always refused — and it reports retention,
//! legal hold and metadata back as put.
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
//! ## Fault injection
//!
//! Pipeline and retry tests switch faults on at run time; every switch acts on all clones:
//!
//! | call | effect |
//! |------|--------|
//! | [`fail_next_puts(n, Failure::Transient)`](MemorySink::fail_next_puts) | the next `n` puts fail with a retryable error, storing nothing |
//! | [`fail_next(Op::Any, n, Failure::Permanent)`](MemorySink::fail_next) | the next `n` calls of any kind fail permanently |
//! | [`store_then_fail_next_puts(n)`](MemorySink::store_then_fail_next_puts) | the next `n` puts store their object, then report a transient failure |
//! | [`set_latency(d)`](MemorySink::set_latency) | every call waits `d` first (`tokio::time`) |
//! | [`stall_puts()`](MemorySink::stall_puts) / [`release_puts()`](MemorySink::release_puts) | puts hang until released; [`wait_until_stalled(n)`](MemorySink::wait_until_stalled) waits for `n` of them |
//! | [`calls()`](MemorySink::calls), [`put_calls()`](MemorySink::put_calls) | calls received, failed ones included |
//! | [`clear_faults()`](MemorySink::clear_faults) | all of the above off |
//!
//! ```
//! use bytes::Bytes;
//! use worm_core::{PutOptions, WormSink};
//! use worm_memory::{Failure, MemorySink};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let sink = MemorySink::new();
//! sink.fail_next_puts(1, Failure::Transient);
//! let first = sink.put("k", Bytes::new(), &PutOptions::default()).await;
//! assert!(first.unwrap_err().is_retryable());
//! assert!(sink.put("k", Bytes::new(), &PutOptions::default()).await.is_ok());
//! assert_eq!(sink.put_calls(), 2);
//! # }
//! ```
#![deny(missing_docs)]

mod faults;
mod sink;

pub use faults::{Calls, Failure, Op};
pub use sink::MemorySink;
