//! `worm ship`: NDJSON on stdin into the pipeline, until end of input or a signal.

use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::runtime::Runtime;
use worm::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm::pipeline::{AckTargets, SpoolSync, Target, TargetStats};
use worm::sign::Signer;
use worm::{AuditLog, AuditLogBuilder, RetentionMode, WormSink};

use crate::cli::{Preset, ShipArgs, WriteArgs};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::follow::{Polled, Position, Tail};
use crate::output;
use crate::progress;
use crate::signals::Stop;
use crate::stdin::{Ready, Stdin};
use crate::store::{self, Access};
use worm::input::{self, LineRef, LineSplitter, Parsed, RawLine};
use worm::line::LineReader;

/// Room above `--max-line-bytes` for what the pipeline adds to a record (service name,
/// timestamp), so that a line within the limit is never refused as a record.
const RECORD_SLACK: usize = 64 << 10;

/// Batches uploaded at once to each store unless --max-in-flight says otherwise. The
/// library's default is 2; ship's input usually arrives faster than one store answers
/// (`ship_bench.py s3`: the reading thread was done with 100,000 records while most of
/// their batches still waited), and an S3 gateway on the same host stores ~15-20 % more
/// 1 MiB objects a second with 4 PUTs at once than with 2 (`worm-load s3 --only sink
/// --size 1048576`).
const SHIP_MAX_IN_FLIGHT: usize = 4;

/// How often the progress display is refreshed.
const PROGRESS_TICK_MS: i32 = 250;

/// What the input held.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    /// Lines read (empty ones included).
    pub lines: u64,
    /// Valid records passed to the pipeline.
    pub records: u64,
    /// Lines stored as `worm.invalid_input` records.
    pub invalid: u64,
    /// Blank lines skipped.
    pub empty: u64,
}

/// The summary printed at the end (`--json`: this object on stdout).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The store written to.
    pub store: String,
    /// The stream this run wrote.
    pub stream: String,
    /// `eof`, `SIGINT`, `SIGTERM`, or `error`.
    pub stopped_by: String,
    /// Input counts.
    #[serde(flatten)]
    pub input: Counts,
    /// Records accepted by the pipeline (valid and invalid-input records, above the
    /// preset's minimum level).
    pub accepted: u64,
    /// Records of an earlier, interrupted run recovered from the spool and stored.
    pub recovered: u64,
    /// Records stored.
    pub stored: u64,
    /// Batches stored, the final one included.
    pub batches: u64,
    /// Records below the preset's minimum level (high-volume: WARN), not stored by
    /// configuration.
    pub filtered: u64,
    /// Upload retries.
    pub retries: u64,
    /// Failed upload rounds.
    pub failures: u64,
    /// Records dropped by an overflow policy (always 0: ship waits instead).
    pub dropped: u64,
    /// Accepted records not stored.
    pub pending: u64,
    /// Whether every accepted record was stored and the stream closed.
    pub all_stored: bool,
    /// With several --to: each store's figures (batches stored, backlog, failures,
    /// batches missed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetStats>,
    /// With --anchor-to: checkpoints published to the anchor store, failures, missed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anchor: Option<TargetStats>,
    /// What went wrong, if anything.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Ship stdin to the store.
