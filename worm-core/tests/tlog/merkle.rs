//! Every proof of every small tree, checked against the RFC 9162 definitions written out
//! recursively here, and every single alteration of a proof rejected.

use worm_core::tlog::merkle::{
    Frontier, Hash, MerkleTree, consistency_proof, inclusion_proof, leaf_hash, node_hash, root_of,
    verify_consistency, verify_inclusion,
};

fn leaves(n: usize) -> Vec<Hash> {
    (0..n)
        .map(|i| leaf_hash(format!("record {i}").as_bytes()))
        .collect()
}

fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// RFC 9162 §2.1.1 MTH.
fn mth(d: &[Hash]) -> Hash {
    match d.len() {
        0 => worm_core::tlog::merkle::empty_root(),
        1 => d[0],
        n => {
            let k = split(n);
            node_hash(&mth(&d[..k]), &mth(&d[k..]))
        }
    }
}

/// RFC 9162 §2.1.3.1 PATH.
fn path(m: usize, d: &[Hash]) -> Vec<Hash> {
    let n = d.len();
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    let (mut p, sib) = if m < k {
        (path(m, &d[..k]), mth(&d[k..]))
    } else {
        (path(m - k, &d[k..]), mth(&d[..k]))
    };
    p.push(sib);
    p
}

/// RFC 9162 §2.1.4.1 SUBPROOF.
fn subproof(m: usize, d: &[Hash], b: bool) -> Vec<Hash> {
    let n = d.len();
    if m == n {
        return if b { vec![] } else { vec![mth(d)] };
    }
    let k = split(n);
    let (mut p, h) = if m <= k {
        (subproof(m, &d[..k], b), mth(&d[k..]))
    } else {
        (subproof(m - k, &d[k..], false), mth(&d[..k]))
    };
    p.push(h);
    p
}

/// Which side each audit path hash sits on (true: left), leaf to root. RFC 9162's
/// verifier binds index and size only through this shape: the signed tree size does the
/// rest, so a proof checked under another index or size fails exactly when its shape
/// differs there.
fn shape(m: usize, n: usize) -> Vec<bool> {
    if n <= 1 {
        return vec![];
    }
    let k = split(n);
    let mut s = if m < k {
        shape(m, k)
    } else {
        shape(m - k, n - k)
    };
    s.push(m >= k);
    s
}

/// The same for consistency proofs, from SUBPROOF's recursion.
fn cshape(m: usize, n: usize, b: bool) -> Vec<bool> {
    if m == n {
        return if b { vec![] } else { vec![false] };
    }
    let k = split(n);
    let mut s = if m <= k {
        cshape(m, k, b)
    } else {
        cshape(m - k, n - k, false)
    };
    s.push(m > k);
    s
}

#[test]
fn frontier_roots_match_the_definition_and_round_trip() {
    let all = leaves(130);
    let mut f = Frontier::new();
    for n in 0..=all.len() {
        assert_eq!(f.root(), mth(&all[..n]), "size {n}");
        assert_eq!(f.size(), n as u64);
        assert_eq!(f.hashes().len(), n.count_ones() as usize);
        let again = Frontier::from_parts(f.size(), f.hashes().to_vec()).unwrap();
        assert_eq!(again, f);
        if n < all.len() {
            f.push(all[n]);
        }
    }
    let err = Frontier::from_parts(5, vec![all[0]])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("tree size 5") && err.contains("2 perfect subtrees"),
        "{err}"
    );
    assert!(Frontier::from_parts(0, vec![all[0]]).is_err());
}

