//! OTLP logs: the messages ([`proto`]), OTLP/JSON ([`json`]) and the mapping to audit
//! records ([`map`]).

pub mod json;
pub mod map;
pub mod proto;
