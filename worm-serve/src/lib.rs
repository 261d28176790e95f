//! # worm-serve
//!
//! `worm serve`: one audit sink for a fleet. It takes OpenTelemetry logs (OTLP over HTTP,
//! protobuf or JSON, and over gRPC) and NDJSON audit records (`POST /v1/audit`, with
//! `worm ship`'s rules for bad lines), writes each service's records into its own
//! worm stream, and acknowledges a request only once every record of it is in the spool's
//! write-ahead log (or, with [`Ack::Stored`], in the store).
//!
//! The caller opens the logs ([`streams::OpenLog`]): store, spool and batch settings stay
//! with it (the `worm` command passes `worm ship`'s flags).
//!
//! - [`otlp`]: the OTLP messages, the JSON decoder and the mapping to audit records;
//! - [`server`]: listeners, TLS, connection limits and graceful shutdown;
//! - [`handler`]: the endpoints and what each reply means;
//! - [`streams`]: one audit log per service, all-or-nothing admission;
//! - [`auth`]: bearer tokens bound to services;
//! - [`metrics`]: the Prometheus exposition.
#![deny(missing_docs)]

pub mod auth;
pub mod body;
pub mod grpc;
pub mod handler;
pub mod metrics;
pub mod otlp;
pub mod server;
pub mod streams;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use server::{Summary, serve};

/// When a request is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ack {
    /// Once every record is in the spool's write-ahead log, under its fsync policy.
    #[default]
    Spool,
    /// Once every record is stored in the store.
    Stored,
}

/// Limits on what a client may make the server hold, each with a default and a flag.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Time to receive a request's headers (and a TLS handshake); also how long an idle
    /// HTTP/1 connection is kept.
    pub header_timeout: Duration,
    /// Time to receive a request's body.
    pub body_timeout: Duration,
    /// How long an HTTP/2 connection (gRPC channels, h2 clients) may stay open with no
    /// request in flight; it is then closed gracefully (GOAWAY). Dead peers are found
    /// sooner by keep-alive pings.
    pub idle_timeout: Duration,
    /// Open connections; more are closed at once.
    pub max_connections: usize,
    /// Bytes of a request body, on the wire and once decompressed.
    pub max_body_bytes: usize,
    /// Records in one request.
    pub max_records: usize,
    /// Services (streams) the server opens.
    pub max_services: usize,
    /// Seconds a client is told to wait (`Retry-After`, RetryInfo) when the backlog is full.
    pub retry_after_secs: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections: 1024,
            max_body_bytes: 16 << 20,
            max_records: 10_000,
            max_services: 256,
            retry_after_secs: 1,
        }
    }
}

/// TLS files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
    /// Require client certificates signed by these CAs (PEM): mutual TLS.
    pub client_ca: Option<PathBuf>,
}

/// Everything `worm serve` runs with, besides the logs themselves.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// OTLP/HTTP, NDJSON, health and metrics (gRPC is answered here too).
    pub http: Option<SocketAddr>,
    /// OTLP/gRPC (HTTP is answered here too).
    pub grpc: Option<SocketAddr>,
    /// TLS for both listeners.
    pub tls: Option<TlsFiles>,
    /// Allow a non-loopback address without TLS.
    pub insecure_plaintext: bool,
    /// Bearer tokens (`None`: no authentication).
    pub tokens: Option<auth::Tokens>,
    /// When to acknowledge.
    pub ack: Ack,
    /// Limits.
    pub limits: Limits,
    /// Longest NDJSON line (`worm ship --max-line-bytes`).
    pub max_line_bytes: usize,
}

impl ServeConfig {
    /// Refuse a plaintext listener on an address other than loopback unless
    /// `insecure_plaintext` says so.
    pub fn check(&self) -> Result<(), String> {
        if self.tls.is_some() || self.insecure_plaintext {
            return Ok(());
        }
        for a in [self.http, self.grpc].into_iter().flatten() {
            if !a.ip().is_loopback() {
                return Err(format!(
                    "refusing to listen on {a} without TLS: give --tls-cert and --tls-key, \
                     or --insecure-plaintext to accept audit records in clear text"
                ));
            }
        }
        Ok(())
    }
}
