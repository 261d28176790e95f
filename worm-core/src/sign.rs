//! Ed25519 signing of batch seals and signed notes, and the key files `worm keygen` writes.
//!
//! A key has a name, used by C2SP signed notes (checkpoints). Key files are one line of
//! text in one of these forms (see [`forms`]):
//!
//! - `PRIVATE+KEY+<name>+<8 hex id>+<base64>` (secret) and `<name>+<8 hex id>+<base64>`
//!   (verifier key, "vkey"): the signed-note forms, which other transparency tools read;
//! - `worm-ed25519-secret:<base64 seed>` and `worm-ed25519-public:<base64 key>`: worm's
//!   first forms, still read, with the key name [`DEFAULT_KEY_NAME`].
//!
//! A key has two ids. The seal key id, the first 16 hex digits of the sha256 of the
//! public key, names the key in `worm-batch` seals. The note key id, 4 bytes of
//! `SHA-256(name || 0x0A || 0x01 || public key)`, names it in signed notes.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::error::{Error, Result};
use crate::hash::{Sha256Hex, hex_encode};

pub mod forms;

use forms::{KeyText, PUBLIC_TAG, SECRET_TAG};
pub use forms::{key_name_problem, note_key_id};

/// The name of keys read from worm's first key file forms, which carry none.
pub const DEFAULT_KEY_NAME: &str = "worm";

/// Signs batch seals and signed notes.
#[derive(Clone)]
pub struct Signer {
    key: SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Signer {{ key_id: {}, note key: {} }}",
            self.public.key_id,
            self.public.vkey_prefix()
        )
    }
}

/// Checks seal and note signatures against one public key.
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: VerifyingKey,
    key_id: String,
    name: String,
    note_key_id: [u8; 4],
}

fn key_id_of(public: &VerifyingKey) -> String {
    Sha256Hex::of(public.as_bytes()).to_hex()[..16].to_string()
}

impl Signer {
    /// A signer from a 32-byte secret seed, named [`DEFAULT_KEY_NAME`].
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let public = PublicKey::new(key.verifying_key(), DEFAULT_KEY_NAME.to_string());
        Signer { key, public }
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

    /// The same key under another name (which changes its note key id, not its seal key
    /// id). Fails when signed notes cannot carry the name (see [`key_name_problem`]).
    pub fn with_name(mut self, name: &str) -> Result<Self> {
        if let Some(p) = key_name_problem(name) {
            return Err(Error::invalid(format!("key name '{name}'"), p));
        }
        self.public = PublicKey::new(self.public.key, name.to_string());
        Ok(self)
    }

    /// Load a secret key file, in either secret form.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading signing key {}", path.display()), e))?;
        Signer::parse(&text)
            .map_err(|r| Error::invalid(format!("signing key file {}", path.display()), r))
    }

    /// A secret key from its text, in either secret form.
    pub fn from_text(text: &str) -> Result<Self> {
        Signer::parse(text).map_err(|r| Error::invalid("signing key", r))
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let KeyText {
            name,
            bytes,
            claimed_id,
        } = forms::parse_secret(text)?;
        let s = Signer::from_seed(bytes);
        let s = match name {
            Some(n) => s.with_name(&n).map_err(|e| e.to_string())?,
            None => s,
        };
        check_claimed_id(claimed_id, &s.public)?;
        Ok(s)
    }

    /// The seal key id written into `worm-batch` seals.
    pub fn key_id(&self) -> &str {
        &self.public.key_id
    }

    /// The key name used in signed notes.
    pub fn name(&self) -> &str {
        &self.public.name
    }

    /// The 4-byte key id used in signed notes.
    pub fn note_key_id(&self) -> [u8; 4] {
        self.public.note_key_id
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        self.public.clone()
    }

    /// Secret key file contents in worm's first form (which carries no name).
    pub fn to_file_text(&self) -> String {
        format!("{SECRET_TAG}{}\n", B64.encode(self.key.to_bytes()))
    }

    /// Secret key file contents in the signed-note form
    /// `PRIVATE+KEY+<name>+<id>+<base64>`, which keeps the name; what `worm keygen` writes.
    pub fn to_note_secret_text(&self) -> String {
        let seed = self.key.to_bytes();
        format!(
            "{}\n",
            forms::format_note_secret(self.name(), self.note_key_id(), &seed)
        )
    }

    /// Sign `msg`; returns the base64 signature and the seal key id.
    pub fn sign(&self, msg: &[u8]) -> (String, String) {
        (B64.encode(self.sign_raw(msg)), self.public.key_id.clone())
    }

    /// The raw 64-byte Ed25519 signature of `msg`.
    pub fn sign_raw(&self, msg: &[u8]) -> [u8; 64] {
        let sig: Signature = self.key.sign(msg);
        sig.to_bytes()
    }
}

/// A note form names its key id; a wrong one means a damaged or mismatched key file.
fn check_claimed_id(claimed: Option<[u8; 4]>, key: &PublicKey) -> std::result::Result<(), String> {
    match claimed {
        Some(id) if id != key.note_key_id => Err(format!(
            "the key id {} does not match the key, whose id under the name '{}' is {}",
            hex_encode(&id),
            key.name,
            hex_encode(&key.note_key_id)
        )),
        _ => Ok(()),
    }
}

impl PublicKey {
    fn new(key: VerifyingKey, name: String) -> Self {
        PublicKey {
            key_id: key_id_of(&key),
            note_key_id: note_key_id(&name, key.as_bytes()),
            name,
            key,
        }
    }

