//! `worm ship --follow FILE`: a file tailed the way `tail -F` does, its position kept in
//! the spool.
//!
//! Every record is logged with a cursor, `follow/1 <dev> <inode> <offset>`: the file it
//! came from and the offset just past its line. The pipeline writes the cursor in the
//! record's own WAL frame, so after a crash, a kill -9 or a clean stop the spool names the
//! last line it holds, and reading resumes exactly after it.
//! - **rename and create** (logrotate's default): at the end of the old file, once a new
//!   file is at the path, the old one is read to its end and the new one from its start.
//!   A restart whose file was rotated meanwhile finds the old file by its inode in the
//!   same directory and finishes it first. When the path was rotated more than once
//!   since the old file was left (a slow reader, or a restart after two rotations), the
//!   files rotated in between are read too, oldest first, before the one at the path:
//!   every regular file in the directory named like the followed file plus a suffix that
//!   starts with `.`, `-` or `_` (`app.log.1`, `app.log-20261201`; not `app.logger`), not
//!   compressed (`.gz`, `.zst`, …), last modified
//!   no earlier than the file just finished, and not read yet by this run.
//! - **copy and truncate**: a file shorter than the offset read so far was truncated, and
//!   is read again from its start. Lines written between the copy and the truncation are
//!   lost to any reader of the file (logrotate documents this); prefer rename and create.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use worm::input::{LineSplitter, RawLine};

/// A place in a followed file: its device and inode, and an offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Byte offset.
    pub off: u64,
}

/// Prefix of the cursor text.
const CURSOR_TAG: &str = "follow/1";

impl Position {
    /// The cursor text kept in the spool.
    pub fn to_cursor(self) -> String {
        format!("{CURSOR_TAG} {} {} {}", self.dev, self.ino, self.off)
    }

    /// Read a cursor written by [`to_cursor`](Self::to_cursor).
    pub fn from_cursor(s: &str) -> Option<Self> {
        let mut it = s.split(' ');
        if it.next()? != CURSOR_TAG {
            return None;
        }
        let mut num = || it.next()?.parse::<u64>().ok();
        let (dev, ino, off) = (num()?, num()?, num()?);
        Some(Position { dev, ino, off })
    }
}

/// What one [`Tail::poll`] came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Polled {
    /// Bytes were read.
    Data,
    /// Nothing new: wait.
    Idle,
    /// The file at the path was replaced; reading goes on in the new one.
    Rotated,
    /// The file got shorter than what was read: read again from its start.
    Truncated,
}

/// A followed file.
#[derive(Debug)]
pub struct Tail {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
    /// Offset of the next byte to read.
    read_off: u64,
    /// Offset just past the last complete line (where the splitter's partial line starts).
    line_start: u64,
    split: LineSplitter,
    buf: Vec<u8>,
    /// Files this run read to their end (device, inode): never read again.
    finished: HashSet<(u64, u64)>,
}

