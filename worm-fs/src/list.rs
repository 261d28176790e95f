//! Listing: walk the part of the tree that can hold a prefix, in byte order of keys.

use std::fs::{self, Metadata};
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use worm_core::{Error, ObjectInfo, Result};

use crate::path::TEMP_PREFIX;

/// One stored file found by [`walk`].
pub(crate) struct Found {
    pub key: String,
    pub path: PathBuf,
    pub meta: Metadata,
}

/// Objects whose key starts with `prefix` (a plain string prefix), sorted by key.
pub(crate) fn list(root: &Path, prefix: &str) -> Result<Vec<ObjectInfo>> {
    // Only the directory named by the prefix up to its last '/' can hold matching keys;
    // below it, entries must start with the rest of the prefix.
    let (dir_part, name_prefix) = match prefix.rsplit_once('/') {
        Some((d, n)) => (Some(d), n),
        None => (None, prefix),
    };
    let mut dir = root.to_path_buf();
    let mut key_prefix = String::new();
    if let Some(d) = dir_part {
        for seg in d.split('/') {
            // No valid key has such a segment, and it must never lead outside the root.
            if seg.is_empty() || seg == "." || seg == ".." || seg.starts_with(TEMP_PREFIX) {
                return Ok(Vec::new());
            }
            dir.push(seg);
            match fs::symlink_metadata(&dir) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => return Ok(Vec::new()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => {
                    return Err(Error::io(
                        format!("list '{prefix}': inspect {}", dir.display()),
                        e,
                    ));
                }
            }
        }
        key_prefix = format!("{d}/");
    }
    let mut found = Vec::new();
    walk(&dir, &key_prefix, name_prefix, &mut found).map_err(|(path, e)| {
        Error::io(
            format!("list '{prefix}': read directory {}", path.display()),
            e,
        )
    })?;
    let mut infos: Vec<ObjectInfo> = found
        .into_iter()
        .filter(|f| f.key.starts_with(prefix))
        .map(|f| ObjectInfo {
            key: f.key,
            size: f.meta.len(),
            last_modified: f.meta.modified().ok().map(DateTime::<Utc>::from),
        })
        .collect();
    // Directory order is not key order ('a-b' < 'a/x' but the directory 'a' sorts
    // first); one sort of the full keys is simplest and exact.
    infos.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(infos)
}

/// Collect the regular files below `dir` whose first-level name starts with
/// `name_prefix`, as keys `key_prefix + relative path`. Skips temp files, symbolic links
/// and names that are not UTF-8; a directory vanishing mid-walk is skipped.
pub(crate) fn walk(
    dir: &Path,
    key_prefix: &str,
    name_prefix: &str,
    out: &mut Vec<Found>,
) -> std::result::Result<(), (PathBuf, io::Error)> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err((dir.to_path_buf(), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| (dir.to_path_buf(), e))?;
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            tracing::warn!(target: "worm", path = %path.display(), "skipping a file name that is not UTF-8");
            continue;
        };
        if !name.starts_with(name_prefix) || name.starts_with(TEMP_PREFIX) {
            continue;
        }
        // `symlink_metadata` does not follow links, so a link is never listed or entered.
        let meta = match fs::symlink_metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err((path, e)),
        };
        let key = format!("{key_prefix}{name}");
        if meta.is_dir() {
            walk(&path, &format!("{key}/"), "", out)?;
        } else if meta.is_file() {
            out.push(Found { key, path, meta });
        } else if meta.file_type().is_symlink() {
            tracing::warn!(target: "worm", path = %path.display(), "skipping a symbolic link under the store root");
        }
    }
    Ok(())
}
