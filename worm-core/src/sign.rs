//! Ed25519 signing of batch seals, and the key files `worm keygen` writes.
//!
//! Key files are one line of text: `worm-ed25519-secret:<base64 seed>` or
//! `worm-ed25519-public:<base64 key>`. A key id is the first 16 hex digits of the
//! sha256 of the public key, so a verifier can tell which key a seal claims.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::error::{Error, Result};
use crate::hash::Sha256Hex;

const SECRET_TAG: &str = "worm-ed25519-secret:";
const PUBLIC_TAG: &str = "worm-ed25519-public:";

/// Signs batch seals.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    key_id: String,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Signer {{ key_id: {} }}", self.key_id)
    }
}

/// Checks seal signatures against one public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: String,
}

fn key_id_of(public: &VerifyingKey) -> String {
    Sha256Hex::of(public.as_bytes()).to_hex()[..16].to_string()
}

impl Signer {
    /// A signer from a 32-byte secret seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let key_id = key_id_of(&key.verifying_key());
        Signer { key, key_id }
    }

    /// A fresh random key (from the operating system's generator).
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            Error::io(
                "reading OS randomness",
                std::io::Error::other(e.to_string()),
            )
        })?;
        Ok(Signer::from_seed(seed))
    }

    /// Load a secret key file written by [`Signer::to_file_text`] / `worm keygen`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading signing key {}", path.display()), e))?;
        let seed = decode_tagged(&text, SECRET_TAG)
            .map_err(|r| Error::invalid(format!("signing key file {}", path.display()), r))?;
        Ok(Signer::from_seed(seed))
    }

    /// The key id written into seals.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        let key = self.key.verifying_key();
        PublicKey {
            key_id: key_id_of(&key),
            key,
        }
    }

    /// Secret key file contents.
    pub fn to_file_text(&self) -> String {
        format!("{SECRET_TAG}{}\n", B64.encode(self.key.to_bytes()))
    }

    /// Sign `msg`; returns the base64 signature and the key id.
    pub fn sign(&self, msg: &[u8]) -> (String, String) {
        let sig: Signature = self.key.sign(msg);
        (B64.encode(sig.to_bytes()), self.key_id.clone())
    }
}

impl PublicKey {
    /// Load a public key file (or a secret key file, whose public half is used).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading public key {}", path.display()), e))?;
        if text.trim_start().starts_with(SECRET_TAG) {
            return Ok(Signer::from_file(path)?.public_key());
        }
        let what = || format!("public key file {}", path.display());
        let bytes = decode_tagged(&text, PUBLIC_TAG).map_err(|r| Error::invalid(what(), r))?;
        let key =
            VerifyingKey::from_bytes(&bytes).map_err(|e| Error::invalid(what(), e.to_string()))?;
        Ok(PublicKey {
            key_id: key_id_of(&key),
            key,
        })
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Public key file contents.
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_TAG}{}\n", B64.encode(self.key.as_bytes()))
    }

    /// Whether `sig_b64` is a valid signature of `msg` by this key.
    pub fn verify(&self, msg: &[u8], sig_b64: &str) -> bool {
        let Ok(raw) = B64.decode(sig_b64.trim()) else {
            return false;
        };
        let Ok(arr) = <[u8; 64]>::try_from(raw.as_slice()) else {
            return false;
        };
        self.key
            .verify_strict(msg, &Signature::from_bytes(&arr))
            .is_ok()
    }
}

fn decode_tagged(text: &str, tag: &str) -> std::result::Result<[u8; 32], String> {
    let line = text.trim();
    let b64 = line
        .strip_prefix(tag)
        .ok_or_else(|| format!("expected a line starting with '{tag}'"))?;
    let raw = B64
        .decode(b64.trim())
        .map_err(|e| format!("bad base64: {e}"))?;
    <[u8; 32]>::try_from(raw.as_slice())
        .map_err(|_| format!("expected 32 bytes, found {}", raw.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_files() {
        let s = Signer::generate().unwrap();
        let (sig, id) = s.sign(b"hello");
        assert_eq!(id, s.key_id());
        let pk = s.public_key();
        assert!(pk.verify(b"hello", &sig));
        assert!(!pk.verify(b"hellO", &sig));
        assert!(
            !Signer::generate()
                .unwrap()
                .public_key()
                .verify(b"hello", &sig)
        );
        let dir = tempfile::tempdir().unwrap();
        let sp = dir.path().join("k");
        let pp = dir.path().join("k.pub");
        std::fs::write(&sp, s.to_file_text()).unwrap();
        std::fs::write(&pp, pk.to_file_text()).unwrap();
        assert_eq!(Signer::from_file(&sp).unwrap().key_id(), s.key_id());
        assert_eq!(PublicKey::from_file(&pp).unwrap().key_id(), s.key_id());
        assert_eq!(PublicKey::from_file(&sp).unwrap().key_id(), s.key_id());
        std::fs::write(&pp, "nonsense").unwrap();
        assert!(
            PublicKey::from_file(&pp)
                .unwrap_err()
                .to_string()
                .contains("k.pub")
        );
    }
}
