//! The no-clobber write: temp file, fsync, `link()`, 0444, immutable, directory fsync.
//!
//! The final name only ever appears through `link()` of a complete, fsynced, read-only
//! temp file, and `link()` fails with `EEXIST` rather than replace anything, so a reader
//! never sees a partial object and a second writer can never clobber the first.

use std::fs::{File, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use worm_core::{Error, Result};

use crate::dir::{Dir, Kind};
use crate::immutable::set_immutable_file;
use crate::path::{TEMP_PREFIX, ensure_parent, path_conflict, symlink_refused};

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
/// Every step after opening the parent directory goes through its handle ([`Dir`]).
pub(crate) fn write_once(t: &Target<'_>, key: &str, body: &[u8], hook: Hook<'_>) -> Result<()> {
    let dir = ensure_parent(t.root, key)?;
    let name = key.rsplit('/').next().unwrap_or(key);
    let final_path = dir.child_path(name);
    // Cheap early answer; `link()` below is what actually guarantees no clobbering.
    if dir.kind(name).is_ok() {
        return Err(taken(t.root, key, &dir, name));
    }

    let (file, tmp) = create_temp(&dir, key)?;
    let io_err = |what: &str, path: &Path, e| {
        Error::io(format!("put '{key}': {what} {}", path.display()), e)
    };
    fill(file, body, hook).map_err(|e| io_err("write temporary file", &tmp.path(), e))?;

    match dir.link(tmp.name(), name) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(taken(t.root, key, &dir, name));
        }
        Err(e) => return Err(io_err("link", &final_path, e)),
    }
    // From here on the object is stored; errors say so, so that a retry (which will
    // meet AlreadyExists and compare hashes) is the right reaction.
    let stored = |what: &str, path: &Path, e| {
        Error::io(
            format!(
                "put '{key}': stored {}, but {what} {}",
                final_path.display(),
                path.display()
            ),
            e,
        )
    };
    hook(Stage::Linked).map_err(|e| stored("then failed after linking", &tmp.path(), e))?;
    tmp.remove()
        .map_err(|(path, e)| stored("could not remove the temporary link", &path, e))?;
    if t.immutable {
        dir.open_read(name)
            .and_then(|f| set_immutable_file(&f, true))
            .map_err(|e| stored("could not set the immutable attribute on", &final_path, e))?;
    }
    dir.sync()
        .map_err(|e| stored("could not fsync the directory", dir.path(), e))?;
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

/// What is in the way at `name`: an object (AlreadyExists), a directory of other keys, or
/// a link.
fn taken(root: &Path, key: &str, dir: &Dir, name: &str) -> Error {
    let path = dir.child_path(name);
    match dir.kind(name) {
        Ok(Kind::Symlink) => symlink_refused(root, key, &path),
        Ok(Kind::Dir) => path_conflict(key, &path, "a directory holding other keys"),
        _ => Error::AlreadyExists {
            key: key.to_string(),
            target: root.display().to_string(),
        },
    }
}

/// A temp file in a directory, removed on drop unless [`remove`](TempFile::remove)d first.
struct TempFile<'a> {
    dir: &'a Dir,
    name: Option<String>,
}

impl TempFile<'_> {
    fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    fn path(&self) -> PathBuf {
        self.dir.child_path(self.name())
    }

    fn remove(mut self) -> std::result::Result<(), (PathBuf, io::Error)> {
        match self.name.take() {
            Some(n) => self
                .dir
                .unlink(&n)
                .map_err(|e| (self.dir.child_path(&n), e)),
            None => Ok(()),
        }
    }
}

impl Drop for TempFile<'_> {
    fn drop(&mut self) {
        if let Some(n) = self.name.take()
            && let Err(e) = self.dir.unlink(&n)
        {
            let p = self.dir.child_path(&n);
            tracing::warn!(target: "worm", path = %p.display(), error = %e, "could not remove a temporary file");
        }
    }
}

