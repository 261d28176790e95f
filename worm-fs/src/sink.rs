//! `FsSink`: one file per object under a root directory.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use worm_core::bufpool::BufPool;
use worm_core::{
    Capabilities, Error, Immutability, ObjectInfo, PutOptions, PutReceipt, Result, Sha256Hex,
    StoredObject, WormSink,
};

use crate::immutable::{self, require_immutable};
use crate::list::{Walker, list};
use crate::path::{check_key, existing_dir, symlink_refused};
use crate::write::{Target, no_fault, write_once};

/// A [`WormSink`] storing each object as a read-only file `root/<key>`, written once
/// without clobbering, optionally with the Linux immutable attribute.
///
/// It keeps only the bytes: content type, encoding, user metadata, retention and legal
/// hold are accepted but not stored (batch bodies are self-describing, and a plain file
/// system cannot enforce retention), which [`capabilities`](WormSink::capabilities) says.
/// Clones share the same root.
#[derive(Debug, Clone)]
pub struct FsSink {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    shown: String,
    immutability: Immutability,
    /// Buffers objects are read into, reused once the bytes read are dropped.
    reads: Arc<BufPool>,
}

/// Read buffers a store keeps for reuse: as many as the verifier reads objects at once
/// by default, each at most 4 MiB, the largest preset batch (a larger object is read
/// into a buffer of its own), so at most 32 MiB are kept.
/// Reading thousands of 1 MiB batches one after another then faults in and zeroes no new
/// pages for each (BENCHMARKS.md, "Session 8").
const KEPT_READ_BUFFERS: usize = 8;
const MAX_KEPT_READ_BUFFER: usize = 4 << 20;

impl FsSink {
    pub(crate) fn from_parts(root: PathBuf, immutability: Immutability) -> Self {
        let shown = root.display().to_string();
        FsSink {
            inner: Arc::new(Inner {
                root,
                shown,
                immutability,
                reads: Arc::new(BufPool::new(KEPT_READ_BUFFERS, MAX_KEPT_READ_BUFFER)),
            }),
        }
    }

    /// The root directory (canonical).
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The file that holds `key`.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        check_key(key)?;
        Ok(crate::path::key_path(&self.inner.root, key))
    }

    /// Whether the file of `key` carries the Linux immutable attribute. Blocking.
    pub fn is_immutable(&self, key: &str) -> Result<bool> {
        let (file, path) = self.open_object(key)?;
        immutable::is_immutable_file(&file)
            .map_err(|e| self.io_err(key, "read the attributes of", &path, e))
    }

    /// **Administrator operation**: clear the immutable attribute of `key`'s file, so that
    /// root can delete it (e.g. when a retention period you enforce elsewhere has ended,
    /// or to clean up after tests). Needs `CAP_LINUX_IMMUTABLE`. The file stays 0444.
    /// Blocking.
    pub fn clear_immutable(&self, key: &str) -> Result<()> {
        let (file, path) = self.open_object(key)?;
        immutable::set_immutable_file(&file, false)
            .map_err(|e| self.io_err(key, "clear the immutable attribute of", &path, e))
    }

    /// **Administrator operation**: clear the immutable attribute of every object under
    /// the root, so the tree can be removed. Returns how many files had it. Blocking.
    pub fn clear_immutable_all(&self) -> Result<usize> {
        let mut found = Vec::new();
        Walker::new(&self.inner.root, &mut found)
            .walk(&self.inner.root, "", "")
            .map_err(|(p, e)| {
                Error::io(
                    format!("clear immutable attributes: read directory {}", p.display()),
                    e,
                )
            })?;
        let mut cleared = 0;
        for f in found.into_iter().filter(|f| f.not_a_file.is_none()) {
            let ctx = |e| {
                Error::io(
                    format!("clear the immutable attribute of {}", f.path.display()),
                    e,
                )
            };
            if immutable::is_immutable(&f.path).map_err(ctx)? {
                immutable::set_immutable(&f.path, false).map_err(ctx)?;
                cleared += 1;
            }
        }
        Ok(cleared)
    }

    /// Open an existing object for reading through directory handles, following no
    /// symbolic link on the way or at its name. Also returns its path, for messages.
    fn open_object(&self, key: &str) -> Result<(fs::File, PathBuf)> {
        check_key(key)?;
        let dir = existing_dir(&self.inner.root, key, &self.inner.shown)?;
        let name = key.rsplit('/').next().unwrap_or(key);
        let path = dir.child_path(name);
        match dir.open_read(name) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                Err(symlink_refused(&self.inner.root, key, &path))
            }
            Err(e) => Err(self.io_err(key, "open", &path, e)),
        }
    }

    fn io_err(&self, key: &str, what: &str, path: &Path, e: io::Error) -> Error {
        if e.kind() == io::ErrorKind::NotFound {
            return Error::NotFound {
                key: key.to_string(),
                target: self.inner.shown.clone(),
            };
        }
        Error::io(format!("'{key}': {what} {}", path.display()), e)
    }

    /// Read an object's bytes without following a symbolic link at its name.
    /// `get`, within `limit` bytes when given, off the async threads.
    async fn fetch(&self, key: &str, limit: Option<u64>) -> Result<StoredObject> {
        check_key(key)?;
        let this = self.clone();
        let owned_key = key.to_string();
        let body = blocking(
            format!("get '{key}' from {}", self.inner.shown),
            move || this.read(&owned_key, limit),
        )
        .await?;
        Ok(StoredObject::plain(key, body))
    }

    /// Read `key` whole, or at most `limit` bytes of it ([`Error::TooLarge`] past that).
    fn read(&self, key: &str, limit: Option<u64>) -> Result<Bytes> {
        let (file, path) = self.open_object(key)?;
        let not_found = || Error::NotFound {
            key: key.to_string(),
            target: self.inner.shown.clone(),
        };
        let meta = file
            .metadata()
            .map_err(|e| self.io_err(key, "inspect", &path, e))?;
        if !meta.is_file() {
            return Err(not_found());
        }
        let too_large = |limit| Error::TooLarge {
            key: key.to_string(),
            target: self.inner.shown.clone(),
            limit,
        };
        let cap = limit.unwrap_or(u64::MAX);
        if meta.len() > cap {
            return Err(too_large(cap));
        }
        // The file may grow between the stat and the read: read at most one byte past
        // the cap, whatever it says now.
        let reads = &self.inner.reads;
        let mut body = reads.take(usize::try_from(meta.len()).unwrap_or(0));
        if let Err(e) = file.take(cap.saturating_add(1)).read_to_end(&mut body) {
            reads.give(body);
            return Err(self.io_err(key, "read", &path, e));
        }
        if body.len() as u64 > cap {
            reads.give(body);
            return Err(too_large(cap));
        }
        Ok(reads.bytes(body))
    }
}