pub fn run(rt: &Runtime, a: ShipArgs) -> CliResult<u8> {
    // Signals first: a SIGTERM during start-up must not kill the process half-way.
    let stop = Stop::install(rt)?;
    let w = &a.write;
    let targets = Targets::open(rt, w, "worm ship")?;
    let store = targets.first();
    let cannot_write =
        |e: worm::Error| CliError::fatal(format!("cannot write to store '{}': {e}", store.name));
    let max_line = usize::try_from(w.max_line_bytes)
        .map_err(|_| CliError::fatal("--max-line-bytes is too large"))?;
    let mut builder = configure(
        targets.builder(a.service.clone()),
        w,
        &store.write_prefix,
        max_line,
    )?;
    // Each line's Merkle leaf is hashed by the writer, side by side with the batch's body
    // hash in SHA-NI lanes (`tlog::lanes`), not on the reading thread: that costs the
    // writer less than the reading thread's one-at-a-time SHA-256 costs it
    // (`ship_bench.py memory`, BENCHMARKS.md "Session 8").
    if w.max_in_flight.is_none() {
        builder = builder.max_in_flight(SHIP_MAX_IN_FLIGHT);
    }
    if targets.all_checked() {
        // Every store passed the same preflight just now: the writer need not run it
        // again before its first upload (on the local Ceph gateway that was ~50 ms of a
        // 0.7 s run: two more requests, one of them stalled by a delayed ACK).
        builder = builder.skip_preflight();
    }
    let (log, guard) = builder.build().map_err(|e| match &e {
        // The spool holds encrypted records only an identity opens: not the store's fault.
        worm::Error::InvalidInput { .. } if w.spool.is_some() => CliError::fatal(e.to_string()),
        _ => cannot_write(e),
    })?;
    let pb = progress::spinner(a.quiet || a.json, "reading stdin");
    let mut counts = Counts::default();
    let read = match &a.follow {
        Some(path) => read_follow(&log, &stop, path, max_line, &mut counts, &pb),
        None => read_input(&log, &stop, max_line, &mut counts, &pb),
    };
    progress::set(&pb, || "storing the last batches".into());
    let closed = guard.close_blocking();
    progress::clear(pb);
    let stats = log.stats();

    let stopped_by = match (&read, stop.requested()) {
        (Err(_), _) => "error",
        (Ok(()), Some(sig)) => sig,
        (Ok(()), None) => "eof",
    };
    let error = match (&read, &closed) {
        (Err(e), _) => Some(e.message.clone()),
        (Ok(()), Err(e)) => Some(format!(
            "not every record was stored in '{}': {e}",
            store.name
        )),
        (Ok(()), Ok(_)) if stats.pending > 0 => Some(format!(
            "{} record(s) were not stored in '{}'",
            stats.pending, store.name
        )),
        _ => None,
    };
    let summary = Summary {
        store: store.name.clone(),
        stream: stats.stream.to_string(),
        stopped_by: stopped_by.into(),
        input: counts,
        accepted: stats.accepted,
        recovered: stats.recovered,
        stored: stats.stored,
        batches: stats.batches_stored,
        filtered: stats.filtered,
        retries: stats.retries,
        failures: stats.failures,
        dropped: stats.dropped,
        pending: stats.pending,
        all_stored: closed.is_ok() && stats.pending == 0,
        targets: if stats.targets.len() > 1 {
            stats.targets.clone()
        } else {
            Vec::new()
        },
        anchor: stats.anchor.clone(),
        error,
    };
    if a.json {
        output::json(&summary)?;
    } else if !a.quiet || summary.error.is_some() {
        eprintln!("{}", describe(&summary));
    }
    match (read, summary.error) {
        // Input that could not be read: what was read is stored (or reported above).
        (Err(e), _) => Err(e),
        (Ok(()), Some(msg)) => Err(CliError::problems(msg)),
        (Ok(()), None) => Ok(EXIT_OK),
    }
}

/// The stores a writer writes to, opened and checked: the `--to` stores (the default
/// store when none is given), the `--anchor-to` store and the `--ack-targets` policy.
/// `worm ship` builds its log from it and `worm serve` each service's.
pub struct Targets {
    stores: Vec<store::Store>,
    targets: Vec<Target>,
    anchor: Option<Target>,
    ack: AckTargets,
    checked: bool,
}

