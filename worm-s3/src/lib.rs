//! # worm-s3
//!
//! The S3 provider of `worm`: a [`WormSink`](worm_core::WormSink) on a bucket with
//! versioning and Object Lock, plus [`S3Setup`] to create and verify such a bucket.
//!
//! Built on [`object_store`]'s `aws` support for configuration, the credential chain
//! (environment, web identity, container credentials, EC2 instance metadata), SigV4
//! signing ([`AwsAuthorizer`](object_store::aws::AwsAuthorizer)) and its HTTP client.
//! object_store does not model Object Lock, conditional writes on servers that ignore
//! them, versions or bucket configuration, so those requests are built here. Reads and
//! listings are built here too: object_store reports a missing bucket and a missing key
//! alike as `NotFound`, and hides the HTTP status of a failed request in a private type,
//! but the sink must tell them apart (a missing bucket is a permanent configuration
//! error, a 503 is transient).
//!
//! ```no_run
//! use worm_core::{PutOptions, Retention, RetentionMode, WormSink};
//! use worm_s3::S3SinkBuilder;
//!
//! # async fn run() -> worm_core::Result<()> {
//! // AWS_S3_BUCKET, AWS_REGION, AWS_ENDPOINT_URL and the usual credentials.
//! let sink = S3SinkBuilder::from_env()?.with_bucket("audit-logs-bucket").build()?;
//! sink.preflight().await?; // bucket, versioning, Object Lock, credentials
//! let opts = PutOptions {
//!     content_type: Some("application/x-ndjson".into()),
//!     retention: Some(Retention::days_from_now(RetentionMode::Governance, 2557)),
//!     ..PutOptions::default()
//! };
//! let key = "audit-logs/2025/06/12/req-1-0197a3e0.json";
//! let receipt = sink.put(&key, "{\"message\":\"hello\"}\n".into(), &opts).await?;
//! println!("stored {} as version {:?}", receipt.key, receipt.version_id);
//! # Ok(()) }
//! ```
//!
//! Creating a bucket (what `worm s3 setup` does):
//!
//! ```no_run
//! # async fn run() -> worm_core::Result<()> {
//! let setup = worm_s3::S3SinkBuilder::from_env()?
//!     .with_bucket("audit-logs-bucket")
//!     .build_setup()?
//!     .with_admin_principal("arn:aws:iam::123456789012:role/audit-admin");
//! let report = setup.apply().await?;
//! println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
//! assert!(report.verify.is_ok());
//! # Ok(()) }
//! ```
//!
//! ## Write once
//!
//! Each `put` sends `If-None-Match: *`, which AWS and SeaweedFS honour (412 →
//! `AlreadyExists`). Ceph RGW 16 ignores it and silently adds a new version, so `put`
//! first HEADs the key (present → `AlreadyExists`, without writing). Two writers that pass
//! the HEAD at the same moment can still both write on such a server; so after every PUT
//! on a versioned bucket the sink lists the key's versions: the oldest version is the
//! object (`get` always reads it), a writer whose version is not the oldest gets
//! `AlreadyExists`. The loser's bytes remain as a later version (Object Lock forbids
//! deleting them); plain S3 readers see that later version, the worm verifier reports it
//! via [`S3Sink::list_versions`]. Residual risk: this relies on the server listing
//! versions in creation order right after the PUT returns.
//!
//! ## Integrity on the wire
//!
//! Each PutObject carries the body's sha256 twice, computed once: as the SigV4 payload
//! hash (`x-amz-content-sha256`, signed) and as `x-amz-checksum-sha256`. Ceph RGW checks
//! the first, SeaweedFS the second, AWS both; a body that does not match is refused
//! (`BadDigest` / `XAmzContentSHA256Mismatch` → a transient error: the bytes changed in
//! transit, nothing was stored) — tested against both local servers. `Content-MD5` is
//! sent only on configuration requests (AWS requires it there); on PutObject it would be
//! a weaker hash of the same bytes, and AWS accepts `x-amz-checksum-sha256` in its place
//! for Object Lock uploads.
//!
//! ## Errors
//!
//! 403 for credentials or signatures → `Unauthenticated`, other 403 (a locked version,
//! a bucket policy) → `PermissionDenied`; missing bucket → permanent error in the
//! original's words; missing key → `NotFound`; 412 → `AlreadyExists`; 5xx, 429, a
//! checksum mismatch, timeouts and connection failures → `Transient`. Nothing is retried here: the pipeline
//! retries, and object_store's own retry is set to zero.
//!
//! ## HTTPS
//!
//! `https://` is required, except for loopback endpoints (local test servers) or when
//! [`S3SinkBuilder::with_allow_http`] / `AWS_ALLOW_HTTP=true` says so.
//!
//! A plain-`http://` endpoint is reached through hyper directly rather than reqwest, on
//! sockets that acknowledge each response at once (`TCP_QUICKACK`): Ceph RGW sends a
//! response's body after its headers with Nagle's algorithm on, so every small XML answer
//! otherwise waited 40 ms for the client's delayed acknowledgement. No TLS roots are
//! loaded for such an endpoint either. `https://` endpoints, and `http://` ones when
//! `HTTP_PROXY` / `ALL_PROXY` is set (reqwest honours it), use object_store's reqwest
//! client as before.
#![deny(missing_docs)]

mod builder;
mod error;
mod http;
mod request;
mod setup;
mod sink;
mod versions;
mod xml;

pub use builder::S3SinkBuilder;
pub use setup::{
    DEFAULT_RETENTION_DAYS, DEFAULT_RETENTION_MODE, S3Setup, Setting, SettingReport, SettingStatus,
    SetupReport, StepOutcome, StepReport, VerifyReport,
};
pub use sink::S3Sink;
pub use versions::ObjectVersion;
