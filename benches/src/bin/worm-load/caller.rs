//! Per-call cost of one audit event on the caller's thread: `WormLayer` against
//! `fmt().json()` on `tracing_appender::non_blocking`, in alternating rounds of the same
//! run so that both see the same noise. Each call is timed with `Instant`.

use std::time::Instant;

use serde_json::json;
use worm_benches::event::{CallerSubscribers, audit_event, caller_subscribers, request_span};
use worm_benches::measure::percentiles;

use crate::args::Args;

fn timed_calls(dispatch: &tracing::Dispatch, calls: usize, first: u64, out: &mut Vec<u64>) {
    tracing::dispatcher::with_default(dispatch, || {
        let span = request_span();
        let _e = span.enter();
        for i in 0..calls as u64 {
            let t = Instant::now();
            audit_event(first + i);
            out.push(t.elapsed().as_nanos() as u64);
        }
    });
}

pub fn run(args: &Args) -> Result<(), String> {
    let calls: usize = args.num("calls", 100_000)?;
    let rounds: usize = args.num("rounds", 10)?;

    // `--only worm|fmt`: one side alone, for a profiler.
    let only = args.str("only");
    let (run_worm, run_fmt) = (only != Some("fmt"), only != Some("worm"));

    // `--queue-mib N`: the writer's queue byte budget (default: the library's, 8 MiB).
    let queue_mib: Option<usize> = match args.str("queue-mib") {
        Some(v) => Some(v.parse().map_err(|e| format!("--queue-mib {v}: {e}"))?),
        None => None,
    };
    let subs = caller_subscribers(queue_mib.map(|m| m << 20)).map_err(|e| e.to_string())?;
    let (worm, fmt) = (&subs.worm, &subs.fmt);

    // One warm-up round each, not counted.
    let mut scratch = Vec::with_capacity(calls);
    timed_calls(worm, calls, 0, &mut scratch);
    timed_calls(fmt, calls, 0, &mut scratch);

    // Touched before timing: a page fault of the sample buffer is not the call's.
    let touched = || {
        let mut v = vec![1u64; calls * rounds];
        v.fill(0);
        v.clear();
        v
    };
    let (mut ours, mut theirs) = (touched(), touched());
    for r in 0..rounds {
        let first = ((r + 1) * calls) as u64;
        if run_worm {
            timed_calls(worm, calls, first, &mut ours);
        }
        if run_fmt {
            timed_calls(fmt, calls, first, &mut theirs);
        }
    }
    let CallerSubscribers {
        worm,
        worm_guard,
        sink,
        fmt,
        fmt_guard,
    } = subs;
    drop((worm, fmt, fmt_guard));
    let report = worm_guard.close_blocking().map_err(|e| e.to_string())?;
    let ours = percentiles(&mut ours);
    let theirs = percentiles(&mut theirs);
    crate::emit(json!({
        "bench": "caller",
        "calls_per_side": calls * rounds,
        "worm_queue_mib": queue_mib.unwrap_or(worm_core::pipeline::DEFAULT_MAX_QUEUE_BYTES >> 20),
        "worm_layer": ours,
        "fmt_json_non_blocking": theirs,
        "ratio_mean": ours.mean_ns / theirs.mean_ns,
        "ratio_p50": ours.p50_ns as f64 / theirs.p50_ns as f64,
        "ratio_p99": ours.p99_ns as f64 / theirs.p99_ns as f64,
        "worm_records_stored": report.records_stored,
        "worm_puts": sink.puts(),
    }));
    Ok(())
}
