//! The caller-facing handle and the guard that closes the stream.

use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use super::budget::QueueBytes;
use super::config::{Config, Overflow};
use super::control::{CloseReport, Control, Reply};
use super::entry::Entry;
use super::spool::MAX_CURSOR_BYTES;
use super::spool::Spool;
use super::stats::{Counters, Stats, lock};
use crate::error::{Error, Result};
use crate::record::{AuditRecord, RecordFields, RecordView, timestamp};

thread_local! {
    /// Where `prepare` serialises a record before copying it out.
    static SCRATCH: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
    /// Where this thread copies the lines it queues (see [`queued_line`]).
    static LINES: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

/// Bytes of one allocation that a thread's queued lines share.
const LINE_CHUNK: usize = 8 * 1024;

/// A line to queue, copied into the calling thread's current chunk of [`LINE_CHUNK`]
/// bytes. A line of its own per record made every call allocate, and every such
/// allocation was freed by the writer's thread: `perf record -e sched:sched_switch` on
/// `worm-load caller` showed the caller asleep on glibc's arena lock in this allocation
/// ~900 times per 200,000 calls while the writer freed lines. With chunks, one
/// allocation serves ~25 records, and none when the writer has already let go of every
/// line of the last chunk (it is then reused). The price: up to two chunks (16 KiB) per
/// logging thread beyond the lines themselves, one of them kept while the thread lives.
/// Lines longer than a quarter chunk get an allocation of their own.
fn queued_line(line: &[u8]) -> Bytes {
    if line.len() > LINE_CHUNK / 4 {
        return Bytes::copy_from_slice(line);
    }
    let chunked = LINES.try_with(|chunk| {
        let mut chunk = chunk.borrow_mut();
        if chunk.capacity() - chunk.len() < line.len() && !chunk.try_reclaim(line.len()) {
            *chunk = BytesMut::with_capacity(LINE_CHUNK);
        }
        chunk.extend_from_slice(line);
        chunk.split().freeze()
    });
    // Only while the thread's locals are being destroyed.
    chunked.unwrap_or_else(|_| Bytes::copy_from_slice(line))
}

pub(crate) struct Shared {
    pub tx: mpsc::Sender<Entry>,
    /// The queue's byte budget, taken before a record is queued.
    pub bytes: Arc<QueueBytes>,
    pub control: mpsc::UnboundedSender<Control>,
    pub cfg: Arc<Config>,
    pub counters: Arc<Counters>,
    pub closed: AtomicBool,
    pub spool: Option<Arc<Spool>>,
    pub thread: Mutex<Option<JoinHandle<()>>>,
}

/// A cheap, cloneable handle for logging audit records.
///
/// Records are serialised on the calling thread and queued for the background worker,
/// which batches, seals and stores them. See the [module docs](super) for guarantees.
#[derive(Clone)]
pub struct AuditLog {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("service", &self.shared.cfg.service)
            .field("stream", &self.shared.counters.stream)
            .finish()
    }
}

impl AuditLog {
    /// Queue a record. With [`Overflow::Block`] this waits for room in the queue (it never
    /// drops); with [`Overflow::DropNewest`] it returns [`Error::Overflow`] when full, and the
    /// drop is counted and written into the stream.
    ///
    /// Records below the configured minimum level are counted as filtered and not stored.
    /// A record whose JSON exceeds `max_record_bytes` is refused with
    /// [`Error::InvalidInput`].
    pub fn log(&self, record: AuditRecord) -> Result<()> {
        self.log_view(&record.view())
    }

    /// [`log`](Self::log), with `cursor`: the caller's position in the source the record
    /// came from (a file offset, say), as opaque text of at most 4 KiB.
    ///
    /// With a spool, the cursor is written in the same WAL frame as the record, so a
    /// crash or kill cannot keep one without the other. A writer started on that spool
    /// again reports, in [`resume_cursor`](Self::resume_cursor), the cursor of the last
    /// record the spool holds: a source read again from there neither loses nor repeats
    /// a record. Without a spool the cursor is not kept.
    pub fn log_with_cursor(&self, record: AuditRecord, cursor: &str) -> Result<()> {
        if cursor.len() > MAX_CURSOR_BYTES {
            let res = Err(Error::invalid(
                "cursor",
                format!("{} bytes; at most {MAX_CURSOR_BYTES}", cursor.len()),
            ));
            self.count_refusal(&res);
            return res;
        }
        let res = self.queue_view(&record.view(), Some(cursor));
        self.count_refusal(&res);
        res
    }

