//! The Merkle tree behind record proofs, at the size the issue sets as its goal: one
//! stream of 1,000,000 records (~150-byte JSON lines).
//!
//! - `leaf_hashes`: hash every record line (what `worm prove` does after reading them);
//! - `tree_build`: every level of the tree from the leaf hashes;
//! - `inclusion_proof`: one audit path from the built tree;
//! - `prove_one_from_leaves`: build plus one path, the whole cost of one proof;
//! - `prove_one_treeless`: one path straight from the leaf hashes, keeping no tree;
//! - `verify_inclusion`: one path checked (what `verify-proof` does besides the note);
//! - `frontier_push`: the writer's per-record cost of keeping the tree's compact range.
//!
//! Setup also prints the size of one `worm-proof/1` bundle from that tree.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use uuid::Uuid;
use worm_core::sign::Signer;
use worm_core::tlog::checkpoint::Checkpoint;
use worm_core::tlog::merkle::{
    Frontier, Hash, MerkleTree, inclusion_proof, leaf_hash, verify_inclusion,
};
use worm_core::tlog::proof::{ProofBundle, origin_for};

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
    bundle_size(&lines[index as usize], &path, root);

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
    g.bench_function("prove_one_treeless", |b| {
        b.iter(|| inclusion_proof(black_box(index), &leaves).expect("index in tree"))
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

/// Print the size of a bundle as `worm prove` would write it: a checkpoint with the
/// extension lines a seal signs (seq, batch, final, time).
fn bundle_size(record: &str, path: &[Hash], root: Hash) {
    let stream = Uuid::now_v7();
    let cp = Checkpoint {
        origin: origin_for(stream),
        size: RECORDS,
        root,
        extensions: vec![
            "seq 999".into(),
            format!("batch {}", "ab".repeat(32)),
            "final false".into(),
            "time 2026-12-01T14:00:00.123456Z".into(),
        ],
    };
    let note = cp
        .sign(&Signer::from_seed([7; 32]))
        .expect("valid checkpoint");
    let json = ProofBundle::new(record, stream, 765_432, RECORDS, path, &note).to_json();
    eprintln!(
        "worm-proof/1 bundle for one record of {RECORDS}: {} bytes, of which the record {} \
         and the checkpoint note {}; {} inclusion hashes",
        json.len(),
        record.len(),
        note.len(),
        path.len()
    );
}

criterion_group!(benches, tlog);
criterion_main!(benches);
