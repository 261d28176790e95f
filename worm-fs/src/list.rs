//! Listing: walk the part of the tree that can hold a prefix, in byte order of keys.

use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use worm_core::{Error, ObjectInfo, Result};

use crate::path::TEMP_PREFIX;

/// Directories nested deeper than this below the root are not entered: no key layout
/// comes near it, and the walk's stack and open handles stay bounded.
pub(crate) const MAX_DEPTH: usize = 64;

/// One entry found by [`walk`]: a regular file, or something no writer makes.
pub(crate) struct Found {
    pub key: String,
    pub path: PathBuf,
    pub meta: Metadata,
    /// What the entry is when it is not a regular file (never read).
    pub not_a_file: Option<String>,
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
    Walker::new(&dir, &mut found)
        .walk(&dir, &key_prefix, name_prefix)
        .map_err(|(path, e)| {
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
            not_a_file: f.not_a_file,
        })
        .collect();
    // Directory order is not key order ('a-b' < 'a/x' but the directory 'a' sorts
    // first); one sort of the full keys is simplest and exact.
    infos.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok(infos)
}

/// What an entry that is not a regular file or a directory is, in words.
fn what_it_is(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_symlink() {
        "a symbolic link (never followed)"
    } else if t.is_fifo() {
        "a FIFO (never opened)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_char_device() {
        "a character device"
    } else {
        "not a regular file"
    }
}

/// The walk of one listing: the directories being walked (device and inode), so that a
/// directory reached again (a bind mount of an ancestor) is reported, not entered.
pub(crate) struct Walker<'a> {
    ancestors: Vec<(u64, u64)>,
    /// How many of `ancestors` are `dir` and the directories above it.
    base: usize,
    out: &'a mut Vec<Found>,
}

impl<'a> Walker<'a> {
    /// A walk that starts at `dir` and puts what it finds in `out`.
    pub(crate) fn new(dir: &Path, out: &'a mut Vec<Found>) -> Self {
        let ancestors: Vec<(u64, u64)> = dir
            .ancestors()
            .filter_map(|p| fs::metadata(p).ok())
            .map(|m| (m.dev(), m.ino()))
            .collect();
        Walker {
            base: ancestors.len(),
            ancestors,
            out,
        }
    }

    /// Collect the entries below `dir` whose first-level name starts with `name_prefix`,
    /// as keys `key_prefix + relative path`: regular files, and everything a writer never
    /// makes (links, FIFOs, sockets, devices, directory loops, directories nested past
    /// [`MAX_DEPTH`]) marked as such. Only metadata is read (`lstat`), so nothing
    /// hangs and no link is followed. Skips temp files and names that are not UTF-8; a
    /// directory vanishing mid-walk is skipped.
    pub(crate) fn walk(
        &mut self,
        dir: &Path,
        key_prefix: &str,
        name_prefix: &str,
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
            // `symlink_metadata` does not follow links, so a link is never entered.
            let meta = match fs::symlink_metadata(&path) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err((path, e)),
            };
            let key = format!("{key_prefix}{name}");
            let not_a_file = if meta.is_dir() {
                let id = (meta.dev(), meta.ino());
                if self.ancestors.contains(&id) {
                    Some("a directory loop: the same directory as one of its parents".to_string())
                } else if self.ancestors.len() - self.base >= MAX_DEPTH {
                    Some(format!(
                        "a directory nested deeper than {MAX_DEPTH} levels (not entered)"
                    ))
                } else {
                    self.ancestors.push(id);
                    let r = self.walk(&path, &format!("{key}/"), "");
                    self.ancestors.pop();
                    r?;
                    continue;
                }
            } else if meta.is_file() {
                None
            } else {
                Some(what_it_is(&meta).to_string())
            };
            self.out.push(Found {
                key,
                path,
                meta,
                not_a_file,
            });
        }
        Ok(())
    }
}
