//! [`S3Sink`]: the write-once sink on an S3 bucket with Object Lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::Method;
use object_store::aws::AmazonS3;
use worm_core::key::validate_key;
use worm_core::verify::ObjectVersion;
use worm_core::{
    Capabilities, Error, Immutability, ObjectInfo, PutOptions, PutReceipt, Result, Retention,
    RetentionMode, Sha256Hex, StoredObject, WormSink,
};

use crate::error;
use crate::request::{self, LockHeaders, Parts, S3Client, S3Request, S3Response};
use crate::xml;

/// Whether the bucket's Object Lock has been checked, and what was found.
const UNCHECKED: u8 = 0;
const LOCKED: u8 = 1;
/// No Object Lock, and the user opted out of requiring it: write without lock headers.
const UNLOCKED: u8 = 2;

/// A [`WormSink`] on an S3 bucket with versioning and Object Lock.
///
/// - `put` stores each key once: a HEAD first (some servers, Ceph RGW among them, ignore
///   `If-None-Match`), then a PutObject with `If-None-Match: *`, the body's sha256 (as
///   the signed payload hash and as `x-amz-checksum-sha256`, one hash for both: the
///   server refuses a body that does not match), the user metadata and the Object Lock
///   headers; on a versioned bucket it then lists the key's versions to catch a writer
///   that raced past the HEAD (see "Write once" in the crate docs).
/// - `get` reads the key's *first* version, so a later version added by a racing or
///   hostile writer never replaces what was stored first; retention and legal hold are
///   read back from the server.
/// - `stored_sha256` asks HEAD (server checksum, else the `worm-sha256` metadata this sink
///   writes) instead of downloading the body.
/// - `preflight` checks credentials, bucket, versioning and Object Lock.
///
/// Build it with [`S3SinkBuilder`](crate::S3SinkBuilder). Cloning is cheap.
#[derive(Debug, Clone)]
pub struct S3Sink {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    /// What the builder made: client, store, prefix, retention, endpoint.
    pub parts: Parts,
    state: AtomicU8,
}