#[test]
fn frontier_extend_equals_repeated_push() {
    let all = leaves(300);
    // Every start size 0..=70 with every count 0..=70, then larger ones.
    let mut cases: Vec<(usize, usize)> = (0..=70)
        .flat_map(|s| (0..=70).map(move |m| (s, m)))
        .collect();
    cases.extend([
        (0, 300),
        (1, 299),
        (127, 128),
        (128, 127),
        (255, 45),
        (63, 237),
    ]);
    // pushed[n]: the frontier of the first n leaves, one push at a time.
    let mut pushed = vec![Frontier::new()];
    for l in &all {
        let mut f = pushed[pushed.len() - 1].clone();
        f.push(*l);
        pushed.push(f);
    }
    for (s, m) in cases {
        let mut extended = pushed[s].clone();
        extended.extend(&all[s..s + m]);
        assert_eq!(extended, pushed[s + m], "start {s}, {m} leaves");
    }
    // Extending in uneven steps from empty gives the definition's root.
    let mut f = Frontier::new();
    let mut n = 0;
    for step in [3, 1, 0, 17, 64, 2, 5, 100, 30] {
        f.extend(&all[n..n + step]);
        n += step;
        assert_eq!(f.root(), mth(&all[..n]), "size {n}");
    }
    assert_eq!(root_of(&all), mth(&all));
}

#[test]
fn inclusion_every_index_of_sizes_1_to_70_and_every_alteration_fails() {
    let all = leaves(70);
    for n in 1..=all.len() {
        let d = &all[..n];
        let tree = MerkleTree::new(d.to_vec());
        let root = tree.root();
        assert_eq!(root, mth(d));
        assert_eq!(root, root_of(d));
        assert!(tree.inclusion_proof(n as u64).is_none());
        assert!(inclusion_proof(n as u64, d).is_none());
        for i in 0..n {
            let p = tree.inclusion_proof(i as u64).unwrap();
            assert_eq!(p, path(i, d), "size {n} index {i}");
            // The tree-less function gives the same path.
            assert_eq!(inclusion_proof(i as u64, d).unwrap(), p);
            let (idx, size) = (i as u64, n as u64);
            assert!(verify_inclusion(&d[i], idx, size, &p, &root), "{n}/{i}");
            // Other index, other size, other leaf, other root: all rejected, except a size
            // with the same path shape (which the signed checkpoint's size rules out).
            for j in 0..n as u64 + 2 {
                if j != idx {
                    assert!(
                        !verify_inclusion(&d[i], j, size, &p, &root),
                        "{n}/{i} as {j}"
                    );
                }
            }
            for s in (1..n as u64 + 3).chain([2 * size, 2 * size + 1]) {
                let ok = verify_inclusion(&d[i], idx, s, &p, &root);
                let same_shape = i < s as usize && shape(i, s as usize) == shape(i, n);
                assert_eq!(ok, same_shape, "{n}/{i} as size {s}");
            }
            assert!(!verify_inclusion(&d[i], idx, 2 * size, &p, &root) || n == 1);
            let other = if i == 0 { d.get(1) } else { Some(&d[0]) };
            if let Some(o) = other {
                assert!(!verify_inclusion(o, idx, size, &p, &root));
            }
            let mut r2 = root;
            r2[31] ^= 1;
            assert!(!verify_inclusion(&d[i], idx, size, &p, &r2));
            // Each hash altered, each hash dropped, one appended.
            for k in 0..p.len() {
                let mut q = p.clone();
                q[k][0] ^= 0x80;
                assert!(!verify_inclusion(&d[i], idx, size, &q, &root));
                let mut q = p.clone();
                q.remove(k);
                assert!(!verify_inclusion(&d[i], idx, size, &q, &root));
            }
            let mut q = p.clone();
            q.push(root);
            assert!(!verify_inclusion(&d[i], idx, size, &q, &root));
        }
    }
    // The tree-less functions give the same paths.
    for n in 1..=all.len() {
        for i in 0..n {
            assert_eq!(
                inclusion_proof(i as u64, &all[..n]).unwrap(),
                path(i, &all[..n])
            );
        }
        assert!(inclusion_proof(n as u64, &all[..n]).is_none());
    }
    assert!(inclusion_proof(0, &[]).is_none());
}