/// Run blocking file work off the async threads; a panic there is passed on.
async fn blocking<T: Send + 'static>(
    what: String,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Backend {
            context: what,
            message: "the blocking task was cancelled because the runtime is shutting down".into(),
        }),
    }
}

#[async_trait]
impl WormSink for FsSink {
    async fn put(&self, key: &str, body: Bytes, opts: &PutOptions) -> Result<PutReceipt> {
        check_key(key)?;
        if opts.retention.is_some() || opts.legal_hold {
            tracing::debug!(target: "worm", key, "fs store: retention and legal hold are not enforced by a plain file system");
        }
        let this = self.clone();
        let owned_key = key.to_string();
        let what = format!("put '{key}' in {}", self.inner.shown);
        let (sha256, size) = blocking(what, move || {
            let target = Target {
                root: &this.inner.root,
                immutable: this.inner.immutability == Immutability::ImmutableFiles,
            };
            write_once(&target, &owned_key, &body, &no_fault)?;
            Ok((Sha256Hex::of(&body), body.len() as u64))
        })
        .await?;
        Ok(PutReceipt {
            key: key.to_string(),
            version_id: None,
            sha256,
            size,
        })
    }

    async fn get(&self, key: &str) -> Result<StoredObject> {
        self.fetch(key, None).await
    }

    async fn get_capped(&self, key: &str, limit: u64) -> Result<StoredObject> {
        self.fetch(key, Some(limit)).await
    }

    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        let root = self.inner.root.clone();
        let owned_prefix = prefix.to_string();
        let what = format!("list '{prefix}' in {}", self.inner.shown);
        let infos = blocking(what, move || list(&root, &owned_prefix));
        stream::once(infos)
            .map_ok(|v| stream::iter(v.into_iter().map(Ok)))
            .try_flatten()
            .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            immutability: self.inner.immutability,
            retention: false,
            legal_hold: false,
            metadata: false,
        }
    }

    fn describe(&self) -> String {
        self.inner.shown.clone()
    }

    async fn preflight(&self) -> Result<()> {
        let this = self.clone();
        blocking(
            format!("check the store root {}", self.inner.shown),
            move || {
                let root = &this.inner.root;
                let meta = fs::metadata(root).map_err(|e| {
                    Error::io(
                        format!("the store root {} is not usable", root.display()),
                        e,
                    )
                })?;
                if !meta.is_dir() {
                    return Err(Error::invalid(
                        format!("store root {}", root.display()),
                        "is not a directory",
                    ));
                }
                if this.inner.immutability == Immutability::ImmutableFiles {
                    require_immutable(root)?;
                }
                Ok(())
            },
        )
        .await
    }
}