impl S3Sink {
    pub(crate) fn new(parts: Parts) -> Self {
        S3Sink {
            inner: Arc::new(Inner {
                parts,
                state: AtomicU8::new(UNCHECKED),
            }),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.inner.parts.client.bucket
    }

    /// The endpoint, when not AWS.
    pub fn endpoint(&self) -> Option<&str> {
        self.inner.parts.endpoint.as_deref()
    }

    /// object_store's client for the same bucket, for read-only use (it is configured
    /// without retries, like everything in this crate).
    pub fn object_store(&self) -> &AmazonS3 {
        &self.inner.parts.store
    }

    pub(crate) fn client(&self) -> &S3Client {
        &self.inner.parts.client
    }

    pub(crate) fn target(&self) -> String {
        format!("s3://{}", self.bucket())
    }

    fn lock_headers(&self) -> LockHeaders {
        if self.inner.state.load(Ordering::Acquire) == UNLOCKED {
            LockHeaders::Omit
        } else {
            LockHeaders::Send
        }
    }

    /// HEAD of the latest version of `key` (or of `version`). `Ok(None)` when absent;
    /// `Err(AlreadyExists)`-worthy delete markers show as `Ok(Some)` with the marker header.
    pub(crate) async fn head(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<Option<S3Response>> {
        let mut req = S3Request::new("HEAD", Method::HEAD, self.bucket(), Some(key))
            .header("x-amz-checksum-mode", "ENABLED")?;
        if let Some(v) = version.filter(|v| *v != "null") {
            req = req.query("versionId", v);
        }
        let (op, resp) = self.client().exchange(req).await?;
        if resp.status.is_success() {
            return Ok(Some(resp));
        }
        if resp.status.as_u16() == 404 {
            // The latest "version" is a delete marker: the key was used, its versions remain.
            if resp.header("x-amz-delete-marker") == Some("true") {
                return Ok(Some(resp));
            }
            return Ok(None);
        }
        Err(error::from_status(&op, resp.status, &resp.body))
    }

    /// The first (oldest) stored version of `key`, skipping delete markers.
    pub(crate) async fn first_version(&self, key: &str) -> Result<ObjectVersion> {
        let versions = self.versions_of(key).await?;
        versions
            .into_iter()
            .rev()
            .find(|v| !v.is_delete_marker)
            .ok_or_else(|| Error::NotFound {
                key: key.to_string(),
                target: self.target(),
            })
    }

    /// After a successful PUT on a versioned bucket: is ours the only version? A server
    /// that ignores `If-None-Match` lets a writer that passed its HEAD at the same time as
    /// us add a second version. The oldest version wins (it is what `get` returns); a
    /// newer one is reported as `AlreadyExists`. Its bytes stay in the bucket (Object Lock
    /// forbids removing them) and the verifier reports them as a shadowing version.
    async fn check_single_version(&self, key: &str, ours: &str) -> Result<()> {
        let versions = self.versions_of(key).await?;
        let real: Vec<&ObjectVersion> = versions.iter().filter(|v| !v.is_delete_marker).collect();
        if real.len() <= 1 {
            return Ok(());
        }
        let oldest = real
            .last()
            .map(|v| v.version_id.as_str())
            .unwrap_or_default();
        let ids: Vec<&str> = real.iter().map(|v| v.version_id.as_str()).collect();
        if oldest == ours {
            tracing::warn!(target: "worm", bucket = %self.bucket(), key, versions = ?ids,
                "a concurrent writer added a later version of this key (the server ignores If-None-Match); \
                 the first version is kept as the object, the later ones shadow it for plain S3 readers");
            Ok(())
        } else {
            tracing::warn!(target: "worm", bucket = %self.bucket(), key, ours, first = oldest, versions = ?ids,
                "lost a write race on this key (the server ignores If-None-Match): our version is not the first \
                 and cannot be removed under Object Lock; the verifier reports it as a shadowing version");
            Err(Error::AlreadyExists {
                key: key.to_string(),
                target: self.target(),
            })
        }
    }

    /// Retention and legal hold of a version as the server reports them: from the
    /// response headers when present, else GetObjectRetention / GetObjectLegalHold.
    async fn lock_of(
        &self,
        key: &str,
        version: &str,
        resp: &S3Response,
    ) -> Result<(Option<Retention>, Option<bool>)> {
        if self.inner.state.load(Ordering::Acquire) == UNLOCKED {
            return Ok((None, None));
        }
        let retention = match (
            resp.header("x-amz-object-lock-mode"),
            resp.header("x-amz-object-lock-retain-until-date"),
        ) {
            (Some(m), Some(u)) => parse_retention(key, Some(m), Some(u))?,
            _ => self.object_retention(key, Some(version)).await?,
        };
        let hold = match resp.header("x-amz-object-lock-legal-hold") {
            Some(s) => Some(s.eq_ignore_ascii_case("ON")),
            None => Some(self.object_legal_hold(key, Some(version)).await?),
        };
        Ok((retention, hold))
    }
}

/// Parse a retention read back from the server.
pub(crate) fn parse_retention(
    key: &str,
    mode: Option<&str>,
    until: Option<&str>,
) -> Result<Option<Retention>> {
    let (Some(mode), Some(until)) = (mode, until) else {
        return Ok(None);
    };
    let bad = |what: &str| Error::Backend {
        context: format!("reading the retention of '{key}'"),
        message: format!(
            "the server reported an unreadable {what}: mode '{mode}', retain-until '{until}'"
        ),
    };
    let mode: RetentionMode = mode.parse().map_err(|_| bad("mode"))?;
    let retain_until = parse_time(until).ok_or_else(|| bad("date"))?;
    Ok(Some(Retention { mode, retain_until }))
}

/// RFC 3339 / ISO 8601 as S3 servers write it.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
        .or_else(|| {
            DateTime::parse_from_rfc2822(s.trim())
                .ok()
                .map(|t| t.with_timezone(&Utc))
        })
}

impl S3Sink {
    /// `get`, refusing a body over `limit` bytes when given ([`Error::TooLarge`]).
    async fn fetch(&self, key: &str, limit: Option<u64>) -> Result<StoredObject> {
        validate_key(key)?;
        let first = self.first_version(key).await?;
        let mut req = S3Request::new("GET", Method::GET, self.bucket(), Some(key));
        if first.version_id != "null" {
            req = req.query("versionId", &first.version_id);
        }
        if let Some(limit) = limit {
            req = req.max_response(limit);
        }
        let resp = self.client().send(req).await?;
        let (retention, legal_hold) = self.lock_of(key, &first.version_id, &resp).await?;
        Ok(StoredObject {
            key: key.to_string(),
            content_type: resp.header("content-type").map(str::to_string),
            content_encoding: resp.header("content-encoding").map(str::to_string),
            metadata: request::metadata_of(&resp.headers),
            retention,
            legal_hold,
            version_id: (first.version_id != "null").then_some(first.version_id),
            body: resp.body,
        })
    }