/// Create a fresh temp file in `dir`, named `.worm-tmp-<pid>-<n>`.
fn create_temp<'a>(dir: &'a Dir, key: &str) -> Result<(File, TempFile<'a>)> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let pid = std::process::id();
    let mut attempts = 0;
    loop {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("{TEMP_PREFIX}{pid}-{n}");
        match dir.create_new(&name, 0o600) {
            Ok(f) => {
                return Ok((
                    f,
                    TempFile {
                        dir,
                        name: Some(name),
                    },
                ));
            }
            // A leftover of a crashed process that had the same pid: take the next name.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 64 => attempts += 1,
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "put '{key}': create temporary file {}",
                        dir.child_path(&name).display()
                    ),
                    e,
                ));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::fs;
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn failure_before_link_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let t = Target {
            root: dir.path(),
            immutable: false,
        };
        for stage in [Stage::Created, Stage::Written, Stage::Synced] {
            let hook = move |s: Stage| match s == stage {
                true => Err(io::Error::other(format!("injected at {s:?}"))),
                false => Ok(()),
            };
            let e = write_once(&t, "d/obj", b"0123456789", &hook).unwrap_err();
            let msg = e.to_string();
            assert!(
                msg.contains("'d/obj'") && msg.contains("injected") && msg.contains(".worm-tmp-"),
                "{msg}"
            );
            assert_eq!(
                names(&dir.path().join("d")),
                Vec::<String>::new(),
                "after a failure at {stage:?}"
            );
        }
        // The key is still free.
        write_once(&t, "d/obj", b"0123456789", &no_fault).unwrap();
        assert_eq!(fs::read(dir.path().join("d/obj")).unwrap(), b"0123456789");
    }

    #[test]
    fn failure_after_link_says_stored_and_cleans_the_temp() {
        let dir = tempfile::tempdir().unwrap();
        let t = Target {
            root: dir.path(),
            immutable: false,
        };
        let hook = |s: Stage| match s {
            Stage::Linked => Err(io::Error::other("injected")),
            _ => Ok(()),
        };
        let e = write_once(&t, "obj", b"full body", &hook).unwrap_err();
        assert!(e.to_string().contains("stored"), "{e}");
        assert_eq!(names(dir.path()), vec!["obj".to_string()]);
        assert_eq!(fs::read(dir.path().join("obj")).unwrap(), b"full body");
        let meta = fs::metadata(dir.path().join("obj")).unwrap();
        assert_eq!(meta.mode() & 0o777, OBJECT_MODE);
        assert_eq!(meta.nlink(), 1, "the temporary link must be gone");
    }

    #[test]
    fn taken_names_are_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let t = Target {
            root: dir.path(),
            immutable: false,
        };
        write_once(&t, "a/b", b"first", &no_fault).unwrap();
        // Passing the early check (as a racing writer would) still ends at link(): EEXIST.
        let e = write_once(&t, "a/b", b"second", &no_fault).unwrap_err();
        assert!(matches!(e, Error::AlreadyExists { .. }), "{e}");
        let e = write_once(&t, "a", b"x", &no_fault).unwrap_err();
        assert!(
            matches!(e, Error::InvalidInput { .. }),
            "a directory of keys is in the way: {e}"
        );
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("a/link")).unwrap();
        let e = write_once(&t, "a/link", b"x", &no_fault).unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert_eq!(fs::read(dir.path().join("a/b")).unwrap(), b"first");
        assert_eq!(
            names(&dir.path().join("a")),
            vec!["b".to_string(), "link".to_string()]
        );
    }

    #[test]
    fn a_real_os_failure_leaves_nothing() {
        // Root ignores permission bits, but not an immutable directory.
        let dir = tempfile::tempdir().unwrap();
        let locked = dir.path().join("locked");
        fs::create_dir(&locked).unwrap();
        if crate::immutable::set_immutable(&locked, true).is_err() {
            eprintln!("skipped: the immutable attribute is unavailable here");
            return;
        }
        let t = Target {
            root: dir.path(),
            immutable: false,
        };
        let e = write_once(&t, "locked/obj", b"x", &no_fault);
        crate::immutable::set_immutable(&locked, false).unwrap();
        let e = e.unwrap_err();
        assert!(
            matches!(&e, Error::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied),
            "{e}"
        );
        assert!(e.to_string().contains("locked"), "{e}");
        assert_eq!(names(&locked), Vec::<String>::new());
    }
}
