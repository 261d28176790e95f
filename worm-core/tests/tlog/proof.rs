//! Record proof bundles: every record of a small stream proves, and every altered field
//! is refused with its own error.

use uuid::Uuid;
use worm_core::sign::Signer;
use worm_core::tlog::checkpoint::{Checkpoint, CheckpointError};
use worm_core::tlog::merkle::{MerkleTree, leaf_hash};
use worm_core::tlog::note::NoteError;
use worm_core::tlog::proof::{
    self, MAX_BUNDLE_BYTES, MAX_INCLUSION, ProofBundle, ProofError, origin_for, stream_of_origin,
};

const STREAM: &str = "0190b6a0-1234-7000-8000-00000000abcd";

fn records(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"seq":{i},"message":"user {i} logged in"}}"#))
        .collect()
}

fn stream() -> Uuid {
    STREAM.parse().unwrap()
}

/// Bundles for every record of a stream of `n` records, signed by `key`.
fn bundles(n: usize, key: &Signer) -> Vec<ProofBundle> {
    let recs = records(n);
    let tree = MerkleTree::new(recs.iter().map(|r| leaf_hash(r.as_bytes())).collect());
    let cp = Checkpoint {
        origin: origin_for(stream()),
        size: n as u64,
        root: tree.root(),
        extensions: vec![],
    };
    let note = cp.sign(key).unwrap();
    (0..n)
        .map(|i| {
            let path = tree.inclusion_proof(i as u64).unwrap();
            ProofBundle::new(&recs[i], stream(), i as u64, n as u64, &path, &note)
        })
        .collect()
}

#[test]
fn every_record_proves_through_json() {
    let key = Signer::from_seed([3; 32]);
    for b in bundles(13, &key) {
        let json = b.to_json();
        assert!(
            json.starts_with(r#"{"format":"worm-proof/1","record":"#),
            "{json}"
        );
        let cp = proof::verify(json.as_bytes(), &[key.public_key()]).unwrap();
        assert_eq!(cp.size, 13);
        assert_eq!(ProofBundle::parse(json.as_bytes()).unwrap(), b);
    }
    assert_eq!(origin_for(stream()), format!("worm/{STREAM}"));
}

#[test]
fn origins_map_back_to_their_stream_only_in_the_written_form() {
    assert_eq!(stream_of_origin(&origin_for(stream())), Some(stream()));
    for other in [
        STREAM.to_string(),
        format!("worm/{}", STREAM.to_uppercase()),
        format!("worm/{}", STREAM.replace('-', "")),
        format!("worm/{STREAM} "),
        format!("worm//{STREAM}"),
        "worm/".to_string(),
        "example.com/log".to_string(),
    ] {
        assert_eq!(stream_of_origin(&other), None, "{other}");
    }
}

#[test]
fn every_altered_field_is_refused_by_name() {
    let key = Signer::from_seed([3; 32]);
    let pk = [key.public_key()];
    let all = bundles(13, &key);
    let good = &all[6];
    let check = |b: &ProofBundle| b.verify(&pk).unwrap_err();

    let mut b = good.clone();
    b.record.push(' ');
    assert_eq!(check(&b), ProofError::NotIncluded { index: 6 });
    b.record = all[5].record.clone();
    assert_eq!(check(&b), ProofError::NotIncluded { index: 6 });
    b.record = format!("{}\n", good.record);
    assert_eq!(check(&b), ProofError::RecordNotALine);

    let mut b = good.clone();
    b.index = 7;
    assert_eq!(check(&b), ProofError::NotIncluded { index: 7 });
    b.index = 13;
    assert!(matches!(
        check(&b),
        ProofError::IndexOutOfRange {
            index: 13,
            tree_size: 13
        }
    ));

    let mut b = good.clone();
    b.tree_size = 12;
    assert_eq!(
        check(&b),
        ProofError::SizeMismatch {
            bundle: 12,
            checkpoint: 13
        }
    );

    let mut b = good.clone();
    b.stream = Uuid::nil();
    let e = check(&b);
    assert!(matches!(e, ProofError::OriginMismatch { .. }), "{e}");
    assert!(e.to_string().contains(STREAM), "{e}");

    let mut b = good.clone();
    b.format = "worm-proof/2".into();
    assert_eq!(check(&b), ProofError::Format("worm-proof/2".into()));

    for k in 0..good.inclusion.len() {
        let mut b = good.clone();
        b.inclusion[k] = all[0].inclusion[0].clone();
        if b.inclusion[k] != good.inclusion[k] {
            assert_eq!(check(&b), ProofError::NotIncluded { index: 6 }, "hash {k}");
        }
        let mut b = good.clone();
        b.inclusion.remove(k);
        assert_eq!(check(&b), ProofError::NotIncluded { index: 6 }, "drop {k}");
    }
    let mut b = good.clone();
    b.inclusion.push(good.inclusion[0].clone());
    assert_eq!(check(&b), ProofError::NotIncluded { index: 6 });
    b.inclusion[0] = "AAAA".into();
    assert!(matches!(check(&b), ProofError::BadHash { position: 0, .. }));
    b.inclusion[0] = "not base64!".into();
    assert!(matches!(check(&b), ProofError::BadHash { position: 0, .. }));
    b.inclusion = vec![good.inclusion[0].clone(); MAX_INCLUSION + 1];
    assert_eq!(check(&b), ProofError::TooManyHashes(MAX_INCLUSION + 1));

    // The checkpoint: forged size, re-signed by another key, another stream's.
    let mut b = good.clone();
    b.checkpoint = b.checkpoint.replacen("\n13\n", "\n14\n", 1);
    assert!(matches!(
        check(&b),
        ProofError::Checkpoint(CheckpointError::Note(NoteError::BadSignature { .. }))
    ));
    let evil = Signer::from_seed([66; 32]);
    let b = bundles(13, &evil)[6].clone();
    let e = check(&b);
    assert!(
        matches!(
            e,
            ProofError::Checkpoint(CheckpointError::Note(NoteError::NoKnownSignature { .. }))
        ),
        "{e}"
    );
    let b = bundles(13, &evil)[6].clone();
    b.verify(&[evil.public_key()]).unwrap();
}

#[test]
fn malformed_json_is_refused_before_checking() {
    let key = Signer::from_seed([3; 32]);
    let json = bundles(3, &key)[1].to_json();
    let extra = json.replacen('{', r#"{"extra":1,"#, 1);
    let missing = json.replacen(r#""index":1,"#, "", 1);
    let bad_uuid = json.replacen(STREAM, "not-a-uuid", 1);
    for bad in [
        extra.as_str(),
        missing.as_str(),
        bad_uuid.as_str(),
        "[]",
        "{",
    ] {
        let e = ProofBundle::parse(bad.as_bytes()).unwrap_err();
        assert!(matches!(e, ProofError::Json(_)), "{bad}: {e}");
    }
    let huge = vec![b' '; MAX_BUNDLE_BYTES + 1];
    assert_eq!(
        ProofBundle::parse(&huge).unwrap_err(),
        ProofError::TooLarge(MAX_BUNDLE_BYTES + 1)
    );
}
