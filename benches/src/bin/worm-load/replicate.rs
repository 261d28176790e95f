//! Replication throughput: the whole pipeline (log, batch, seal, upload, close) into store
//! A alone, store B alone, and A and B replicated, side by side in one run, each round
//! starting one further along. The stores are two S3 servers: `WORM_TEST_S3_ENDPOINT`
//! (A, e.g. Ceph) and `--endpoint-b URL` (B, e.g. SeaweedFS); the AWS keys from the
//! environment serve both. Or `--stores s3-fs`: A on S3 and B a local directory (the
//! cheap local copy beside S3), or `--stores fs` for two local directories.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::{cpu_secs, per_sec, processes_cpu_secs};
use worm_core::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm_core::pipeline::{AuditLogBuilder, Target};
use worm_core::{Level, WormSink};
use worm_fs::FsSink;

use crate::args::Args;

struct Store {
    name: String,
    sink: Arc<dyn WormSink>,
    /// An S3 bucket, emptied at the end (the local servers keep objects in memory).
    s3: Option<Arc<worm_s3::S3Sink>>,
}

fn s3_store(rt: &tokio::runtime::Runtime, endpoint: &str, name: &str) -> Result<Store, String> {
    let sink = crate::s3::fresh_bucket(rt, endpoint, "worm-bench-repl")?;
    Ok(Store {
        name: format!("{name} {endpoint}"),
        sink: sink.clone(),
        s3: Some(sink),
    })
}

/// Delete every version in an S3 store's bucket, so that repeated runs do not fill a
/// test server's memory-backed store.
fn empty_bucket(rt: &tokio::runtime::Runtime, store: &Store) -> Result<(), String> {
    match &store.s3 {
        Some(s3) => crate::s3::empty_bucket(rt, s3).map_err(|e| format!("{}: {e}", store.name)),
        None => Ok(()),
    }
}

/// What one run measured.
struct Run {
    records_per_s: f64,
    /// This process's CPU seconds per batch (caller, writer, uploads).
    worm_cpu_ms_per_batch: f64,
    /// The S3 servers' CPU seconds per batch (every radosgw, ceph-* and weed process on
    /// the machine: other work on them counts too).
    server_cpu_ms_per_batch: f64,
}

