//! Pipeline throughput to the fs sink: `log` N records of ~300 bytes, then `close`, which
//! returns once every batch is sealed, hash-chained, fsynced and linked. 1 MiB batches
//! (the byte budget cuts them; `max_records` is raised out of the way). Plain, zstd and
//! signed, in one run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use worm_benches::event::{SERVICE, audit_record};
use worm_core::Level;
use worm_core::batch::Compression;
use worm_core::pipeline::AuditLogBuilder;
use worm_core::sign::Signer;
use worm_fs::FsSink;

const RECORDS: u64 = 100_000;

fn run(dir: &std::path::Path, compression: Compression, sign: bool) -> Duration {
    let sink = Arc::new(FsSink::new(dir).expect("fs store"));
    let mut b = AuditLogBuilder::new(sink, SERVICE)
        .max_records(usize::MAX)
        .max_bytes(1 << 20)
        .compression(compression);
    if sign {
        b = b.signer(Signer::from_seed([7; 32]));
    }
    let (log, guard) = b.build().expect("writer starts");
    let started = Instant::now();
    for n in 0..RECORDS {
        log.log(audit_record(n, Level::Info)).expect("accepted");
    }
    guard.close_blocking().expect("all stored");
    started.elapsed()
}

fn pipeline(c: &mut Criterion) {
    let root = std::env::var_os("WORM_BENCH_TMP")
        .map_or_else(std::env::temp_dir, std::path::PathBuf::from);
    let mut g = c.benchmark_group("pipeline_fs");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RECORDS));
    for (name, compression, sign) in [
        ("plain", Compression::None, false),
        ("zstd", Compression::Zstd, false),
        ("signed", Compression::None, true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir_in(&root).expect("temp dir");
                    total += run(dir.path(), compression, sign);
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
