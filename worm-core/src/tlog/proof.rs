//! `worm-proof/1`: one record with everything an auditor needs to check, without the
//! store, that the record is in its stream's signed tree.
//!
//! ```json
//! {"format":"worm-proof/1","record":"<line as stored>","stream":"<uuid>","index":N,
//!  "tree_size":M,"inclusion":["<base64 hash>",…],"checkpoint":"<signed note text>"}
//! ```
//!
//! `inclusion` is the RFC 9162 §2.1.3 audit path of leaf `index`, leaf to root;
//! `checkpoint` a signed C2SP checkpoint whose origin is [`origin_for`] the stream.
//! A record of an encrypted batch ([`crate::crypt`]) also carries `"salt":"<base64>"`,
//! its secret salt: its leaf is then `SHA-256(0x00 || salt || record)`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::sign::PublicKey;

/// The `format` value of a bundle.
pub const FORMAT: &str = "worm-proof/1";
/// The largest bundle accepted, in bytes: room for a record at the pipeline's default
/// 1 MiB limit with every quote and backslash escaped, plus the largest note. A writer
/// configured for larger records makes bundles for them that this bound refuses.
pub const MAX_BUNDLE_BYTES: usize = 4 << 20;
/// The most inclusion hashes accepted: a tree of 2^64 leaves is 64 levels tall.
pub const MAX_INCLUSION: usize = 64;

const ORIGIN_PREFIX: &str = "worm/";

/// The checkpoint origin of a stream: `worm/<stream uuid>`.
pub fn origin_for(stream: Uuid) -> String {
    format!("{ORIGIN_PREFIX}{stream}")
}

/// The stream a checkpoint origin names, when it is one [`origin_for`] wrote (the
/// hyphenated lower-case uuid form, exactly).
pub fn stream_of_origin(origin: &str) -> Option<Uuid> {
    let stream = Uuid::parse_str(origin.strip_prefix(ORIGIN_PREFIX)?).ok()?;
    (origin_for(stream) == origin).then_some(stream)
}

/// A record proof bundle, field for field as its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofBundle {
    /// Always [`FORMAT`].
    pub format: String,
    /// The record's JSON line exactly as stored, without its newline.
    pub record: String,
    /// Base64 of the record's salt, for a record of an encrypted batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salt: Option<String>,
    /// The stream the record belongs to.
    pub stream: Uuid,
    /// The record's leaf index in the stream's tree.
    pub index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The audit path, leaf to root, base64.
    pub inclusion: Vec<String>,
    /// The signed checkpoint note of the tree at `tree_size`.
    pub checkpoint: String,
}

/// Why a bundle does not prove its record.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Larger than [`MAX_BUNDLE_BYTES`].
    #[error("proof bundle is {0} bytes, over the limit of {MAX_BUNDLE_BYTES}")]
    TooLarge(usize),
    /// Not a bundle: bad JSON, a missing or unknown field, a wrong type.
    #[error("not a worm-proof/1 bundle: {0}")]
    Json(String),
    /// `format` is not [`FORMAT`].
    #[error("proof format is '{0}', expected '{FORMAT}'")]
    Format(String),
    /// The record holds a newline, so it is not one stored line.
    #[error("the record contains a newline; a stored record is one line")]
    RecordNotALine,
    /// More than [`MAX_INCLUSION`] hashes.
    #[error("inclusion path has {0} hashes, over the limit of {MAX_INCLUSION}")]
    TooManyHashes(usize),
    /// An inclusion hash is not 32 bytes of base64.
    #[error("inclusion hash {position} is not a base64 SHA-256 hash: {reason}")]
    BadHash {
        /// 0-based position in the path.
        position: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// `index` is not below `tree_size`.
    #[error("record index {index} is not below the tree size {tree_size}")]
    IndexOutOfRange {
        /// The bundle's index.
        index: u64,
        /// The bundle's tree size.
        tree_size: u64,
    },
    /// The checkpoint is not signed by a given key, or malformed.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint is another stream's.
    #[error("checkpoint origin is '{found}', but the bundle's stream needs '{expected}'")]
    OriginMismatch {
        /// [`origin_for`] the bundle's stream.
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// The checkpoint is for another tree size.
    #[error("checkpoint tree size is {checkpoint}, but the bundle says {bundle}")]
    SizeMismatch {
        /// The bundle's `tree_size`.
        bundle: u64,
        /// The checkpoint's size.
        checkpoint: u64,
    },
    /// The path does not lead from the record to the signed root.
    #[error(
        "the record at index {index} with this inclusion path does not give the checkpoint's \
         root: the record, its index or the path was altered"
    )]
    NotIncluded {
        /// The bundle's index.
        index: u64,
    },
}

