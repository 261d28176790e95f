//! Random damage to valid notes, checkpoints and bundles: parsing never panics, and
//! whatever still verifies says exactly what the original said.

use uuid::Uuid;
use worm_core::sign::Signer;
use worm_core::tlog::checkpoint::Checkpoint;
use worm_core::tlog::merkle::{MerkleTree, leaf_hash};
use worm_core::tlog::proof::{ProofBundle, origin_for};

/// Edits per test: each costs an Ed25519 verification, slow in a debug build.
const EDITS: usize = 1_500;

/// `data` with one random edit: a byte changed, removed, duplicated or inserted, or cut.
fn mutate(rng: &mut fastrand::Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    let at = rng.usize(..d.len());
    match rng.u8(..5) {
        0 => d[at] ^= 1 << rng.u8(..8),
        1 => {
            d.remove(at);
        }
        2 => d.insert(at, d[at]),
        3 => d.insert(
            at,
            *rng.choice(b"\n +/=-{}\":0aA\xe2\x80\x94").unwrap_or(&b'x'),
        ),
        _ => d.truncate(at),
    }
    d
}

#[test]
fn damaged_signed_checkpoints_never_verify_as_something_else() {
    let key = Signer::from_seed([8; 32]);
    let keys = [key.public_key()];
    let cp = Checkpoint {
        origin: origin_for(Uuid::from_u128(7)),
        size: 1000,
        root: leaf_hash(b"r"),
        extensions: vec!["seq 4".into(), "final false".into()],
    };
    let note = cp.sign(&key).unwrap();
    let mut rng = fastrand::Rng::with_seed(12);
    let mut verified = 0;
    for _ in 0..EDITS {
        let bad = mutate(&mut rng, note.as_bytes());
        let Ok(text) = std::str::from_utf8(&bad) else {
            continue;
        };
        if let Ok(got) = Checkpoint::open(text, &keys) {
            // Only edits outside the signed text (e.g. after the last signature) survive.
            assert_eq!(got, cp, "{text:?}");
            verified += 1;
        }
    }
    assert!(verified < EDITS / 10, "{verified} damaged notes verified");
}

#[test]
fn damaged_bundles_never_prove_another_record() {
    let key = Signer::from_seed([8; 32]);
    let keys = [key.public_key()];
    let recs: Vec<String> = (0..9).map(|i| format!(r#"{{"n":{i}}}"#)).collect();
    let tree = MerkleTree::new(recs.iter().map(|r| leaf_hash(r.as_bytes())).collect());
    let stream = Uuid::from_u128(9);
    let cp = Checkpoint {
        origin: origin_for(stream),
        size: 9,
        root: tree.root(),
        extensions: vec![],
    };
    let note = cp.sign(&key).unwrap();
    let good = ProofBundle::new(
        &recs[5],
        stream,
        5,
        9,
        &tree.inclusion_proof(5).unwrap(),
        &note,
    );
    let json = good.to_json();
    let mut rng = fastrand::Rng::with_seed(34);
    for _ in 0..EDITS {
        let bad = mutate(&mut rng, json.as_bytes());
        let Ok(b) = ProofBundle::parse(&bad) else {
            continue;
        };
        if b.verify(&keys).is_ok() {
            assert_eq!((&b.record, b.stream, b.index), (&good.record, stream, 5));
        }
    }
}
