//! Fault injection: failures, latency and stalls that tests switch on at run time.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;
use worm_core::{Error, Result};

use crate::sink::lock;

/// Which calls a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`WormSink::put`](worm_core::WormSink::put).
    Put,
    /// [`WormSink::get`](worm_core::WormSink::get) (also behind `stored_sha256`).
    Get,
    /// [`WormSink::list`](worm_core::WormSink::list).
    List,
    /// Every call above.
    Any,
}

/// How an injected failure looks to the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// [`Error::Transient`]: retryable (a timeout, a 503).
    Transient,
    /// [`Error::Backend`]: permanent, never retried (bad configuration, say).
    Permanent,
}

impl Failure {
    pub(crate) fn to_error(self, context: String) -> Error {
        match self {
            Failure::Transient => Error::transient(context, "injected transient failure"),
            Failure::Permanent => Error::Backend {
                context,
                message: "injected permanent failure".to_string(),
            },
        }
    }
}

/// How many calls of each kind a sink has received (failed ones included).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Calls {
    /// `put` calls.
    pub put: u64,
    /// `get` calls.
    pub get: u64,
    /// `list` calls.
    pub list: u64,
}

/// "Fail the next `remaining` calls of `op` with `failure`".
#[derive(Debug, Clone, Copy)]
struct Pending {
    op: Op,
    failure: Failure,
    remaining: u32,
}

/// Shared fault state of one `FaultySink` and its clones.
#[derive(Debug)]
pub(crate) struct Faults {
    pending: Mutex<Vec<Pending>>,
    store_then_fail: Mutex<u32>,
    latency: Mutex<Duration>,
    stall: watch::Sender<bool>,
    /// Puts waiting in a stall right now.
    stalled_now: watch::Sender<usize>,
    puts: AtomicU64,
    gets: AtomicU64,
    lists: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            pending: Mutex::default(),
            store_then_fail: Mutex::default(),
            latency: Mutex::default(),
            stall: watch::Sender::new(false),
            stalled_now: watch::Sender::new(0),
            puts: AtomicU64::new(0),
            gets: AtomicU64::new(0),
            lists: AtomicU64::new(0),
        }
    }
}

impl Faults {
    pub(crate) fn fail_next(&self, op: Op, n: u32, failure: Failure) {
        if n > 0 {
            lock(&self.pending).push(Pending {
                op,
                failure,
                remaining: n,
            });
        }
    }

    pub(crate) fn store_then_fail_next_puts(&self, n: u32) {
        *lock(&self.store_then_fail) += n;
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        *lock(&self.latency) = latency;
    }

    pub(crate) fn set_stalled(&self, stalled: bool) {
        self.stall.send_replace(stalled);
    }

    pub(crate) fn stalled_now(&self) -> usize {
        *self.stalled_now.borrow()
    }

    pub(crate) async fn wait_until_stalled(&self, n: usize) {
        let mut rx = self.stalled_now.subscribe();
        // The sender lives in `self`, which outlives this call: the channel cannot close.
        let _ = rx.wait_for(|now| *now >= n).await;
    }

    pub(crate) fn clear(&self) {
        lock(&self.pending).clear();
        *lock(&self.store_then_fail) = 0;
        *lock(&self.latency) = Duration::ZERO;
        self.set_stalled(false);
    }

    pub(crate) fn calls(&self) -> Calls {
        Calls {
            put: self.puts.load(Ordering::SeqCst),
            get: self.gets.load(Ordering::SeqCst),
            list: self.lists.load(Ordering::SeqCst),
        }
    }

    /// Everything that happens before a call does its work: count it, wait out the
    /// latency and (for puts) a stall, then fail it if a failure is pending.
    pub(crate) async fn before(&self, op: Op, context: impl FnOnce() -> String) -> Result<()> {
        let counter = match op {
            Op::Put => &self.puts,
            Op::Get => &self.gets,
            // `Any` only selects faults; calls are always one of the three.
            Op::List | Op::Any => &self.lists,
        };
        counter.fetch_add(1, Ordering::SeqCst);
        let latency = *lock(&self.latency);
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        if op == Op::Put {
            self.wait_while_stalled().await;
        }
        match self.take_pending(op) {
            Some(failure) => Err(failure.to_error(context())),
            None => Ok(()),
        }
    }

    /// After a put stored its object: whether to report a transient failure anyway.
    pub(crate) fn take_store_then_fail(&self) -> bool {
        let mut n = lock(&self.store_then_fail);
        if *n > 0 {
            *n -= 1;
            true
        } else {
            false
        }
    }

    fn take_pending(&self, op: Op) -> Option<Failure> {
        let mut pending = lock(&self.pending);
        let i = pending.iter().position(|p| p.op == op || p.op == Op::Any)?;
        let failure = pending[i].failure;
        pending[i].remaining -= 1;
        if pending[i].remaining == 0 {
            pending.remove(i);
        }
        Some(failure)
    }

    async fn wait_while_stalled(&self) {
        let mut rx = self.stall.subscribe();
        if !*rx.borrow_and_update() {
            return;
        }
        // Counted through a guard so that a put cancelled while stalled is uncounted too.
        struct Stalled<'a>(&'a watch::Sender<usize>);
        impl Drop for Stalled<'_> {
            fn drop(&mut self) {
                self.0.send_modify(|n| *n -= 1);
            }
        }
        self.stalled_now.send_modify(|n| *n += 1);
        let _stalled = Stalled(&self.stalled_now);
        // The sender lives in `self`, which outlives this call, so `wait_for` cannot see
        // a closed channel; either way the put goes on.
        let _ = rx.wait_for(|stalled| !*stalled).await;
    }
}
