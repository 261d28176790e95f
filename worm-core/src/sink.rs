//! The write-once sink contract that every storage provider implements.

use std::collections::BTreeMap;
use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hash::Sha256Hex;

/// Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetentionMode {
    /// Privileged users may shorten or remove retention (S3 `GOVERNANCE`).
    #[default]
    Governance,
    /// Nobody, not even the root account, may shorten or remove retention.
    Compliance,
}

impl RetentionMode {
    /// `GOVERNANCE` or `COMPLIANCE`, as S3 spells them.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionMode::Governance => "GOVERNANCE",
            RetentionMode::Compliance => "COMPLIANCE",
        }
    }
}

impl std::str::FromStr for RetentionMode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "GOVERNANCE" => Ok(RetentionMode::Governance),
            "COMPLIANCE" => Ok(RetentionMode::Compliance),
            _ => Err(Error::invalid(
                format!("retention mode '{s}'"),
                "expected governance or compliance",
            )),
        }
    }
}

impl fmt::Display for RetentionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Retention of one object: until when, and how strictly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Mode.
    pub mode: RetentionMode,
    /// The object cannot be deleted or overwritten before this time.
    pub retain_until: DateTime<Utc>,
}

impl Retention {
    /// Retention of `days` days from now.
    pub fn days_from_now(mode: RetentionMode, days: u32) -> Self {
        Retention {
            mode,
            retain_until: Utc::now() + chrono::Duration::days(i64::from(days)),
        }
    }

    /// Whether the retention still holds at `now`.
    pub fn holds_at(&self, now: DateTime<Utc>) -> bool {
        self.retain_until > now
    }
}

/// Options of one write-once PUT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutOptions {
    /// MIME type, e.g. `application/x-ndjson`.
    pub content_type: Option<String>,
    /// `gzip` or `zstd` when the body is compressed as a whole.
    pub content_encoding: Option<String>,
    /// User metadata (S3 `x-amz-meta-*`). Keys are lower-case ASCII.
    pub metadata: BTreeMap<String, String>,
    /// Retention to apply, where the backend supports it.
    pub retention: Option<Retention>,
    /// Legal hold, where the backend supports it.
    pub legal_hold: bool,
    /// The body's sha256, when the caller has already computed it (the pipeline does, once
    /// per batch, for all its targets): a sink that sends the digest with the body uses
    /// this one instead of hashing the body again. The S3 server checks the digest
    /// against the bytes it receives, so a wrong one gets the PUT refused, never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_sha256: Option<Sha256Hex>,
}

/// What a successful PUT stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutReceipt {
    /// The key written.
    pub key: String,
    /// Version id, on versioned stores (S3).
    pub version_id: Option<String>,
    /// sha256 of the stored bytes.
    pub sha256: Sha256Hex,
    /// Size in bytes.
    pub size: u64,
}

/// An object as stored, with what the backend reports about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Key.
    pub key: String,
    /// The bytes.
    pub body: Bytes,
    /// Content type, when the backend keeps it.
    pub content_type: Option<String>,
    /// Content encoding, when the backend keeps it.
    pub content_encoding: Option<String>,
    /// User metadata, when the backend keeps it.
    pub metadata: BTreeMap<String, String>,
    /// Retention as the backend enforces it now.
    pub retention: Option<Retention>,
    /// Legal hold as the backend reports it (`None`: not supported).
    pub legal_hold: Option<bool>,
    /// Version id, on versioned stores.
    pub version_id: Option<String>,
}

impl StoredObject {
    /// Bytes with nothing else known about them: what a backend without metadata,
    /// retention or versions (a plain directory) returns.
    pub fn plain(key: impl Into<String>, body: Bytes) -> Self {
        StoredObject {
            key: key.into(),
            body,
            content_type: None,
            content_encoding: None,
            metadata: BTreeMap::new(),
            retention: None,
            legal_hold: None,
            version_id: None,
        }
    }
}

/// One listed object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time, when known.
    pub last_modified: Option<DateTime<Utc>>,
    /// Set when the entry is not an object a writer could have made but something else
    /// under a file-system store's root (a symbolic link, FIFO, socket, device, or a
    /// directory loop), saying which. Readers report such entries with their key and
    /// never read them. Stores without a file system (memory, S3) always leave it `None`.
    pub not_a_file: Option<String>,
}

/// How a backend makes stored objects unchangeable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Immutability {
    /// In-process map that refuses overwrite and delete (tests only).
    Memory,
    /// Read-only files (mode 0444): stops accidents, not root.
    ReadOnlyFiles,
    /// Read-only files with the Linux immutable attribute: even root must clear it first,
    /// which needs `CAP_LINUX_IMMUTABLE`.
    ImmutableFiles,
    /// S3 Object Lock: the server refuses deletion and overwrite until retain-until.
    ObjectLock,
    /// Nothing enforced (the user opted out of the WORM preflight).
    None,
}

