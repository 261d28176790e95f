//! RFC 6962 / RFC 9162 §2.1 Merkle tree hashing with SHA-256: leaf and node hashes, the
//! compact range ([`Frontier`]) a writer keeps, whole trees ([`MerkleTree`]) for proofs,
//! and the inclusion and consistency proof verifiers.
//!
//! A tree of `n` leaves is the RFC's MTH: the left child of a node over `n > 1` leaves
//! covers the largest power of two below `n`. Built level by level, that is the same as
//! pairing neighbours and carrying a lone last node up a level unchanged, which is how
//! [`MerkleTree`] stores it.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// A SHA-256 digest: a leaf hash, an interior node hash or a tree root.
pub type Hash = [u8; 32];

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// The leaf hash of one record line: `SHA-256(0x00 || line)`.
pub fn leaf_hash(line: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(line);
    h.finalize().into()
}

/// An interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The root of the tree over `leaves` (leaf hashes), RFC 9162's `MTH(D[n])`.
pub fn root_of(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::new();
    f.extend(leaves);
    f.root()
}

/// The compact range of a tree: the roots of its perfect subtrees, largest (leftmost)
/// first, one per set bit of the tree size.
///
/// This is all a writer needs to keep to extend the tree and compute its root, so the
/// pipeline keeps one per stream instead of every leaf.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    hashes: Vec<Hash>,
}

impl Frontier {
    /// The empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// A frontier from a stored size and its subtree roots (as [`Frontier::hashes`]
    /// gave them). Fails unless there is exactly one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self> {
        let want = size.count_ones() as usize;
        if hashes.len() != want {
            return Err(Error::invalid(
                format!("Merkle frontier of tree size {size}"),
                format!(
                    "a tree of {size} leaves has {want} perfect subtrees, but {} hashes were given",
                    hashes.len()
                ),
            ));
        }
        Ok(Frontier { size, hashes })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Append one leaf hash (see [`leaf_hash`]). Amortised O(1): each trailing set bit
    /// of the old size merges two equal subtrees into one.
    pub fn push(&mut self, leaf: Hash) {
        let mut node = leaf;
        let mut size = self.size;
        while size & 1 == 1 {
            // A set bit means a perfect subtree of that height is the last hash.
            let Some(left) = self.hashes.pop() else {
                unreachable!("a frontier holds one hash per set bit of its size");
            };
            node = node_hash(&left, &node);
            size >>= 1;
        }
        self.hashes.push(node);
        self.size += 1;
    }

    /// Append `leaves` (leaf hashes, in order): the same frontier as [`Frontier::push`]
    /// of each, but the node hashes of each level, which do not depend on each other,
    /// are computed several at a time ([`super::lanes`]).
    ///
    /// Level by level: the new nodes of level `k` start at index `size >> k`; when that
    /// index is odd, its left sibling is the frontier's hash of that level. Neighbours
    /// are paired into the next level's nodes, and an unpaired last node is the new
    /// frontier's hash of level `k`.
    pub fn extend(&mut self, leaves: &[Hash]) {
        match leaves {
            [] => return,
            [one] => return self.push(*one),
            _ => {}
        }
        let old = self.size;
        let mut level: Vec<Hash> = Vec::with_capacity(leaves.len() + 1);
        let mut up: Vec<Hash> = Vec::with_capacity(leaves.len() / 2 + 1);
        // The new frontier's hashes below the first untouched level, smallest first.
        let mut low: Vec<Hash> = Vec::new();
        let mut k = 0;
        let mut first = true;
        loop {
            let new = if first { leaves } else { &up[..] };
            if new.is_empty() {
                break;
            }
            level.clear();
            if (old >> k) & 1 == 1 {
                let Some(left) = self.hashes.pop() else {
                    unreachable!("a frontier holds one hash per set bit of its size");
                };
                level.push(left);
            }
            level.extend_from_slice(new);
            up.clear();
            super::lanes::node_hashes(&level, &mut up);
            if level.len() % 2 == 1 {
                low.push(level[level.len() - 1]);
            }
            first = false;
            k += 1;
        }
        self.hashes.extend(low.iter().rev());
        self.size = old + leaves.len() as u64;
    }

