//! Tests of `worm_core::tlog` against published vectors and exhaustive small trees.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod checkpoint;
mod merkle;
mod mutate;
mod note;
mod proof;
mod vectors;

/// Lower-case hex to bytes (test data only).
pub fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// 64 hex digits to a hash.
pub fn h(s: &str) -> [u8; 32] {
    unhex(s).try_into().unwrap()
}