    /// The cursor of the last record that an earlier run of this writer's spool accepted
    /// through [`log_with_cursor`](Self::log_with_cursor), whether or not that run closed
    /// its stream; `None` without a spool or before any cursor.
    pub fn resume_cursor(&self) -> Option<String> {
        self.shared.spool.as_ref().and_then(|s| s.resume_cursor())
    }

    /// [`log`](Self::log) for a record held by reference (the tracing layer builds no
    /// [`AuditRecord`]).
    pub(crate) fn log_view(&self, record: &RecordView<'_>) -> Result<()> {
        let res = self.queue_view(record, None);
        self.count_refusal(&res);
        res
    }

    /// Prepare a record and spool or queue it; `cursor` goes into its WAL frame.
    fn queue_view(&self, record: &RecordView<'_>, cursor: Option<&str>) -> Result<()> {
        let Some(mut entry) = self.prepare(record)? else {
            return Ok(());
        };
        if let Some(c) = cursor {
            entry.cursor = Some(c.into());
        }
        if let Some(spool) = &self.shared.spool {
            return self.log_spooled(spool, entry);
        }
        self.queue_entry(entry)
    }

    /// Take the entry's bytes from the queue's budget by the overflow policy: waiting
    /// under `Block`, a counted drop under `DropNewest`. Returns what was taken.
    fn take_bytes(&self, entry: &Entry) -> Result<u32> {
        let bytes = &self.shared.bytes;
        let cost = bytes.cost(entry.line.len());
        let taken = match bytes.try_take(cost) {
            Ok(true) => Ok(()),
            Ok(false) => match self.shared.cfg.overflow {
                Overflow::DropNewest => {
                    self.shared.counters.record_drop(timestamp::now());
                    return Err(self.overflow());
                }
                // As for a full queue: `Block` may block a runtime thread; the worker has
                // its own, so it keeps draining meanwhile.
                Overflow::Block => futures::executor::block_on(bytes.take(cost)),
            },
            Err(closed) => Err(closed),
        };
        taken.map(|()| cost).map_err(|_| Error::Closed)
    }

    /// The error for a record `DropNewest` dropped.
    fn overflow(&self) -> Error {
        Error::Overflow {
            capacity: self.shared.cfg.queue_capacity,
            bytes: self.shared.cfg.max_queue_bytes,
        }
    }

    /// Queue an entry without a spool, by the overflow policy.
    fn queue_entry(&self, entry: Entry) -> Result<()> {
        let cost = self.take_bytes(&entry)?;
        let counters = &self.shared.counters;
        // Counted before sending: a flush waits until the worker has seen this many
        // records (or learnt that a send failed), which orders it after every record
        // whose `log` returned before the flush began.
        counters.sent.fetch_add(1, Relaxed);
        let res = match self.shared.tx.try_send(entry) {
            Ok(()) => Ok(()),
            Err(TrySendError::Closed(_)) => Err(Error::Closed),
            Err(TrySendError::Full(entry)) => match self.shared.cfg.overflow {
                Overflow::DropNewest => {
                    counters.record_drop(timestamp::now());
                    Err(self.overflow())
                }
                // Blocking a thread of an async runtime is what `Block` asks for; the worker
                // runs on its own thread, so it keeps draining meanwhile.
                Overflow::Block => futures::executor::block_on(self.shared.tx.send(entry))
                    .map_err(|_| Error::Closed),
            },
        };
        if res.is_err() {
            // Not queued: its bytes were never the queue's.
            self.shared.bytes.give(cost as usize);
        }
        self.settle(res)
    }

    /// Queue a record, waiting asynchronously for room whatever the overflow policy.
    pub async fn log_async(&self, record: AuditRecord) -> Result<()> {
        let res = self.queue_async(record).await;
        self.count_refusal(&res);
        res
    }

