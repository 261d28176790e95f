//! Progress display on a terminal (stderr), off otherwise.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A spinner with a message on stderr, or `None` when stderr is not a terminal or the user
/// asked for quiet or machine output.
pub fn spinner(quiet: bool, message: &str) -> Option<ProgressBar> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let pb = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}") {
        pb.set_style(style);
    }
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    Some(pb)
}

/// Set the message of an optional progress display.
pub fn set(pb: &Option<ProgressBar>, message: impl FnOnce() -> String) {
    if let Some(pb) = pb {
        pb.set_message(message());
    }
}

/// Remove an optional progress display from the terminal.
pub fn clear(pb: Option<ProgressBar>) {
    if let Some(pb) = pb {
        pb.finish_and_clear();
    }
}

/// `1.2 MiB`-style byte counts.
pub fn bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}
