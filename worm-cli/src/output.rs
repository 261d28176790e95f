//! Writing to stdout when the reader may go away (`worm cat | head`).

use std::io::{self, Write};

use crate::error::{CliError, CliResult};

/// What a write to stdout came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Written.
    Ok,
    /// The reader closed the pipe: stop quietly.
    Closed,
}

/// Buffered stdout that turns a closed pipe into [`Written::Closed`] and any other
/// failure into an error naming stdout.
#[derive(Debug)]
pub struct Stdout {
    out: io::BufWriter<io::StdoutLock<'static>>,
}

impl Default for Stdout {
    fn default() -> Self {
        Self::new()
    }
}

impl Stdout {
    /// Lock stdout for this command.
    pub fn new() -> Self {
        Stdout {
            out: io::BufWriter::with_capacity(64 << 10, io::stdout().lock()),
        }
    }

    /// Write `line` and a newline.
    pub fn line(&mut self, line: &str) -> CliResult<Written> {
        let res = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        check(res)
    }

    /// Flush what is buffered.
    pub fn flush(&mut self) -> CliResult<Written> {
        check(self.out.flush())
    }
}

fn check(res: io::Result<()>) -> CliResult<Written> {
    match res {
        Ok(()) => Ok(Written::Ok),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Written::Closed),
        Err(e) => Err(CliError::context("cannot write to stdout", e)),
    }
}

/// Print a JSON document on stdout (pretty, with a newline).
pub fn json<T: serde::Serialize>(value: &T) -> CliResult {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::context("cannot format JSON output", e))?;
    let mut out = Stdout::new();
    out.line(&text)?;
    out.flush()?;
    Ok(())
}
