//! Known answers from other implementations: the RFC 6962 vectors of Certificate
//! Transparency (as transparency-dev/merkle `testonly/constants.go` and
//! `proof/verify_test.go` publish them) and real proofs of Google's Argon 2020 CT log
//! (golang.org/x/mod `sumdb/tlog/testdata/argon2020`, copied to `tests/data/argon2020`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use worm_core::tlog::merkle::{
    Frontier, MerkleTree, empty_root, leaf_hash, root_of, verify_consistency, verify_inclusion,
};

use super::{h, unhex};

const LEAF_INPUTS: [&str; 8] = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
];

/// Roots for tree sizes 0..=8.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (0-based leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        3,
        &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    ),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (old size, new size, proof).
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
];

fn ct_leaves() -> Vec<[u8; 32]> {
    LEAF_INPUTS.iter().map(|l| leaf_hash(&unhex(l))).collect()
}

fn hashes(list: &[&str]) -> Vec<[u8; 32]> {
    list.iter().map(|s| h(s)).collect()
}

#[test]
fn ct_roots_for_every_size() {
    assert_eq!(empty_root(), h(ROOTS[0]));
    let leaves = ct_leaves();
    let mut f = Frontier::new();
    for n in 0..=8 {
        assert_eq!(root_of(&leaves[..n]), h(ROOTS[n]), "root_of size {n}");
        assert_eq!(f.root(), h(ROOTS[n]), "frontier size {n}");
        assert_eq!(MerkleTree::new(leaves[..n].to_vec()).root(), h(ROOTS[n]));
        if n < 8 {
            f.push(leaves[n]);
        }
    }
}

#[test]
fn ct_inclusion_proofs_are_produced_and_verified() {
    let leaves = ct_leaves();
    for (index, size, path) in INCLUSION {
        let want = hashes(path);
        let tree = MerkleTree::new(leaves[..size as usize].to_vec());
        assert_eq!(tree.inclusion_proof(index).unwrap(), want, "{index}/{size}");
        let root = h(ROOTS[size as usize]);
        assert!(verify_inclusion(
            &leaves[index as usize],
            index,
            size,
            &want,
            &root
        ));
    }
}

#[test]
fn ct_consistency_proofs_are_produced_and_verified() {
    let leaves = ct_leaves();
    for (m, n, path) in CONSISTENCY {
        let want = hashes(path);
        let tree = MerkleTree::new(leaves[..n as usize].to_vec());
        assert_eq!(tree.consistency_proof(m).unwrap(), want, "{m}->{n}");
        let (rm, rn) = (h(ROOTS[m as usize]), h(ROOTS[n as usize]));
        assert!(verify_consistency(m, n, &want, &rm, &rn));
        assert!(!verify_consistency(m, n, &want, &rn, &rm));
    }
}

fn data(name: &str) -> serde_json::Value {
    let path = format!("{}/tests/data/argon2020/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn b64_hashes(v: &serde_json::Value) -> Vec<[u8; 32]> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| B64.decode(s.as_str().unwrap()).unwrap().try_into().unwrap())
        .collect()
}

fn b64_hash(s: &str) -> [u8; 32] {
    B64.decode(s).unwrap().try_into().unwrap()
}

#[test]
fn argon2020_real_ct_proofs_verify() {
    let sth = data("sth.json");
    let size = sth["tree_size"].as_u64().unwrap();
    let root = b64_hash(sth["sha256_root_hash"].as_str().unwrap());
    let entry = data("entries.json")["entries"][0]["leaf_input"]
        .as_str()
        .unwrap()
        .to_string();
    let leaf = leaf_hash(&B64.decode(entry).unwrap());
    let proof = data("proof.json");
    let index = proof["leaf_index"].as_u64().unwrap();
    let path = b64_hashes(&proof["audit_path"]);
    assert!(verify_inclusion(&leaf, index, size, &path, &root));
    assert!(!verify_inclusion(&leaf, index + 1, size, &path, &root));
    assert!(!verify_inclusion(&leaf, index, size * 2, &path, &root));
    assert!(!verify_inclusion(
        &leaf_hash(b"other"),
        index,
        size,
        &path,
        &root
    ));

    let old_root = b64_hash("AuIZ5V6sDUj1vn3Y1K85oOaQ7y+FJJKtyRTl1edIKBQ=");
    let cons = b64_hashes(&data("consistency.json")["consistency"]);
    assert!(verify_consistency(3654490, size, &cons, &old_root, &root));
    assert!(!verify_consistency(3654491, size, &cons, &old_root, &root));
    let mut bad = cons.clone();
    bad[3][0] ^= 1;
    assert!(!verify_consistency(3654490, size, &bad, &old_root, &root));
}
