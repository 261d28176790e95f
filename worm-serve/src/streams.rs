//! One audit log per service, opened on first use (and at start for every service with
//! records left in the spool), and the admission rule: a request is taken whole or
//! refused whole.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use worm_core::input::{self, RawLine};
use worm_core::{AuditLog, AuditRecord, Error as WormError, Stats, WriterGuard};

use crate::otlp::map::{Mapper, OtlpRecord};

/// A record to log.
#[derive(Debug)]
pub enum Item {
    /// An audit record, into the stream of `service`.
    Audit {
        /// The stream.
        service: String,
        /// The record.
        record: AuditRecord,
        /// The NDJSON line it came from: if the writer refuses the record (too large),
        /// the line is stored as `worm.invalid_input` instead, as `worm ship` does.
        line: Option<RawLine>,
    },
    /// An OTLP log record, into the stream of its resource's service: mapped to its
    /// line as it is logged.
    Otlp(OtlpRecord),
}

impl Item {
    /// The stream it goes into.
    pub fn service(&self) -> &str {
        match self {
            Item::Audit { service, .. } => service,
            Item::Otlp(r) => r.service(),
        }
    }
}

/// Opens the audit log of a service: the caller's store, spool and settings (the same
/// flags as `worm ship`), with the service name filled in.
pub type OpenLog = dyn Fn(&str) -> Result<(AuditLog, WriterGuard), String> + Send + Sync;

/// Longest service name (the key layout's limit for one key part).
pub const MAX_SERVICE_LEN: usize = 128;

/// Whether `name` may name a stream: 1 to 128 of `[A-Za-z0-9._-]`, not `.`, no `..`
/// (it becomes a spool directory and a key part as it is).
pub fn valid_service(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVICE_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.contains("..")
        && name != "."
}

/// One service's log, and the lock that `close` takes to wait for the requests logging
/// into it (each holds it shared while it logs).
struct Stream {
    log: AuditLog,
    guard: Mutex<Option<WriterGuard>>,
    admit: tokio::sync::RwLock<()>,
}

/// Why a request was not taken.
#[derive(Debug)]
pub enum Refusal {
    /// The backlog has no room for the request's records: try again later (429).
    Full {
        /// The service whose backlog is full.
        service: String,
    },
    /// Too many services (streams) already.
    TooManyServices(usize),
    /// The service's log could not be opened (its spool or the store).
    Open(String),
    /// Shutting down.
    Closing,
}

/// What logging a request came to.
#[derive(Debug, Default)]
pub struct Logged {
    /// Records in the spool's write-ahead log.
    pub accepted: u64,
    /// Records the pipeline refused (each with why), not stored.
    pub refused: Vec<String>,
    /// Records the pipeline refused whose line was stored as `worm.invalid_input` instead.
    pub invalid: u64,
    /// Services written to (for `--ack stored`).
    pub services: Vec<String>,
}