/// One run: `records` records into `targets` (one, or several replicated), from `build`
/// until `close` returns.
fn one_run(targets: &[&Store], records: u64, batch: usize, prefix: &str) -> Result<Run, String> {
    let mut b = AuditLogBuilder::to_target(
        Target::from_arc(targets[0].sink.clone()).name(targets[0].name.clone()),
        SERVICE,
    );
    for t in &targets[1..] {
        b = b.replica(Target::from_arc(t.sink.clone()).name(t.name.clone()));
    }
    let (log, guard) = b
        .max_records(batch)
        .max_bytes(usize::MAX)
        .heartbeat(None)
        .find_predecessor(false)
        .retention(worm_core::RetentionMode::Governance, 1)
        .keys(KeyTemplate::new(DEFAULT_TEMPLATE, prefix).map_err(|e| e.to_string())?)
        .build()
        .map_err(|e| e.to_string())?;
    let (cpu0, server0) = (
        cpu_secs(),
        processes_cpu_secs(crate::s3::SERVER_PROCESSES).0,
    );
    let started = Instant::now();
    for n in 0..records {
        log.log(audit_record(n, Level::Info))
            .map_err(|e| e.to_string())?;
    }
    let report = guard.close_blocking().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let batches = report.batches_stored.max(1) as f64;
    let per_batch = |s: f64| s * 1000.0 / batches;
    let run = Run {
        records_per_s: per_sec(records as f64, elapsed),
        worm_cpu_ms_per_batch: per_batch(cpu_secs() - cpu0),
        server_cpu_ms_per_batch: per_batch(
            processes_cpu_secs(crate::s3::SERVER_PROCESSES).0 - server0,
        ),
    };
    if report.records_stored != records {
        return Err(format!("stored {} of {records}", report.records_stored));
    }
    for t in log.stats().targets {
        if t.backlog_batches != 0 || t.batches_stored != report.batches_stored {
            return Err(format!("{} did not get every batch: {t:?}", t.name));
        }
    }
    Ok(run)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub fn run(args: &Args) -> Result<(), String> {
    let records: u64 = args.num("records", 200_000)?;
    let rounds: usize = args.num("rounds", 3)?;
    let batch: usize = args.num("batch", 1000)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let ea = || {
        std::env::var("WORM_TEST_S3_ENDPOINT")
            .map_err(|_| "set WORM_TEST_S3_ENDPOINT (scripts/s3-server.sh env ceph)".to_string())
    };
    let fs = |n: &str| -> Result<Store, String> {
        Ok(Store {
            name: n.into(),
            sink: Arc::new(FsSink::new(root.path().join(n)).map_err(|e| e.to_string())?),
            s3: None,
        })
    };
    let (a, b) = match args.str("stores").unwrap_or("s3") {
        "s3" => {
            let eb = args
                .str("endpoint-b")
                .ok_or("--endpoint-b URL: the second S3 server")?;
            (s3_store(&rt, &ea()?, "A")?, s3_store(&rt, eb, "B")?)
        }
        // The deployment the issue names: S3 and a cheap local immutable copy beside it.
        "s3-fs" => (s3_store(&rt, &ea()?, "A")?, fs("B")?),
        "fs" => (fs("A")?, fs("B")?),
        other => return Err(format!("--stores {other}: expected s3, s3-fs or fs")),
    };
    let sides: [(&str, Vec<&Store>); 3] = [
        ("A alone", vec![&a]),
        ("B alone", vec![&b]),
        ("A and B replicated", vec![&a, &b]),
    ];
    let mut rates: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut worm_cpu: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let mut server_cpu: Vec<Vec<f64>> = vec![Vec::new(); 3];
    let cpu0 = cpu_secs();
    // One warm-up run of each side, not counted.
    for round in 0..=rounds {
        for k in 0..3 {
            let i = (round + k) % 3;
            let prefix = format!("bench-{round}-{i}-{}", crate::s3::uuid_like());
            let r = one_run(&sides[i].1, records, batch, &prefix)?;
            if round > 0 {
                rates[i].push(r.records_per_s);
                worm_cpu[i].push(r.worm_cpu_ms_per_batch);
                server_cpu[i].push(r.server_cpu_ms_per_batch);
            }
        }
    }
    let med: Vec<f64> = rates.iter().map(|r| median(&mut r.clone())).collect();
    let slower = med[0].min(med[1]);
    let per_round: Vec<f64> = (0..rounds)
        .map(|k| rates[2][k] / rates[0][k].min(rates[1][k]))
        .collect();
    crate::emit(json!({
        "bench": "replicate",
        "a": a.name,
        "b": b.name,
        "records": records,
        "batch_records": batch,
        "rounds": rounds,
        "a_records_per_s": med[0],
        "b_records_per_s": med[1],
        "replicated_records_per_s": med[2],
        "a_runs": rates[0],
        "b_runs": rates[1],
        "replicated_runs": rates[2],
        "ratio_to_slower": med[2] / slower,
        "ratio_per_round": per_round,
        "worm_cpu_ms_per_batch": {
            "a": median(&mut worm_cpu[0]),
            "b": median(&mut worm_cpu[1]),
            "replicated": median(&mut worm_cpu[2]),
        },
        "server_cpu_ms_per_batch": {
            "a": median(&mut server_cpu[0]),
            "b": median(&mut server_cpu[1]),
            "replicated": median(&mut server_cpu[2]),
        },
        "cpu_secs": cpu_secs() - cpu0,
    }));
    empty_bucket(&rt, &a)?;
    empty_bucket(&rt, &b)?;
    Ok(())
}