    /// The tree root (the empty tree's root when there are no leaves).
    pub fn root(&self) -> Hash {
        let mut it = self.hashes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

/// A whole tree kept level by level, for producing many proofs from one set of leaves.
///
/// It holds about twice the leaf hashes (64 MiB for a million leaves) and is built in
/// `n - 1` node hashes; each proof is then a lookup per level.
#[derive(Debug, Clone)]
pub struct MerkleTree {
    /// `levels[0]` are the leaves; `levels[l][i]` covers leaves `i·2^l .. min((i+1)·2^l, n)`.
    levels: Vec<Vec<Hash>>,
}

impl MerkleTree {
    /// The tree over `leaves` (leaf hashes, in order).
    pub fn new(leaves: Vec<Hash>) -> Self {
        let mut levels = vec![leaves];
        while let Some(below) = levels.last().filter(|l| l.len() > 1) {
            let mut up = Vec::with_capacity(below.len().div_ceil(2));
            super::lanes::node_hashes(below, &mut up);
            if let [.., lone] = below[..]
                && below.len() % 2 == 1
            {
                // A lone last node is carried up unchanged (RFC 9162's unbalanced split).
                up.push(lone);
            }
            levels.push(up);
        }
        MerkleTree { levels }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[Hash] {
        &self.levels[0]
    }

    /// The root (the empty tree's root when there are no leaves).
    pub fn root(&self) -> Hash {
        match self.levels.last().map(Vec::as_slice) {
            Some([root]) => *root,
            _ => empty_root(),
        }
    }

    /// The RFC 9162 §2.1.3.1 audit path of leaf `index`, leaf to root; `None` when
    /// `index` is not a leaf of this tree. A lookup per level.
    pub fn inclusion_proof(&self, index: u64) -> Option<Vec<Hash>> {
        audit_path(index, self.size(), |lo, hi| self.range_hash(lo, hi))
    }

    /// The RFC 9162 §2.1.4.1 consistency proof from the prefix of `m` leaves to this
    /// tree; `None` when `m` exceeds the size. Empty when `m` is 0 or the whole tree.
    pub fn consistency_proof(&self, m: u64) -> Option<Vec<Hash>> {
        subproof(m, self.size(), |lo, hi| self.range_hash(lo, hi))
    }

    /// The hash of the subtree over leaves `lo..hi`, which must be a node of this tree:
    /// `lo` aligned to the smallest power of two `2^l ≥ hi - lo`, and either a full
    /// `2^l` leaves or ending at the tree's last leaf (the only ranges RFC 9162's
    /// recursion asks for).
    fn range_hash(&self, lo: u64, hi: u64) -> Hash {
        let width = hi - lo;
        let level = width.next_power_of_two().trailing_zeros() as usize;
        debug_assert!(lo.trailing_zeros() as usize >= level || lo == 0);
        debug_assert!(width.is_power_of_two() || hi == self.size());
        self.levels[level][(lo >> level) as usize]
    }
}

/// The largest power of two strictly below `n` (`n ≥ 2`): RFC 9162's split point `k`.
fn largest_power_of_two_below(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// A position `m` within the subtree over leaves `lo..hi`, walked down RFC 9162's splits
/// by both proof algorithms.
struct Descent {
    lo: u64,
    hi: u64,
    m: u64,
}

impl Descent {
    fn width(&self) -> u64 {
        self.hi - self.lo
    }

    /// RFC 9162's `k`: the size of the left part.
    fn k(&self) -> u64 {
        largest_power_of_two_below(self.width())
    }

    /// Go into the left (`true`) or the right part; returns the other part's range.
    fn enter_part(&mut self, left: bool) -> (u64, u64) {
        let mid = self.lo + self.k();
        if left {
            let other = (mid, self.hi);
            self.hi = mid;
            other
        } else {
            let other = (self.lo, mid);
            self.m -= mid - self.lo;
            self.lo = mid;
            other
        }
    }
}

/// RFC 9162's PATH(index, D[0..n]), with `hash(lo, hi)` giving MTH(D[lo..hi]) for each
/// subtree it needs (always a node of the tree).
fn audit_path(index: u64, n: u64, mut hash: impl FnMut(u64, u64) -> Hash) -> Option<Vec<Hash>> {
    if index >= n {
        return None;
    }
    let mut d = Descent {
        lo: 0,
        hi: n,
        m: index,
    };
    let mut path = Vec::new();
    while d.width() > 1 {
        let (lo, hi) = d.enter_part(d.m < d.k());
        path.push(hash(lo, hi));
    }
    // Found top-down; the path runs leaf to root.
    path.reverse();
    Some(path)
}

/// RFC 9162's PROOF(m, D[0..n]) = SUBPROOF(m, D[0..n], true), with `hash` as for
/// [`audit_path`].
fn subproof(m: u64, n: u64, mut hash: impl FnMut(u64, u64) -> Hash) -> Option<Vec<Hash>> {
    if m > n {
        return None;
    }
    let mut proof = Vec::new();
    if m == 0 || m == n {
        return Some(proof);
    }
    let mut d = Descent { lo: 0, hi: n, m };
    // SUBPROOF's flag: still on the left edge, where the old tree's own root is implied.
    let mut start = true;
    while d.m != d.width() {
        let left = d.m <= d.k();
        start &= left;
        let (lo, hi) = d.enter_part(left);
        proof.push(hash(lo, hi));
    }
    if !start {
        proof.push(hash(d.lo, d.hi));
    }
    proof.reverse();
    Some(proof)
}

/// The audit path of leaf `index` in the tree over `leaves` (RFC 9162 §2.1.3.1), leaf to
/// root; `None` when `index >= leaves.len()`. Hashes every leaf once but keeps no tree
/// (memory O(log n)); for many proofs from one tree, build a [`MerkleTree`] once.
pub fn inclusion_proof(index: u64, leaves: &[Hash]) -> Option<Vec<Hash>> {
    audit_path(index, leaves.len() as u64, |lo, hi| {
        root_of(&leaves[lo as usize..hi as usize])
    })
}

/// The consistency proof from the first `m` of `leaves` to all of them (RFC 9162
/// §2.1.4.1); `None` when `m > leaves.len()`. Keeps no tree, like [`inclusion_proof`].
pub fn consistency_proof(m: u64, leaves: &[Hash]) -> Option<Vec<Hash>> {
    subproof(m, leaves.len() as u64, |lo, hi| {
        root_of(&leaves[lo as usize..hi as usize])
    })
}

/// Whether `proof` shows leaf hash `leaf` at `index` in the tree of `size` leaves with
/// root `root` (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let mut walk = Walk::new(index, size - 1);
    let mut r = *leaf;
    for p in proof {
        match walk.next() {
            Some(true) => r = node_hash(p, &r),
            Some(false) => r = node_hash(&r, p),
            None => return false,
        }
    }
    walk.done() && r == *root
}

/// Whether `proof` shows that the tree of `n` leaves with root `root_n` extends the tree
/// of its first `m` leaves with root `root_m` (RFC 9162 §2.1.4.2).
///
/// `m == n` needs an empty proof and equal roots; `m == 0` an empty proof and `root_m`
/// the empty tree's root, since every tree extends the empty one.
pub fn verify_consistency(m: u64, n: u64, proof: &[Hash], root_m: &Hash, root_n: &Hash) -> bool {
    if m > n {
        return false;
    }
    if m == n {
        return proof.is_empty() && root_m == root_n;
    }
    if m == 0 {
        return proof.is_empty() && *root_m == empty_root();
    }
    // A power-of-two old tree is itself a node of the new one, so its root starts the path.
    let mut path = proof.iter();
    let first = if m.is_power_of_two() {
        *root_m
    } else {
        match path.next() {
            Some(h) => *h,
            None => return false,
        }
    };
    let (mut f, mut s) = (m - 1, n - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let mut walk = Walk::new(f, s);
    let (mut fr, mut sr) = (first, first);
    for c in path {
        match walk.next() {
            // Left siblings are in both trees; right ones only in the new.
            Some(true) => {
                fr = node_hash(c, &fr);
                sr = node_hash(c, &sr);
            }
            Some(false) => sr = node_hash(&sr, c),
            None => return false,
        }
    }
    walk.done() && fr == *root_m && sr == *root_n
}

/// The walk up a tree that both RFC 9162 verifiers share: `f` is the node's index and
/// `s` the last index at the current level.
struct Walk {
    f: u64,
    s: u64,
}

impl Walk {
    fn new(f: u64, s: u64) -> Self {
        Walk { f, s }
    }

    /// The side of the next path hash (`true`: left), moving up past it; `None` when the
    /// path is longer than the tree is tall.
    fn next(&mut self) -> Option<bool> {
        if self.s == 0 {
            return None;
        }
        let left = self.f & 1 == 1 || self.f == self.s;
        if left && self.f & 1 == 0 {
            // A right-edge node with no sibling at these levels: they add no hash.
            while self.f & 1 == 0 && self.f != 0 {
                self.f >>= 1;
                self.s >>= 1;
            }
        }
        self.f >>= 1;
        self.s >>= 1;
        Some(left)
    }

    /// Whether the walk reached the root.
    fn done(&self) -> bool {
        self.s == 0
    }
}
