//! Raw reads from stdin that can be woken by a signal, and draining what is already
//! waiting in the pipe without blocking for more.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// When `FIONREAD` cannot tell how much input is waiting, draining stops after this much.
const DRAIN_FALLBACK: usize = 16 << 20;

/// What waiting for input came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ready {
    /// Input (or end of input) can be read without blocking.
    Input,
    /// The wake descriptor fired.
    Woken,
    /// The timeout passed.
    Timeout,
}

/// stdin as an unbuffered file (a duplicate of descriptor 0).
#[derive(Debug)]
pub struct Stdin {
    file: File,
}

impl Stdin {
    /// Open stdin for raw reads.
    pub fn open() -> io::Result<Self> {
        let fd = io::stdin().as_fd().try_clone_to_owned()?;
        Ok(Stdin {
            file: File::from(fd),
        })
    }

    /// Wait until input is ready, `wake` is readable, or `timeout_ms` passes (-1: no
    /// timeout). Input wins when both are ready.
    pub fn wait(&self, wake: RawFd, timeout_ms: i32) -> io::Result<Ready> {
        let mut fds = [
            libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: wake,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: `fds` is a live array of two initialised pollfd structs and the
            // length passed matches it; poll only writes their `revents` fields.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            // Hang-up and errors count as ready: the read then returns 0 or the error.
            if fds[0].revents != 0 {
                return Ok(Ready::Input);
            }
            if fds[1].revents != 0 {
                return Ok(Ready::Woken);
            }
            return Ok(Ready::Timeout);
        }
    }

    /// Read what is available (0: end of input).
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        }
    }

    /// Read, without waiting for more, the input that is already waiting (in a pipe's
    /// buffer, or the rest of a file), passing each chunk to `f`. Returns whether the end
    /// of input was reached.
    pub fn drain(&mut self, buf: &mut [u8], mut f: impl FnMut(&[u8])) -> io::Result<bool> {
        let mut budget = self.waiting().unwrap_or(DRAIN_FALLBACK);
        while budget > 0 {
            if self.wait(-1, 0)? != Ready::Input {
                return Ok(false);
            }
            let want = buf.len().min(budget);
            let n = self.read(&mut buf[..want])?;
            if n == 0 {
                return Ok(true);
            }
            budget -= n;
            f(&buf[..n]);
        }
        Ok(false)
    }

    /// Bytes that can be read now without blocking (`FIONREAD`).
    fn waiting(&self) -> Option<usize> {
        let mut n: libc::c_int = 0;
        // SAFETY: FIONREAD writes one c_int through the pointer, which points at a live,
        // writable c_int; the descriptor is open for as long as `self.file` lives.
        let r = unsafe { libc::ioctl(self.file.as_raw_fd(), libc::FIONREAD, &mut n) };
        (r == 0).then(|| usize::try_from(n).unwrap_or(0))
    }
}
