//! The Linux immutable attribute (`chattr +i`): set, clear, query and probe.
//!
//! An immutable file cannot be written, renamed, linked to or deleted, not even by root,
//! until someone with `CAP_LINUX_IMMUTABLE` clears the attribute. Not every file system
//! supports it (ext4, xfs and btrfs do).

use std::fs::File;
use std::io;
use std::path::Path;

use worm_core::{Error, Result};

use crate::path::TEMP_PREFIX;

/// Can files in `root` be made immutable? [`Error::NotWorm`] saying how to fix it if not.
///
/// Each probe has a name of its own: writers of one process preflight their sinks at
/// the same time (several services, or several writers of one service, on one root), and
/// a shared name made all but one fail with `EEXIST`, reported as not WORM.
pub(crate) fn require_immutable(root: &Path) -> Result<()> {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("{TEMP_PREFIX}probe-{}-{n}", std::process::id());
    probe(root, &name).map_err(|e| Error::NotWorm {
        target: root.display().to_string(),
        reason: format!(
            "cannot set the Linux immutable attribute on files there ({e}); it needs \
             CAP_LINUX_IMMUTABLE (e.g. run as root) and a file system that supports it \
             (ext4, xfs, btrfs). Use a suitable directory, or allow_read_only_fallback(true) \
             to store read-only files that root can still change"
        ),
    })
}

/// Set (`on`) or clear the immutable attribute of the file (or directory) at `path`, without
/// following a symbolic link.
pub(crate) fn set_immutable(path: &Path, on: bool) -> io::Result<()> {
    set_immutable_file(&open_no_follow(path)?, on)
}

/// Set (`on`) or clear the immutable attribute of an open file.
pub(crate) fn set_immutable_file(file: &File, on: bool) -> io::Result<()> {
    let flags = sys::get_flags(file)?;
    let wanted = if on {
        flags | sys::FS_IMMUTABLE_FL
    } else {
        flags & !sys::FS_IMMUTABLE_FL
    };
    if wanted == flags {
        return Ok(());
    }
    sys::set_flags(file, wanted)
}

/// Whether the file at `path` carries the immutable attribute.
pub(crate) fn is_immutable(path: &Path) -> io::Result<bool> {
    is_immutable_file(&open_no_follow(path)?)
}

/// Whether an open file carries the immutable attribute.
pub(crate) fn is_immutable_file(file: &File) -> io::Result<bool> {
    Ok(sys::get_flags(file)? & sys::FS_IMMUTABLE_FL != 0)
}

/// Check that the immutable attribute can be set and cleared on files in `dir`: create a
/// probe file, set the attribute, read it back, clear it and remove the file.
pub(crate) fn probe(dir: &Path, probe_name: &str) -> io::Result<()> {
    let path = dir.join(probe_name);
    File::create_new(&path)?;
    let result = set_immutable(&path, true).and_then(|()| match is_immutable(&path)? {
        true => Ok(()),
        false => Err(io::Error::other("the attribute did not stick")),
    });
    // Clearing can only fail where setting worked if the capability vanished mid-probe;
    // then removal fails too, and that error is the one worth reporting.
    let _ = set_immutable(&path, false);
    std::fs::remove_file(&path)?;
    result
}

fn open_no_follow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(target_os = "linux")]
mod sys {
    use std::fs::File;
    use std::io;
    use std::os::fd::AsRawFd;

    use libc::c_int;

    /// `FS_IMMUTABLE_FL` from `<linux/fs.h>`.
    pub(super) const FS_IMMUTABLE_FL: c_int = 0x0000_0010;

    pub(super) fn get_flags(file: &File) -> io::Result<c_int> {
        let mut flags: c_int = 0;
        // SAFETY: the descriptor is open for as long as `file` lives, and
        // FS_IOC_GETFLAGS writes one `int` (the kernel uses int despite the `long` in
        // its definition) to the pointer, which points at a live, writable c_int.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(flags)
    }

    pub(super) fn set_flags(file: &File, flags: c_int) -> io::Result<()> {
        // SAFETY: as in `get_flags`; FS_IOC_SETFLAGS only reads the `int` behind the
        // pointer, which lives until the call returns.
        let r = unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::fs::File;
    use std::io;

    pub(super) const FS_IMMUTABLE_FL: i32 = 0x0000_0010;

    fn unsupported() -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            "the immutable attribute needs Linux",
        )
    }

    pub(super) fn get_flags(_file: &File) -> io::Result<i32> {
        Err(unsupported())
    }

    pub(super) fn set_flags(_file: &File, _flags: i32) -> io::Result<()> {
        Err(unsupported())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writers of one process preflight their sinks at once: concurrent probes of one
    /// root must come to what a single probe comes to.
    #[test]
    fn concurrent_probes_of_one_root_agree_with_a_single_probe() {
        let dir = tempfile::tempdir().unwrap();
        let alone = require_immutable(dir.path()).is_ok();
        let outcomes: Vec<bool> = std::thread::scope(|s| {
            let probes: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..20)
                            .map(|_| require_immutable(dir.path()).is_ok())
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            probes.into_iter().flat_map(|p| p.join().unwrap()).collect()
        });
        assert!(
            outcomes.iter().all(|o| *o == alone),
            "a single probe gave {alone}, concurrent ones {outcomes:?}"
        );
        // Nothing left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
