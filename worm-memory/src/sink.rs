//! `MemorySink`: the map and its WORM rules.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use worm_core::key::validate_key;
use worm_core::{
    Capabilities, Error, Immutability, ObjectInfo, PutOptions, PutReceipt, Result, Retention,
    Sha256Hex, StoredObject, WormSink,
};

/// What [`MemorySink::describe`](WormSink::describe) returns and errors name.
const TARGET: &str = "memory:";

/// One stored object.
#[derive(Debug, Clone)]
struct Entry {
    body: Bytes,
    sha256: Sha256Hex,
    content_type: Option<String>,
    content_encoding: Option<String>,
    metadata: BTreeMap<String, String>,
    retention: Option<Retention>,
    legal_hold: bool,
    version_id: String,
    last_modified: DateTime<Utc>,
}

#[derive(Debug, Default)]
struct Inner {
    objects: Mutex<BTreeMap<String, Entry>>,
    next_version: AtomicU64,
}

/// Lock a mutex, ignoring poisoning: every critical section here leaves its data
/// consistent, so a panic elsewhere in a test cannot leave it half-updated.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An in-memory [`WormSink`] that enforces the WORM rules: a put never overwrites.
///
/// Clones share the same objects. With the `testing` feature, an administrator's
/// `delete` (refused while retention or a legal hold holds) and `overwrite` (always
/// refused) show that the raw path is closed too, and
/// `testing::FaultySink` injects failures.
#[derive(Clone, Default)]
pub struct MemorySink {
    inner: Arc<Inner>,
}

impl fmt::Debug for MemorySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemorySink")
            .field("objects", &lock(&self.inner.objects).len())
            .finish()
    }
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        lock(&self.inner.objects).len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All stored keys, in key order.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.inner.objects).keys().cloned().collect()
    }

    /// Delete `key`, as an administrator would (feature `testing`). Refused with
    /// [`Error::PermissionDenied`] while a legal hold is on, while COMPLIANCE retention
    /// holds, or while GOVERNANCE retention holds unless `bypass_governance` is set
    /// (like S3's `x-amz-bypass-governance-retention`). [`Error::NotFound`] if absent.
    #[cfg(feature = "testing")]
    pub fn delete(&self, key: &str, bypass_governance: bool) -> Result<()> {
        validate_key(key)?;
        let mut objects = lock(&self.inner.objects);
        let entry = objects.get(key).ok_or_else(|| not_found(key))?;
        let refuse = |why: String| {
            Err(Error::PermissionDenied {
                target: TARGET.to_string(),
                message: format!("deleting '{key}' is refused: {why}"),
            })
        };
        if entry.legal_hold {
            return refuse("a legal hold is on; release it first with set_legal_hold".into());
        }
        if let Some(r) = entry.retention.filter(|r| r.holds_at(Utc::now())) {
            match r.mode {
                worm_core::RetentionMode::Compliance => {
                    return refuse(format!(
                        "COMPLIANCE retention holds until {}",
                        r.retain_until
                    ));
                }
                worm_core::RetentionMode::Governance if !bypass_governance => {
                    return refuse(format!(
                        "GOVERNANCE retention holds until {}; pass bypass_governance to override",
                        r.retain_until
                    ));
                }
                worm_core::RetentionMode::Governance => {}
            }
        }
        objects.remove(key);
        Ok(())
    }

    /// Replace the bytes of `key` in place. Always refused with
    /// [`Error::PermissionDenied`]: WORM objects are never changed. It exists so tests can
    /// show that the raw path is closed too (feature `testing`).
    #[cfg(feature = "testing")]
    pub fn overwrite(&self, key: &str, _body: Bytes) -> Result<()> {
        validate_key(key)?;
        Err(Error::PermissionDenied {
            target: TARGET.to_string(),
            message: format!("overwriting '{key}' is refused: WORM objects are never changed"),
        })
    }

    /// Turn the legal hold of `key` on or off (an administrator's operation; feature
    /// `testing`).
    #[cfg(feature = "testing")]
    pub fn set_legal_hold(&self, key: &str, on: bool) -> Result<()> {
        validate_key(key)?;
        let mut objects = lock(&self.inner.objects);
        let entry = objects.get_mut(key).ok_or_else(|| not_found(key))?;
        entry.legal_hold = on;
        Ok(())
    }
}

fn not_found(key: &str) -> Error {
    Error::NotFound {
        key: key.to_string(),
        target: TARGET.to_string(),
    }
}

#[async_trait]
impl WormSink for MemorySink {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        validate_key(key)?;
        let sha256 = Sha256Hex::of(&body);
        let size = body.len() as u64;
        let version_id = {
            let mut objects = lock(&self.inner.objects);
            if objects.contains_key(key) {
                return Err(Error::AlreadyExists {
                    key: key.to_string(),
                    target: TARGET.to_string(),
                });
            }
            let n = self.inner.next_version.fetch_add(1, Ordering::SeqCst) + 1;
            let version_id = format!("v{n}");
            objects.insert(
                key.to_string(),
                Entry {
                    body,
                    sha256,
                    content_type: opts.content_type.clone(),
                    content_encoding: opts.content_encoding.clone(),
                    metadata: opts.metadata.clone(),
                    retention: opts.retention,
                    legal_hold: opts.legal_hold,
                    version_id: version_id.clone(),
                    last_modified: Utc::now(),
                },
            );
            version_id
        };
        Ok(PutReceipt {
            key: key.to_string(),
            version_id: Some(version_id),
            sha256,
            size,
        })
    }

    async fn get(&self, key: &str) -> Result<StoredObject> {
        validate_key(key)?;
        let e = lock(&self.inner.objects)
            .get(key)
            .cloned()
            .ok_or_else(|| not_found(key))?;
        Ok(StoredObject {
            key: key.to_string(),
            body: e.body,
            content_type: e.content_type,
            content_encoding: e.content_encoding,
            metadata: e.metadata,
            retention: e.retention,
            legal_hold: Some(e.legal_hold),
            version_id: Some(e.version_id),
        })
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        let snapshot = async move {
            let objects = lock(&self.inner.objects);
            let infos: Vec<Result<ObjectInfo>> = objects
                .range(prefix.to_string()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, e)| {
                    Ok(ObjectInfo {
                        key: k.clone(),
                        size: e.body.len() as u64,
                        last_modified: Some(e.last_modified),
                        not_a_file: None,
                    })
                })
                .collect();
            Ok(stream::iter(infos))
        };
        stream::once(snapshot).try_flatten().boxed()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            immutability: Immutability::Memory,
            retention: true,
            legal_hold: true,
            metadata: true,
        }
    }

    fn describe(&self) -> String {
        TARGET.to_string()
    }

    async fn stored_sha256(&self, key: &str) -> Result<Sha256Hex> {
        validate_key(key)?;
        lock(&self.inner.objects)
            .get(key)
            .map(|e| e.sha256)
            .ok_or_else(|| not_found(key))
    }
}