fn identity(m: &std::fs::Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

impl Tail {
    /// Open `path` for following, from `resume` (a cursor of an earlier run) or from the
    /// start. Returns a warning when the earlier run's file is gone.
    pub fn open(
        path: &Path,
        resume: Option<Position>,
        max_line: usize,
    ) -> io::Result<(Tail, Option<String>)> {
        let mut warning = None;
        let (file, off) = match resume {
            Some(p) => match find_by_inode(path, p.dev, p.ino)? {
                Some(f) => {
                    let len = f.metadata()?.len();
                    if len < p.off {
                        warning = Some(format!(
                            "{} is shorter ({len} bytes) than the position kept in the spool \
                             ({}): it was truncated; reading it from its start",
                            path.display(),
                            p.off
                        ));
                        (f, 0)
                    } else {
                        (f, p.off)
                    }
                }
                None => {
                    warning = Some(format!(
                        "the file {} was read up to byte {} of (inode {}) is gone: anything \
                         written to it after that was not read; reading {} from its start",
                        path.display(),
                        p.off,
                        p.ino,
                        path.display()
                    ));
                    (File::open(path)?, 0)
                }
            },
            None => (File::open(path)?, 0),
        };
        let (dev, ino) = identity(&file.metadata()?);
        let mut file = file;
        file.seek(SeekFrom::Start(off))?;
        Ok((
            Tail {
                path: path.to_path_buf(),
                file,
                dev,
                ino,
                read_off: off,
                line_start: off,
                split: LineSplitter::new(max_line),
                buf: vec![0; 64 << 10],
                finished: HashSet::new(),
            },
            warning,
        ))
    }

    /// Read what is there; every complete line goes to `emit` with the position just
    /// past it. At the end of the file, look for rotation and truncation.
    pub fn poll(&mut self, emit: &mut impl FnMut(RawLine, Position)) -> io::Result<Polled> {
        if self.read_some(emit)? > 0 {
            return Ok(Polled::Data);
        }
        if self.file.metadata()?.len() < self.read_off {
            self.finish_partial(emit);
            self.file.seek(SeekFrom::Start(0))?;
            self.read_off = 0;
            self.line_start = 0;
            return Ok(Polled::Truncated);
        }
        match std::fs::metadata(&self.path) {
            Ok(m) if identity(&m) != (self.dev, self.ino) => {
                // Rotated: what was written to the old file before the new one appeared is
                // read first (a last read, since the writer has moved on).
                while self.read_some(emit)? > 0 {}
                self.finish_partial(emit);
                let left = self.file.metadata()?;
                self.finished.insert((self.dev, self.ino));
                // A file rotated away after this one (the path moved on more than once)
                // comes before the one at the path.
                let file = match rotated_after(&self.path, &left, identity(&m), &self.finished)? {
                    Some(f) => f,
                    None => File::open(&self.path)?,
                };
                let (dev, ino) = identity(&file.metadata()?);
                (self.file, self.dev, self.ino) = (file, dev, ino);
                self.read_off = 0;
                self.line_start = 0;
                Ok(Polled::Rotated)
            }
            // The same file, or none at the path yet (between rename and create).
            _ => Ok(Polled::Idle),
        }
    }

    /// One read of the current file, its complete lines emitted; 0 at its end.
    fn read_some(&mut self, emit: &mut impl FnMut(RawLine, Position)) -> io::Result<usize> {
        let n = read_retrying(&mut self.file, &mut self.buf)?;
        self.read_off += n as u64;
        let (dev, ino) = (self.dev, self.ino);
        let start = &mut self.line_start;
        self.split.push(&self.buf[..n], &mut |line| {
            *start += line.len + 1;
            emit(
                line,
                Position {
                    dev,
                    ino,
                    off: *start,
                },
            );
        });
        Ok(n)
    }

    /// A last line without its newline, in a file that is left for good, is a line too.
    fn finish_partial(&mut self, emit: &mut impl FnMut(RawLine, Position)) {
        if let Some(line) = self.split.finish() {
            self.line_start = self.read_off;
            emit(
                line,
                Position {
                    dev: self.dev,
                    ino: self.ino,
                    off: self.read_off,
                },
            );
        }
    }

    /// Where reading of complete lines stands.
    #[cfg(test)]
    pub fn position(&self) -> Position {
        Position {
            dev: self.dev,
            ino: self.ino,
            off: self.line_start,
        }
    }
}

/// Suffixes of compressed rotated files, which are never read as lines.
const COMPRESSED: [&str; 7] = [".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".Z"];

/// The oldest file rotated away from `path` after the file described by `left` was last
/// written: in the same directory, named like the followed file plus a suffix, regular,
/// not compressed, modified no earlier than `left`, and neither the file now at the path
/// (`current`) nor one already read to its end (`finished`). `None`: the path is next.
fn rotated_after(
    path: &Path,
    left: &std::fs::Metadata,
    current: (u64, u64),
    finished: &HashSet<(u64, u64)>,
) -> io::Result<Option<File>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(None);
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let since = (left.mtime(), left.mtime_nsec());
    let mut best: Option<((i64, i64), PathBuf)> = None;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let Some(n) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // The followed name plus a suffix that starts with a separator: `app.log.1` or
        // `app.log-20261201`, not another log that merely starts alike (`app.logger`).
        let rotated_name = n
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(['.', '-', '_']));
        if !rotated_name || COMPRESSED.iter().any(|c| n.ends_with(c)) {
            continue;
        }
        let Ok(m) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        let id = identity(&m);
        let when = (m.mtime(), m.mtime_nsec());
        if !m.is_file() || id == current || finished.contains(&id) || when < since {
            continue;
        }
        if best.as_ref().is_none_or(|(t, _)| when < *t) {
            best = Some((when, e.path()));
        }
    }
    best.map(|(_, p)| File::open(p)).transpose()
}