impl Targets {
    /// Open every `--to` store and the anchor store, and check each before any input is
    /// read, so that a wrong bucket or credentials fail at once with one line. With
    /// replicas, a store that is only unreachable for now does not stop the others: its
    /// batches wait for it (in the spool, with one). `cmd` names the command in warnings.
    pub fn open(rt: &Runtime, w: &WriteArgs, cmd: &str) -> CliResult<Targets> {
        let access = Access::Write {
            immutable: w.immutable,
        };
        let urls: Vec<Option<&str>> = if w.targets.to.is_empty() {
            vec![None]
        } else {
            w.targets.to.iter().map(|u| Some(u.as_str())).collect()
        };
        let several = urls.len() > 1;
        let mut stores: Vec<store::Store> = Vec::new();
        let mut checked = true;
        for url in urls {
            let s = store::open(url, access, &w.s3)?;
            if let Some(first) = stores.first()
                && first.write_prefix != s.write_prefix
            {
                return Err(CliError::fatal(format!(
                    "--to '{}' writes under the key prefix '{}' and '{}' under '{}': replicas \
                     hold every batch under the same key, so give them the same prefix",
                    first.name, first.write_prefix, s.name, s.write_prefix
                )));
            }
            if stores.iter().any(|o| o.name == s.name) {
                return Err(CliError::fatal(format!("--to '{}' is given twice", s.name)));
            }
            match rt.block_on(s.sink.preflight()) {
                Ok(()) => {}
                Err(e) if several && e.is_retryable() => {
                    checked = false;
                    eprintln!(
                        "{cmd}: warning: store '{}' is not reachable now ({e}); its batches \
                         wait for it{}",
                        s.name,
                        if w.spool.is_some() {
                            " in the spool"
                        } else {
                            " in memory (no --spool: lost for this store if it is still down \
                             at the end)"
                        }
                    );
                }
                Err(e) => {
                    return Err(CliError::fatal(format!(
                        "cannot write to store '{}': {e}",
                        s.name
                    )));
                }
            }
            stores.push(s);
        }
        // A store's URL may give it lock settings of its own; what it leaves out is the
        // writer's (the CLI's writer sets no legal hold).
        let writer = writer_retention(w);
        let anchor = match &w.targets.anchor_to {
            Some(url) => {
                let (anchor, passed) = Self::open_anchor(rt, w, url, &stores[0], cmd)?;
                checked &= passed;
                Some(anchor.target(writer, false))
            }
            None => None,
        };
        let targets = stores.iter().map(|s| s.target(writer, false)).collect();
        Ok(Targets {
            stores,
            targets,
            anchor,
            ack: w.targets.ack_targets,
            checked,
        })
    }

    fn open_anchor(
        rt: &Runtime,
        w: &WriteArgs,
        url: &str,
        store: &store::Store,
        cmd: &str,
    ) -> CliResult<(store::Store, bool)> {
        if w.sign_key.is_none() {
            return Err(CliError::fatal(
                "--anchor-to publishes signed checkpoints: give --sign-key too",
            ));
        }
        let anchor = store::open(
            Some(url),
            Access::Write {
                immutable: w.immutable,
            },
            &w.s3,
        )?;
        if anchor.write_prefix != store.write_prefix {
            return Err(CliError::fatal(format!(
                "--anchor-to '{url}' writes under the key prefix '{}' and '{}' under '{}': \
                 give them the same prefix",
                anchor.write_prefix, store.name, store.write_prefix
            )));
        }
        if let Err(e) = rt.block_on(anchor.sink.preflight()) {
            if !e.is_retryable() {
                return Err(CliError::fatal(format!(
                    "cannot write to anchor store '{url}': {e}"
                )));
            }
            eprintln!("{cmd}: warning: anchor store '{url}' is not reachable now ({e})");
            return Ok((anchor, false));
        }
        Ok((anchor, true))
    }

    /// Whether every store (and the anchor store) passed its preflight in
    /// [`open`](Self::open).
    pub fn all_checked(&self) -> bool {
        self.checked
    }

    /// The first `--to` store: its key prefix is every target's.
    pub fn first(&self) -> &store::Store {
        &self.stores[0]
    }

    /// The stores' names, as in the summary and `/metrics`.
    #[cfg(feature = "serve")]
    pub fn names(&self) -> Vec<&str> {
        self.stores.iter().map(|s| s.name.as_str()).collect()
    }

    /// A builder for `service`'s log writing to every target, with the anchor store and
    /// the acknowledgement policy.
    pub fn builder(&self, service: impl Into<String>) -> AuditLogBuilder {
        let mut b = AuditLogBuilder::to_target(self.targets[0].clone(), service);
        for t in &self.targets[1..] {
            b = b.replica(t.clone());
        }
        if let Some(a) = &self.anchor {
            b = b.anchor_to(a.clone());
        }
        b.ack_targets(self.ack)
    }
}

