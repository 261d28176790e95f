//! Versions, delete markers and the per-object lock operations: what the offline verifier
//! and the tamper tests need beyond the [`WormSink`](worm_core::WormSink) contract.

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use http::Method;
use worm_core::key::validate_key;
use worm_core::verify::VersionSource;
use worm_core::{Error, Result, Retention};

use crate::request::{self, S3Request};
use crate::sink::{S3Sink, parse_retention, parse_time};
use crate::xml::{self, VersionsItem};

/// One version or delete marker; the type the verifier's [`VersionSource`] speaks.
pub use worm_core::verify::ObjectVersion;

impl S3Sink {
    /// Every version and delete marker under `prefix`: keys in order, each key's entries
    /// newest first (the order S3 lists them in).
    ///
    /// The verifier uses this to report versions shadowing a batch (a second write to its
    /// key) and delete markers hiding one.
    pub fn versions<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectVersion>> {
        struct Page {
            key_marker: Option<String>,
            version_marker: Option<String>,
            done: bool,
        }
        let start = Page {
            key_marker: None,
            version_marker: None,
            done: false,
        };
        stream::try_unfold(start, move |page| async move {
            if page.done {
                return Ok(None);
            }
            let (items, next) = self
                .versions_page(prefix, page.key_marker, page.version_marker)
                .await?;
            let done = next.is_none();
            let (key_marker, version_marker) = next.unzip();
            Ok(Some((
                stream::iter(items.into_iter().map(Ok)),
                Page {
                    key_marker,
                    version_marker: version_marker.flatten(),
                    done,
                },
            )))
        })
        .try_flatten()
        .boxed()
    }

    /// [`versions`](Self::versions), collected.
    pub async fn list_versions(&self, prefix: &str) -> Result<Vec<ObjectVersion>> {
        self.versions(prefix).try_collect().await
    }

    /// Versions and delete markers of exactly `key`, newest first.
    pub async fn versions_of(&self, key: &str) -> Result<Vec<ObjectVersion>> {
        let mut out = Vec::new();
        let mut markers: (Option<String>, Option<String>) = (None, None);
        loop {
            let (items, next) = self.versions_page(key, markers.0, markers.1).await?;
            let mut other_key = false;
            for v in items {
                if v.key == key {
                    out.push(v);
                } else {
                    // `key` sorts before every longer key it prefixes: we are past it.
                    other_key = true;
                }
            }
            match next {
                Some((k, v)) if !other_key => markers = (Some(k), v),
                _ => return Ok(out),
            }
        }
    }

    /// One page of ListObjectVersions; the markers of the next page when truncated.
    #[allow(clippy::type_complexity)]
    async fn versions_page(
        &self,
        prefix: &str,
        key_marker: Option<String>,
        version_marker: Option<String>,
    ) -> Result<(Vec<ObjectVersion>, Option<(String, Option<String>)>)> {
        let mut req = S3Request::new("ListObjectVersions", Method::GET, self.bucket(), None)
            .query("versions", "")
            .query("prefix", prefix);
        if let Some(k) = &key_marker {
            req = req.query("key-marker", k);
        }
        if let Some(v) = &version_marker {
            req = req.query("version-id-marker", v);
        }
        let resp = self.client().send(req).await?;
        let doc: xml::ListVersionsResult =
            xml::parse("ListObjectVersions", &resp.body).map_err(|m| Error::Backend {
                context: format!("listing versions of s3://{}/{prefix}", self.bucket()),
                message: m,
            })?;
        let mut truncated = false;
        let (mut next_key, mut next_version) = (None, None);
        let mut out = Vec::new();
        for item in doc.items {
            let (e, marker) = match item {
                VersionsItem::IsTruncated(t) => {
                    truncated = t;
                    continue;
                }
                VersionsItem::NextKeyMarker(k) => {
                    next_key = Some(k);
                    continue;
                }
                VersionsItem::NextVersionIdMarker(v) => {
                    next_version = Some(v);
                    continue;
                }
                VersionsItem::Other => continue,
                VersionsItem::Version(e) => (e, false),
                VersionsItem::DeleteMarker(e) => (e, true),
            };
            out.push(ObjectVersion {
                key: e.key,
                version_id: e.version_id.unwrap_or_else(|| "null".to_string()),
                is_latest: e.is_latest,
                is_delete_marker: marker,
                size: if marker { 0 } else { e.size },
                last_modified: e.last_modified.as_deref().and_then(parse_time),
                etag: e.etag,
            });
        }
        let next = match (truncated, next_key) {
            (true, Some(k)) => Some((k, next_version)),
            // Truncated without a marker: continue after the last entry we saw.
            (true, None) => out
                .last()
                .map(|v| (v.key.clone(), Some(v.version_id.clone()))),
            _ => None,
        };
        Ok((out, next))
    }

    /// Delete one version: what an operator (or attacker) with this sink's credentials
    /// would try. Under Object Lock the server refuses while retention or a legal hold
    /// holds — without `bypass_governance` always, with it still in COMPLIANCE mode or
    /// under a legal hold. The refusal comes back as
    /// [`Error::PermissionDenied`](worm_core::Error::PermissionDenied).
    pub async fn delete_version(
        &self,
        key: &str,
        version_id: &str,
        bypass_governance: bool,
    ) -> Result<()> {
        validate_key(key)?;
        let mut req = S3Request::new("DeleteObject", Method::DELETE, self.bucket(), Some(key))
            .query("versionId", version_id);
        if bypass_governance {
            req = req.header("x-amz-bypass-governance-retention", "true")?;
        }
        self.client().send(req).await.map(|_| ())
    }