/// Log each item, all or none: room in each service's queue for all of its records is
/// taken first ([`AuditLog::try_reserve`]: [`Refusal::Full`] when one has none, and
/// nothing is logged), then the records are serialised (by this thread, beside other
/// requests doing the same) into the reservations, which also take their bytes from each
/// queue's byte budget (`--max-backlog-bytes`: [`Refusal::Full`] when one has no room,
/// and nothing is logged either). Only then is each service's batch appended to its
/// spool's WAL in one write. Returns what was logged and whether a log was found closed.
fn log_blocking(work: Vec<(String, AuditLog, Vec<Item>)>) -> Result<(Logged, bool), Refusal> {
    let mut rooms = Vec::with_capacity(work.len());
    for (service, log, items) in &work {
        match log.try_reserve(items.len()) {
            Ok(r) => rooms.push(r),
            Err(WormError::Overflow { .. }) => {
                return Err(Refusal::Full {
                    service: service.clone(),
                });
            }
            Err(WormError::Closed) => return Err(Refusal::Closing),
            Err(e) => return Err(Refusal::Open(e.to_string())),
        }
    }
    let mut out = Logged::default();
    let mut closed = false;
    let mut filled = Vec::with_capacity(rooms.len());
    let mut mapper = Mapper::new();
    for ((service, _, items), mut room) in work.iter().zip(rooms) {
        let (mut added, mut invalid) = (0u64, 0u64);
        for it in items {
            let res = match it {
                Item::Audit { record, line, .. } => match (room.add(record), line) {
                    // As `worm ship`: a line whose record the writer refuses (its size)
                    // is kept as invalid input.
                    (Err(WormError::InvalidInput { what, reason }), Some(line)) => room
                        .add(&input::invalid_record(line, &format!("{what}: {reason}")))
                        .map(|()| invalid += 1),
                    (other, _) => other,
                },
                Item::Otlp(r) => room.add_fields(&mapper.fields(r)),
            };
            match res {
                Ok(()) => added += 1,
                // The queue's byte budget has no room for the request: refused whole,
                // as when its record count has none (every reservation is dropped
                // uncommitted, giving its room back).
                Err(WormError::Overflow { .. }) => {
                    return Err(Refusal::Full {
                        service: service.clone(),
                    });
                }
                Err(WormError::Closed) => {
                    closed = true;
                    out.refused
                        .push(format!("service {service}: the server is shutting down"));
                }
                Err(e) => out.refused.push(format!("service {service}: {e}")),
            }
        }
        filled.push((service, room, added, invalid));
    }
    for (service, room, added, invalid) in filled {
        match room.commit() {
            Ok(_) => {
                out.accepted += added;
                out.invalid += invalid;
            }
            Err(e) => {
                closed |= matches!(e, WormError::Closed);
                let why = match e {
                    WormError::Closed => "the server is shutting down".to_string(),
                    e => e.to_string(),
                };
                out.refused
                    .extend((0..added).map(|_| format!("service {service}: {why}")));
            }
        }
        out.services.push(service.clone());
    }
    Ok((out, closed))
}

/// Every service's stream.
pub struct Streams {
    open: Box<OpenLog>,
    max_services: usize,
    streams: Mutex<HashMap<String, Arc<Stream>>>,
    closing: std::sync::atomic::AtomicBool,
    /// Directory whose sub-directories are services with spooled records.
    spool: Option<PathBuf>,
}

