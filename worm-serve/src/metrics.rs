//! The server's counters and their Prometheus text exposition (`GET /metrics`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use worm_core::Stats;
use worm_core::pipeline::TargetStats;

/// Upper bounds (seconds) of the acknowledgement latency histogram.
const ACK_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Counters kept by the server (the pipeline keeps its own per service).
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    received: Mutex<BTreeMap<&'static str, u64>>,
    /// Records written to a spool's log and acknowledged.
    pub accepted: AtomicU64,
    /// Records refused (reported to the client: partial success, 4xx, 429, 503).
    pub refused: AtomicU64,
    /// NDJSON lines stored as `worm.invalid_input`.
    pub invalid: AtomicU64,
    /// Blank NDJSON lines skipped.
    pub empty: AtomicU64,
    /// Connections closed at once because `--max-connections` were open.
    pub connections_refused: AtomicU64,
    /// Open connections.
    pub connections_open: AtomicU64,
    ack_buckets: [AtomicU64; 11],
    ack_count: AtomicU64,
    ack_micros: AtomicU64,
}

impl Metrics {
    /// Count a reply.
    pub fn request(&self, endpoint: &'static str, status: u16) {
        *lock(&self.requests).entry((endpoint, status)).or_default() += 1;
    }

    /// Count records decoded from a request of `protocol`.
    pub fn received(&self, protocol: &'static str, n: u64) {
        *lock(&self.received).entry(protocol).or_default() += n;
    }

