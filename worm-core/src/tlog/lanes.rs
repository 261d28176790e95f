//! Many independent SHA-256 messages hashed at once: RFC 6962 leaves and interior nodes.
//!
//! One SHA-256 block on SHA-NI is a chain of 32 dependent `sha256rnds2` instructions, so
//! hashing one message at a time waits on the instruction's latency while the unit could
//! start another. The leaves of a batch, and the pairs of one level of a tree, do not
//! depend on each other: here [`LANES`] messages are compressed side by side, their
//! rounds interleaved, so the core overlaps them. On the 2-vCPU AMD EPYC (Zen 4) this was
//! measured on, 2 lanes take a 301-byte leaf from ~44 to ~25 ns a block and a node from
//! ~55 to ~30 (3 and 4 lanes gained at most ~10 % more; a 16-lane AVX-512 compression was
//! slower than 2 SHA-NI lanes there).
//!
//! The digests are SHA-256's, bit for bit: without SHA-NI (or off x86-64) every message
//! goes through `sha2` one at a time, and the tests compare the two for every message
//! length from 0 to 700 bytes and any number of messages.

use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// How many messages are compressed side by side.
pub const LANES: usize = 2;

const LEAF_PREFIX: u8 = 0x00;
const NODE_PREFIX: u8 = 0x01;

/// Append `SHA-256(0x00 || line)` (RFC 6962's leaf hash, [`super::leaf_hash`]) of every
/// line to `out`, in order.
pub fn leaf_hashes<'a>(lines: impl IntoIterator<Item = &'a [u8]>, out: &mut Vec<Hash>) {
    hash_all(LEAF_PREFIX, lines.into_iter(), out);
}

/// Append the parent of every pair of neighbours in `nodes` to `out`:
/// `SHA-256(0x01 || nodes[2i] || nodes[2i+1])` ([`super::node_hash`]). A lone last node
/// (odd length) has no pair and gives nothing.
pub fn node_hashes(nodes: &[Hash], out: &mut Vec<Hash>) {
    // Two neighbouring hashes are 64 contiguous bytes: the node's message after its prefix.
    let pairs = nodes.as_flattened().chunks_exact(64);
    hash_all(NODE_PREFIX, pairs, out);
}

/// The SHA-256 of a long message, stopped after its last whole 64-byte block: what
/// [`prefix_and_leaves`] leaves to finish, once as it is and once extended.
#[derive(Debug, Clone)]
pub struct Midstate {
    /// The chaining state after the whole blocks.
    state: [u32; 8],
    /// The bytes after the last whole block (fewer than 64).
    tail: Vec<u8>,
    /// The message length so far, in bytes.
    len: u64,
}

impl Default for Midstate {
    fn default() -> Self {
        Midstate::new()
    }
}

impl Midstate {
    /// The empty message.
    pub fn new() -> Self {
        Midstate {
            state: IV,
            tail: Vec::with_capacity(64),
            len: 0,
        }
    }

    /// `message`'s whole blocks hashed alone (no lanes to share).
    pub fn of(message: &[u8]) -> Self {
        let mut m = Midstate::new();
        m.update_with_leaves(message, [], &mut Vec::new());
        m
    }

    /// Append `data` to the message, its whole blocks hashed in one lane while the others
    /// take the RFC 6962 leaf of every line in `lines` (appended to `out` in order, as
    /// [`leaf_hashes`]). A batch body fed in pieces, each with the record lines it
    /// holds, is hashed side by side with its leaves in memory bounded by the piece.
    pub fn update_with_leaves<'a>(
        &mut self,
        mut data: &'a [u8],
        lines: impl IntoIterator<Item = &'a [u8]>,
        out: &mut Vec<Hash>,
    ) {
        self.len += data.len() as u64;
        if !self.tail.is_empty() {
            let take = (64 - self.tail.len()).min(data.len());
            self.tail.extend_from_slice(&data[..take]);
            data = &data[take..];
            if let Ok(block) = <[u8; 64]>::try_from(&self.tail[..]) {
                sha2::block_api::compress256(&mut self.state, &[block]);
                self.tail.clear();
            }
        }
        let (blocks, rest) = data.as_chunks::<64>();
        #[cfg(target_arch = "x86_64")]
        if ni::available() {
            ni::hash_all(
                LEAF_PREFIX,
                lines.into_iter(),
                Some((&mut self.state, blocks)),
                out,
            );
            self.tail.extend_from_slice(rest);
            return;
        }
        sha2::block_api::compress256(&mut self.state, blocks);
        one_at_a_time(LEAF_PREFIX, lines.into_iter(), out);
        self.tail.extend_from_slice(rest);
    }

    /// The digest of the message, followed by `more`.
    pub fn finish(&self, more: &[u8]) -> Hash {
        let mut state = self.state;
        let mut rest = Vec::with_capacity(self.tail.len() + more.len() + 72);
        rest.extend_from_slice(&self.tail);
        rest.extend_from_slice(more);
        let bits = (self.len + more.len() as u64).wrapping_mul(8);
        rest.push(0x80);
        while rest.len() % 64 != 56 {
            rest.push(0);
        }
        rest.extend_from_slice(&bits.to_be_bytes());
        let (blocks, _) = rest.as_chunks::<64>();
        sha2::block_api::compress256(&mut state, blocks);
        digest_of(&state)
    }
}

