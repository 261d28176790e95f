//! Transparency-log building blocks, pure and free of I/O: RFC 6962 Merkle trees and
//! proofs ([`merkle`]), C2SP signed notes ([`note`]) and checkpoints ([`checkpoint`]),
//! and the standalone record proof bundle ([`proof`]).
//!
//! ```
//! use worm_core::tlog::merkle::{Frontier, MerkleTree, leaf_hash, verify_inclusion};
//! let leaves: Vec<_> = ["a", "b", "c"].iter().map(|l| leaf_hash(l.as_bytes())).collect();
//! let mut f = Frontier::new();
//! leaves.iter().for_each(|l| f.push(*l));
//! let tree = MerkleTree::new(leaves.clone());
//! assert_eq!(f.root(), tree.root());
//! let path = tree.inclusion_proof(1).expect("leaf 1 exists");
//! assert!(verify_inclusion(&leaves[1], 1, 3, &path, &f.root()));
//! ```

pub mod checkpoint;
pub mod lanes;
pub mod merkle;
pub mod note;
pub mod proof;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use merkle::{Frontier, Hash, MerkleTree, leaf_hash, node_hash};
pub use note::{Note, NoteError, NoteSignature};
pub use proof::{ProofBundle, ProofError, origin_for, stream_of_origin};
