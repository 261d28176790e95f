//! Directory handles: each directory below the root is opened relative to its parent's
//! descriptor with `O_NOFOLLOW`, and every later step (create, link, unlink, open, fsync)
//! names its file relative to that descriptor. A symbolic link swapped into the tree
//! after a check therefore cannot redirect a write or a read outside the root: the
//! descriptor stays on the directory that was checked.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// What a name in a directory is, without following a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A directory.
    Dir,
    /// A regular file.
    File,
    /// A symbolic link.
    Symlink,
    /// A device, socket or pipe.
    Other,
}

/// An open directory and the path it was opened by (for messages).
#[derive(Debug)]
pub(crate) struct Dir {
    file: File,
    path: PathBuf,
}

/// A directory entry name as C wants it. Key segments never hold NUL (keys are
/// validated), so the error is only a safety net.
fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a name"))
}

/// A raw result of a libc call: -1 means `errno` holds the error.
fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

impl Dir {
    /// Open the directory at `path` (the root; a link there is the administrator's choice
    /// and is followed).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(path)?;
        Ok(Dir {
            file,
            path: path.to_path_buf(),
        })
    }

    /// The path this directory was reached by.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of `name` in this directory (for messages).
    pub fn child_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// `openat` relative to this directory; the descriptor becomes a [`File`].
    fn open_at(&self, name: &str, flags: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
        let c = c_name(name)?;
        // SAFETY: `self.file` keeps the directory descriptor open for the call, `c` is a
        // NUL-terminated string that outlives it, and the mode is passed as the variadic
        // `unsigned int` that `openat` reads when O_CREAT is set.
        let fd = check(unsafe {
            libc::openat(
                self.file.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_CLOEXEC | libc::O_NOFOLLOW,
                libc::c_uint::from(mode),
            )
        })?;
        // SAFETY: `fd` was just returned by a successful `openat` and is owned by no one
        // else; the `File` closes it.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Open the subdirectory `name`. A symbolic link fails with `ELOOP`, a file with
    /// `ENOTDIR`.
    pub fn open_dir(&self, name: &str) -> io::Result<Dir> {
        let file = match self.open_at(name, libc::O_RDONLY | libc::O_DIRECTORY, 0) {
            Ok(f) => f,
            // Linux answers ENOTDIR for a link when O_DIRECTORY and O_NOFOLLOW meet; say
            // which it was.
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Err(match self.kind(name) {
                    Ok(Kind::Symlink) => io::Error::from_raw_os_error(libc::ELOOP),
                    _ => e,
                });
            }
            Err(e) => return Err(e),
        };
        Ok(Dir {
            file,
            path: self.child_path(name),
        })
    }

    /// What `name` is, without following a link.
    pub fn kind(&self, name: &str) -> io::Result<Kind> {
        let c = c_name(name)?;
        let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
        // SAFETY: the descriptor and `c` live through the call; `st` points at writable
        // memory of the size `fstatat` fills.
        check(unsafe {
            libc::fstatat(
                self.file.as_raw_fd(),
                c.as_ptr(),
                st.as_mut_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })?;
        // SAFETY: `fstatat` succeeded, so it initialised `st`.
        let mode = unsafe { st.assume_init() }.st_mode & libc::S_IFMT;
        Ok(match mode {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFREG => Kind::File,
            libc::S_IFLNK => Kind::Symlink,
            _ => Kind::Other,
        })
    }

    /// Create the subdirectory `name` (permissions 0777 less the umask, like
    /// `std::fs::create_dir`).
    pub fn mkdir(&self, name: &str) -> io::Result<()> {
        let c = c_name(name)?;
        // SAFETY: the descriptor and `c` live through the call.
        check(unsafe { libc::mkdirat(self.file.as_raw_fd(), c.as_ptr(), 0o777) }).map(drop)
    }

    /// Create the file `name` for writing; fails if anything already has that name.
    pub fn create_new(&self, name: &str, mode: libc::mode_t) -> io::Result<File> {
        self.open_at(name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode)
    }

    /// Open the file `name` for reading; a symbolic link fails with `ELOOP`. Non-blocking,
    /// so that a FIFO planted under the root cannot hang the open.
    pub fn open_read(&self, name: &str) -> io::Result<File> {
        self.open_at(name, libc::O_RDONLY | libc::O_NONBLOCK, 0)
    }

    /// Give the file `from` the second name `to` in this directory; fails with `EEXIST`
    /// rather than replace anything.
    pub fn link(&self, from: &str, to: &str) -> io::Result<()> {
        let (f, t) = (c_name(from)?, c_name(to)?);
        let fd = self.file.as_raw_fd();
        // SAFETY: the descriptor and both names live through the call; flags 0 means a
        // link named `from` is itself linked, never followed.
        check(unsafe { libc::linkat(fd, f.as_ptr(), fd, t.as_ptr(), 0) }).map(drop)
    }

    /// Remove the name `name` (a file, not a directory).
    pub fn unlink(&self, name: &str) -> io::Result<()> {
        let c = c_name(name)?;
        // SAFETY: the descriptor and `c` live through the call.
        check(unsafe { libc::unlinkat(self.file.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
    }

    /// fsync the directory, so that entries created or removed in it survive a crash.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_all()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn links_are_refused_and_kinds_reported() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(tmp.path().join("d"), tmp.path().join("l")).unwrap();
        let root = Dir::open(tmp.path()).unwrap();
        assert_eq!(root.kind("d").unwrap(), Kind::Dir);
        assert_eq!(root.kind("f").unwrap(), Kind::File);
        assert_eq!(root.kind("l").unwrap(), Kind::Symlink);
        assert_eq!(
            root.kind("none").unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            root.open_dir("l").unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        assert_eq!(
            root.open_dir("f").unwrap_err().raw_os_error(),
            Some(libc::ENOTDIR)
        );
        assert_eq!(
            root.open_read("l").unwrap_err().raw_os_error(),
            Some(libc::ELOOP)
        );
        let d = root.open_dir("d").unwrap();
        assert_eq!(d.path(), tmp.path().join("d"));
        d.create_new("a", 0o600).unwrap();
        assert_eq!(
            d.create_new("a", 0o600).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        d.link("a", "b").unwrap();
        assert_eq!(
            d.link("a", "b").unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        d.unlink("a").unwrap();
        d.sync().unwrap();
        assert!(tmp.path().join("d/b").exists());
        assert!(!tmp.path().join("d/a").exists());
        root.mkdir("e").unwrap();
        assert_eq!(root.kind("e").unwrap(), Kind::Dir);
    }

    /// The point of the module: a directory swapped for a link after it was opened does
    /// not redirect what is created through the handle.
    #[test]
    fn a_link_swapped_in_after_opening_is_not_followed() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let root = Dir::open(tmp.path()).unwrap();
        let d = root.open_dir("d").unwrap();
        std::fs::rename(tmp.path().join("d"), tmp.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(outside.path(), tmp.path().join("d")).unwrap();
        d.create_new("x", 0o600).unwrap();
        assert!(tmp.path().join("moved/x").exists());
        assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    }
}
