//! Pipeline throughput: one producer thread `log`s N records of ~300 bytes, then
//! `close` returns once every batch is sealed, hash-chained, stored and (fs) fsynced.
//! 1 MiB batches: the byte budget cuts them, `max_records` is raised out of the way.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::{cpu_secs, peak_rss_mib, per_sec};
use worm_benches::sinks::NullSink;
use worm_core::batch::Compression;
use worm_core::pipeline::AuditLogBuilder;
use worm_core::sign::Signer;
use worm_core::{Level, WormSink};
use worm_fs::FsSink;

use crate::args::Args;

/// Bytes of every file under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

pub fn run(args: &Args) -> Result<(), String> {
    let records: u64 = args.num("records", 1_000_000)?;
    let mode = args.str("mode").unwrap_or("plain").to_string();
    let sink_kind = args.str("sink").unwrap_or("fs").to_string();
    let root = args
        .str("dir")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    let dir = tempfile::tempdir_in(&root).map_err(|e| e.to_string())?;
    let sink: Arc<dyn WormSink> = match sink_kind.as_str() {
        "fs" => Arc::new(FsSink::new(dir.path()).map_err(|e| e.to_string())?),
        "null" => Arc::new(NullSink::default()),
        other => return Err(format!("--sink {other}: expected fs or null")),
    };
    let mut b = AuditLogBuilder::new(sink, SERVICE)
        .max_records(usize::MAX)
        .max_bytes(1 << 20);
    match mode.as_str() {
        "plain" => {}
        "zstd" => b = b.compression(Compression::Zstd),
        "gzip" => b = b.compression(Compression::Gzip),
        "signed" => b = b.signer(Signer::from_seed([7; 32])),
        other => {
            return Err(format!(
                "--mode {other}: expected plain, zstd, gzip or signed"
            ));
        }
    }
    let (b, format) = crate::verify::format(args, b)?;
    let (b, encrypted) = crate::verify::encryption(args, b)?;
    let (log, guard) = b.build().map_err(|e| e.to_string())?;
    let line_bytes = audit_record(0, Level::Info)
        .service(SERVICE)
        .to_json_line()
        .len();
    let cpu0 = cpu_secs();
    let started = Instant::now();
    for n in 0..records {
        log.log(audit_record(n, Level::Info))
            .map_err(|e| e.to_string())?;
    }
    let logged = started.elapsed();
    let report = guard.close_blocking().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if report.records_stored != records {
        return Err(format!(
            "stored {} of {records} records",
            report.records_stored
        ));
    }
    let stored_bytes = dir_bytes(dir.path());
    let record_bytes = records as f64 * (line_bytes as f64 + 1.0);
    crate::emit(json!({
        "bench": "pipeline",
        "sink": sink_kind,
        "mode": mode,
        "format": format,
        "encrypted": encrypted,
        "records": records,
        "record_bytes": line_bytes,
        "batches": report.batches_stored,
        "secs": elapsed.as_secs_f64(),
        "log_secs": logged.as_secs_f64(),
        "records_per_s": per_sec(records as f64, elapsed),
        "mb_per_s": per_sec(record_bytes / 1e6, elapsed),
        "stored_mb": stored_bytes as f64 / 1e6,
        "stored_mb_per_s": per_sec(stored_bytes as f64 / 1e6, elapsed),
        "peak_rss_mib": peak_rss_mib(),
        "cpu_us_per_record": (cpu_secs() - cpu0) * 1e6 / records as f64,
    }));
    Ok(())
}
