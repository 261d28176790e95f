//! worm's signed notes, checkpoints and Merkle proofs against an independent
//! implementation: Cloudflare's `signed_note` and `tlog_tiles` crates (a Rust port of Go's
//! `golang.org/x/mod/sumdb/note` and `sumdb/tlog`), each way round.
//!
//! - worm → theirs: worm signs and proves; only their code checks (note signature, vkey,
//!   checkpoint text, record and tree proofs, and a whole `worm-proof/1` bundle).
//! - theirs → worm: their code signs and proves; worm checks, and its proofs equal theirs.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use signed_note::{Note as TheirNote, StandardSigner, StandardVerifier, VerifierList};
use tlog_tiles::{
    Checkpoint as TheirCheckpoint, Hash as TheirHash, HashReader, check_record, check_tree,
    prove_record, prove_tree, record_hash, stored_hashes, tree_hash,
};
use uuid::Uuid;
use worm_core::sign::{PublicKey, Signer};
use worm_core::tlog::checkpoint::Checkpoint;
use worm_core::tlog::merkle::{Hash, MerkleTree, leaf_hash, verify_consistency, verify_inclusion};
use worm_core::tlog::note;
use worm_core::tlog::proof::{self, ProofBundle, origin_for};

/// Their hash storage: Go's tlog layout, every stored hash in index order.
struct Stored(Vec<TheirHash>);

impl HashReader for Stored {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<TheirHash>, tlog_tiles::Error> {
        Ok(indexes.iter().map(|&i| self.0[i as usize]).collect())
    }
}

fn records(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"seq":{i},"user_id":"u{}","action":"login"}}"#, i * 7))
        .collect()
}

/// Their tree over `recs`, built record by record with `stored_hashes`.
fn their_tree(recs: &[String]) -> Stored {
    let mut s = Stored(Vec::new());
    for (n, r) in recs.iter().enumerate() {
        let add = stored_hashes(n as u64, r.as_bytes(), &s).unwrap();
        s.0.extend(add);
    }
    s
}

fn theirs(h: &Hash) -> TheirHash {
    TheirHash(*h)
}

fn verifiers(vkey: &str) -> VerifierList {
    VerifierList::new(vec![Box::new(StandardVerifier::new(vkey).unwrap())])
}

#[test]
fn roots_and_proofs_agree_both_ways_for_every_small_tree() {
    let all = records(40);
    let stored = their_tree(&all);
    for t in 1..=all.len() {
        let recs = &all[..t];
        let tree = MerkleTree::new(recs.iter().map(|r| leaf_hash(r.as_bytes())).collect());
        let th = tree_hash(t as u64, &stored).unwrap();
        assert!(th == theirs(&tree.root()), "root of {t}");
        for n in 0..t as u64 {
            let ours = tree.inclusion_proof(n).unwrap();
            let rh = record_hash(recs[n as usize].as_bytes());
            // worm → theirs.
            let p: Vec<TheirHash> = ours.iter().map(theirs).collect();
            check_record(&p, t as u64, th, n, rh).unwrap();
            // theirs → worm: the same path, and worm accepts it.
            let their_p = prove_record(t as u64, n, &stored).unwrap();
            assert!(their_p == p, "record proof {n} of {t}");
            let back: Vec<Hash> = their_p.iter().map(|h| h.0).collect();
            assert!(verify_inclusion(&rh.0, n, t as u64, &back, &th.0));
        }
        for m in 1..=t as u64 {
            let old = tree_hash(m, &stored).unwrap();
            let ours = tree.consistency_proof(m).unwrap();
            let p: Vec<TheirHash> = ours.iter().map(theirs).collect();
            check_tree(&p, t as u64, th, m, old).unwrap();
            let their_p = prove_tree(t as u64, m, &stored).unwrap();
            assert!(their_p == p, "tree proof {m} -> {t}");
            let back: Vec<Hash> = their_p.iter().map(|h| h.0).collect();
            assert!(verify_consistency(m, t as u64, &back, &old.0, &th.0));
        }
    }
}

#[test]
fn worm_notes_and_vkeys_verify_with_their_code_and_theirs_with_worm() {
    let key = Signer::from_seed([21; 32])
        .with_name("example.com/audit")
        .unwrap();
    let vkey = key.public_key().to_vkey();
    let text = "worm/x\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    // worm → theirs.
    let ours = note::sign(text, &key).unwrap();
    let n = TheirNote::from_bytes(ours.as_bytes()).unwrap();
    let (good, unknown) = n.verify(&verifiers(&vkey)).unwrap();
    assert_eq!((good.len(), unknown.len()), (1, 0));
    assert_eq!(n.text(), text.as_bytes());
    let forged = ours.replacen("\n5\n", "\n6\n", 1);
    let e = TheirNote::from_bytes(forged.as_bytes())
        .unwrap()
        .verify(&verifiers(&vkey));
    assert!(e.is_err());
    let other = Signer::from_seed([22; 32])
        .with_name("example.com/audit")
        .unwrap();
    assert!(n.verify(&verifiers(&other.public_key().to_vkey())).is_err());

    // theirs → worm: their signer reads worm's secret key form and signs.
    let skey = key.to_note_secret_text();
    let signer = StandardSigner::new(skey.trim_end()).unwrap();
    let mut their = TheirNote::new(text.as_bytes(), &[]).unwrap();
    their.add_sigs(&[&signer]).unwrap();
    let msg = String::from_utf8(their.to_bytes()).unwrap();
    assert_eq!(
        msg, ours,
        "Ed25519 is deterministic: the same note, byte for byte"
    );
    let pk = PublicKey::from_text(&vkey).unwrap();
    assert_eq!(note::open(&msg, &[pk]).unwrap().text, text);
}