#[test]
fn consistency_all_m_le_n_le_40_and_alterations_fail() {
    let all = leaves(40);
    for n in 0..=all.len() {
        let d = &all[..n];
        let tree = MerkleTree::new(d.to_vec());
        let rn = tree.root();
        assert!(tree.consistency_proof(n as u64 + 1).is_none());
        for m in 0..=n {
            let rm = mth(&d[..m]);
            let p = tree.consistency_proof(m as u64).unwrap();
            let want = if m == 0 || m == n {
                vec![]
            } else {
                subproof(m, d, true)
            };
            assert_eq!(p, want, "{m} -> {n}");
            let (mu, nu) = (m as u64, n as u64);
            assert!(verify_consistency(mu, nu, &p, &rm, &rn), "{m} -> {n}");
            if m == n {
                continue;
            }
            let mut bad = rm;
            bad[0] ^= 1;
            assert!(
                !verify_consistency(mu, nu, &p, &bad, &rn),
                "{m} -> {n} bad old root"
            );
            assert!(!verify_consistency(nu, mu, &p, &rn, &rm));
            if m == 0 {
                // Every tree extends the empty one, whatever its root.
                continue;
            }
            let mut bad = rn;
            bad[0] ^= 1;
            assert!(
                !verify_consistency(mu, nu, &p, &rm, &bad),
                "{m} -> {n} bad new root"
            );
            for m2 in 1..n as u64 + 2 {
                if m2 != mu {
                    let r2 = mth(&d[..(m2 as usize).min(n)]);
                    assert!(
                        !verify_consistency(m2, nu, &p, &r2, &rn),
                        "{m} as {m2} -> {n}"
                    );
                }
            }
            for n2 in mu + 1..2 * nu + 3 {
                let ok = verify_consistency(mu, n2, &p, &rm, &rn);
                let same_shape = cshape(m, n2 as usize, true) == cshape(m, n, true);
                assert_eq!(ok, same_shape, "{m} -> {n} as {n2}");
            }
            assert!(!verify_consistency(mu, 2 * nu, &p, &rm, &rn));
            for k in 0..p.len() {
                let mut q = p.clone();
                q[k][5] ^= 4;
                assert!(
                    !verify_consistency(mu, nu, &q, &rm, &rn),
                    "{m} -> {n} hash {k}"
                );
                let mut q = p.clone();
                q.remove(k);
                assert!(
                    !verify_consistency(mu, nu, &q, &rm, &rn),
                    "{m} -> {n} drop {k}"
                );
            }
            let mut q = p.clone();
            q.push(rn);
            assert!(!verify_consistency(mu, nu, &q, &rm, &rn));
            assert!(!verify_consistency(mu, nu, &[], &rm, &rn));
        }
    }
    assert_eq!(
        consistency_proof(3, &all[..7]).unwrap(),
        subproof(3, &all[..7], true)
    );
}

#[test]
fn a_large_tree_gives_proofs_matching_the_frontier() {
    // 2^17 + 3 leaves: tall enough for long paths and a ragged right edge; the timing
    // for a million leaves is the `tlog` bench's job.
    let n = (1u64 << 17) + 3;
    let all: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_le_bytes())).collect();
    let mut f = Frontier::new();
    all.iter().for_each(|l| f.push(*l));
    let tree = MerkleTree::new(all);
    assert_eq!(tree.root(), f.root());
    for i in [0, 1, 65_535, 65_536, n - 3, n - 2, n - 1] {
        let p = tree.inclusion_proof(i).unwrap();
        assert!(p.len() <= 18);
        assert!(verify_inclusion(
            &tree.leaves()[i as usize],
            i,
            n,
            &p,
            &f.root()
        ));
    }
    let p = tree.consistency_proof(77_777).unwrap();
    let old = root_of(&tree.leaves()[..77_777]);
    assert!(verify_consistency(77_777, n, &p, &old, &tree.root()));
}
