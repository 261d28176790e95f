//! C2SP tlog-checkpoint (<https://c2sp.org/tlog-checkpoint>): the note text naming a
//! log's tree head. Lines: origin, decimal tree size, base64 root hash, then optional
//! non-empty extension lines.
//!
//! ```
//! use worm_core::sign::Signer;
//! use worm_core::tlog::checkpoint::Checkpoint;
//! use worm_core::tlog::merkle::empty_root;
//! let cp = Checkpoint { origin: "example.com/log".into(), size: 0, root: empty_root(), extensions: vec![] };
//! let key = Signer::from_seed([1; 32]);
//! let note = cp.sign(&key).expect("a valid checkpoint");
//! assert!(note.starts_with("example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— worm "));
//! assert_eq!(Checkpoint::open(&note, &[key.public_key()]).expect("signed by key"), cp);
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use super::merkle::Hash;
use super::note::{self, Note, NoteError};
use crate::sign::{PublicKey, Signer};

/// The most extension lines accepted in a checkpoint.
pub const MAX_EXTENSIONS: usize = 64;

/// A tree head: which log, how many leaves, which root, and opaque extension lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's unique name (first line).
    pub origin: String,
    /// The number of leaves.
    pub size: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Hash,
    /// Extension lines, each non-empty, without newlines.
    pub extensions: Vec<String>,
}

/// What is wrong with a checkpoint.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The note text is not a checkpoint; the text says which line and why.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The signed note around it is malformed or not signed by a given key.
    #[error(transparent)]
    Note(#[from] NoteError),
}

fn malformed(reason: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(reason.into())
}

/// A line of a checkpoint: non-empty, and no newline (notes forbid other control
/// characters already).
fn check_line(line: &str, what: &str) -> Result<(), CheckpointError> {
    if line.is_empty() {
        return Err(malformed(format!("the {what} line is empty")));
    }
    if line.contains('\n') {
        return Err(malformed(format!("the {what} contains a newline")));
    }
    Ok(())
}

impl Checkpoint {
    /// The note text: origin, size, base64 root, extension lines, each ending in a
    /// newline. Fails when a line would be empty or contain a newline, or when there are
    /// more than [`MAX_EXTENSIONS`] extension lines.
    pub fn to_text(&self) -> Result<String, CheckpointError> {
        check_line(&self.origin, "origin")?;
        if self.extensions.len() > MAX_EXTENSIONS {
            return Err(malformed(format!(
                "{} extension lines, over the limit of {MAX_EXTENSIONS}",
                self.extensions.len()
            )));
        }
        for (i, e) in self.extensions.iter().enumerate() {
            check_line(e, &format!("extension {}", i + 1))?;
        }
        let mut text = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            B64.encode(self.root)
        );
        for e in &self.extensions {
            text.push_str(e);
            text.push('\n');
        }
        note::check_text(&text)?;
        Ok(text)
    }

    /// The signed note of this checkpoint, signed by `signer`.
    pub fn sign(&self, signer: &Signer) -> Result<String, CheckpointError> {
        Ok(note::sign(&self.to_text()?, signer)?)
    }

    /// Parse a checkpoint's note text strictly: at least three non-empty lines, a size in
    /// decimal without leading zeros, a canonical base64 root of 32 bytes, at most
    /// [`MAX_EXTENSIONS`] non-empty extension lines.
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        note::check_text(text)?;
        let body = &text[..text.len() - 1];
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(malformed(
                "expected at least three lines: origin, tree size, root hash",
            ));
        };
        check_line(origin, "origin")?;
        let size = parse_size(size)?;
        let root = parse_root(root)?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.len() > MAX_EXTENSIONS {
            return Err(malformed(format!(
                "{} extension lines, over the limit of {MAX_EXTENSIONS}",
                extensions.len()
            )));
        }
        for (i, e) in extensions.iter().enumerate() {
            check_line(e, &format!("extension {}", i + 1))?;
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }

    /// Verify a signed checkpoint note against `keys` (see [`Note::verify`]) and parse
    /// its text.
    pub fn open(signed_note: &str, keys: &[PublicKey]) -> Result<Checkpoint, CheckpointError> {
        let n = Note::parse(signed_note)?;
        n.verify(keys)?;
        Checkpoint::parse(&n.text)
    }
}

fn parse_size(line: &str) -> Result<u64, CheckpointError> {
    let bad = |why: &str| malformed(format!("tree size '{line}' {why}"));
    if line.is_empty() || !line.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("is not a decimal number"));
    }
    if line.len() > 1 && line.starts_with('0') {
        return Err(bad("has a leading zero"));
    }
    line.parse().map_err(|_| bad("does not fit in 64 bits"))
}

fn parse_root(line: &str) -> Result<Hash, CheckpointError> {
    let raw = B64
        .decode(line)
        .map_err(|e| malformed(format!("root hash '{line}' is not base64: {e}")))?;
    Hash::try_from(raw.as_slice()).map_err(|_| {
        malformed(format!(
            "root hash '{line}' has {} bytes, not 32",
            raw.len()
        ))
    })
}
