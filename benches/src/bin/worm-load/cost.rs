//! PUT requests per million records for the presets and a 1 MiB byte budget, and the
//! time from `log` to stored for the `compliance` preset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::percentiles;
use worm_benches::sinks::TimedSink;
use worm_core::Level;
use worm_core::pipeline::AuditLogBuilder;
use worm_memory::MemorySink;

use crate::args::Args;

/// S3 Standard PUT price used for the dollar figure (USD per 1,000 requests).
const USD_PER_1000_PUTS: f64 = 0.005;

fn configured(name: &str, b: AuditLogBuilder) -> Result<AuditLogBuilder, String> {
    match name {
        "compliance" => Ok(b.compliance()),
        "high_volume" => Ok(b.high_volume()),
        "bytes_1mib" => Ok(b.max_records(usize::MAX).max_bytes(1 << 20)),
        other => Err(format!("unknown setting {other}")),
    }
}

/// Records are logged as fast as the writer takes them, so batches are cut by count or
/// bytes, never by age (the age cut only adds PUTs). WARN records, so that the
/// `high_volume` preset (WARN and above) stores all of them.
pub fn run(args: &Args) -> Result<(), String> {
    let records: u64 = args.num("records", 1_000_000)?;
    for name in ["compliance", "high_volume", "bytes_1mib"] {
        let mem = MemorySink::new();
        let b = configured(name, AuditLogBuilder::new(Arc::new(mem.clone()), SERVICE))?;
        let (max_records, max_bytes) = (b.config().max_records, b.config().max_bytes);
        let (log, guard) = b.build().map_err(|e| e.to_string())?;
        let started = Instant::now();
        for n in 0..records {
            log.log(audit_record(n, Level::Warn))
                .map_err(|e| e.to_string())?;
        }
        let report = guard.close_blocking().map_err(|e| e.to_string())?;
        // No faults: every PUT stored one object.
        let puts = mem.len() as u64;
        let per_million = puts as f64 * 1e6 / records as f64;
        crate::emit(json!({
            "bench": "cost",
            "setting": name,
            "max_records": max_records,
            "max_bytes": max_bytes,
            "records": records,
            "stored": report.records_stored,
            "puts": puts,
            "puts_per_million_records": per_million,
            "usd_per_million_records": per_million / 1000.0 * USD_PER_1000_PUTS,
            "secs": started.elapsed().as_secs_f64(),
        }));
    }
    Ok(())
}

/// `compliance` preset, two cases: records arriving steadily at `--rate` per second (5
/// records come before 15 s pass: batches are cut by count), and 4 records then silence
/// (the batch waits for `max_age`, 15 s).
pub fn latency(args: &Args) -> Result<(), String> {
    let rate: f64 = args.num("rate", 1000.0)?;
    let secs: f64 = args.num("secs", 5.0)?;
    let by_count = (rate * secs) as u64;
    for (case, count, interval) in [
        ("by_count", by_count, Duration::from_secs_f64(1.0 / rate)),
        ("by_age", 4, Duration::ZERO),
    ] {
        let sink = Arc::new(TimedSink::new(MemorySink::new()));
        let (log, guard) = AuditLogBuilder::new(sink.clone(), SERVICE)
            .compliance()
            .build()
            .map_err(|e| e.to_string())?;
        let max_age = log.config().max_age;
        let mut sent = Vec::with_capacity(count as usize);
        let started = Instant::now();
        for n in 0..count {
            let due = started + interval.mul_f64(n as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            sent.push(Instant::now());
            log.log(audit_record(n, Level::Info))
                .map_err(|e| e.to_string())?;
        }
        // Wait for the store (not flush: that would cut the batch early).
        let deadline = Instant::now() + max_age + Duration::from_secs(10);
        while log.stats().stored < count && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut lat: Vec<u64> = sink
            .stored()
            .into_iter()
            .filter_map(|(n, at)| {
                let s = sent.get(n as usize)?;
                Some(at.duration_since(*s).as_nanos() as u64)
            })
            .collect();
        guard.close_blocking().map_err(|e| e.to_string())?;
        if lat.len() as u64 != count {
            return Err(format!(
                "{case}: {} of {count} records stored in time",
                lat.len()
            ));
        }
        let p = percentiles(&mut lat);
        crate::emit(json!({
            "bench": "latency",
            "preset": "compliance",
            "case": case,
            "records": count,
            "rate_per_s": if interval.is_zero() { serde_json::Value::Null } else { json!(rate) },
            "p50_ms": p.p50_ns as f64 / 1e6,
            "p99_ms": p.p99_ns as f64 / 1e6,
            "max_ms": p.max_ns as f64 / 1e6,
        }));
    }
    Ok(())
}
