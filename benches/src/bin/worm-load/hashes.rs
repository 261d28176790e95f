//! The hashing floor of a `worm-batch/2` verify (issue 12): what SHA-256 alone costs per
//! record for the `/1` body hash, the RFC 6962 leaf and the tree's interior nodes, on this
//! machine's SHA-256 (SHA-NI when the CPU has it). A verifier of `/2` must do all three; one
//! of `/1` only the first, so `body ÷ (body + leaf + node)` bounds how close a `/2` verify
//! can come to a `/1` verify when hashing were all it did. The `*_lanes_*` figures are the
//! leaves and nodes hashed several at a time (`worm_core::tlog::lanes`), as the writer and
//! the verifier now do; `floor_ratio_with_lanes` is the bound with them.

use std::time::Instant;

use serde_json::json;
use sha2::{Digest, Sha256};
use worm_benches::event::{SERVICE, audit_record};
use worm_core::Level;
use worm_core::tlog::{Frontier, lanes, leaf_hash};

use crate::args::Args;

/// Nanoseconds per item of `f` run over `n` items, best of `rounds`.
fn best_ns(rounds: u32, n: usize, mut f: impl FnMut()) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / n as f64
        })
        .fold(f64::INFINITY, f64::min)
}

pub fn run(args: &Args) -> Result<(), String> {
    let n: usize = args.num("records", 200_000)?;
    let rounds: u32 = args.num("rounds", 5)?;
    let lines: Vec<Vec<u8>> = (0..n as u64)
        .map(|i| {
            audit_record(i, Level::Info)
                .service(SERVICE)
                .to_json_line()
                .into_bytes()
        })
        .collect();
    let avg_line = lines.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
    let mut sink = 0u8;
    // The body hash: the record lines with their newlines, streamed into one hasher.
    let body = best_ns(rounds, n, || {
        let mut h = Sha256::new();
        for l in &lines {
            h.update(l);
            h.update(b"\n");
        }
        sink ^= h.finalize()[0];
    });
    let leaves: Vec<_> = lines.iter().map(|l| leaf_hash(l)).collect();
    let leaf = best_ns(rounds, n, || {
        for l in &lines {
            sink ^= leaf_hash(l)[0];
        }
    });
    let node = best_ns(rounds, n, || {
        let mut f = Frontier::new();
        for h in &leaves {
            f.push(*h);
        }
        sink ^= f.root()[0];
    });
    // The same leaves and nodes with several messages hashed at once: leaves 16 lines a
    // group (as the verifier groups them), the tree extended by the whole set.
    let mut group = Vec::with_capacity(16);
    let leaf_lanes = best_ns(rounds, n, || {
        for chunk in lines.chunks(16) {
            group.clear();
            lanes::leaf_hashes(chunk.iter().map(Vec::as_slice), &mut group);
            sink ^= group[0][0];
        }
    });
    let node_lanes = best_ns(rounds, n, || {
        let mut f = Frontier::new();
        f.extend(&leaves);
        sink ^= f.root()[0];
    });
    std::hint::black_box(sink);
    crate::emit(json!({
        "bench": "hashes",
        "records": n,
        "avg_line_bytes": avg_line,
        "body_ns_per_record": body,
        "leaf_ns_per_record": leaf,
        "node_ns_per_record": node,
        "leaf_lanes_ns_per_record": leaf_lanes,
        "node_lanes_ns_per_record": node_lanes,
        "lanes": lanes::LANES,
        "v2_over_v1_hashing": (body + leaf + node) / body,
        "floor_ratio_if_only_hashing": body / (body + leaf + node),
        "floor_ratio_with_lanes": body / (body + leaf_lanes + node_lanes),
    }));
    Ok(())
}