/// Hash `message`'s whole blocks and the RFC 6962 leaf of every line (appended to `out`
/// in order, as [`leaf_hashes`]) in the same lanes: one lane runs through the long
/// message while the others take the leaves. A batch's body hash and its leaves are
/// thus hashed side by side; [`Midstate::finish`] gives the body's digest and that of
/// the body with its seal.
pub fn prefix_and_leaves<'a>(
    message: &'a [u8],
    lines: impl IntoIterator<Item = &'a [u8]>,
    out: &mut Vec<Hash>,
) -> Midstate {
    let mut m = Midstate::new();
    m.update_with_leaves(message, lines, out);
    m
}

/// `SHA-256(prefix || m)` of every message, appended to `out` in order.
fn hash_all<'a>(prefix: u8, msgs: impl Iterator<Item = &'a [u8]>, out: &mut Vec<Hash>) {
    #[cfg(target_arch = "x86_64")]
    if ni::available() {
        return ni::hash_all(prefix, msgs, None, out);
    }
    one_at_a_time(prefix, msgs, out);
}

/// [`hash_all`] without lanes: each message through `sha2` in turn.
fn one_at_a_time<'a>(prefix: u8, msgs: impl Iterator<Item = &'a [u8]>, out: &mut Vec<Hash>) {
    out.extend(msgs.map(|m| -> Hash {
        Sha256::new()
            .chain_update([prefix])
            .chain_update(m)
            .finalize()
            .into()
    }));
}

/// The number of 64-byte blocks of a padded message of `len` bytes: the message, the
/// `0x80` byte and the 8-byte bit length, rounded up.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the SHA-NI lanes only
fn block_count(len: usize) -> usize {
    (len + 1 + 8).div_ceil(64)
}

/// Block `k` of the padded message `prefix || body` (of `count` blocks): a slice of
/// `body` when the block lies wholly inside it, otherwise assembled in `scratch`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the SHA-NI lanes only
fn block<'a>(
    prefix: u8,
    body: &'a [u8],
    k: usize,
    count: usize,
    scratch: &'a mut [u8; 64],
) -> &'a [u8; 64] {
    let len = 1 + body.len();
    let start = 64 * k;
    if k >= 1 && start + 64 <= len {
        // Message bytes start..start+64 are body bytes start-1..start+63.
        if let Ok(b) = body[start - 1..start + 63].try_into() {
            return b;
        }
    }
    *scratch = [0; 64];
    let filled = if k == 0 {
        scratch[0] = prefix;
        let n = body.len().min(63);
        scratch[1..1 + n].copy_from_slice(&body[..n]);
        1 + n
    } else if start < len {
        let n = len - start;
        scratch[..n].copy_from_slice(&body[start - 1..]);
        n
    } else {
        0
    };
    // The 0x80 byte goes right after the message, in whichever block that falls.
    if start + filled == len && filled < 64 {
        scratch[filled] = 0x80;
    }
    if k + 1 == count {
        scratch[56..].copy_from_slice(&(len as u64 * 8).to_be_bytes());
    }
    scratch
}

/// The initial SHA-256 state (FIPS 180-4 §5.3.3).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the SHA-NI lanes only
const IV: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the SHA-NI lanes only
fn digest_of(state: &[u32; 8]) -> Hash {
    let mut d = [0u8; 32];
    for (out, w) in d.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&w.to_be_bytes());
    }
    d
}

#[cfg(target_arch = "x86_64")]
mod ni {
    //! The SHA-NI lanes (x86-64 with the SHA extensions and SSE4.1).

    use core::arch::x86_64::*;

    use super::{Hash, IV, LANES, block, block_count, digest_of};

    /// Whether this CPU has what [`compress`] uses. `std` caches the answer.
    pub(super) fn available() -> bool {
        std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("sse2")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1")
    }

