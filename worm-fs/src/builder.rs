//! `FsSinkBuilder`: root directory, immutable attribute, and the probe that decides what
//! the sink can honestly claim.

use std::fs;
use std::path::PathBuf;

use worm_core::{Error, Immutability, Result};

use crate::immutable::require_immutable;
use crate::sink::FsSink;

impl FsSink {
    /// A builder for a store rooted at `root`.
    pub fn builder(root: impl Into<PathBuf>) -> FsSinkBuilder {
        FsSinkBuilder::new(root.into())
    }

    /// A store of read-only files under `root` (created if missing); shorthand for
    /// `FsSink::builder(root).build()`.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        Self::builder(root).build()
    }
}

/// Builds an [`FsSink`]. See [`FsSink::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct FsSinkBuilder {
    root: PathBuf,
    immutable: bool,
    allow_read_only_fallback: bool,
    create_root: bool,
}

impl FsSinkBuilder {
    pub(crate) fn new(root: PathBuf) -> Self {
        FsSinkBuilder {
            root,
            immutable: false,
            allow_read_only_fallback: false,
            create_root: true,
        }
    }

    /// Also set the Linux immutable attribute on every stored file (default off). Needs
    /// `CAP_LINUX_IMMUTABLE` and a file system that supports it (ext4, xfs, btrfs);
    /// [`build`](Self::build) probes both and fails if they are missing, unless
    /// [`allow_read_only_fallback`](Self::allow_read_only_fallback) is set.
    pub fn immutable(mut self, on: bool) -> Self {
        self.immutable = on;
        self
    }

    /// When the immutable attribute was asked for but cannot be set, fall back to
    /// read-only files (with a warning) instead of failing. The sink then reports
    /// [`Immutability::ReadOnlyFiles`]. Default off.
    pub fn allow_read_only_fallback(mut self, on: bool) -> Self {
        self.allow_read_only_fallback = on;
        self
    }

    /// Create the root directory (and its parents) if missing. Default on.
    pub fn create_root(mut self, on: bool) -> Self {
        self.create_root = on;
        self
    }

    /// Check the root and, if asked for, probe the immutable attribute. Does blocking
    /// file I/O (a few system calls).
    pub fn build(self) -> Result<FsSink> {
        let shown = self.root.display().to_string();
        if self.create_root {
            fs::create_dir_all(&self.root)
                .map_err(|e| Error::io(format!("create the store root {shown}"), e))?;
        }
        let root = fs::canonicalize(&self.root).map_err(|e| {
            Error::io(
                format!("open the store root {shown} (create it, or build with create_root(true))"),
                e,
            )
        })?;
        let meta = fs::metadata(&root)
            .map_err(|e| Error::io(format!("inspect the store root {shown}"), e))?;
        if !meta.is_dir() {
            return Err(Error::invalid(
                format!("store root {shown}"),
                "is not a directory",
            ));
        }
        let immutability = if self.immutable {
            match require_immutable(&root) {
                Ok(()) => Immutability::ImmutableFiles,
                Err(e) if self.allow_read_only_fallback => {
                    tracing::warn!(
                        target: "worm",
                        root = %root.display(),
                        error = %e,
                        "the immutable attribute is unavailable; storing read-only files instead"
                    );
                    Immutability::ReadOnlyFiles
                }
                Err(e) => return Err(e),
            }
        } else {
            Immutability::ReadOnlyFiles
        };
        Ok(FsSink::from_parts(root, immutability))
    }
}
