#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod event;
pub mod measure;
pub mod sinks;
