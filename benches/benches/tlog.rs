//! The Merkle tree behind record proofs, at the size the issue sets as its goal: one
//! stream of 1,000,000 records (~150-byte JSON lines).
//!
//! - `leaf_hashes`: hash every record line (what `worm prove` does after reading them);
//! - `tree_build`: every level of the tree from the leaf hashes;
//! - `inclusion_proof`: one audit path from the built tree;
//! - `prove_one_from_leaves`: build plus one path, the whole cost of one proof;
//! - `verify_inclusion`: one path checked (what `verify-proof` does besides the note);
//! - `frontier_push`: the writer's per-record cost of keeping the tree's compact range.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use worm_core::tlog::merkle::{Frontier, Hash, MerkleTree, leaf_hash, verify_inclusion};

const RECORDS: u64 = 1_000_000;

fn line(n: u64) -> String {
    format!(
        r#"{{"timestamp":"2026-12-01T14:00:00.{:06}Z","level":"INFO","service_name":"camera_service","user_id":"user{}","action":"view","message":"record {n}"}}"#,
        n % 1_000_000,
        n % 997
    )
}

fn tlog(c: &mut Criterion) {
    let lines: Vec<String> = (0..RECORDS).map(line).collect();
    let leaves: Vec<Hash> = lines.iter().map(|l| leaf_hash(l.as_bytes())).collect();
    let tree = MerkleTree::new(leaves.clone());
    let root = tree.root();
    let index = 765_432;
    let path = tree.inclusion_proof(index).expect("index in tree");

    let mut g = c.benchmark_group("tlog_1m");
    g.sample_size(10);
    g.throughput(Throughput::Elements(RECORDS));
    g.bench_function("leaf_hashes", |b| {
        b.iter(|| {
            lines
                .iter()
                .map(|l| leaf_hash(l.as_bytes()))
                .collect::<Vec<_>>()
        })
    });
    g.bench_function("tree_build", |b| {
        b.iter(|| MerkleTree::new(black_box(leaves.clone())))
    });
    g.bench_function("prove_one_from_leaves", |b| {
        b.iter(|| {
            MerkleTree::new(black_box(leaves.clone()))
                .inclusion_proof(index)
                .expect("index in tree")
        })
    });
    g.bench_function("frontier_push", |b| {
        b.iter(|| {
            let mut f = Frontier::new();
            leaves.iter().for_each(|l| f.push(*l));
            f.root()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("tlog_1m_one");
    g.bench_function("inclusion_proof", |b| {
        b.iter(|| tree.inclusion_proof(black_box(index)))
    });
    g.bench_function("verify_inclusion", |b| {
        b.iter(|| {
            verify_inclusion(
                &leaves[index as usize],
                index,
                RECORDS,
                black_box(&path),
                &root,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, tlog);
criterion_main!(benches);
