//! SIGINT/SIGTERM for `worm ship`: the first one asks the reader to stop (and wakes it
//! through a pipe it polls), a second one exits at once.

use std::io::{PipeReader, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::runtime::Runtime;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::{CliError, CliResult};

const NONE: u8 = 0;
const SIGINT: u8 = 1;
const SIGTERM: u8 = 2;

/// The stop request, set by the first SIGINT or SIGTERM.
#[derive(Debug)]
pub struct Stop {
    which: Arc<AtomicU8>,
    wake: PipeReader,
}

impl Stop {
    /// Handle SIGINT and SIGTERM from now on (on `rt`).
    pub fn install(rt: &Runtime) -> CliResult<Stop> {
        let err = |e: std::io::Error| CliError::context("cannot install signal handlers", e);
        let (wake, mut waker) = std::io::pipe().map_err(err)?;
        let _guard = rt.enter();
        let mut term = signal(SignalKind::terminate()).map_err(err)?;
        let mut int = signal(SignalKind::interrupt()).map_err(err)?;
        let which = Arc::new(AtomicU8::new(NONE));
        let flag = which.clone();
        rt.spawn(async move {
            loop {
                let got = tokio::select! {
                    Some(()) = term.recv() => SIGTERM,
                    Some(()) = int.recv() => SIGINT,
                    else => return,
                };
                if flag.swap(got, Ordering::SeqCst) == NONE {
                    // One byte into an empty pipe cannot block; if it failed the reader
                    // still sees the flag at its next poll timeout or input.
                    let _ = waker.write_all(b"!");
                    continue;
                }
                eprintln!(
                    "worm: second signal: exiting now without waiting for the store; \
                     records not yet stored are lost"
                );
                std::process::exit(if got == SIGINT { 130 } else { 143 });
            }
        });
        Ok(Stop { which, wake })
    }

    /// The signal that asked to stop, if any.
    pub fn requested(&self) -> Option<&'static str> {
        match self.which.load(Ordering::SeqCst) {
            SIGINT => Some("SIGINT"),
            SIGTERM => Some("SIGTERM"),
            _ => None,
        }
    }

    /// The descriptor that becomes readable when a stop is requested.
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }
}
