//! The transparency-log parsers a verifier meets in hostile input: C2SP signed notes,
//! checkpoints and worm-proof/1 record proof bundles. The seeds are validly signed by
//! the key below, so mutations of the other fields reach the checks behind the
//! signature (origin, size, inclusion path). Besides "no panic, no hang, no unbounded
//! allocation": what parses as a checkpoint or note prints back to text that parses
//! to the same value.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use worm_core::sign::{PublicKey, Signer};
use worm_core::tlog::checkpoint::Checkpoint;
use worm_core::tlog::note::{self, Note};
use worm_core::tlog::proof::{self, ProofBundle};

/// The key the seed corpus is signed with.
static KEYS: LazyLock<Vec<PublicKey>> =
    LazyLock::new(|| vec![Signer::from_seed([3; 32]).public_key()]);

fuzz_target!(|data: &[u8]| {
    let keys = KEYS.as_slice();
    let _ = proof::verify(data, keys);
    if let Ok(b) = ProofBundle::parse(data) {
        let _ = b.inclusion_hashes();
        assert_eq!(ProofBundle::parse(b.to_json().as_bytes()).ok(), Some(b));
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = note::open(text, keys);
    let _ = Checkpoint::open(text, keys);
    if let Ok(n) = Note::parse(text) {
        let _ = n.verify(keys);
        let again = Note::parse(&n.to_text()).expect("a parsed note prints back parseable");
        assert_eq!(again.to_text(), n.to_text());
    }
    if let Ok(cp) = Checkpoint::parse(text) {
        if let Ok(t) = cp.to_text() {
            assert_eq!(Checkpoint::parse(&t).ok(), Some(cp));
        }
    }
});
