//! Object versions and delete markers (S3): shadowed versions and hidden audit objects.
//!
//! A versioned bucket keeps every PUT to a key as a version and turns a DELETE into a
//! delete marker. A plain listing shows only the latest version, so an overwrite made by
//! someone allowed to bypass Object Lock governance, or a delete marker, would otherwise
//! go unseen. The S3 provider implements [`VersionSource`]; the verifier takes one with
//! [`Verifier::versions`](super::Verifier::versions).

use std::fmt;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::check::problem;
use super::report::{Kind, Problem};
use crate::error::Result;
use crate::hash::Sha256Hex;

/// One version (or delete marker) of a key, as a versioned store lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ObjectVersion {
    /// The key.
    pub key: String,
    /// The version id.
    pub version_id: String,
    /// Whether this is the current version (what a plain GET returns).
    pub is_latest: bool,
    /// Whether this is a delete marker rather than an object.
    pub is_delete_marker: bool,
    /// Size in bytes (0 for delete markers).
    pub size: u64,
    /// When the version was written.
    pub last_modified: Option<DateTime<Utc>>,
    /// The ETag, when listed. Equal ETags mean equal content; different ETags do not prove
    /// different content (multipart uploads), so the verifier then compares the bodies.
    pub etag: Option<String>,
}

/// A store that keeps object versions (S3 with versioning, as Object Lock requires).
#[async_trait]
pub trait VersionSource: Send + Sync + fmt::Debug {
    /// Every version and delete marker under `prefix`. All versions of one key must come
    /// together (S3's ListObjectVersions order: by key, newest first).
    fn list_versions<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectVersion>>;

    /// The body of one version.
    async fn get_version(&self, key: &str, version_id: &str) -> Result<Bytes>;
}

/// Check every key's versions; returns how many versions were listed. A version listed
/// larger than `max_stored` (no batch is) is never fetched: it counts as content of its
/// own.
pub(crate) async fn check_versions(
    src: &dyn VersionSource,
    prefix: &str,
    max_stored: u64,
    problems: &mut Vec<Problem>,
) -> Result<u64> {
    let mut listed = 0u64;
    let mut group: Vec<ObjectVersion> = Vec::new();
    let mut s = src.list_versions(prefix);
    while let Some(v) = s.next().await {
        let v = v?;
        listed += 1;
        if group.first().is_some_and(|g| g.key != v.key) {
            check_key(src, std::mem::take(&mut group), max_stored, problems).await?;
        }
        group.push(v);
    }
    if !group.is_empty() {
        check_key(src, group, max_stored, problems).await?;
    }
    Ok(listed)
}

async fn check_key(
    src: &dyn VersionSource,
    versions: Vec<ObjectVersion>,
    max_stored: u64,
    problems: &mut Vec<Problem>,
) -> Result<()> {
    let key = versions[0].key.clone();
    let (markers, objects): (Vec<&ObjectVersion>, Vec<&ObjectVersion>) =
        versions.iter().partition(|v| v.is_delete_marker);
    let ids = |vs: &[&ObjectVersion]| vs.iter().map(|v| v.version_id.clone()).collect::<Vec<_>>();
    if !markers.is_empty() {
        let latest = markers.iter().any(|m| m.is_latest);
        let mut p = problem(
            Kind::DeleteMarker,
            &key,
            format!(
                "{} delete marker(s) ({}) over this audit object{}; object versions still stored: {}",
                markers.len(),
                ids(&markers).join(", "),
                if latest {
                    ", hiding it from listings and plain reads"
                } else {
                    ""
                },
                if objects.is_empty() {
                    "none".to_string()
                } else {
                    ids(&objects).join(", ")
                }
            ),
        );
        p.version_ids = ids(&markers);
        problems.push(p);
    }
    if objects.len() < 2 {
        return Ok(());
    }
    let same_etag = objects
        .iter()
        .all(|v| v.etag.is_some() && v.etag == objects[0].etag);
    let mut distinct: Vec<(Sha256Hex, Vec<&ObjectVersion>)> = Vec::new();
    if same_etag {
        distinct.push((Sha256Hex([0; 32]), objects.clone()));
    } else {
        for v in &objects {
            let h = if v.size > max_stored {
                // Too large to be a batch, so unlike every batch version: a stand-in hash
                // of its own, without reading it.
                Sha256Hex::of(format!("oversized version {}", v.version_id).as_bytes())
            } else {
                Sha256Hex::of(&src.get_version(&key, &v.version_id).await?)
            };
            match distinct.iter_mut().find(|(d, _)| *d == h) {
                Some((_, vs)) => vs.push(v),
                None => distinct.push((h, vec![v])),
            }
        }
    }
    let all_ids = ids(&objects);
    let mut p = if distinct.len() == 1 {
        problem(
            Kind::Duplicate,
            &key,
            format!(
                "{} identical versions ({}): the same batch was stored twice (a retried PUT), not a change",
                objects.len(),
                all_ids.join(", ")
            ),
        )
    } else {
        let latest = objects
            .iter()
            .find(|v| v.is_latest)
            .map_or("none", |v| v.version_id.as_str());
        let groups: Vec<String> = distinct
            .iter()
            .map(|(_, vs)| format!("[{}]", ids(vs).join(", ")))
            .collect();
        problem(
            Kind::Modified,
            &key,
            format!(
                "overwritten: {} versions with {} different contents {} (latest {latest}); \
                 the older versions show what was stored before",
                objects.len(),
                distinct.len(),
                groups.join(" vs ")
            ),
        )
    };
    p.version_ids = all_ids;
    problems.push(p);
    Ok(())
}