    /// Count a record `log` refused (an overflow drop is counted as `dropped` instead).
    fn count_refusal(&self, res: &Result<()>) {
        if let Err(e) = res
            && !matches!(e, Error::Overflow { .. })
        {
            self.shared.counters.refused.fetch_add(1, Relaxed);
        }
    }

    async fn queue_async(&self, record: AuditRecord) -> Result<()> {
        let Some(entry) = self.prepare(&record.view())? else {
            return Ok(());
        };
        let bytes = &self.shared.bytes;
        let cost = bytes.cost(entry.line.len());
        bytes.take(cost).await.map_err(|_| Error::Closed)?;
        if let Some(spool) = &self.shared.spool {
            let permit = self.shared.tx.reserve().await;
            return self.append_and_send(spool, entry, cost, permit.map_err(|_| Error::Closed));
        }
        self.shared.counters.sent.fetch_add(1, Relaxed);
        let res = self.shared.tx.send(entry).await.map_err(|_| Error::Closed);
        if res.is_err() {
            bytes.give(cost as usize);
        }
        self.settle(res)
    }

    /// With a spool: reserve room in the queue, then append to the WAL and queue under the
    /// spool's lock, so the WAL order is the queue order (recovery relies on it).
    fn log_spooled(&self, spool: &Spool, entry: Entry) -> Result<()> {
        let cost = self.take_bytes(&entry)?;
        let permit = match self.shared.tx.try_reserve() {
            Ok(p) => Ok(p),
            Err(TrySendError::Closed(())) => Err(Error::Closed),
            Err(TrySendError::Full(())) => match self.shared.cfg.overflow {
                Overflow::DropNewest => {
                    self.shared.counters.record_drop(timestamp::now());
                    self.shared.bytes.give(cost as usize);
                    return Err(self.overflow());
                }
                // As in `log`: `Block` may block a runtime thread; the worker has its own.
                Overflow::Block => {
                    futures::executor::block_on(self.shared.tx.reserve()).map_err(|_| Error::Closed)
                }
            },
        };
        self.append_and_send(spool, entry, cost, permit)
    }

    /// Append to the WAL and queue; `cost` bytes of the budget are the entry's, given back
    /// if it is not queued.
    fn append_and_send(
        &self,
        spool: &Spool,
        entry: Entry,
        cost: u32,
        permit: Result<mpsc::Permit<'_, Entry>>,
    ) -> Result<()> {
        let mut queued = false;
        let counters = &self.shared.counters;
        let res = permit.and_then(|permit| {
            spool.append(entry, |entry| {
                counters.sent.fetch_add(1, Relaxed);
                permit.send(entry);
                queued = true;
            })
        });
        if !queued {
            self.shared.bytes.give(cost as usize);
        }
        res?;
        counters.accepted.fetch_add(1, Relaxed);
        Ok(())
    }

    fn settle(&self, res: Result<()>) -> Result<()> {
        let counters = &self.shared.counters;
        match res {
            Ok(()) => {
                counters.accepted.fetch_add(1, Relaxed);
                Ok(())
            }
            Err(e) => {
                counters.record_unsent();
                Err(e)
            }
        }
    }

    fn prepare(&self, record: &RecordView<'_>) -> Result<Option<Entry>> {
        let cfg = &self.shared.cfg;
        if self.shared.closed.load(Relaxed) {
            return Err(Error::Closed);
        }
        if record.level < cfg.min_level {
            self.shared.counters.filtered.fetch_add(1, Relaxed);
            return Ok(None);
        }
        let mut record = *record;
        if record.service_name.is_none() {
            record.service_name = Some(&cfg.service);
        }
        // Serialised into a reused buffer, checked, then copied into the thread's chunk
        // of queued lines.
        let mut scratch = SCRATCH.take();
        scratch.clear();
        record.write_json(&mut scratch);
        let len = scratch.len();
        let line = (len <= cfg.max_record_bytes).then(|| queued_line(&scratch));
        SCRATCH.set(scratch);
        let Some(line) = line else {
            return Err(Error::invalid(
                format!(
                    "record (action {:?}, request_id {:?})",
                    record.action.unwrap_or("-"),
                    record.request_id.unwrap_or("-")
                ),
                format!(
                    "{len} bytes of JSON exceeds max_record_bytes ({})",
                    cfg.max_record_bytes
                ),
            ));
        };
        Ok(Some(Entry {
            line,
            ts: record.timestamp,
            level: record.level,
            // In the line already: the batcher reads it back for the first record of a
            // batch, so no record pays a second allocation for it.
            request_id: None,
            synthetic: false,
            wal: None,
            cursor: None,
        }))
    }

