//! Checks shared by the replication suites: every replica holds the same objects byte
//! for byte, each verifies intact on its own, and each holds every record once.

use std::collections::BTreeSet;
use std::sync::Arc;

use worm::WormSink;

use crate::readback::read_streams;

/// One replica: a name for messages, the store, and the prefix its batches are under.
pub struct Replica {
    /// For messages (`fs`, `ceph`, `seaweedfs`).
    pub name: String,
    /// The store.
    pub sink: Arc<dyn WormSink>,
    /// What to list (`""` for a whole directory).
    pub prefix: String,
}

/// What [`assert_replicas`] found.
#[derive(Debug, Clone, Copy)]
pub struct Checked {
    /// Objects in each replica.
    pub objects: u64,
    /// Distinct records in each replica (`n` field).
    pub records: u64,
}

/// Assert that every replica holds the same objects with the same bytes as the first
/// (by key and the sha256 of what a reader gets), that each verifies intact with
/// `closed` streams, and that each holds every record numbered in `expect` exactly
/// once (no record stored twice, none missing).
pub async fn assert_replicas(
    replicas: &[Replica],
    expect: &BTreeSet<u64>,
    streams: usize,
) -> Checked {
    let first = &replicas[0];
    let mut objects = 0;
    for r in &replicas[1..] {
        let c = worm::replica::compare(
            first.sink.as_ref(),
            &first.prefix,
            r.sink.as_ref(),
            &r.prefix,
        )
        .await
        .unwrap_or_else(|e| panic!("comparing {} with {}: {e}", first.name, r.name));
        assert!(
            c.is_identical(),
            "{} and {} differ: only in {}: {:?}, only in {}: {:?}, different: {:?}",
            first.name,
            r.name,
            first.name,
            c.only_in_a.iter().map(|e| &e.key).collect::<Vec<_>>(),
            r.name,
            c.only_in_b.iter().map(|e| &e.key).collect::<Vec<_>>(),
            c.different
        );
        objects = c.same;
    }
    let mut records = 0;
    for r in replicas {
        let report = worm::verify::Verifier::new()
            .prefix(r.prefix.clone())
            .require_closed(true)
            .verify(r.sink.as_ref())
            .await
            .unwrap_or_else(|e| panic!("verifying {}: {e}", r.name));
        let errors: Vec<String> = report.errors().map(|p| p.to_string()).collect();
        assert!(errors.is_empty(), "{} is not intact: {errors:#?}", r.name);
        let found = read_streams(r.sink.as_ref(), &r.prefix).await;
        assert_eq!(found.len(), streams, "streams in {}", r.name);
        let mut seen = BTreeSet::new();
        for rec in found.values().flatten().flat_map(|b| &b.records) {
            if let Some(n) = rec["n"].as_u64() {
                assert!(seen.insert(n), "record {n} stored twice in {}", r.name);
            }
        }
        let missing: Vec<_> = expect.difference(&seen).take(10).collect();
        assert!(
            missing.is_empty(),
            "records missing in {}: {missing:?}",
            r.name
        );
        records = seen.len() as u64;
    }
    Checked { objects, records }
}
