//! One error type for the whole command: a one-line message and the exit code.

use std::fmt;

/// Exit code: success (ship: all stored; verify: intact).
pub const EXIT_OK: u8 = 0;
/// Exit code: the command ran, and what it checked or stored is not all right.
pub const EXIT_PROBLEMS: u8 = 1;
/// Exit code: usage error, or a store or file could not be opened, read or written.
pub const EXIT_ERROR: u8 = 2;

/// A failure the user sees as `worm: <message>` with an exit code.
#[derive(Debug)]
pub struct CliError {
    /// The exit code ([`EXIT_PROBLEMS`] or [`EXIT_ERROR`]).
    pub code: u8,
    /// What went wrong and where, on one line.
    pub message: String,
}

impl CliError {
    /// Usage, I/O or store access error (exit 2).
    pub fn fatal(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_ERROR,
            message: message.into(),
        }
    }

    /// The command ran but found or left problems (exit 1).
    pub fn problems(message: impl Into<String>) -> Self {
        CliError {
            code: EXIT_PROBLEMS,
            message: message.into(),
        }
    }

    /// A fatal error with context: `<context>: <error>`.
    pub fn context(context: impl fmt::Display, err: impl fmt::Display) -> Self {
        Self::fatal(format!("{context}: {err}"))
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Result of a command.
pub type CliResult<T = ()> = Result<T, CliError>;