    /// A plain DeleteObject without a version id: on a versioned bucket it removes nothing
    /// and adds a delete marker that hides the key from plain listings (Object Lock allows
    /// this). For tests and tamper drills; the verifier reports such markers.
    pub async fn raw_delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        let req = S3Request::new("DeleteObject", Method::DELETE, self.bucket(), Some(key));
        self.client().send(req).await.map(|_| ())
    }

    /// A plain, unconditional PutObject with no lock headers and no existence check: the
    /// raw path the sink avoids. On a versioned bucket it adds a version on top of an
    /// existing key; the first version stays. Returns the new version id. For tests and
    /// tamper drills.
    pub async fn raw_put(&self, key: &str, body: Bytes) -> Result<Option<String>> {
        validate_key(key)?;
        let req = S3Request::new("PUT", Method::PUT, self.bucket(), Some(key)).body(body);
        let resp = self.client().send(req).await?;
        Ok(resp.header("x-amz-version-id").map(str::to_string))
    }

    /// PutObjectRetention on a version (latest when `None`). Extending is always allowed;
    /// shortening or removing needs `bypass_governance` in GOVERNANCE mode and is refused
    /// in COMPLIANCE mode.
    pub async fn put_retention(
        &self,
        key: &str,
        version_id: Option<&str>,
        retention: Retention,
        bypass_governance: bool,
    ) -> Result<()> {
        validate_key(key)?;
        let body = format!(
            "<Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Mode>{}</Mode>\
             <RetainUntilDate>{}</RetainUntilDate></Retention>",
            retention.mode.as_str(),
            request::lock_date(retention.retain_until)
        );
        let mut req = S3Request::new("PutObjectRetention", Method::PUT, self.bucket(), Some(key))
            .query("retention", "")
            .body(Bytes::from(body));
        if let Some(v) = version_id {
            req = req.query("versionId", v);
        }
        if bypass_governance {
            req = req.header("x-amz-bypass-governance-retention", "true")?;
        }
        self.client().send(req).await.map(|_| ())
    }

    /// PutObjectLegalHold on a version (latest when `None`).
    pub async fn put_legal_hold(
        &self,
        key: &str,
        version_id: Option<&str>,
        on: bool,
    ) -> Result<()> {
        validate_key(key)?;
        let body = format!(
            "<LegalHold xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>{}</Status></LegalHold>",
            if on { "ON" } else { "OFF" }
        );
        let mut req = S3Request::new("PutObjectLegalHold", Method::PUT, self.bucket(), Some(key))
            .query("legal-hold", "")
            .body(Bytes::from(body));
        if let Some(v) = version_id {
            req = req.query("versionId", v);
        }
        self.client().send(req).await.map(|_| ())
    }

    /// GetObjectRetention of a version (latest when `None`); `None` when it has none.
    pub async fn object_retention(
        &self,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Retention>> {
        let Some(body) = self
            .lock_subresource("GetObjectRetention", "retention", key, version_id)
            .await?
        else {
            return Ok(None);
        };
        let doc: xml::RetentionDoc =
            xml::parse("GetObjectRetention", &body).map_err(|m| Error::Backend {
                context: format!("reading the retention of s3://{}/{key}", self.bucket()),
                message: m,
            })?;
        parse_retention(key, doc.mode.as_deref(), doc.retain_until.as_deref())
    }

    /// GetObjectLegalHold of a version (latest when `None`); `false` when it has none.
    pub async fn object_legal_hold(&self, key: &str, version_id: Option<&str>) -> Result<bool> {
        let Some(body) = self
            .lock_subresource("GetObjectLegalHold", "legal-hold", key, version_id)
            .await?
        else {
            return Ok(false);
        };
        let doc: xml::LegalHoldDoc =
            xml::parse("GetObjectLegalHold", &body).map_err(|m| Error::Backend {
                context: format!("reading the legal hold of s3://{}/{key}", self.bucket()),
                message: m,
            })?;
        Ok(doc.status.is_some_and(|s| s.eq_ignore_ascii_case("ON")))
    }

    /// GET `?retention` / `?legal-hold`; `None` when the object has none. Servers say so
    /// with 404 `NoSuchObjectLockConfiguration` (AWS), or 400/404 with another code.
    async fn lock_subresource(
        &self,
        what: &'static str,
        sub: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Bytes>> {
        validate_key(key)?;
        let mut req = S3Request::new(what, Method::GET, self.bucket(), Some(key)).query(sub, "");
        if let Some(v) = version_id.filter(|v| *v != "null") {
            req = req.query("versionId", v);
        }
        let (op, resp) = self.client().exchange(req).await?;
        if resp.status.is_success() {
            return Ok(Some(resp.body));
        }
        let code = xml::parse_error(&resp.body)
            .map(|e| e.code)
            .unwrap_or_default();
        if matches!(
            code.as_str(),
            "NoSuchObjectLockConfiguration"
                | "ObjectLockConfigurationNotFoundError"
                | "NoSuchRetention"
                | "NoSuchLegalHold"
                | "InvalidRequest"
        ) {
            return Ok(None);
        }
        Err(crate::error::from_status(&op, resp.status, &resp.body))
    }
}

/// The verifier reads every version and delete marker through this: shadowing versions
/// and delete markers over audit objects are reported (see `worm_core::verify`).
#[async_trait::async_trait]
impl VersionSource for S3Sink {
    fn list_versions<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectVersion>> {
        self.versions(prefix)
    }

    async fn get_version(&self, key: &str, version_id: &str) -> Result<Bytes> {
        validate_key(key)?;
        let mut req = S3Request::new("GET", Method::GET, self.bucket(), Some(key));
        if version_id != "null" {
            req = req.query("versionId", version_id);
        }
        Ok(self.client().send(req).await?.body)
    }
}
