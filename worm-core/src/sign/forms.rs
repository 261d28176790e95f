//! The text forms of keys: worm's original key files and the C2SP / Go note forms.
//!
//! - `worm-ed25519-secret:<base64 seed>` and `worm-ed25519-public:<base64 key>`: the files
//!   `worm keygen` wrote first; their keys are named [`DEFAULT_KEY_NAME`](super::DEFAULT_KEY_NAME).
//! - `PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>`: a note signer key, as
//!   Go's `golang.org/x/mod/sumdb/note` writes it.
//! - `<name>+<8 hex key id>+<base64(0x01 || public key)>`: a C2SP verifier key (vkey).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::{Digest, Sha256};

use crate::hash::hex_encode;

pub(super) const SECRET_TAG: &str = "worm-ed25519-secret:";
pub(super) const PUBLIC_TAG: &str = "worm-ed25519-public:";
const NOTE_SECRET_PREFIX: &str = "PRIVATE+KEY+";
/// The signature type byte of Ed25519 in signed notes.
const ALG_ED25519: u8 = 0x01;

/// A key as read from text: its name and 32 bytes (a seed or a public key).
pub(super) struct KeyText {
    pub name: Option<String>,
    pub bytes: [u8; 32],
    /// The key id the text claims (note forms only), checked once the public key is known.
    pub claimed_id: Option<[u8; 4]>,
}

/// Why `name` cannot name a note key, or `None` when it can: C2SP signed-note wants it
/// non-empty, without Unicode spaces or `+`; control characters cannot appear in a note.
pub fn key_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("a key name must not be empty")
    } else if name.chars().any(char::is_whitespace) {
        Some("a key name must not contain spaces")
    } else if name.contains('+') {
        Some("a key name must not contain '+'")
    } else if name.chars().any(char::is_control) {
        Some("a key name must not contain control characters")
    } else {
        None
    }
}

/// The signed-note key id: the first 4 bytes of `SHA-256(name || 0x0A || 0x01 || key)`.
pub fn note_key_id(name: &str, public: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', ALG_ED25519]);
    h.update(public);
    let d = h.finalize();
    [d[0], d[1], d[2], d[3]]
}

/// `PRIVATE+KEY+<name>+<id>+<base64(0x01 || seed)>`.
pub(super) fn format_note_secret(name: &str, id: [u8; 4], seed: &[u8; 32]) -> String {
    format!(
        "{NOTE_SECRET_PREFIX}{}",
        format_vkey(name, id, seed).as_str()
    )
}

/// `<name>+<id>+<base64(0x01 || key)>`.
pub(super) fn format_vkey(name: &str, id: [u8; 4], key: &[u8; 32]) -> String {
    let mut data = Vec::with_capacity(33);
    data.push(ALG_ED25519);
    data.extend_from_slice(key);
    format!("{name}+{}+{}", hex_encode(&id), B64.encode(data))
}

/// A secret key in either secret form.
pub(super) fn parse_secret(text: &str) -> Result<KeyText, String> {
    let line = one_line(text)?;
    if let Some(rest) = line.strip_prefix(NOTE_SECRET_PREFIX) {
        return parse_named(rest).map_err(|e| format!("note signer key: {e}"));
    }
    if line.starts_with(SECRET_TAG) {
        return Ok(KeyText {
            name: None,
            bytes: decode_tagged(line, SECRET_TAG)?,
            claimed_id: None,
        });
    }
    Err(format!(
        "expected a secret key line starting with '{SECRET_TAG}' or '{NOTE_SECRET_PREFIX}'"
    ))
}

/// Whether `text` holds a secret key (in either form) rather than a public one.
pub(super) fn is_secret(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with(SECRET_TAG) || t.starts_with(NOTE_SECRET_PREFIX)
}

/// A public key in either public form.
pub(super) fn parse_public(text: &str) -> Result<KeyText, String> {
    let line = one_line(text)?;
    if line.starts_with(PUBLIC_TAG) {
        return Ok(KeyText {
            name: None,
            bytes: decode_tagged(line, PUBLIC_TAG)?,
            claimed_id: None,
        });
    }
    if line.contains('+') {
        return parse_named(line).map_err(|e| format!("verifier key (vkey): {e}"));
    }
    Err(format!(
        "expected '{PUBLIC_TAG}<base64>' or a verifier key '<name>+<8 hex key id>+<base64>'"
    ))
}

/// The one non-empty line of a key file (a trailing newline is fine, more lines are not).
fn one_line(text: &str) -> Result<&str, String> {
    let line = text.trim();
    if line.lines().count() != 1 {
        return Err("expected exactly one line".into());
    }
    Ok(line)
}

/// `<name>+<8 hex>+<base64(0x01 || 32 bytes)>`.
fn parse_named(s: &str) -> Result<KeyText, String> {
    let mut parts = s.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("expected '<name>+<8 hex key id>+<base64 key>'".into());
    };
    if let Some(p) = key_name_problem(name) {
        return Err(format!("key name '{name}': {p}"));
    }
    let claimed_id = parse_id(id_hex)?;
    let raw = B64
        .decode(b64)
        .map_err(|e| format!("key data is not base64: {e}"))?;
    let Some((&alg, key)) = raw.split_first() else {
        return Err("key data is empty".into());
    };
    if alg != ALG_ED25519 {
        return Err(format!(
            "key type {alg:#04x} is not Ed25519 (0x01), the only type worm knows"
        ));
    }
    let bytes = <[u8; 32]>::try_from(key).map_err(|_| {
        format!(
            "expected 32 key bytes after the type byte, found {}",
            key.len()
        )
    })?;
    Ok(KeyText {
        name: Some(name.to_string()),
        bytes,
        claimed_id: Some(claimed_id),
    })
}

fn parse_id(hex: &str) -> Result<[u8; 4], String> {
    let bad = || format!("key id '{hex}' is not 8 hex digits");
    if hex.len() != 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let v = u32::from_str_radix(hex, 16).map_err(|_| bad())?;
    Ok(v.to_be_bytes())
}

fn decode_tagged(line: &str, tag: &str) -> Result<[u8; 32], String> {
    let b64 = line
        .strip_prefix(tag)
        .ok_or_else(|| format!("expected a line starting with '{tag}'"))?;
    let raw = B64
        .decode(b64.trim())
        .map_err(|e| format!("bad base64: {e}"))?;
    <[u8; 32]>::try_from(raw.as_slice())
        .map_err(|_| format!("expected 32 bytes, found {}", raw.len()))
}