    /// PutObject once. `guarded`: HEAD before and check versions after, for servers that
    /// ignore `If-None-Match` (Ceph RGW) when another writer might use the same key.
    async fn put_object(
        &self,
        key: &str,
        body: Bytes,
        opts: &PutOptions,
        guarded: bool,
    ) -> Result<PutReceipt> {
        validate_key(key)?;
        if self.inner.state.load(Ordering::Acquire) == UNCHECKED {
            self.preflight().await?;
        }
        // The pipeline hashed the batch once for all its targets; the server checks the
        // digest against the body, so a wrong one is refused, never stored.
        let sha256 = opts.body_sha256.unwrap_or_else(|| Sha256Hex::of(&body));
        let size = body.len() as u64;
        let req = request::put_object(self.bucket(), key, body, sha256, opts, self.lock_headers())?;
        // Ceph RGW ignores `If-None-Match: *`, so look first. A delete marker on top still
        // means the key was used: its versions cannot be removed, so it is taken.
        if guarded && self.head(key, None).await?.is_some() {
            return Err(Error::AlreadyExists {
                key: key.to_string(),
                target: self.target(),
            });
        }
        let resp = self.client().send(req).await?;
        let version_id = resp
            .header("x-amz-version-id")
            .filter(|v| !v.is_empty() && *v != "null")
            .map(str::to_string);
        if let (true, Some(v)) = (guarded, &version_id) {
            self.check_single_version(key, v).await?;
        }
        Ok(PutReceipt {
            key: key.to_string(),
            version_id,
            sha256,
            size,
        })
    }
}

#[async_trait]
impl WormSink for S3Sink {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        self.put_object(key, body, opts, true).await
    }

    /// One request: `If-None-Match: *` still guards servers that honour it, and a key the
    /// caller made unique cannot meet another writer's object.
    async fn put_unique(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        self.put_object(key, body, opts, false).await
    }

    async fn get(&self, key: &str) -> Result<StoredObject> {
        self.fetch(key, None).await
    }

    async fn get_capped(&self, key: &str, limit: u64) -> Result<StoredObject> {
        self.fetch(key, Some(limit)).await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        struct Page {
            token: Option<String>,
            done: bool,
        }
        let pages = stream::try_unfold(
            Page {
                token: None,
                done: false,
            },
            move |page| async move {
                if page.done {
                    return Ok(None);
                }
                let mut req = S3Request::new("ListObjectsV2", Method::GET, self.bucket(), None)
                    .query("list-type", "2")
                    .query("prefix", prefix);
                if let Some(t) = &page.token {
                    req = req.query("continuation-token", t);
                }
                let resp = self.client().send(req).await?;
                let doc: xml::ListBucketResult =
                    xml::parse("ListObjectsV2", &resp.body).map_err(|m| Error::Backend {
                        context: format!("listing s3://{}/{prefix}", self.bucket()),
                        message: m,
                    })?;
                let next = doc.next_continuation_token.filter(|_| doc.is_truncated);
                let items: Vec<Result<ObjectInfo>> = doc
                    .contents
                    .into_iter()
                    .map(|o| {
                        Ok(ObjectInfo {
                            last_modified: o.last_modified.as_deref().and_then(parse_time),
                            key: o.key,
                            size: o.size,
                            not_a_file: None,
                        })
                    })
                    .collect();
                Ok(Some((
                    stream::iter(items),
                    Page {
                        done: next.is_none(),
                        token: next,
                    },
                )))
            },
        );
        pages.try_flatten().boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let locked = self.inner.state.load(Ordering::Acquire) != UNLOCKED;
        Capabilities {
            immutability: if locked {
                Immutability::ObjectLock
            } else {
                Immutability::None
            },
            retention: locked,
            legal_hold: locked,
            metadata: true,
        }
    }

    fn describe(&self) -> String {
        self.target()
    }

