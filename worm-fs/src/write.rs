//! The no-clobber write: temp file, fsync, `link()`, 0444, immutable, directory fsync.
//!
//! The final name only ever appears through `link()` of a complete, fsynced, read-only
//! temp file, and `link()` fails with `EEXIST` rather than replace anything, so a reader
//! never sees a partial object and a second writer can never clobber the first.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use worm_core::{Error, Result};

use crate::immutable::set_immutable;
use crate::path::{TEMP_PREFIX, ensure_parent, path_conflict, symlink_refused, sync_dir};

/// Mode of stored objects: read-only for everyone.
pub(crate) const OBJECT_MODE: u32 = 0o444;

/// Points in [`write_once`] where a test hook may inject a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The temp file exists, nothing written yet.
    Created,
    /// The body is written (maybe only in the page cache).
    Written,
    /// The temp file is fsynced and read-only, not yet linked.
    Synced,
    /// The final name exists; the temp name not yet removed.
    Linked,
}

/// A hook run at each [`Stage`]; production code passes [`no_fault`].
pub(crate) type Hook<'a> = &'a (dyn Fn(Stage) -> io::Result<()> + Sync);

/// The hook that never fails.
pub(crate) fn no_fault(_: Stage) -> io::Result<()> {
    Ok(())
}

/// Where and how to write.
pub(crate) struct Target<'a> {
    /// The store's root directory.
    pub root: &'a Path,
    /// Set the immutable attribute on the stored file.
    pub immutable: bool,
}

/// Store `body` at `key` under the root, once. [`Error::AlreadyExists`] if the key is
/// taken. On failure before the link nothing is left behind: the temp file is removed.
pub(crate) fn write_once(t: &Target<'_>, key: &str, body: &[u8], hook: Hook<'_>) -> Result<()> {
    let dir = ensure_parent(t.root, key)?;
    let name = key.rsplit('/').next().unwrap_or(key);
    let final_path = dir.join(name);
    // Cheap early answer; `link()` below is what actually guarantees no clobbering.
    if fs::symlink_metadata(&final_path).is_ok() {
        return Err(taken(t.root, key, &final_path));
    }

    let (file, tmp) = create_temp(&dir, key)?;
    let io_err = |what: &str, path: &Path, e| Error::io(format!("put '{key}': {what} {}", path.display()), e);
    fill(file, body, hook).map_err(|e| io_err("write temporary file", tmp.path(), e))?;

    match fs::hard_link(tmp.path(), &final_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(taken(t.root, key, &final_path)),
        Err(e) => return Err(io_err("link", &final_path, e)),
    }
    // From here on the object is stored; errors say so, so that a retry (which will
    // meet AlreadyExists and compare hashes) is the right reaction.
    let stored = |what: &str, path: &Path, e| {
        Error::io(format!("put '{key}': stored {}, but {what} {}", final_path.display(), path.display()), e)
    };
    hook(Stage::Linked).map_err(|e| stored("then failed after linking", tmp.path(), e))?;
    tmp.remove().map_err(|(path, e)| stored("could not remove the temporary link", &path, e))?;
    if t.immutable {
        set_immutable(&final_path, true).map_err(|e| stored("could not set the immutable attribute on", &final_path, e))?;
    }
    sync_dir(&dir).map_err(|e| stored("could not fsync the directory", &dir, e))?;
    Ok(())
}

/// Write the body, make the file read-only, fsync, with the hook at each stage.
fn fill(mut file: File, body: &[u8], hook: Hook<'_>) -> io::Result<()> {
    hook(Stage::Created)?;
    file.write_all(body)?;
    hook(Stage::Written)?;
    file.set_permissions(Permissions::from_mode(OBJECT_MODE))?;
    file.sync_all()?;
    hook(Stage::Synced)
}

/// What is in the way at `path`: an object (AlreadyExists), a directory of other keys, or
/// a link.
fn taken(root: &Path, key: &str, path: &Path) -> Error {
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => symlink_refused(root, key, path),
        Ok(m) if m.is_dir() => path_conflict(key, path, "a directory holding other keys"),
        _ => Error::AlreadyExists {
            key: key.to_string(),
            target: root.display().to_string(),
        },
    }
}

/// A temp file path that is removed on drop unless [`remove`](TempPath::remove)d first.
struct TempPath(Option<PathBuf>);

impl TempPath {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    fn remove(mut self) -> std::result::Result<(), (PathBuf, io::Error)> {
        match self.0.take() {
            Some(p) => fs::remove_file(&p).map_err(|e| (p, e)),
            None => Ok(()),
        }
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            if let Err(e) = fs::remove_file(&p) {
                tracing::warn!(target: "worm", path = %p.display(), error = %e, "could not remove a temporary file");
            }
        }
    }
}

/// Create a fresh temp file in `dir`, named `.worm-tmp-<pid>-<n>`.
fn create_temp(dir: &Path, key: &str) -> Result<(File, TempPath)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut attempts = 0;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("{TEMP_PREFIX}{pid}-{n}"));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
        {
            Ok(f) => return Ok((f, TempPath(Some(path)))),
            // A leftover of a crashed process that had the same pid: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 64 => attempts += 1,
            Err(e) => {
                return Err(Error::io(
                    format!("put '{key}': create temporary file {}", path.display()),
                    e,
                ));
            }
        }
    }
}