/// The preset and every flag, applied to the builder (`worm serve` builds each service's
/// log through here too).
pub fn configure(
    b: AuditLogBuilder,
    a: &WriteArgs,
    prefix: &str,
    max_line: usize,
) -> CliResult<AuditLogBuilder> {
    let mut b = match a.preset {
        Preset::Compliance => b.compliance(),
        Preset::HighVolume => b.high_volume(),
    };
    let keys = KeyTemplate::new(DEFAULT_TEMPLATE, prefix)
        .map_err(|e| CliError::fatal(format!("key prefix '{prefix}': {e}")))?;
    b = b.keys(keys).max_record_bytes(max_line + RECORD_SLACK);
    if let Some(n) = a.batch_size {
        b = b.max_records(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(n) = a.batch_bytes {
        b = b.max_bytes(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if let Some(n) = a.max_in_flight {
        b = b.max_in_flight(n as usize);
    }
    if let Some(c) = a.compress {
        b = b.compression(c.into());
    }
    if let Some(secs) = a.interval {
        let d = Duration::try_from_secs_f64(secs)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::fatal(format!(
                    "--interval {secs}: expected a positive number of seconds"
                ))
            })?;
        b = b.max_age(d);
    }
    b = b.close_deadline(positive_secs("--close-timeout", a.close_timeout)?);
    if let Some((mode, days)) = writer_retention(a) {
        b = b.retention(mode, days);
    }
    if let Some(dir) = &a.spool {
        b = b.spool_dir(dir, SpoolSync::default());
    }
    b = b.heartbeat((a.heartbeat > 0).then(|| std::time::Duration::from_secs(a.heartbeat)));
    if let Some(id) = &a.writer_id {
        b = b.writer_id(id.clone());
    }
    if let Some(path) = &a.sign_key {
        b = b.signer(Signer::from_file(path).map_err(|e| CliError::fatal(e.to_string()))?);
    }
    if let Some(to) = crate::crypt::recipients(&a.encrypt)? {
        b = b.encrypt_to(to.names());
    }
    if !a.encrypt.spool_identity.is_empty() {
        b = b.spool_identities(crate::crypt::identities(&a.encrypt.spool_identity)?);
    }
    Ok(b)
}

/// The writer's retention: the preset's (7 years, governance), with --retention-days and
/// --mode applied. A store whose URL gives no lock settings gets this.
pub fn writer_retention(a: &WriteArgs) -> Option<(RetentionMode, u32)> {
    let blank = AuditLogBuilder::new(worm::memory::MemorySink::new(), "");
    let preset = match a.preset {
        Preset::Compliance => blank.compliance(),
        Preset::HighVolume => blank.high_volume(),
    };
    let preset = preset.config().retention;
    if a.retention_days.is_none() && a.mode.is_none() {
        return preset;
    }
    let (mode, days) = preset.unwrap_or((RetentionMode::Governance, 2557));
    Some((
        a.mode.map_or(mode, Into::into),
        a.retention_days.unwrap_or(days),
    ))
}

fn positive_secs(flag: &str, secs: f64) -> CliResult<Duration> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::fatal(format!(
                "{flag} {secs}: expected a positive number of seconds"
            ))
        })
}

/// Read stdin line by line into the log until end of input, a stop request (then what is
/// already waiting is read too), or an error.
fn read_input(
    log: &AuditLog,
    stop: &Stop,
    max_line: usize,
    counts: &mut Counts,
    pb: &Option<indicatif::ProgressBar>,
) -> CliResult {
    let read_err = |e: std::io::Error| CliError::context("cannot read stdin", e);
    let mut stdin = Stdin::open().map_err(read_err)?;
    let mut split = LineSplitter::new(max_line);
    let mut buf = vec![0u8; 256 << 10];
    let mut reader = LineReader::new();
    // The first line the log refuses ends reading; the lines after it are left alone.
    let failed = std::cell::Cell::new(None);
    let mut each = |l: LineRef<'_>, counts: &mut Counts| {
        let res = match failed.take() {
            Some(e) => Err(e),
            None => ship_line(log, &mut reader, l, max_line, counts, None),
        };
        if let Err(e) = res {
            failed.set(Some(e));
        }
    };
    let timeout = if pb.is_some() { PROGRESS_TICK_MS } else { -1 };
    let mut shown = Instant::now();
    loop {
        if stop.requested().is_some() {
            stdin
                .drain(&mut buf, |chunk| {
                    split.push_lines(chunk, &mut |l| each(l, counts));
                })
                .map_err(read_err)?;
            break;
        }
        match stdin.wait(stop.wake_fd(), timeout).map_err(read_err)? {
            Ready::Woken => continue,
            Ready::Timeout => {}
            Ready::Input => {
                let n = stdin.read(&mut buf).map_err(read_err)?;
                if n == 0 {
                    break;
                }
                split.push_lines(&buf[..n], &mut |l| each(l, counts));
                if let Some(e) = failed.take() {
                    return Err(e);
                }
            }
        }
        if pb.is_some() && shown.elapsed() >= Duration::from_millis(PROGRESS_TICK_MS as u64) {
            shown = Instant::now();
            let s = log.stats();
            progress::set(pb, || {
                format!(
                    "read {} lines ({} invalid), stored {} records in {} batches",
                    counts.lines, counts.invalid, s.stored, s.batches_stored
                )
            });
        }
    }
    if let Some(last) = split.finish() {
        each(last.as_ref(), counts);
    }
    failed.take().map_or(Ok(()), Err)
}