    /// Record how long an acknowledged request took.
    pub fn ack(&self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in ACK_BUCKETS.iter().enumerate() {
            if s <= *b {
                self.ack_buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.ack_count.fetch_add(1, Relaxed);
        self.ack_micros
            .fetch_add(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), Relaxed);
    }

    /// The exposition text: the server's counters, then each service's pipeline counters.
    pub fn render(&self, services: &[(String, Stats)]) -> String {
        let mut o = String::new();
        let head = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        head(
            &mut o,
            "worm_serve_requests_total",
            "counter",
            "Requests answered, by endpoint and HTTP status.",
        );
        for ((ep, st), n) in lock(&self.requests).iter() {
            let _ = writeln!(
                o,
                "worm_serve_requests_total{{endpoint=\"{ep}\",status=\"{st}\"}} {n}"
            );
        }
        head(
            &mut o,
            "worm_serve_records_received_total",
            "counter",
            "Records decoded from requests, by protocol.",
        );
        for (p, n) in lock(&self.received).iter() {
            let _ = writeln!(
                o,
                "worm_serve_records_received_total{{protocol=\"{p}\"}} {n}"
            );
        }
        for (name, help, v) in [
            (
                "worm_serve_records_accepted_total",
                "Records in a spool's write-ahead log, acknowledged.",
                &self.accepted,
            ),
            (
                "worm_serve_records_refused_total",
                "Records refused with the reason told to the client (never stored).",
                &self.refused,
            ),
            (
                "worm_serve_records_invalid_total",
                "NDJSON lines stored as worm.invalid_input records.",
                &self.invalid,
            ),
            (
                "worm_serve_lines_empty_total",
                "Blank NDJSON lines skipped.",
                &self.empty,
            ),
            (
                "worm_serve_connections_refused_total",
                "Connections closed at once: --max-connections were open.",
                &self.connections_refused,
            ),
        ] {
            head(&mut o, name, "counter", help);
            let _ = writeln!(o, "{name} {}", v.load(Relaxed));
        }
        head(
            &mut o,
            "worm_serve_connections_open",
            "gauge",
            "Open connections.",
        );
        let _ = writeln!(
            o,
            "worm_serve_connections_open {}",
            self.connections_open.load(Relaxed)
        );
        head(
            &mut o,
            "worm_serve_ack_seconds",
            "histogram",
            "Time from a request's arrival to its acknowledgement.",
        );
        for (i, b) in ACK_BUCKETS.iter().enumerate() {
            let _ = writeln!(
                o,
                "worm_serve_ack_seconds_bucket{{le=\"{b}\"}} {}",
                self.ack_buckets[i].load(Relaxed)
            );
        }
        let count = self.ack_count.load(Relaxed);
        let _ = writeln!(o, "worm_serve_ack_seconds_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            o,
            "worm_serve_ack_seconds_sum {}",
            self.ack_micros.load(Relaxed) as f64 / 1e6
        );
        let _ = writeln!(o, "worm_serve_ack_seconds_count {count}");

        type Get = fn(&Stats) -> f64;
        let per_service: &[(&str, &str, &str, Get)] = &[
            (
                "worm_records_accepted_total",
                "counter",
                "Records accepted by the service's writer.",
                |s| s.accepted as f64,
            ),
            (
                "worm_records_stored_total",
                "counter",
                "Records stored in the store.",
                |s| s.stored as f64,
            ),
            (
                "worm_records_pending",
                "gauge",
                "Records accepted, not yet stored.",
                |s| s.pending as f64,
            ),
            (
                "worm_records_recovered_total",
                "counter",
                "Records recovered from the spool of an earlier run.",
                |s| s.recovered as f64,
            ),
            (
                "worm_records_refused_total",
                "counter",
                "Records the writer refused (too large, closed).",
                |s| s.refused as f64,
            ),
            (
                "worm_records_filtered_total",
                "counter",
                "Records below the preset's minimum level.",
                |s| s.filtered as f64,
            ),
            (
                "worm_batches_stored_total",
                "counter",
                "Batches stored.",
                |s| s.batches_stored as f64,
            ),
            (
                "worm_upload_retries_total",
                "counter",
                "Upload attempts that were retries.",
                |s| s.retries as f64,
            ),
            (
                "worm_upload_failures_total",
                "counter",
                "Failed upload rounds.",
                |s| s.failures as f64,
            ),
            (
                "worm_upload_seconds_sum",
                "counter",
                "Time spent storing the stored batches (divide by worm_batches_stored_total: mean upload latency).",
                |s| s.upload_micros as f64 / 1e6,
            ),
            (
                "worm_backlog_queue_bytes",
                "gauge",
                "Bytes of sealed batches awaiting storage in memory.",
                |s| s.backlog_memory_bytes as f64,
            ),
            (
                "worm_backlog_spool_bytes",
                "gauge",
                "Bytes of sealed batches awaiting storage in the spool.",
                |s| s.backlog_spool_bytes as f64,
            ),
            (
                "worm_oldest_pending_seconds",
                "gauge",
                "Age of the oldest record not yet stored.",
                |s| s.oldest_pending_age.map_or(0.0, |d| d.as_secs_f64()),
            ),
        ];
        for (name, kind, help, get) in per_service {
            head(&mut o, name, kind, help);
            for (svc, s) in services {
                let _ = writeln!(o, "{name}{{service=\"{svc}\"}} {}", get(s));
            }
        }
        render_targets(&mut o, services);
        o
    }
}

/// When a store last stored a batch, in Unix seconds (0: not yet).
fn last_stored(t: &TargetStats) -> u64 {
    t.last_stored_at
        .and_then(|at| u64::try_from(at.timestamp()).ok())
        .unwrap_or(0)
}

/// Each service's figures per store (`--to`, in order) and for the anchor store
/// (`--anchor-to`), labelled `service` and `target` (the store as given).
fn render_targets(o: &mut String, services: &[(String, Stats)]) {
    let series: Series<'_> = &[
        (
            "worm_target_batches_stored_total",
            "counter",
            "Batches this store holds, stored by this run's writer of the service.",
            |t| t.batches_stored,
        ),
        (
            "worm_target_backlog_batches",
            "gauge",
            "Sealed batches this store does not have yet (waiting in the spool or memory).",
            |t| t.backlog_batches,
        ),
        (
            "worm_target_backlog_bytes",
            "gauge",
            "Bytes of those batches.",
            |t| t.backlog_bytes,
        ),
        (
            "worm_target_upload_failures_total",
            "counter",
            "Failed upload rounds to this store (transient, retried) and permanent failures.",
            |t| t.failures,
        ),
        (
            "worm_target_batches_missed_total",
            "counter",
            "Batches this store never received (its backlog at a close without a spool).",
            |t| t.missed,
        ),
        (
            "worm_target_failing",
            "gauge",
            "1 while this store's latest upload round failed and none succeeded since.",
            |t| u64::from(t.last_error.is_some()),
        ),
        (
            "worm_target_last_stored_timestamp_seconds",
            "gauge",
            "Unix time this store last stored a batch of the service (0: none yet this run).",
            last_stored,
        ),
    ];
    write_series(o, series, services, |s| &s.targets);
    let anchor: Series<'_> = &[
        (
            "worm_anchor_checkpoints_published_total",
            "counter",
            "Signed checkpoints published to the anchor store (--anchor-to).",
            |t| t.batches_stored,
        ),
        (
            "worm_anchor_backlog_checkpoints",
            "gauge",
            "Signed checkpoints waiting to be published to the anchor store.",
            |t| t.backlog_batches,
        ),
        (
            "worm_anchor_failures_total",
            "counter",
            "Failed publishing rounds to the anchor store.",
            |t| t.failures,
        ),
        (
            "worm_anchor_missed_total",
            "counter",
            "Checkpoints never published (given up past the waiting limit, or left at close).",
            |t| t.missed,
        ),
        (
            "worm_anchor_last_published_timestamp_seconds",
            "gauge",
            "Unix time a checkpoint was last published to the anchor store (0: none yet).",
            last_stored,
        ),
    ];
    write_series(o, anchor, services, |s| s.anchor.as_slice());
}

type Series<'a> = &'a [(&'a str, &'a str, &'a str, fn(&TargetStats) -> u64)];

/// Each series with one line per service and target that `pick` yields.
fn write_series(
    o: &mut String,
    series: Series<'_>,
    services: &[(String, Stats)],
    pick: fn(&Stats) -> &[TargetStats],
) {
    for (name, kind, help, get) in series {
        let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (svc, s) in services {
            for t in pick(s) {
                let _ = writeln!(
                    o,
                    "{name}{{service=\"{svc}\",target=\"{}\"}} {}",
                    label(&t.name),
                    get(t)
                );
            }
        }
    }
}

/// A Prometheus label value: backslash, double quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
