//! Shared helpers for the integration suites.

pub mod bombs;
pub mod chain;
pub mod fixtures;
pub mod readback;
pub mod s3;