fn read_retrying(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match f.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// The file with inode `ino` on device `dev`: the one at `path`, else one in the same
/// directory (a rotated file keeps its inode when renamed).
fn find_by_inode(path: &Path, dev: u64, ino: u64) -> io::Result<Option<File>> {
    let is_it = |p: &Path| {
        std::fs::symlink_metadata(p)
            .map(|m| m.is_file() && identity(&m) == (dev, ino))
            .unwrap_or(false)
    };
    if is_it(path) {
        return File::open(path).map(Some);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        if is_it(&p) {
            return File::open(&p).map(Some);
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use std::io::Write;

    use super::*;

    fn lines(t: &mut Tail) -> (Vec<(String, u64)>, Polled) {
        let mut out = Vec::new();
        let p = t
            .poll(&mut |l, pos| out.push((String::from_utf8(l.bytes).unwrap(), pos.off)))
            .unwrap();
        (out, p)
    }

    #[test]
    fn cursor_round_trip() {
        let p = Position {
            dev: 2049,
            ino: 77,
            off: 123,
        };
        assert_eq!(Position::from_cursor(&p.to_cursor()), Some(p));
        assert_eq!(Position::from_cursor("follow/2 1 2 3"), None);
        assert_eq!(Position::from_cursor("follow/1 1 2"), None);
    }

    #[test]
    fn lines_carry_the_offset_past_them_and_rotation_is_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"a\nbb\ncc").unwrap();
        let (mut t, w) = Tail::open(&path, None, 1024).unwrap();
        assert!(w.is_none());
        let (got, p) = lines(&mut t);
        assert_eq!(p, Polled::Data);
        assert_eq!(got, vec![("a".into(), 2), ("bb".into(), 5)]);
        assert_eq!(lines(&mut t), (vec![], Polled::Idle));
        // Rename and create: the old file's rest (its partial last line included) first.
        f.write_all(b"c\nd").unwrap();
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        let mut g = File::create(&path).unwrap();
        g.write_all(b"new\n").unwrap();
        let mut all = Vec::new();
        let mut rotated = false;
        for _ in 0..4 {
            let (got, p) = lines(&mut t);
            rotated |= p == Polled::Rotated;
            all.extend(got.into_iter().map(|(l, _)| l));
        }
        assert!(rotated);
        assert_eq!(all, vec!["ccc", "d", "new"]);
        // Copy and truncate: read again from the start.
        g.set_len(0).unwrap();
        let (_, p) = lines(&mut t);
        assert_eq!(p, Polled::Truncated);
        let mut g = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        g.write_all(b"x\n").unwrap();
        assert_eq!(lines(&mut t).0, vec![("x".into(), 2)]);
    }

    #[test]
    fn a_restart_finishes_the_rotated_file_found_by_its_inode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"one\ntwo\nthree\n").unwrap();
        let (mut t, _) = Tail::open(&path, None, 1024).unwrap();
        let (got, _) = lines(&mut t);
        let after_one = Position {
            off: got[0].1,
            ..t.position()
        };
        // Stopped after "one"; meanwhile the file is rotated and a new one begun.
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, b"four\n").unwrap();
        let (mut t, w) = Tail::open(&path, Some(after_one), 1024).unwrap();
        assert!(w.is_none(), "{w:?}");
        let mut all = Vec::new();
        for _ in 0..4 {
            all.extend(lines(&mut t).0.into_iter().map(|(l, _)| l));
        }
        assert_eq!(all, vec!["two", "three", "four"]);
        // A cursor whose file is gone: said, and the path is read from its start.
        std::fs::remove_file(dir.path().join("app.log.1")).unwrap();
        let (_, w) = Tail::open(&path, Some(after_one), 1024).unwrap();
        assert!(w.unwrap().contains("is gone"));
    }

    /// Stopped in the first file, then the path is rotated twice: the restart reads the
    /// rest of the first file, all of the second, then the third, each once; an older
    /// rotated file, a compressed one and another log named alike are left alone.
    #[test]
    fn a_restart_after_two_rotations_reads_the_file_in_between() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(dir.path().join("app.log.9"), b"older\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"one\ntwo\n").unwrap();
        let (mut t, _) = Tail::open(&path, None, 1024).unwrap();
        let (got, _) = lines(&mut t);
        let after_one = Position {
            off: got[0].1,
            ..t.position()
        };
        drop(t);
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, b"three\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(dir.path().join("app.log.1.gz"), b"\x1f\x8b not lines\n").unwrap();
        std::fs::write(dir.path().join("app.logger"), b"another log\n").unwrap();
        std::fs::rename(&path, dir.path().join("app.log.2")).unwrap();
        std::fs::write(&path, b"four\n").unwrap();
        let (mut t, w) = Tail::open(&path, Some(after_one), 1024).unwrap();
        assert!(w.is_none(), "{w:?}");
        let mut all = Vec::new();
        for _ in 0..8 {
            all.extend(lines(&mut t).0.into_iter().map(|(l, _)| l));
        }
        assert_eq!(all, vec!["two", "three", "four"]);
    }

    /// The same while running: a reader that was not polled while the path was rotated
    /// twice reads the file in between before the one at the path.
    #[test]
    fn two_rotations_between_polls_lose_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.log");
        std::fs::write(&path, b"a\n").unwrap();
        let (mut t, _) = Tail::open(&path, None, 1024).unwrap();
        assert_eq!(lines(&mut t).0.len(), 1);
        std::fs::rename(&path, dir.path().join("app.log.1")).unwrap();
        std::fs::write(&path, b"b\n").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::rename(&path, dir.path().join("app.log.2")).unwrap();
        std::fs::write(&path, b"c\n").unwrap();
        let mut all = Vec::new();
        for _ in 0..8 {
            all.extend(lines(&mut t).0.into_iter().map(|(l, _)| l));
        }
        assert_eq!(all, vec!["b", "c"]);
    }
}
