//! Shared helpers for the integration suites.

pub mod readback;