    /// Wait until every record accepted before this call is stored, or return the error
    /// that prevents it (a batch refused permanently, named with its key).
    pub async fn flush(&self) -> Result<()> {
        self.flush_inner(false).await
    }

    /// Try the batches refused with a permanent error once more (after fixing the cause,
    /// e.g. credentials or the bucket), then [`flush`](Self::flush).
    pub async fn retry_failed(&self) -> Result<()> {
        self.flush_inner(true).await
    }

    async fn flush_inner(&self, retry_failed: bool) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send_flush(
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
            retry_failed,
        )?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Blocking [`flush`](Self::flush) with an optional timeout, for sync code.
    pub fn flush_blocking(&self, timeout: Option<Duration>) -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send_flush(
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
            false,
        )?;
        wait(rx, timeout, "flushing the audit log", || self.stats())
    }

    fn send_flush(&self, reply: Reply<Result<()>>, retry_failed: bool) -> Result<()> {
        let upto = self.shared.counters.sent.load(Relaxed);
        self.shared
            .control
            .send(Control::Flush {
                upto,
                reply,
                retry_failed,
            })
            .map_err(|_| Error::Closed)
    }

    /// Ask the worker to close (only the guard does). Refused when already closed.
    fn send_close(&self, reply: Reply<Result<CloseReport>>) -> Result<()> {
        if self.shared.closed.swap(true, Relaxed) {
            return Err(Error::Closed);
        }
        let upto = self.shared.counters.sent.load(Relaxed);
        self.shared
            .control
            .send(Control::Close { upto, reply })
            .map_err(|_| Error::Closed)
    }

    /// Take room in the queue to the writer for `n` records at once, without waiting
    /// whatever the [`Overflow`] policy: [`Error::Overflow`] when there is not room for
    /// all of them (nothing is dropped or counted then), [`Error::Closed`] once closed.
    ///
    /// Records are then serialised into the [`Reservation`] (on the caller's thread,
    /// without any lock: concurrent reservations do this work in parallel) and queued
    /// together by [`Reservation::commit`], with a spool in one write to its WAL. A front
    /// end that must take a request whole or refuse it (a server answering 429) reserves
    /// first: the room is its own until it commits or drops the reservation, and room
    /// not used is given back.
    pub fn try_reserve(&self, n: usize) -> Result<Reservation<'_>> {
        if self.shared.closed.load(Relaxed) {
            return Err(Error::Closed);
        }
        let permits = self.shared.tx.try_reserve_many(n).map_err(|e| match e {
            TrySendError::Closed(()) => Error::Closed,
            TrySendError::Full(()) => self.overflow(),
        })?;
        Ok(Reservation {
            log: self,
            permits,
            entries: Vec::with_capacity(n),
            room: n,
            bytes: 0,
        })
    }

    /// Records the queue to the writer can take now without waiting (nor, under
    /// `DropNewest`, dropping). A front end that must refuse rather than wait (a server
    /// answering 429) checks this first: with a single caller, room only grows until it
    /// logs.
    pub fn queue_room(&self) -> usize {
        self.shared.tx.capacity()
    }

    /// Bytes the queue to the writer can take now (its byte budget,
    /// [`max_queue_bytes`](super::AuditLogBuilder::max_queue_bytes)), counted as
    /// [`queue_room`](Self::queue_room) is. A record takes its JSON line's length plus
    /// [`QUEUED_RECORD_BYTES`](super::QUEUED_RECORD_BYTES).
    pub fn queue_bytes_room(&self) -> usize {
        self.shared.bytes.room()
    }

    /// A snapshot of the writer's counters.
    pub fn stats(&self) -> Stats {
        self.shared.counters.snapshot()
    }

    /// The settings this writer runs with.
    pub fn config(&self) -> &Config {
        &self.shared.cfg
    }
}

