//! From keys to paths under the root: key checks, parent directories, symlink refusal.
//!
//! Every directory under the root is opened relative to its parent with `O_NOFOLLOW`
//! ([`Dir`]) and a symbolic link is refused, so a link placed in the tree, before or
//! during a put or get, cannot lead it outside the root.

use std::io;
use std::path::{Path, PathBuf};

use worm_core::key::validate_key;
use worm_core::{Error, Result};

use crate::dir::Dir;

/// File names starting with this are temporary files of unfinished puts (and the
/// immutability probe): never listed, never valid as a key segment.
pub(crate) const TEMP_PREFIX: &str = ".worm-tmp-";

/// Check that `key` is valid for every backend and does not use the reserved temp prefix.
pub(crate) fn check_key(key: &str) -> Result<()> {
    validate_key(key)?;
    if key.split('/').any(|seg| seg.starts_with(TEMP_PREFIX)) {
        return Err(Error::invalid(
            format!("key '{key}'"),
            format!("segments starting with '{TEMP_PREFIX}' are reserved for temporary files"),
        ));
    }
    Ok(())
}

/// The path of `key` under `root` (the key must have passed [`check_key`]).
pub(crate) fn key_path(root: &Path, key: &str) -> PathBuf {
    let mut p = root.to_path_buf();
    p.extend(key.split('/'));
    p
}

/// The error for a symbolic link found at `path` under the root.
pub(crate) fn symlink_refused(root: &Path, key: &str, path: &Path) -> Error {
    Error::PermissionDenied {
        target: root.display().to_string(),
        message: format!(
            "'{}' is a symbolic link; worm never follows links under its root (key '{key}'). \
             Replace it with a real directory or file.",
            path.display()
        ),
    }
}

/// The error for a key whose path holds a directory of other keys (`a/b` while `a/b/c`
/// exists), or whose parent is a file (`a/b/c` while `a/b` exists): a file system cannot
/// hold both.
pub(crate) fn path_conflict(key: &str, path: &Path, what: &str) -> Error {
    Error::invalid(
        format!("key '{key}'"),
        format!(
            "'{}' is {what}; a directory store cannot hold both a key and keys below it",
            path.display()
        ),
    )
}

/// Open the parent directory of `key` under `root`, creating missing directories on the
/// way (each new one made durable by syncing its parent), refusing symbolic links and
/// files in the way. Every step is opened relative to the one before (see
/// [`Dir`]), so the returned handle is on a directory inside the root even if the tree
/// changes meanwhile.
pub(crate) fn ensure_parent(root: &Path, key: &str) -> Result<Dir> {
    let segments: Vec<&str> = key.split('/').collect();
    let mut dir = Dir::open(root)
        .map_err(|e| Error::io(format!("put '{key}': open root {}", root.display()), e))?;
    for seg in &segments[..segments.len().saturating_sub(1)] {
        dir = loop {
            match dir.open_dir(seg) {
                Ok(next) => break next,
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                    return Err(symlink_refused(root, key, &dir.child_path(seg)));
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                    return Err(path_conflict(
                        key,
                        &dir.child_path(seg),
                        "an object, not a directory",
                    ));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match dir.mkdir(seg) {
                    Ok(()) => dir.sync().map_err(|e| {
                        Error::io(
                            format!("put '{key}': fsync directory {}", dir.path().display()),
                            e,
                        )
                    })?,
                    // Another put created it meanwhile: open what is there now.
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => {
                        return Err(Error::io(
                            format!(
                                "put '{key}': create directory {}",
                                dir.child_path(seg).display()
                            ),
                            e,
                        ));
                    }
                },
                Err(e) => {
                    return Err(Error::io(
                        format!(
                            "put '{key}': open directory {}",
                            dir.child_path(seg).display()
                        ),
                        e,
                    ));
                }
            }
        };
    }
    Ok(dir)
}

/// The parent directory of an existing object `key`, opened step by step without
/// following links (a symbolic link is refused); a missing one means
/// [`Error::NotFound`]. The final component is left to the caller, which opens it
/// through the handle without following links.
pub(crate) fn existing_dir(root: &Path, key: &str, target: &str) -> Result<Dir> {
    let segments: Vec<&str> = key.split('/').collect();
    let not_found = || Error::NotFound {
        key: key.to_string(),
        target: target.to_string(),
    };
    let mut dir = Dir::open(root)
        .map_err(|e| Error::io(format!("get '{key}': open root {}", root.display()), e))?;
    for seg in &segments[..segments.len().saturating_sub(1)] {
        dir = match dir.open_dir(seg) {
            Ok(next) => next,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
                return Err(symlink_refused(root, key, &dir.child_path(seg)));
            }
            Err(e)
                if e.raw_os_error() == Some(libc::ENOTDIR)
                    || e.kind() == io::ErrorKind::NotFound =>
            {
                return Err(not_found());
            }
            Err(e) => {
                return Err(Error::io(
                    format!(
                        "get '{key}': open directory {}",
                        dir.child_path(seg).display()
                    ),
                    e,
                ));
            }
        };
    }
    Ok(dir)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_map_inside_the_root() {
        let root = Path::new("/srv/worm");
        assert_eq!(
            key_path(root, "a/b c/d.json"),
            Path::new("/srv/worm/a/b c/d.json")
        );
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "a//b",
            "a/.worm-tmp-1",
            ".worm-tmp-x/y",
            "",
        ] {
            assert!(
                matches!(check_key(bad), Err(Error::InvalidInput { .. })),
                "key '{bad}' must be refused"
            );
        }
        check_key("a/.worm-tm/x").unwrap();
        check_key("a/x.worm-tmp-").unwrap();
    }

    #[test]
    fn parents_are_created_and_links_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let parent = ensure_parent(root, "a/b/c/obj").unwrap();
        assert_eq!(parent.path(), root.join("a/b/c"));
        assert!(root.join("a/b/c").is_dir());
        assert_eq!(ensure_parent(root, "top").unwrap().path(), root);

        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("link")).unwrap();
        let e = ensure_parent(root, "link/x/obj").unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");
        assert!(
            e.to_string().contains("symbolic link") && e.to_string().contains("link/x/obj"),
            "{e}"
        );
        assert!(
            !outside.path().join("x").exists(),
            "nothing may be created through the link"
        );
        let e = existing_dir(root, "link/obj", "root").unwrap_err();
        assert!(matches!(e, Error::PermissionDenied { .. }), "{e}");

        std::fs::write(root.join("file"), b"x").unwrap();
        let e = ensure_parent(root, "file/below").unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e}");
        assert!(matches!(
            existing_dir(root, "file/below", "root"),
            Err(Error::NotFound { .. })
        ));
        assert!(matches!(
            existing_dir(root, "nope/x", "root"),
            Err(Error::NotFound { .. })
        ));
    }
}