/// How long `--follow` waits at the end of the file before looking again.
const FOLLOW_POLL_MS: i32 = 200;

/// `--follow`: read the file into the log, each record with its position, until a stop
/// request; a restart resumes at the position the spool holds.
fn read_follow(
    log: &AuditLog,
    stop: &Stop,
    path: &std::path::Path,
    max_line: usize,
    counts: &mut Counts,
    pb: &Option<indicatif::ProgressBar>,
) -> CliResult {
    let read_err =
        |e: std::io::Error| CliError::context(format!("cannot read {}", path.display()), e);
    let resume = log.resume_cursor().and_then(|c| Position::from_cursor(&c));
    let (mut tail, warning) = loop {
        match Tail::open(path, resume, max_line) {
            Ok(t) => break t,
            // Not there yet: wait for it, as `tail -F` does.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && stop.requested().is_none() => {
                wait(stop, FOLLOW_POLL_MS)?;
            }
            Err(e) => return Err(read_err(e)),
        }
    };
    if let Some(w) = warning {
        eprintln!("worm ship: {w}");
        log.log(
            worm::AuditRecord::new(worm::Level::Warn, w)
                .action("worm.follow_gap")
                .field("file", path.display().to_string()),
        )
        .map_err(|e| CliError::problems(format!("the audit log refused a record: {e}")))?;
    }
    let mut lines: Vec<(RawLine, String)> = Vec::new();
    let mut reader = LineReader::new();
    let mut shown = Instant::now();
    loop {
        // After a stop request, one last read, then reading ends.
        let stopping = stop.requested().is_some();
        let polled = tail
            .poll(&mut |l, pos| lines.push((l, pos.to_cursor())))
            .map_err(read_err)?;
        for (line, cursor) in lines.drain(..) {
            ship_line(
                log,
                &mut reader,
                line.as_ref(),
                max_line,
                counts,
                Some(&cursor),
            )?;
        }
        if stopping {
            // Lines not read yet are read by the next run: the spool holds the position.
            return Ok(());
        }
        match polled {
            Polled::Idle => wait(stop, FOLLOW_POLL_MS)?,
            Polled::Rotated | Polled::Truncated => {
                eprintln!(
                    "worm ship: {} was {}",
                    path.display(),
                    match polled {
                        Polled::Rotated => "rotated: reading the new file",
                        _ => "truncated: reading it from its start",
                    }
                );
            }
            Polled::Data => {}
        }
        if pb.is_some() && shown.elapsed() >= Duration::from_millis(PROGRESS_TICK_MS as u64) {
            shown = Instant::now();
            let s = log.stats();
            progress::set(pb, || {
                format!(
                    "following {}: {} lines ({} invalid), stored {} records",
                    path.display(),
                    counts.lines,
                    counts.invalid,
                    s.stored
                )
            });
        }
    }
}

/// Sleep up to `ms`, woken early by a stop request.
fn wait(stop: &Stop, ms: i32) -> CliResult {
    let mut fd = libc::pollfd {
        fd: stop.wake_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one live, initialised pollfd and a length of 1; poll only writes `revents`.
    let n = unsafe { libc::poll(&mut fd, 1, ms) };
    if n < 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(CliError::context("poll", e));
        }
    }
    Ok(())
}

