//! C2SP signed notes (<https://c2sp.org/signed-note>): a text, a blank line, then one
//! signature line per key, `— <key name> <base64(4-byte key id || signature)>`.
//!
//! Parsing is strict and bounded ([`MAX_NOTE_BYTES`], [`MAX_SIGNATURES`]). Verification
//! follows the spec: signatures by unknown keys are ignored, a known key's signature
//! must verify, and at least one must.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

use crate::hash::hex_encode;
use crate::sign::{PublicKey, Signer, key_name_problem};

/// The largest note accepted, in bytes. Checkpoints are a few hundred bytes.
pub const MAX_NOTE_BYTES: usize = 1 << 20;
/// The most signature lines accepted (the spec asks verifiers to accept at least 16).
pub const MAX_SIGNATURES: usize = 100;

const SIG_PREFIX: &str = "\u{2014} ";

/// A parsed note: its text and its signatures, not yet verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The signed text, ending in a newline (the separating blank line excluded).
    pub text: String,
    /// The signature lines in order.
    pub signatures: Vec<NoteSignature>,
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    /// The key name.
    pub name: String,
    /// The 4-byte key id (big-endian in the line).
    pub key_id: [u8; 4],
    /// The signature bytes after the key id.
    pub sig: Vec<u8>,
}

/// What is wrong with a note.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// The note is larger than [`MAX_NOTE_BYTES`].
    #[error("signed note is {0} bytes, over the limit of {MAX_NOTE_BYTES}")]
    TooLarge(usize),
    /// The note breaks the signed-note format; the text says where.
    #[error("malformed signed note: {0}")]
    Malformed(String),
    /// No signature by any of the given keys.
    #[error(
        "signed note has no signature by a known key (it is signed by {signed_by}; known keys: {known})"
    )]
    NoKnownSignature {
        /// The `name+id` of each signature in the note.
        signed_by: String,
        /// The `name+id` of each key it was checked against.
        known: String,
    },
    /// A signature by a known key does not verify.
    #[error(
        "signature by key {key} does not verify: the note text was altered, or the signature forged"
    )]
    BadSignature {
        /// `name+id` of the key.
        key: String,
    },
}

impl NoteSignature {
    /// `name+<8 hex id>`, as a vkey starts.
    pub fn key_label(&self) -> String {
        format!("{}+{}", self.name, hex_encode(&self.key_id))
    }

    fn to_line(&self) -> String {
        let mut raw = Vec::with_capacity(4 + self.sig.len());
        raw.extend_from_slice(&self.key_id);
        raw.extend_from_slice(&self.sig);
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(raw))
    }
}

fn malformed(reason: impl Into<String>) -> NoteError {
    NoteError::Malformed(reason.into())
}