/// Room in the queue to the writer for a number of records, and the records serialised
/// into it so far ([`AuditLog::try_reserve`]). Nothing is logged until
/// [`commit`](Self::commit); dropped, the reservation gives its room back.
pub struct Reservation<'a> {
    log: &'a AuditLog,
    permits: mpsc::PermitIterator<'a, Entry>,
    entries: Vec<Entry>,
    room: usize,
    /// Bytes of the queue's budget its records hold.
    bytes: usize,
}

impl Drop for Reservation<'_> {
    /// Bytes of records never queued go back to the budget (the queue's room goes back
    /// with the permits).
    fn drop(&mut self) {
        self.log.shared.bytes.give(self.bytes);
    }
}

impl std::fmt::Debug for Reservation<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("log", self.log)
            .field("room", &self.room)
            .field("records", &self.entries.len())
            .finish()
    }
}

impl Reservation<'_> {
    /// Serialise a record into the reservation, checked as [`AuditLog::log`] checks it: a
    /// record whose JSON exceeds `max_record_bytes` is refused with
    /// [`Error::InvalidInput`] (and counted as refused), one below the minimum level is
    /// counted as filtered and takes no room. Past the room reserved, or when the queue's
    /// byte budget ([`max_queue_bytes`](super::AuditLogBuilder::max_queue_bytes)) has no
    /// room for the record: [`Error::Overflow`], never a wait nor a drop.
    pub fn add(&mut self, record: &AuditRecord) -> Result<()> {
        self.add_view(&record.view())
    }

    /// [`add`](Self::add) for a record given by its fields, its extra fields already
    /// written as JSON ([`RecordFields`]): no [`AuditRecord`] built. Checked and counted
    /// as `add` checks and counts.
    pub fn add_fields(&mut self, record: &RecordFields<'_>) -> Result<()> {
        self.add_view(&record.view())
    }

    fn add_view(&mut self, record: &RecordView<'_>) -> Result<()> {
        if self.entries.len() == self.room {
            return Err(Error::Overflow {
                capacity: self.room,
                bytes: self.log.shared.cfg.max_queue_bytes,
            });
        }
        let res = self.log.prepare(record);
        if res.is_err() {
            // As `log` counts it (`prepare` never answers `Overflow`).
            self.log.shared.counters.refused.fetch_add(1, Relaxed);
        }
        if let Some(entry) = res? {
            let budget = &self.log.shared.bytes;
            let cost = budget.cost(entry.line.len());
            match budget.try_take(cost) {
                Ok(true) => self.bytes += cost as usize,
                Ok(false) => return Err(self.log.overflow()),
                Err(_) => return Err(Error::Closed),
            }
            self.entries.push(entry);
        }
        Ok(())
    }

    /// Queue every record added, in order: with a spool, all are appended to its WAL in
    /// one write (under its [`SpoolSync`](super::SpoolSync)) before this returns, as
    /// [`AuditLog::log`] does for one. Returns how many were queued; on an error none is.
    pub fn commit(mut self) -> Result<usize> {
        let shared = &self.log.shared;
        if shared.closed.load(Relaxed) {
            return Err(Error::Closed);
        }
        let entries = std::mem::take(&mut self.entries);
        let n = entries.len();
        let counters = &shared.counters;
        let permits = &mut self.permits;
        let mut send = |entry: Entry| {
            counters.sent.fetch_add(1, Relaxed);
            if let Some(p) = permits.next() {
                p.send(entry);
            }
        };
        match &shared.spool {
            Some(spool) => spool.append_all(entries, &mut send)?,
            None => entries.into_iter().for_each(&mut send),
        }
        // Queued: the worker gives their bytes back as it takes them.
        self.bytes = 0;
        counters.accepted.fetch_add(n as u64, Relaxed);
        Ok(n)
    }
}

fn wait<T>(
    rx: std::sync::mpsc::Receiver<Result<T>>,
    timeout: Option<Duration>,
    what: &str,
    stats: impl Fn() -> Stats,
) -> Result<T> {
    match timeout {
        None => rx.recv().map_err(|_| Error::Closed)?,
        Some(t) => match rx.recv_timeout(t) {
            Ok(r) => r,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let s = stats();
                Err(Error::Timeout {
                    what: what.into(),
                    seconds: t.as_secs_f64(),
                    left: format!("{} records pending", s.pending),
                })
            }
            Err(_) => Err(Error::Closed),
        },
    }
}