    /// The round constants (FIPS 180-4 §4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// [`super::hash_all`] on SHA-NI: each lane takes the next message when its last one
    /// is done, so messages of different lengths keep every lane busy until the input
    /// runs out; an idle lane compresses a dummy block whose result is dropped.
    pub(super) fn hash_all<'a>(
        prefix: u8,
        mut msgs: impl Iterator<Item = &'a [u8]>,
        stream: Option<(&mut [u32; 8], &'a [[u8; 64]])>,
        out: &mut Vec<Hash>,
    ) {
        /// One lane's message: its body, where its digest goes in `out`, the next block
        /// and the block count; or, for the long message of [`super::prefix_and_leaves`],
        /// its whole blocks (`whole`), whose state goes back to the caller.
        struct Lane<'a> {
            body: &'a [u8],
            slot: usize,
            next: usize,
            count: usize,
            whole: Option<&'a [[u8; 64]]>,
        }
        let mut lanes: [Option<Lane<'a>>; LANES] = [const { None }; LANES];
        let mut states = [IV; LANES];
        let mut scratch = [[0u8; 64]; LANES];
        let idle = [0u8; 64];
        let mut stream_state = None;
        if let Some((state, whole)) = stream.filter(|(_, w)| !w.is_empty()) {
            states[0] = *state;
            lanes[0] = Some(Lane {
                body: &[],
                slot: 0,
                next: 0,
                count: whole.len(),
                whole: Some(whole),
            });
            stream_state = Some(state);
        }
        loop {
            let mut active = false;
            for (lane, state) in lanes.iter_mut().zip(&mut states) {
                if lane.is_none()
                    && let Some(body) = msgs.next()
                {
                    out.push([0; 32]);
                    *lane = Some(Lane {
                        body,
                        slot: out.len() - 1,
                        next: 0,
                        count: block_count(1 + body.len()),
                        whole: None,
                    });
                    *state = IV;
                }
                active |= lane.is_some();
            }
            if !active {
                return;
            }
            let mut blocks = [&idle; LANES];
            for ((b, lane), s) in blocks.iter_mut().zip(&lanes).zip(&mut scratch) {
                match lane {
                    Some(Lane {
                        whole: Some(w),
                        next,
                        ..
                    }) => *b = &w[*next],
                    Some(l) => *b = block(prefix, l.body, l.next, l.count, s),
                    None => {}
                }
            }
            // SAFETY: `hash_all` is only called after `available()` found every feature
            // `compress` is compiled for.
            unsafe { compress(&mut states, &blocks) };
            for (lane, state) in lanes.iter_mut().zip(&states) {
                if let Some(l) = lane {
                    l.next += 1;
                    if l.next == l.count {
                        if l.whole.is_none() {
                            out[l.slot] = digest_of(state);
                        } else if let Some(st) = stream_state.as_deref_mut() {
                            *st = *state;
                        }
                        *lane = None;
                    }
                }
            }
        }
    }

    /// `W[t..t+4]` from the previous 16 schedule words held as four groups, oldest first:
    /// `sha256msg1` adds σ0 of `W[t-15..]`, the `alignr` supplies `W[t-7..t-3]` and
    /// `sha256msg2` adds σ1 of `W[t-2..]` (serially inside the instruction).
    #[inline(always)]
    fn schedule(w0: __m128i, w1: __m128i, w2: __m128i, w3: __m128i) -> __m128i {
        // SAFETY: only inlined into `compress`, which is compiled with (and only called
        // on CPUs with) SHA, SSE2 and SSSE3. The intrinsics touch registers only.
        unsafe {
            let t = _mm_sha256msg1_epu32(w0, w1);
            let t = _mm_add_epi32(t, _mm_alignr_epi8(w3, w2, 4));
            _mm_sha256msg2_epu32(t, w3)
        }
    }