    /// Load a public key file in either public form (or a secret key file, whose public
    /// half is used).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading public key {}", path.display()), e))?;
        if forms::is_secret(&text) {
            return Ok(Signer::from_file(path)?.public_key());
        }
        PublicKey::parse(&text)
            .map_err(|r| Error::invalid(format!("public key file {}", path.display()), r))
    }

    /// A public key from its text: `worm-ed25519-public:<base64>` or a verifier key
    /// `<name>+<8 hex id>+<base64>`.
    pub fn from_text(text: &str) -> Result<Self> {
        PublicKey::parse(text).map_err(|r| Error::invalid("public key", r))
    }

    fn parse(text: &str) -> std::result::Result<Self, String> {
        let KeyText {
            name,
            bytes,
            claimed_id,
        } = forms::parse_public(text)?;
        let key = VerifyingKey::from_bytes(&bytes).map_err(|e| e.to_string())?;
        let k = PublicKey::new(key, name.unwrap_or_else(|| DEFAULT_KEY_NAME.to_string()));
        check_claimed_id(claimed_id, &k)?;
        Ok(k)
    }

    /// The seal key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The key name used in signed notes.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 4-byte key id used in signed notes.
    pub fn note_key_id(&self) -> [u8; 4] {
        self.note_key_id
    }

    /// Public key file contents in worm's first form.
    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_TAG}{}\n", B64.encode(self.key.as_bytes()))
    }

    /// The C2SP verifier key `<name>+<8 hex key id>+<base64(0x01 || key)>` (no newline).
    pub fn to_vkey(&self) -> String {
        forms::format_vkey(&self.name, self.note_key_id, self.key.as_bytes())
    }

    /// `<name>+<8 hex key id>`, how notes and messages name this key.
    pub fn vkey_prefix(&self) -> String {
        format!("{}+{}", self.name, hex_encode(&self.note_key_id))
    }

    /// Whether `sig_b64` is a valid signature of `msg` by this key.
    pub fn verify(&self, msg: &[u8], sig_b64: &str) -> bool {
        let Ok(raw) = B64.decode(sig_b64.trim()) else {
            return false;
        };
        self.verify_raw(msg, &raw)
    }

    /// Whether `sig` (64 raw bytes) is a valid Ed25519 signature of `msg` by this key.
    pub fn verify_raw(&self, msg: &[u8], sig: &[u8]) -> bool {
        let Ok(arr) = <[u8; 64]>::try_from(sig) else {
            return false;
        };
        self.key
            .verify_strict(msg, &Signature::from_bytes(&arr))
            .is_ok()
    }
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

    /// Go's `golang.org/x/mod/sumdb/note` documentation example key pair.
    const PETER_SKEY: &str =
        "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
    const PETER_VKEY: &str = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";

    #[test]
    fn note_forms_match_go_and_round_trip() {
        let s = Signer::from_text(PETER_SKEY).unwrap();
        assert_eq!(s.name(), "PeterNeumann");
        assert_eq!(s.note_key_id(), [0xc7, 0x4f, 0x20, 0xa3]);
        assert_eq!(s.public_key().to_vkey(), PETER_VKEY);
        assert_eq!(s.to_note_secret_text(), format!("{PETER_SKEY}\n"));
        let p = PublicKey::from_text(PETER_VKEY).unwrap();
        assert_eq!(p.key_id(), s.key_id());
        assert_eq!(p.vkey_prefix(), "PeterNeumann+c74f20a3");
        assert!(p.verify_raw(b"x", &s.sign_raw(b"x")));
        assert!(!p.verify_raw(b"y", &s.sign_raw(b"x")));
        assert!(!p.verify_raw(b"x", &s.sign_raw(b"x")[..63]));
    }

    #[test]
    fn old_key_files_keep_their_seal_key_id_and_get_the_default_name() {
        // The seal key id of seed [7; 32] as worm-batch/1 stores carry it.
        let s = Signer::from_seed([7; 32]);
        let old = Signer::from_text(&s.to_file_text()).unwrap();
        assert_eq!(old.key_id(), s.key_id());
        assert_eq!(
            old.key_id(),
            &Sha256Hex::of(s.key.verifying_key().as_bytes()).to_hex()[..16]
        );
        assert_eq!(old.name(), DEFAULT_KEY_NAME);
        let pk = PublicKey::from_text(&s.public_key().to_file_text()).unwrap();
        assert_eq!(pk.name(), "worm");
        assert_eq!(pk.to_vkey(), s.public_key().to_vkey());
        assert!(pk.to_vkey().starts_with("worm+"));
        // Renaming changes the note key id only.
        let named = s.clone().with_name("example.com/audit").unwrap();
        assert_eq!(named.key_id(), s.key_id());
        assert_ne!(named.note_key_id(), s.note_key_id());
        let again = Signer::from_text(&named.to_note_secret_text()).unwrap();
        assert_eq!(again.name(), "example.com/audit");
        assert_eq!(again.note_key_id(), named.note_key_id());
    }

    #[test]
    fn bad_key_texts_say_what_is_wrong() {
        let cases = [
            (
                "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "does not match",
            ),
            (
                "PeterNeumann+c74f20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "8 hex",
            ),
            (
                "PeterNeumann+c74f20a3+Ahpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "not Ed25519",
            ),
            (
                "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy",
                "32 key bytes",
            ),
            (
                "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10",
                "base64",
            ),
            (
                "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "spaces",
            ),
            (
                "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
                "empty",
            ),
            ("PeterNeumann+c74f20a3", "expected"),
            ("nonsense", "expected"),
        ];
        for (text, want) in cases {
            let e = PublicKey::from_text(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        let e = Signer::from_text(
            "PRIVATE+KEY+PeterNeumann+c74f20a4+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("does not match"), "{e}");
        assert!(Signer::from_text(PETER_VKEY).is_err());
        assert!(Signer::from_seed([1; 32]).with_name("a+b").is_err());
    }
}