/// What a backend enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// How objects are kept unchangeable.
    pub immutability: Immutability,
    /// Whether per-object retention is enforced and reported back.
    pub retention: bool,
    /// Whether legal hold is enforced and reported back.
    pub legal_hold: bool,
    /// Whether content type, encoding and user metadata are stored.
    pub metadata: bool,
}

impl Capabilities {
    /// A store that enforces nothing and keeps no metadata: for stand-in sinks in tests
    /// and benchmarks, never for a real store.
    pub const NONE: Capabilities = Capabilities {
        immutability: Immutability::None,
        retention: false,
        legal_hold: false,
        metadata: false,
    };
}

/// A store that writes each object exactly once and never changes or deletes it.
///
/// The contract (checked for every provider by the conformance suite, `worm_core::testing`
/// with the feature `testing`):
/// - [`put`](WormSink::put) stores `body` at `key` exactly once; a second put to a taken
///   key fails with [`Error::AlreadyExists`] and leaves the stored object untouched;
/// - [`get`](WormSink::get) returns the bytes and what the backend enforces on them;
/// - [`list`](WormSink::list) yields objects under a prefix in key order;
/// - there is no delete and no overwrite.
///
/// Providers classify their own errors as transient or permanent; retrying is the
/// pipeline's job, never the provider's.
#[async_trait]
pub trait WormSink: Send + Sync + fmt::Debug {
    /// Store `body` at `key`, once.
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt>;

    /// Read an object back.
    async fn get(&self, key: &str) -> Result<StoredObject>;

    /// Read an object back if it holds at most `limit` bytes; otherwise fail with
    /// [`Error::TooLarge`] without holding more than about `limit` bytes of it. Readers of
    /// a store that may have been tampered with (verify, cat, prove) use this, so that an
    /// object that grew after it was listed, or a store that lists a false size, cannot
    /// exhaust their memory.
    ///
    /// The default reads the whole object and then checks; providers that can stop early
    /// (files, S3) override it.
    async fn get_capped(&self, key: &str, limit: u64) -> Result<StoredObject> {
        let o = self.get(key).await?;
        if o.body.len() as u64 > limit {
            return Err(Error::TooLarge {
                key: key.to_string(),
                target: self.describe(),
                limit,
            });
        }
        Ok(o)
    }

    /// Objects whose key starts with `prefix`, in key order.
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>>;

    /// What this backend enforces.
    fn capabilities(&self) -> Capabilities;

    /// A short name of the store for messages (`/var/lib/worm`, `s3://bucket`, `memory:`).
    fn describe(&self) -> String;

    /// Store `body` at a key the caller made unique (e.g. it contains a fresh UUID), on the
    /// first attempt to store it. The contract is [`put`](WormSink::put)'s; the hint lets
    /// a provider skip round trips that only guard against *another* writer using the same
    /// key (on S3 servers that ignore `If-None-Match`, a HEAD before and a version check
    /// after the PUT). Retries must use `put`.
    async fn put_unique(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        self.put(key, body, opts).await
    }

    /// sha256 of the stored object, used to decide whether an earlier, uncertain PUT in
    /// fact succeeded. Providers that store the hash as metadata override this to avoid
    /// downloading the body.
    async fn stored_sha256(&self, key: &str) -> Result<Sha256Hex> {
        Ok(Sha256Hex::of(&self.get(key).await?.body))
    }

    /// Check that the target really is WORM storage and reachable (credentials, bucket,
    /// Object Lock). Called once when a writer starts.
    async fn preflight(&self) -> Result<()> {
        Ok(())
    }
}

/// Conveniences on top of [`WormSink`].
#[async_trait]
pub trait WormSinkExt: WormSink {
    /// Collect a listing into a vector.
    async fn list_all(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.list(prefix).try_collect().await
    }

    /// Whether an object exists under `key`.
    async fn exists(&self, key: &str) -> Result<bool> {
        match self.get(key).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Count the objects under `prefix`.
    async fn count(&self, prefix: &str) -> Result<usize> {
        let mut n = 0;
        let mut s = self.list(prefix);
        while let Some(item) = s.next().await {
            item?;
            n += 1;
        }
        Ok(n)
    }
}

impl<T: WormSink + ?Sized> WormSinkExt for T {}

#[async_trait]
impl<T: WormSink + ?Sized> WormSink for std::sync::Arc<T> {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        (**self).put(key, body, opts).await
    }
    async fn put_unique(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        (**self).put_unique(key, body, opts).await
    }
    async fn get(&self, key: &str) -> Result<StoredObject> {
        (**self).get(key).await
    }
    async fn get_capped(&self, key: &str, limit: u64) -> Result<StoredObject> {
        (**self).get_capped(key, limit).await
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        (**self).list(prefix)
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
    async fn stored_sha256(&self, key: &str) -> Result<Sha256Hex> {
        (**self).stored_sha256(key).await
    }
    async fn preflight(&self) -> Result<()> {
        (**self).preflight().await
    }
}
