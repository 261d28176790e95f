//! Verifier speed over an fs store written by the pipeline itself (signed, 1 MiB
//! batches). `generate` and `verify` are separate processes so that the verifier's peak
//! RSS is its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::{peak_rss_mib, per_sec};
use worm_core::pipeline::AuditLogBuilder;
use worm_core::sign::Signer;
use worm_core::{Level, Verifier};
use worm_fs::FsSink;

use crate::args::Args;

fn signer() -> Signer {
    Signer::from_seed([9; 32])
}

/// `--format v1|v3` (default v3, what the writer writes): `v1` writes the pre-tree
/// `worm-batch/1`, so the cost of the Merkle tree is measured within one build. (`/2`
/// stores come from an earlier build's `--format v2`.) Returns the format's name.
pub fn format(args: &Args, b: AuditLogBuilder) -> Result<(AuditLogBuilder, &'static str), String> {
    match args.str("format").unwrap_or("v3") {
        "v3" => Ok((b, "v3")),
        "v1" => Ok((b.legacy_v1_format(), "v1")),
        other => Err(format!(
            "--format {other}: expected v1 or v3 (this build writes no /2)"
        )),
    }
}

/// `--encrypt on`: records encrypted to a throw-away age recipient (`off`, the default:
/// in the clear).
pub fn encryption(args: &Args, b: AuditLogBuilder) -> Result<(AuditLogBuilder, bool), String> {
    match args.str("encrypt").unwrap_or("off") {
        "off" => Ok((b, false)),
        "on" => {
            let (_, recipient) = worm_core::crypt::generate();
            Ok((b.encrypt_to([recipient]), true))
        }
        other => Err(format!("--encrypt {other}: expected on or off")),
    }
}

fn dir(args: &Args) -> Result<PathBuf, String> {
    args.str("dir")
        .map(PathBuf::from)
        .ok_or_else(|| "--dir is required".to_string())
}

pub fn generate(args: &Args) -> Result<(), String> {
    let mib: u64 = args.num("mib", 1024)?;
    let dir = dir(args)?;
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let sink = Arc::new(FsSink::new(&dir).map_err(|e| e.to_string())?);
    let b = AuditLogBuilder::new(sink, SERVICE)
        .max_records(usize::MAX)
        .max_bytes(1 << 20)
        .signer(signer());
    let (b, format) = format(args, b)?;
    let (b, encrypted) = encryption(args, b)?;
    let (log, guard) = b.build().map_err(|e| e.to_string())?;
    let line = audit_record(0, Level::Info)
        .service(SERVICE)
        .to_json_line()
        .len() as u64
        + 1;
    let records = (mib << 20) / line;
    let started = Instant::now();
    for n in 0..records {
        log.log(audit_record(n, Level::Info))
            .map_err(|e| e.to_string())?;
    }
    let report = guard.close_blocking().map_err(|e| e.to_string())?;
    crate::emit(json!({
        "bench": "generate",
        "format": format,
        "encrypted": encrypted,
        "dir": dir.display().to_string(),
        "records": report.records_stored,
        "batches": report.batches_stored,
        "mib": mib,
        "secs": started.elapsed().as_secs_f64(),
    }));
    Ok(())
}

pub fn run(args: &Args) -> Result<(), String> {
    let dir = dir(args)?;
    let sink = FsSink::new(&dir).map_err(|e| e.to_string())?;
    let concurrency: usize = args.num("concurrency", worm_core::verify::DEFAULT_CONCURRENCY)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let report = rt
        .block_on(
            Verifier::new()
                .public_key(signer().public_key())
                .concurrency(concurrency)
                .verify(&sink),
        )
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    if !report.is_intact() {
        return Err(format!("store not intact: {report}"));
    }
    crate::emit(json!({
        "bench": "verify",
        "dir": dir.display().to_string(),
        "concurrency": concurrency,
        "objects": report.objects,
        "records": report.records,
        "mb": report.bytes as f64 / 1e6,
        "secs": elapsed.as_secs_f64(),
        "mb_per_s": per_sec(report.bytes as f64 / 1e6, elapsed),
        "peak_rss_mib": peak_rss_mib(),
    }));
    Ok(())
}