/// Classify and log one line; with `cursor` (`--follow`), the record carries it.
fn ship_line(
    log: &AuditLog,
    reader: &mut LineReader,
    line: LineRef<'_>,
    max_line: usize,
    counts: &mut Counts,
    cursor: Option<&str>,
) -> CliResult {
    let log_one = |r: worm::AuditRecord| match cursor {
        Some(c) => log.log_with_cursor(r, c),
        None => log.log(r),
    };
    counts.lines += 1;
    // Most lines are records in the form they are stored in: read in one pass (a record
    // with a cursor is framed with it in the spool, so it takes the full path). The rest,
    // and every bad line, go through the full parser, which says what is wrong.
    let text = match (cursor, line.is_over_limit()) {
        (None, false) => std::str::from_utf8(line.bytes).ok(),
        _ => None,
    };
    let (res, valid) = match text.and_then(|t| reader.log(log, t)) {
        Some(res) => (res, true),
        None => match input::parse_line(&line.to_owned(), max_line) {
            Parsed::Empty => {
                counts.empty += 1;
                return Ok(());
            }
            Parsed::Record(r) => (log_one(*r), true),
            Parsed::Invalid(r) => (log_one(*r), false),
        },
    };
    let res = match res {
        // The pipeline refuses a record only for its size; the line is kept as
        // invalid input instead.
        Err(worm::Error::InvalidInput { what, reason }) if valid => {
            let reason = format!("{what}: {reason}");
            log_one(input::invalid_record(&line.to_owned(), &reason)).map(|()| false)
        }
        other => other.map(|()| valid),
    };
    match res {
        Ok(true) => counts.records += 1,
        Ok(false) => counts.invalid += 1,
        Err(e) => {
            return Err(CliError::problems(format!(
                "the audit log refused input line {}: {e}",
                line.number
            )));
        }
    }
    Ok(())
}

/// The human summary.
fn describe(s: &Summary) -> String {
    let why = match s.stopped_by.as_str() {
        "eof" => "end of input".to_string(),
        "error" => "stopped by an error".to_string(),
        sig => format!("stopped by {sig}"),
    };
    let mut out = format!(
        "worm ship: stored {} records in {} batches in '{}' (stream {}, {why})\n  \
         lines {}: records {}, invalid {} (stored as {}), empty {}; filtered {}, \
         retries {}, dropped {}",
        s.stored,
        s.batches,
        s.store,
        s.stream,
        s.input.lines,
        s.input.records,
        s.input.invalid,
        input::INVALID_ACTION,
        s.input.empty,
        s.filtered,
        s.retries,
        s.dropped,
    );
    if s.recovered > 0 {
        out.push_str(&format!(
            "\n  recovered from the spool of an interrupted run: {} record(s)",
            s.recovered
        ));
    }
    if s.pending > 0 {
        out.push_str(&format!("\n  NOT stored: {} record(s)", s.pending));
    }
    out.push_str(&describe_targets(&s.targets, s.anchor.as_ref()));
    out
}

/// The summary's lines for each store (with several) and the anchor store; `worm serve`
/// prints them per service.
pub fn describe_targets(targets: &[TargetStats], anchor: Option<&TargetStats>) -> String {
    let mut out = String::new();
    if let Some(a) = anchor {
        out.push_str(&format!(
            "\n  anchor store '{}': {} checkpoints published, {} failed rounds{}",
            a.name,
            a.batches_stored,
            a.failures,
            if a.missed > 0 {
                ", the newest NOT published"
            } else {
                ""
            }
        ));
    }
    for t in targets {
        out.push_str(&format!(
            "\n  store '{}': {} batches stored, {} failed rounds",
            t.name, t.batches_stored, t.failures
        ));
        if t.backlog_batches > 0 {
            out.push_str(&format!(
                ", {} batches ({} bytes) not yet there{}",
                t.backlog_batches,
                t.backlog_bytes,
                if t.missed > 0 {
                    " and lost for this store (no spool)"
                } else {
                    ", kept in the spool"
                }
            ));
        }
    }
    out
}