    async fn stored_sha256(&self, key: &str) -> Result<Sha256Hex> {
        validate_key(key)?;
        let first = self.first_version(key).await?;
        if let Some(resp) = self.head(key, Some(&first.version_id)).await? {
            // A checksum the server computed and checked on upload beats our own metadata.
            if let Some(sha) = resp
                .header("x-amz-checksum-sha256")
                .and_then(|b| B64.decode(b).ok())
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
            {
                return Ok(Sha256Hex(sha));
            }
            if let Some(sha) = request::metadata_of(&resp.headers)
                .get(request::SHA_META)
                .and_then(|h| Sha256Hex::parse(&h.to_ascii_lowercase()))
            {
                return Ok(sha);
            }
        }
        // Written by something else: download and hash.
        Ok(Sha256Hex::of(&self.get(key).await?.body))
    }

    async fn preflight(&self) -> Result<()> {
        let bucket = self.bucket().to_string();
        let problems = crate::setup::worm_problems(self.client()).await?;
        if problems.is_empty() {
            self.inner.state.store(LOCKED, Ordering::Release);
            return Ok(());
        }
        let reason = format!(
            "Object Lock not available on bucket '{bucket}': {}. Create the bucket with Object Lock \
             (`worm s3 setup {bucket}`), or opt out of WORM with require_worm(false)",
            problems.join("; ")
        );
        if self.inner.parts.require_worm {
            return Err(Error::NotWorm {
                target: self.target(),
                reason,
            });
        }
        tracing::warn!(target: "worm", bucket = %bucket, problems = %problems.join("; "),
            "Object Lock not available, uploading without lock (WORM not required by configuration)");
        self.inner.state.store(UNLOCKED, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::S3SinkBuilder;

    /// Against the server named by `WORM_TEST_S3_ENDPOINT` (`scripts/s3-server.sh env`);
    /// skipped without one unless `WORM_TEST_REQUIRE_S3=1`.
    fn server() -> Option<S3SinkBuilder> {
        let Ok(endpoint) = std::env::var("WORM_TEST_S3_ENDPOINT") else {
            if std::env::var("WORM_TEST_REQUIRE_S3").is_ok_and(|v| v == "1") {
                panic!("WORM_TEST_REQUIRE_S3=1 but WORM_TEST_S3_ENDPOINT is not set");
            }
            eprintln!("skipped: no S3 server (set WORM_TEST_S3_ENDPOINT)");
            return None;
        };
        let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Some(
            S3SinkBuilder::new()
                .with_endpoint(endpoint)
                .with_region(var("AWS_DEFAULT_REGION", "us-east-1"))
                .with_credentials(
                    var("AWS_ACCESS_KEY_ID", "test"),
                    var("AWS_SECRET_ACCESS_KEY", "testsecret"),
                )
                .with_bucket(format!("worm-s3-unit-{nanos:x}")),
        )
    }

    /// PutObject sends no `Content-MD5`; the sha256 it sends instead must be checked by
    /// the server: a body that does not hash to it is refused and nothing is stored.
    #[tokio::test]
    async fn server_refuses_a_body_that_does_not_match_the_sha256_sent() {
        let Some(builder) = server() else { return };
        builder
            .clone()
            .build_setup()
            .unwrap()
            .with_policy(false)
            .with_lifecycle(false)
            .apply()
            .await
            .unwrap();
        let sink = builder.build().unwrap();
        sink.preflight().await.unwrap();
        let body = Bytes::from_static(b"{\"worm\":{\"v\":1}}\n");
        let claimed = Sha256Hex::of(b"some other body");
        let opts = PutOptions::default();
        let req = request::put_object(
            sink.bucket(),
            "mismatch.json",
            body.clone(),
            claimed,
            &opts,
            sink.lock_headers(),
        )
        .unwrap();
        let e = sink.client().send(req).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert!(e.to_string().contains("checksum of the body"), "{e}");
        assert!(sink.head("mismatch.json", None).await.unwrap().is_none());
        // The same through the sink with a wrong precomputed digest (`body_sha256`, which
        // the pipeline passes instead of hashing again per target): refused, not stored.
        let lying = PutOptions {
            body_sha256: Some(claimed),
            ..PutOptions::default()
        };
        let e = sink
            .put_unique("mismatch.json", body.clone(), &lying)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("checksum of the body"), "{e}");
        assert!(sink.head("mismatch.json", None).await.unwrap().is_none());
        // The same body with its own sha256 is stored, and reads back as sent.
        let receipt = sink
            .put_unique("mismatch.json", body.clone(), &opts)
            .await
            .unwrap();
        assert_eq!(receipt.sha256, Sha256Hex::of(&body));
        assert_eq!(sink.get("mismatch.json").await.unwrap().body, body);
    }
}