/// The one owner of the stream's end: closing flushes, writes the stream's final batch
/// and stops the writer. [`AuditLog`] handles cannot close; only this guard does, once.
///
/// Close with [`close`](Self::close) (async) or [`close_blocking`](Self::close_blocking)
/// to see the outcome. Dropping the guard closes too, but waits at most the drop timeout
/// (default 5 s, [`AuditLogBuilder::drop_timeout`](super::AuditLogBuilder::drop_timeout)):
/// what is not stored by then is reported through `tracing` (target `worm`) and stderr,
/// and the writer's thread keeps trying in the background until the close deadline, as
/// long as the process lives. Keep records across a process exit with a spool.
#[must_use = "dropping the guard closes the audit log; keep it alive for the writer's lifetime"]
pub struct WriterGuard {
    pub(crate) log: AuditLog,
}

impl std::fmt::Debug for WriterGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterGuard")
            .field("log", &self.log)
            .finish()
    }
}

impl WriterGuard {
    /// Close and get the outcome: flush, write the final batch, wait up to the close
    /// deadline. What could not be stored by then is named in the error
    /// ([`Error::Batch`] with the store's error when a batch was refused).
    pub async fn close(self) -> Result<CloseReport> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.log.send_close(Box::new(move |r| {
            let _ = tx.send(r);
        }))?;
        // The worker answers as its last act; its thread then ends on its own.
        rx.await.map_err(|_| Error::Closed)?
    }

    /// [`close`](Self::close) for sync code: also waits for the writer's thread to end.
    pub fn close_blocking(self) -> Result<CloseReport> {
        self.close_within(None)
    }

    /// Close, waiting for the outcome at most `timeout` (then the writer's thread goes on
    /// alone until the close deadline).
    fn close_within(&self, timeout: Option<Duration>) -> Result<CloseReport> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<CloseReport>>(1);
        self.log.send_close(Box::new(move |r| {
            let _ = tx.send(r);
        }))?;
        let res = wait(rx, timeout, "closing the audit log", || self.log.stats());
        if !matches!(res, Err(Error::Timeout { .. }))
            && let Some(t) = lock(&self.log.shared.thread).take()
        {
            let _ = t.join();
        }
        res
    }

    /// The handle this guard closes.
    pub fn log(&self) -> &AuditLog {
        &self.log
    }
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if self.log.shared.closed.load(Relaxed) {
            // Closed explicitly.
            return;
        }
        let timeout = self.log.shared.cfg.drop_timeout;
        if let Err(e) = self.close_within(Some(timeout)) {
            tracing::error!(target: "worm", error = %e, "audit log closed on drop with records not stored");
            eprintln!("worm: audit log closed on drop with records not stored: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_lines_share_chunks_and_keep_their_bytes() {
        let lines: Vec<Vec<u8>> = (0..3000)
            .map(|i| format!("{{\"n\":{i}}}").repeat(i % 40 + 1).into_bytes())
            .collect();
        let mut queued: Vec<Bytes> = lines.iter().map(|l| queued_line(l)).collect();
        for (l, q) in lines.iter().zip(&queued) {
            assert_eq!(&q[..], &l[..]);
        }
        // Neighbours share an allocation: most lines start where the one before ends.
        let adjacent = queued
            .windows(2)
            .filter(|w| w[0].as_ptr().wrapping_add(w[0].len()) == w[1].as_ptr())
            .count();
        assert!(adjacent > 2000, "{adjacent}");
        // Longer than a quarter chunk: a line of its own, whole.
        let big = vec![b'x'; LINE_CHUNK / 4 + 1];
        assert_eq!(&queued_line(&big)[..], &big[..]);
        // Every line let go: the chunk is reused, and what is written there is right.
        let first = queued_line(b"a");
        queued.clear();
        let again: Vec<Bytes> = lines.iter().map(|l| queued_line(l)).collect();
        for (l, q) in lines.iter().zip(&again) {
            assert_eq!(&q[..], &l[..]);
        }
        assert_eq!(&first[..], b"a");
    }
}
