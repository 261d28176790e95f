//! Integration with `tracing` and `log`.

use std::cell::Cell;

thread_local! {
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Mark the current thread as the writer's own: events it emits are diagnostics and are
/// never fed back into the audit stream.
pub(crate) fn mark_worker_thread() {
    IN_WORKER.with(|c| c.set(true));
}

/// Whether the current thread is a writer thread.
pub fn on_worker_thread() -> bool {
    IN_WORKER.with(Cell::get)
}
