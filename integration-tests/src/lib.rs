//! Shared helpers for the integration suites.

pub mod bombs;
pub mod chain;
pub mod completeness;
#[cfg(feature = "docker")]
pub mod docker;
pub mod drill;
pub mod fixtures;
pub mod readback;
pub mod replicas;
pub mod s3;

/// The README's Rust examples, compiled as doctests so that they follow the API (code
/// blocks there are `rust,no_run`, or `text`/`toml`/`sh`, which rustdoc leaves alone).
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExamples;
