//! Shared helpers for the integration suites.

pub mod readback;

pub mod chain;
