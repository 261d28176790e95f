//! Peak RSS while records pile up behind a stalled sink (`FaultySink::stall_puts`).
//! Run one configuration per process: VmHWM is per process.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::{peak_rss_mib, rss_mib};
use worm_core::Level;
use worm_core::pipeline::{AuditLogBuilder, Overflow, QUEUED_RECORD_BYTES};
use worm_memory::MemorySink;
use worm_memory::testing::FaultySink;

use crate::args::Args;

/// What glibc malloc hands out for a request of `n` bytes.
fn malloc_chunk(n: usize) -> usize {
    (n + 8).div_ceil(16).max(2) * 16
}

pub fn run(args: &Args) -> Result<(), String> {
    let records: u64 = args.num("records", 1_000_000)?;
    let queue: usize = args.num("queue", 100_000)?;
    let pending_mib: usize = args.num("pending-mib", 64)?;
    let overflow = match args.str("overflow").unwrap_or("drop") {
        "drop" => Overflow::DropNewest,
        "block" => Overflow::Block,
        other => return Err(format!("--overflow {other}: expected drop or block")),
    };
    let mem = FaultySink::new(MemorySink::new());
    mem.stall_puts();
    let (log, guard) = AuditLogBuilder::new(Arc::new(mem.clone()), SERVICE)
        .queue_capacity(queue)
        .max_pending_bytes(pending_mib << 20)
        .overflow(overflow)
        .close_deadline(Duration::from_secs(120))
        .build()
        .map_err(|e| e.to_string())?;
    let cfg = log.config().clone();
    // Warm the caller's path so that its one-off allocations count in the baseline.
    let base_rss = rss_mib();
    let sample = audit_record(0, Level::Info).service(SERVICE).to_json_line();
    let started = Instant::now();
    let mut refused = 0u64;
    for n in 0..records {
        if log.log(audit_record(n, Level::Info)).is_err() {
            refused += 1;
        }
    }
    // Let the worker fill its backlog and stop; wait until RSS stops growing.
    let mut last = rss_mib();
    let mut still = 0;
    while still < 10 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(100));
        let now = rss_mib();
        still = if (now - last).abs() < 0.5 {
            still + 1
        } else {
            0
        };
        last = now;
    }
    let stats = log.stats();
    let peak = peak_rss_mib();
    // Each queued record: the Entry in the channel, its line and request id on the heap.
    let per_queued = QUEUED_RECORD_BYTES + malloc_chunk(sample.len()) + malloc_chunk(15);
    let bound_mib = base_rss
        + (queue * per_queued + cfg.max_pending_bytes + 2 * cfg.max_bytes) as f64
            / (1 << 20) as f64;
    mem.release_puts();
    let report = guard.close_blocking().map_err(|e| e.to_string())?;
    crate::emit(json!({
        "bench": "memory",
        "offered": records,
        "overflow": format!("{overflow:?}"),
        "queue_capacity": queue,
        "max_pending_mib": pending_mib,
        "pending_at_peak": stats.pending,
        "dropped": stats.dropped + refused.saturating_sub(stats.dropped),
        "baseline_rss_mib": base_rss,
        "peak_rss_mib": peak,
        "bound_mib": bound_mib,
        "per_queued_record_bytes": per_queued,
        "record_bytes": sample.len(),
        "stored_after_release": report.records_stored,
        "within_bound": peak <= bound_mib,
    }));
    Ok(())
}