    /// One SHA-256 block for each of [`LANES`] independent states, the lanes' rounds
    /// interleaved four at a time so their dependency chains overlap.
    ///
    /// The state lives in the two registers SHA-NI works on: `abef` holds words A, B, E,
    /// F and `cdgh` words C, D, G, H (high lane to low lane); `sha256rnds2(cdgh, abef, wk)`
    /// does two rounds and returns the new `abef`, the old `abef` being the new `cdgh`.
    ///
    /// # Safety
    /// The CPU must have SHA, SSE2, SSSE3 and SSE4.1 (see [`available`]).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    unsafe fn compress(states: &mut [[u32; 8]; LANES], blocks: &[&[u8; 64]; LANES]) {
        let bswap = _mm_set_epi64x(0x0c0d0e0f_08090a0b, 0x04050607_00010203);
        let zero = _mm_setzero_si128();
        let mut abef = [zero; LANES];
        let mut cdgh = [zero; LANES];
        let mut w = [[zero; 4]; LANES];
        for l in 0..LANES {
            let p = states[l].as_ptr().cast::<__m128i>();
            // SAFETY: `states[l]` is 32 readable bytes; `loadu` needs no alignment.
            let (dcba, hgfe) = unsafe { (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1))) };
            let badc = _mm_shuffle_epi32(dcba, 0xB1);
            let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
            abef[l] = _mm_alignr_epi8(badc, efgh, 8);
            cdgh[l] = _mm_blend_epi16(efgh, badc, 0xF0);
            let b = blocks[l].as_ptr().cast::<__m128i>();
            for (j, wj) in w[l].iter_mut().enumerate() {
                // SAFETY: the block is 64 readable bytes, j < 4; `loadu` needs no alignment.
                *wj = _mm_shuffle_epi8(unsafe { _mm_loadu_si128(b.add(j)) }, bswap);
            }
        }
        let (abef0, cdgh0) = (abef, cdgh);
        // Four rounds per group: the first four groups use the block's words, later ones
        // the schedule, which replaces the oldest group in `w` (index i mod 4).
        macro_rules! group {
            ($i:expr) => {{
                // SAFETY: `K` has 64 words and $i < 16, so 4·$i + 4 ≤ 64.
                let k = unsafe { _mm_loadu_si128(K.as_ptr().add(4 * $i).cast::<__m128i>()) };
                for l in 0..LANES {
                    let wi = if $i < 4 {
                        w[l][$i % 4]
                    } else {
                        let g = &mut w[l];
                        let n =
                            schedule(g[$i % 4], g[($i + 1) % 4], g[($i + 2) % 4], g[($i + 3) % 4]);
                        g[$i % 4] = n;
                        n
                    };
                    let wk = _mm_add_epi32(wi, k);
                    cdgh[l] = _mm_sha256rnds2_epu32(cdgh[l], abef[l], wk);
                    abef[l] = _mm_sha256rnds2_epu32(abef[l], cdgh[l], _mm_shuffle_epi32(wk, 0x0E));
                }
            }};
        }
        group!(0);
        group!(1);
        group!(2);
        group!(3);
        group!(4);
        group!(5);
        group!(6);
        group!(7);
        group!(8);
        group!(9);
        group!(10);
        group!(11);
        group!(12);
        group!(13);
        group!(14);
        group!(15);
        for l in 0..LANES {
            let abef = _mm_add_epi32(abef[l], abef0[l]);
            let cdgh = _mm_add_epi32(cdgh[l], cdgh0[l]);
            let feba = _mm_shuffle_epi32(abef, 0x1B);
            let dchg = _mm_shuffle_epi32(cdgh, 0xB1);
            let p = states[l].as_mut_ptr().cast::<__m128i>();
            // SAFETY: `states[l]` is 32 writable bytes; `storeu` needs no alignment.
            unsafe {
                _mm_storeu_si128(p, _mm_blend_epi16(feba, dchg, 0xF0));
                _mm_storeu_si128(p.add(1), _mm_alignr_epi8(dchg, feba, 8));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::{leaf_hash, node_hash};

    /// A reproducible byte stream (xorshift), so failures can be replayed.
    fn bytes(seed: u64, n: usize) -> Vec<u8> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    fn scalar(prefix: u8, m: &[u8]) -> Hash {
        Sha256::new()
            .chain_update([prefix])
            .chain_update(m)
            .finalize()
            .into()
    }

    #[test]
    fn every_length_and_fill_matches_sha2() {
        let data = bytes(7, 2000);
        // Every length 0..=700, each at its own offset, against sha2 and leaf_hash.
        let msgs: Vec<&[u8]> = (0..=700usize)
            .map(|len| &data[(len * 37) % 1000..][..len])
            .collect();
        let want: Vec<Hash> = msgs.iter().map(|m| leaf_hash(m)).collect();
        // In groups of 1.. messages: every lane fill, lanes finishing at different times.
        for fill in 1..=9 {
            for (chunk, want) in msgs.chunks(fill).zip(want.chunks(fill)) {
                let mut out = vec![[9; 32]];
                leaf_hashes(chunk.iter().copied(), &mut out);
                assert_eq!(out[0], [9; 32], "appends, keeps what was there");
                assert_eq!(&out[1..], want, "fill {fill}, lengths {}..", chunk[0].len());
            }
        }
        // Mixed lengths in random order.
        let order = bytes(11, 3000);
        for round in 0..100 {
            let n = order[round] as usize % 40;
            let pick: Vec<&[u8]> = (0..n)
                .map(|i| msgs[(order[round + i] as usize * 3 + i) % msgs.len()])
                .collect();
            let mut out = Vec::new();
            leaf_hashes(pick.iter().copied(), &mut out);
            let want: Vec<Hash> = pick.iter().map(|m| scalar(0, m)).collect();
            assert_eq!(out, want, "round {round}");
        }
    }

    #[test]
    fn a_long_message_beside_the_leaves_matches_sha2() {
        let data = bytes(13, 5000);
        let lines: Vec<&[u8]> = (0..40)
            .map(|i| &data[i * 7..i * 7 + (i * 53) % 400])
            .collect();
        let want: Vec<Hash> = lines.iter().map(|m| leaf_hash(m)).collect();
        // Lengths around block boundaries, short and long against the leaves' total.
        for len in [
            0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 1000, 3333, 4096, 4999,
        ] {
            for n in [0, 1, 2, 3, 17, 40] {
                let message = &data[..len];
                let mut out = vec![[7; 32]];
                let mid = prefix_and_leaves(message, lines[..n].iter().copied(), &mut out);
                assert_eq!(out[0], [7; 32], "appends, keeps what was there");
                assert_eq!(&out[1..], &want[..n], "len {len}, {n} lines");
                let plain: Hash = Sha256::digest(message).into();
                assert_eq!(mid.finish(b""), plain, "len {len}, {n} lines");
                assert_eq!(Midstate::of(message).finish(b""), plain, "alone, len {len}");
                for more in [&b""[..], b"x", &data[100..170], &data[..700]] {
                    let whole: Hash = Sha256::new()
                        .chain_update(message)
                        .chain_update(more)
                        .finalize()
                        .into();
                    assert_eq!(mid.finish(more), whole, "len {len} + {}", more.len());
                    assert_eq!(Midstate::of(message).finish(more), whole, "alone");
                }
            }
        }
    }

    #[test]
    fn a_message_fed_in_pieces_with_leaves_matches_sha2() {
        let data = bytes(17, 3000);
        let lines: Vec<&[u8]> = (0..30)
            .map(|i| &data[i * 11..i * 11 + (i * 41) % 300])
            .collect();
        let want: Vec<Hash> = lines.iter().map(|m| leaf_hash(m)).collect();
        for cuts in [
            &[0usize, 3000][..],
            &[0, 1, 63, 64, 65, 200, 3000],
            &[0, 10, 20, 30, 3000],
            &[0, 2999, 3000],
        ] {
            let mut m = Midstate::new();
            let mut out = Vec::new();
            for (k, w) in cuts.windows(2).enumerate() {
                let ls = &lines[(k * 7).min(30)..((k + 1) * 7).min(30)];
                m.update_with_leaves(&data[w[0]..w[1]], ls.iter().copied(), &mut out);
            }
            let n = ((cuts.len() - 1) * 7).min(30);
            assert_eq!(&out, &want[..n], "{cuts:?}");
            let whole: Hash = Sha256::digest(&data[..]).into();
            assert_eq!(m.finish(b""), whole, "{cuts:?}");
        }
    }

    #[test]
    fn node_pairs_match_node_hash() {
        let data = bytes(3, 32 * 41);
        let nodes: Vec<Hash> = data
            .chunks_exact(32)
            .map(|c| c.try_into().expect("32 bytes"))
            .collect();
        for n in 0..=nodes.len() {
            let mut out = Vec::new();
            node_hashes(&nodes[..n], &mut out);
            let want: Vec<Hash> = nodes[..n]
                .chunks_exact(2)
                .map(|p| node_hash(&p[0], &p[1]))
                .collect();
            assert_eq!(out, want, "{n} nodes");
        }
    }

    #[test]
    fn any_prefix_matches_sha2() {
        let data = bytes(5, 900);
        let msgs: Vec<&[u8]> = (0..300).map(|i| &data[i..i + i % 600]).collect();
        let mut out = Vec::new();
        hash_all(0x42, msgs.iter().copied(), &mut out);
        let want: Vec<Hash> = msgs.iter().map(|m| scalar(0x42, m)).collect();
        assert_eq!(out, want);
        // The path taken on CPUs without SHA-NI gives the same digests.
        let mut fallback = vec![[1; 32]];
        one_at_a_time(0x42, msgs.iter().copied(), &mut fallback);
        assert_eq!(fallback[0], [1; 32]);
        assert_eq!(fallback[1..], want[..]);
    }
}