impl std::fmt::Debug for Streams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Streams")
            .field("services", &self.services())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Streams {
    /// A registry that opens logs with `open`, at most `max_services` of them.
    pub fn new(open: Box<OpenLog>, max_services: usize, spool: Option<PathBuf>) -> Self {
        Streams {
            open,
            max_services,
            streams: Mutex::new(HashMap::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
            spool,
        }
    }

    /// Open the log of every service that has a directory in the spool, so that what an
    /// earlier run left there is stored now rather than when the service next writes.
    pub fn recover(&self) -> Result<Vec<String>, String> {
        let Some(dir) = &self.spool else {
            return Ok(Vec::new());
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list the spool {}: {e}", dir.display())),
        };
        let mut names = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if e.path().is_dir() && valid_service(&name) {
                self.get(&name).map_err(|r| format!("{r:?}"))?;
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn get(&self, service: &str) -> Result<Arc<Stream>, Refusal> {
        if self.closing.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(Refusal::Closing);
        }
        let mut map = lock(&self.streams);
        if let Some(s) = map.get(service) {
            return Ok(s.clone());
        }
        if map.len() >= self.max_services {
            return Err(Refusal::TooManyServices(self.max_services));
        }
        // Opening holds the map's lock: a log is opened once (its spool is locked by one
        // writer), and opening is rare.
        let (log, guard) = (self.open)(service).map_err(Refusal::Open)?;
        let s = Arc::new(Stream {
            log,
            guard: Mutex::new(Some(guard)),
            admit: tokio::sync::RwLock::new(()),
        });
        map.insert(service.to_string(), s.clone());
        Ok(s)
    }

    /// Log every record of a request, or none: each service's backlog must have room for
    /// all of its records, else nothing is logged and the answer is [`Refusal::Full`].
    /// A record the pipeline refuses (larger than its limit) is reported in
    /// [`Logged::refused`]; the others are logged.
    pub async fn log_all(&self, items: Vec<Item>) -> Result<Logged, Refusal> {
        let mut by_service: BTreeMap<String, Vec<Item>> = BTreeMap::new();
        match items.first().map(Item::service) {
            // Most requests are one service's: its records stay where they are.
            Some(first) if items.iter().all(|it| it.service() == first) => {
                by_service.insert(first.to_string(), items);
            }
            _ => {
                for it in items {
                    // The name is copied once per service, not per record.
                    match by_service.get_mut(it.service()) {
                        Some(v) => v.push(it),
                        None => {
                            by_service.insert(it.service().to_string(), vec![it]);
                        }
                    }
                }
            }
        }
        let mut streams = Vec::new();
        for s in by_service.keys() {
            streams.push(self.get(s)?);
        }
        // Shared: requests log side by side (room is taken per request, atomically, by
        // `try_reserve`); `close` takes it whole to wait for them.
        let mut held = Vec::new();
        for s in &streams {
            held.push(s.admit.read().await);
        }
        let work: Vec<(String, AuditLog, Vec<Item>)> = by_service
            .into_iter()
            .zip(&streams)
            .map(|((service, items), s)| (service, s.log.clone(), items))
            .collect();
        // Serialising the records and appending them to the write-ahead log is CPU and
        // file I/O (an fsync under `EveryRecord`). On a multi-threaded runtime it runs on
        // this worker, whose other tasks move to another one (`block_in_place`): no
        // hand-off to a blocking thread and back, two wake-ups fewer per request, which
        // on busy cores are the acknowledgement's tail. Elsewhere it goes to a blocking
        // thread.
        let out = if tokio::runtime::Handle::current().runtime_flavor()
            == tokio::runtime::RuntimeFlavor::MultiThread
        {
            tokio::task::block_in_place(move || log_blocking(work))
        } else {
            tokio::task::spawn_blocking(move || log_blocking(work))
                .await
                .map_err(|e| Refusal::Open(format!("the logging task failed: {e}")))?
        }?;
        drop(held);
        match out {
            (_, true) if out.0.accepted == 0 => Err(Refusal::Closing),
            (logged, _) => Ok(logged),
        }
    }

    /// Wait until every record accepted so far by these services is stored.
    pub async fn flush(&self, services: &[String]) -> Result<(), String> {
        for s in services {
            let log = lock(&self.streams).get(s).map(|s| s.log.clone());
            if let Some(log) = log {
                log.flush()
                    .await
                    .map_err(|e| format!("service {s}: not stored yet: {e}"))?;
            }
        }
        Ok(())
    }

    /// Services with a stream, sorted.
    pub fn services(&self) -> Vec<String> {
        let mut v: Vec<String> = lock(&self.streams).keys().cloned().collect();
        v.sort();
        v
    }

    /// Each service's counters, sorted by service.
    pub fn stats(&self) -> Vec<(String, Stats)> {
        let mut v: Vec<(String, Stats)> = lock(&self.streams)
            .iter()
            .map(|(k, s)| (k.clone(), s.log.stats()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Refuse new requests, then close every stream (flush, final batch). Returns each
    /// service's outcome.
    pub async fn close(
        &self,
    ) -> Vec<(String, Result<worm_core::pipeline::CloseReport, WormError>)> {
        self.closing
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let streams: Vec<(String, Arc<Stream>)> = lock(&self.streams)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (name, s) in streams {
            // Wait for a request that is logging into this stream to finish.
            let _admit = s.admit.write().await;
            let guard = lock(&s.guard).take();
            if let Some(g) = guard {
                out.push((name, g.close().await));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        assert!(valid_service("camera_service"));
        assert!(valid_service("billing-v2.eu"));
        assert!(!valid_service(""));
        assert!(!valid_service("."));
        assert!(!valid_service("a..b"));
        assert!(!valid_service("a/b"));
        assert!(!valid_service(&"x".repeat(129)));
    }
}