/// Checks the rules every part of a note obeys: valid UTF-8 (given by `&str`), no ASCII
/// control character but newline.
fn check_characters(s: &str, what: &str) -> Result<(), NoteError> {
    match s.char_indices().find(|&(_, c)| c < ' ' && c != '\n') {
        Some((at, c)) => Err(malformed(format!(
            "{what} has control character {:#04x} at byte {at}",
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

/// Checks that `text` can be the text of a note: non-empty, ending in a newline, within
/// the size bound, no control characters but newlines.
pub fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(text.len()));
    }
    if !text.ends_with('\n') {
        return Err(malformed("the note text must end with a newline"));
    }
    check_characters(text, "the note text")
}

/// Sign `text` (which must end in a newline) with `signer` under its key name; returns
/// the whole signed note.
pub fn sign(text: &str, signer: &Signer) -> Result<String, NoteError> {
    Note::new(text)?.signed_by(signer).map(|n| n.to_text())
}

/// Parse `msg` strictly and verify it against `keys`; see [`Note::verify`].
pub fn open(msg: &str, keys: &[PublicKey]) -> Result<Note, NoteError> {
    let note = Note::parse(msg)?;
    note.verify(keys)?;
    Ok(note)
}

impl Note {
    /// An unsigned note over `text` (see [`check_text`]).
    pub fn new(text: &str) -> Result<Note, NoteError> {
        check_text(text)?;
        Ok(Note {
            text: text.to_string(),
            signatures: Vec::new(),
        })
    }

    /// The note with `signer`'s signature added; one by the same key (name and id) is
    /// replaced.
    pub fn signed_by(mut self, signer: &Signer) -> Result<Note, NoteError> {
        if let Some(p) = key_name_problem(signer.name()) {
            return Err(malformed(format!("key name '{}': {p}", signer.name())));
        }
        let (name, key_id) = (signer.name().to_string(), signer.note_key_id());
        self.signatures
            .retain(|s| !(s.name == name && s.key_id == key_id));
        self.signatures.push(NoteSignature {
            sig: signer.sign_raw(self.text.as_bytes()).to_vec(),
            name,
            key_id,
        });
        Ok(self)
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn to_text(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.to_line());
        }
        out
    }

    /// Parse a signed note strictly: within [`MAX_NOTE_BYTES`], UTF-8 without control
    /// characters but newline, text and signatures split at the last blank line, one to
    /// [`MAX_SIGNATURES`] well-formed signature lines. Signatures are not checked here.
    pub fn parse(msg: &str) -> Result<Note, NoteError> {
        if msg.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(msg.len()));
        }
        check_characters(msg, "the note")?;
        let Some(split) = msg.rfind("\n\n") else {
            return Err(malformed(
                "no blank line between the text and the signatures",
            ));
        };
        let (text, sigs) = (&msg[..=split], &msg[split + 2..]);
        if sigs.is_empty() {
            return Err(malformed("no signature lines after the blank line"));
        }
        let Some(sigs) = sigs.strip_suffix('\n') else {
            return Err(malformed(
                "the last signature line does not end in a newline",
            ));
        };
        let lines: Vec<&str> = sigs.split('\n').collect();
        if lines.len() > MAX_SIGNATURES {
            return Err(malformed(format!(
                "{} signature lines, over the limit of {MAX_SIGNATURES}",
                lines.len()
            )));
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                parse_signature_line(line)
                    .map_err(|r| malformed(format!("signature line {}: {r}", i + 1)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Note {
            text: text.to_string(),
            signatures,
        })
    }

    /// Verify against `keys`: a signature whose name and key id match a known key must
    /// verify ([`NoteError::BadSignature`] otherwise); other signatures are ignored; at
    /// least one must verify ([`NoteError::NoKnownSignature`] otherwise). Returns the keys
    /// that signed.
    pub fn verify<'k>(&self, keys: &'k [PublicKey]) -> Result<Vec<&'k PublicKey>, NoteError> {
        let mut verified: Vec<&PublicKey> = Vec::new();
        for s in &self.signatures {
            let known = keys
                .iter()
                .filter(|k| k.name() == s.name && k.note_key_id() == s.key_id);
            for k in known {
                if !k.verify_raw(self.text.as_bytes(), &s.sig) {
                    return Err(NoteError::BadSignature { key: s.key_label() });
                }
                if !verified
                    .iter()
                    .any(|v| v.note_key_id() == k.note_key_id() && v.name() == k.name())
                {
                    verified.push(k);
                }
            }
        }
        if verified.is_empty() {
            let join = |it: &mut dyn Iterator<Item = String>| {
                let v: Vec<String> = it.collect();
                if v.is_empty() {
                    "none".to_string()
                } else {
                    v.join(", ")
                }
            };
            return Err(NoteError::NoKnownSignature {
                signed_by: join(&mut self.signatures.iter().map(NoteSignature::key_label)),
                known: join(&mut keys.iter().map(PublicKey::vkey_prefix)),
            });
        }
        Ok(verified)
    }
}

/// `— <name> <base64(key id || signature)>`, without its newline.
fn parse_signature_line(line: &str) -> Result<NoteSignature, String> {
    let rest = line
        .strip_prefix(SIG_PREFIX)
        .ok_or("does not start with an em dash (U+2014) and a space")?;
    let (name, b64) = rest
        .split_once(' ')
        .ok_or("expected '<key name> <base64 signature>'")?;
    if let Some(p) = key_name_problem(name) {
        return Err(format!("key name '{name}': {p}"));
    }
    let raw = B64
        .decode(b64)
        .map_err(|e| format!("signature of {name} is not base64: {e}"))?;
    if raw.len() < 5 {
        return Err(format!(
            "signature of {name} has {} bytes; a key id and a signature need at least 5",
            raw.len()
        ));
    }
    let (id, sig) = raw.split_at(4);
    Ok(NoteSignature {
        name: name.to_string(),
        key_id: [id[0], id[1], id[2], id[3]],
        sig: sig.to_vec(),
    })
}