#[test]
fn checkpoints_read_the_same_both_ways() {
    let root = leaf_hash(b"root");
    let cp = Checkpoint {
        origin: origin_for(Uuid::nil()),
        size: 1234,
        root,
        extensions: vec!["time 1733061600".into(), "seq 9".into()],
    };
    let text = cp.to_text().unwrap();
    let their = TheirCheckpoint::from_bytes(text.as_bytes()).unwrap();
    assert_eq!(their.origin(), cp.origin);
    assert_eq!(their.size(), 1234);
    assert!(*their.hash() == TheirHash(root));
    assert_eq!(their.extension(), "time 1733061600\nseq 9\n");
    let made = TheirCheckpoint::new("example.com/log", 0, TheirHash(root), "").unwrap();
    let back = Checkpoint::parse(std::str::from_utf8(&made.to_bytes()).unwrap()).unwrap();
    assert_eq!(
        (back.origin.as_str(), back.size, back.root),
        ("example.com/log", 0, root)
    );
}

/// Check a `worm-proof/1` bundle with their code only (and serde_json for the envelope).
fn their_verify_bundle(json: &str, vkey: &str) -> Result<(), String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    if v["format"] != "worm-proof/1" {
        return Err("format".into());
    }
    let n = TheirNote::from_bytes(v["checkpoint"].as_str().unwrap().as_bytes())
        .map_err(|e| e.to_string())?;
    n.verify(&verifiers(vkey)).map_err(|e| e.to_string())?;
    let cp = TheirCheckpoint::from_bytes(n.text()).map_err(|e| e.to_string())?;
    if cp.origin() != format!("worm/{}", v["stream"].as_str().unwrap()) {
        return Err("origin".into());
    }
    let size = v["tree_size"].as_u64().unwrap();
    if cp.size() != size {
        return Err("size".into());
    }
    let path = v["inclusion"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| TheirHash::parse_hash(h.as_str().unwrap()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let rh = record_hash(v["record"].as_str().unwrap().as_bytes());
    let index = v["index"].as_u64().unwrap();
    check_record(&path, size, *cp.hash(), index, rh).map_err(|e| e.to_string())
}

#[test]
fn worm_proof_bundles_verify_with_their_code_and_theirs_with_worm() {
    let key = Signer::from_seed([23; 32]);
    let vkey = key.public_key().to_vkey();
    let stream = Uuid::now_v7();
    let recs = records(21);
    let tree = MerkleTree::new(recs.iter().map(|r| leaf_hash(r.as_bytes())).collect());
    let cp = Checkpoint {
        origin: origin_for(stream),
        size: 21,
        root: tree.root(),
        extensions: vec![],
    };
    let signed = cp.sign(&key).unwrap();
    for i in 0..21u64 {
        let path = tree.inclusion_proof(i).unwrap();
        let b = ProofBundle::new(&recs[i as usize], stream, i, 21, &path, &signed);
        let json = b.to_json();
        their_verify_bundle(&json, &vkey).unwrap();
        // Their checks refuse what worm's refuse.
        let mut bad = b.clone();
        bad.record.push(' ');
        assert!(their_verify_bundle(&bad.to_json(), &vkey).is_err());
        let mut bad = b.clone();
        bad.index = (i + 1) % 21;
        assert!(their_verify_bundle(&bad.to_json(), &vkey).is_err());
    }

    // A bundle made entirely by their code (tree, proof, signed checkpoint), checked by worm.
    let stored = their_tree(&recs);
    let th = tree_hash(21, &stored).unwrap();
    let body = TheirCheckpoint::new(&origin_for(stream), 21, th, "")
        .unwrap()
        .to_bytes();
    let signer = StandardSigner::new(key.to_note_secret_text().trim_end()).unwrap();
    let mut n = TheirNote::new(&body, &[]).unwrap();
    n.add_sigs(&[&signer]).unwrap();
    let path: Vec<String> = prove_record(21, 13, &stored)
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let json = serde_json::json!({
        "format": "worm-proof/1",
        "record": recs[13],
        "stream": stream.to_string(),
        "index": 13,
        "tree_size": 21,
        "inclusion": path,
        "checkpoint": String::from_utf8(n.to_bytes()).unwrap(),
    })
    .to_string();
    let got = proof::verify(json.as_bytes(), &[key.public_key()]).unwrap();
    assert_eq!(got.size, 21);
}
