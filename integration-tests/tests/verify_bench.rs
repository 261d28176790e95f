//! Verifier throughput on a ~1 GiB fs store. Ignored by default; run in two steps so that
//! peak memory of the verification alone can be measured:
//!
//! ```text
//! cargo test --release -p integration-tests --test verify_bench -- --ignored generate
//! /usr/bin/time -v cargo test --release -p integration-tests --test verify_bench -- --ignored verify_store
//! ```
//! `WORM_BENCH_DIR` (default `target/verify-bench-store`) and `WORM_BENCH_MIB` (default
//! 1024) choose where and how much. Delete the directory afterwards.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::PathBuf;
use std::time::Instant;

use integration_tests::chain::{StreamSpec, write_stream};
use worm::fs::FsSink;
use worm::sign::Signer;
use worm::verify::Verifier;

fn dir() -> PathBuf {
    std::env::var_os("WORM_BENCH_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/verify-bench-store"),
        PathBuf::from,
    )
}

fn signer() -> Signer {
    Signer::from_seed([9; 32])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes ~1 GiB; run by hand"]
async fn generate() {
    let mib: u64 = std::env::var("WORM_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let sink = FsSink::new(dir()).unwrap();
    let started = Instant::now();
    let mut written = 0u64;
    let mut streams = 0;
    // Streams of 100 batches × 1000 records (~330 KB per batch).
    while written < mib << 20 {
        let spec = StreamSpec::new(100, 1000).signed(&signer());
        written += write_stream(&sink, &spec).await.plain_bytes;
        streams += 1;
    }
    println!(
        "generated {streams} streams, {:.1} MiB in {:.1}s into {}",
        written as f64 / (1 << 20) as f64,
        started.elapsed().as_secs_f64(),
        dir().display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the store from `generate`"]
async fn verify_store() {
    let sink = FsSink::new(dir()).unwrap();
    let started = Instant::now();
    let report = Verifier::new()
        .public_key(signer().public_key())
        .verify(&sink)
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert!(report.is_intact(), "{report}");
    let mb = report.bytes as f64 / 1e6;
    println!(
        "verified {} objects, {} records, {:.1} MB in {secs:.2}s: {:.0} MB/s",
        report.objects,
        report.records,
        mb,
        mb / secs
    );
}