impl ProofBundle {
    /// A bundle for `record` (as stored, without newline) at `index` of `stream`'s tree
    /// of `tree_size` leaves, with its audit path and signed checkpoint note.
    pub fn new(
        record: &str,
        stream: Uuid,
        index: u64,
        tree_size: u64,
        inclusion: &[Hash],
        checkpoint: &str,
    ) -> Self {
        ProofBundle {
            format: FORMAT.to_string(),
            record: record.to_string(),
            salt: None,
            stream,
            index,
            tree_size,
            inclusion: inclusion.iter().map(|h| B64.encode(h)).collect(),
            checkpoint: checkpoint.to_string(),
        }
    }

    /// The same bundle for a record of an encrypted batch, with its salt.
    pub fn with_salt(mut self, salt: &[u8]) -> Self {
        self.salt = Some(B64.encode(salt));
        self
    }

    /// The record's leaf hash: salted when the bundle has a salt.
    pub fn leaf(&self) -> Result<Hash, ProofError> {
        match &self.salt {
            None => Ok(leaf_hash(self.record.as_bytes())),
            Some(s) => {
                let salt = B64
                    .decode(s)
                    .ok()
                    .filter(|v| v.len() == crate::crypt::SALT_LEN)
                    .ok_or_else(|| {
                        ProofError::Json(format!(
                            "salt is not the base64 of {} bytes",
                            crate::crypt::SALT_LEN
                        ))
                    })?;
                Ok(crate::batch::salted_leaf_hash(
                    &salt,
                    self.record.as_bytes(),
                ))
            }
        }
    }

    /// Parse a bundle, rejecting one over [`MAX_BUNDLE_BYTES`] before reading it, or with
    /// fields missing, unknown or of the wrong type. Its content is checked by
    /// [`ProofBundle::verify`].
    pub fn parse(json: &[u8]) -> Result<Self, ProofError> {
        if json.len() > MAX_BUNDLE_BYTES {
            return Err(ProofError::TooLarge(json.len()));
        }
        serde_json::from_slice(json).map_err(|e| ProofError::Json(e.to_string()))
    }

    /// The bundle as one line of JSON.
    pub fn to_json(&self) -> String {
        // A struct of strings, integers and a uuid always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Check that the record is in the tree signed by one of `keys`: the format, the
    /// bounds, the checkpoint's signature, origin ([`origin_for`] the stream) and size,
    /// and the inclusion path from the record's leaf hash to the checkpoint's root.
    /// Returns the checkpoint.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<Checkpoint, ProofError> {
        if self.format != FORMAT {
            return Err(ProofError::Format(self.format.clone()));
        }
        if self.record.contains('\n') {
            return Err(ProofError::RecordNotALine);
        }
        if self.index >= self.tree_size {
            return Err(ProofError::IndexOutOfRange {
                index: self.index,
                tree_size: self.tree_size,
            });
        }
        let path = self.inclusion_hashes()?;
        let cp = Checkpoint::open(&self.checkpoint, keys)?;
        let expected = origin_for(self.stream);
        if cp.origin != expected {
            return Err(ProofError::OriginMismatch {
                expected,
                found: cp.origin,
            });
        }
        if cp.size != self.tree_size {
            return Err(ProofError::SizeMismatch {
                bundle: self.tree_size,
                checkpoint: cp.size,
            });
        }
        let leaf = self.leaf()?;
        if !verify_inclusion(&leaf, self.index, self.tree_size, &path, &cp.root) {
            return Err(ProofError::NotIncluded { index: self.index });
        }
        Ok(cp)
    }

    /// The inclusion path decoded.
    pub fn inclusion_hashes(&self) -> Result<Vec<Hash>, ProofError> {
        if self.inclusion.len() > MAX_INCLUSION {
            return Err(ProofError::TooManyHashes(self.inclusion.len()));
        }
        self.inclusion
            .iter()
            .enumerate()
            .map(|(position, s)| {
                let raw = B64.decode(s).map_err(|e| ProofError::BadHash {
                    position,
                    reason: e.to_string(),
                })?;
                Hash::try_from(raw.as_slice()).map_err(|_| ProofError::BadHash {
                    position,
                    reason: format!("{} bytes, not 32", raw.len()),
                })
            })
            .collect()
    }
}

/// Parse and verify a bundle's JSON against `keys`; see [`ProofBundle::verify`].
pub fn verify(json: &[u8], keys: &[PublicKey]) -> Result<Checkpoint, ProofError> {
    ProofBundle::parse(json)?.verify(keys)
}
