//! Client-side encryption to [age](https://age-encryption.org) X25519 recipients.
//!
//! With encryption on, a `worm-batch/3` batch keeps its header and seal readable and
//! holds its records as one age ciphertext, which its seal's sha256 covers (see [`batch`](crate::batch) for the layout):
//! the record lines, compressed with zstd *before* they are encrypted (ciphertext does
//! not compress), and a secret random salt per record. Each record's Merkle leaf is
//! `SHA-256(0x00 || salt || line)`, so the tree hashes that stay readable (the header's
//! compact range, the seal's root, proofs' audit paths) cannot be used to confirm a guess
//! of a record: the salt is only inside the ciphertext. The spool's write-ahead log holds
//! each record as its own age ciphertext to the same recipients.
//!
//! All cryptography is the `age` crate's; this module only chooses what is encrypted.
//!
//! ```
//! use worm_core::crypt::{Identities, Recipients, generate};
//! let (secret, public) = generate();
//! let to = Recipients::parse([public.as_str()]).unwrap();
//! let ct = to.encrypt(b"hello").unwrap();
//! let me = Identities::parse(&secret, "test key").unwrap();
//! assert_eq!(me.decrypt(&ct, 1 << 20, "test", to.names()).unwrap(), b"hello");
//! ```

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use age::x25519;
use serde::{Deserialize, Serialize};

use crate::batch::{Compression, Header};
use crate::error::{Error, Result};

/// Bytes of secret salt per record.
pub const SALT_LEN: usize = 16;

/// The age file magic: every age ciphertext starts with it.
pub const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// zstd level of the plaintext before encryption (the writers' usual level).
const ZSTD_LEVEL: i32 = 3;

/// A new age X25519 identity: the secret (`AGE-SECRET-KEY-1…`) and its recipient
/// (`age1…`).
pub fn generate() -> (String, String) {
    use age::secrecy::ExposeSecret as _;
    let id = x25519::Identity::generate();
    let public = id.to_public().to_string();
    (id.to_string().expose_secret().to_string(), public)
}

/// The age recipients a writer encrypts to. Cheap to clone.
#[derive(Clone)]
pub struct Recipients {
    keys: Arc<Vec<x25519::Recipient>>,
    names: Arc<Vec<String>>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names.iter()).finish()
    }
}

impl PartialEq for Recipients {
    fn eq(&self, other: &Self) -> bool {
        self.names == other.names
    }
}

impl Recipients {
    /// Recipients from their `age1…` strings (at least one; duplicates are kept once).
    pub fn parse<I, S>(list: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for s in list {
            let s = s.as_ref().trim();
            let r = x25519::Recipient::from_str(s).map_err(|e| {
                Error::invalid(
                    format!("age recipient '{s}'"),
                    format!("{e} (expected an X25519 recipient age1…, from `worm keygen --age`)"),
                )
            })?;
            let name = r.to_string();
            if !names.contains(&name) {
                names.push(name);
                keys.push(r);
            }
        }
        if keys.is_empty() {
            return Err(Error::invalid("age recipients", "none given"));
        }
        Ok(Recipients {
            keys: Arc::new(keys),
            names: Arc::new(names),
        })
    }

    /// The recipient strings of a recipients file: one `age1…` per line; blank lines and
    /// lines starting with `#` are skipped (the format of age's `-R` files).
    pub fn read_file(path: &Path) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading recipients file {}", path.display()), e))?;
        let list: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect();
        if list.is_empty() {
            return Err(Error::invalid(
                format!("recipients file {}", path.display()),
                "holds no recipient (one age1… per line)",
            ));
        }
        Ok(list)
    }

    /// The recipients as `age1…` strings, in the order given.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// One age ciphertext (binary) of `plaintext` that each recipient can decrypt alone.
    pub fn encrypt(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let enc =
            age::Encryptor::with_recipients(self.keys.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| Error::invalid("age recipients", e.to_string()))?;
        let mut out = Vec::with_capacity(plaintext.len() + 256 + 64 * self.keys.len());
        let err = |e: std::io::Error| Error::io("encrypting records", e);
        let mut w = enc.wrap_output(&mut out).map_err(err)?;
        w.write_all(plaintext).map_err(err)?;
        w.finish().map_err(err)?;
        Ok(out)
    }
}

/// The age identities a reader (or a recovering writer) decrypts with. Cheap to clone.
#[derive(Clone, Default)]
pub struct Identities {
    keys: Arc<Vec<x25519::Identity>>,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets: only which recipients they open.
        f.debug_list().entries(self.recipients()).finish()
    }
}

impl Identities {
    /// The identities in `text`: one `AGE-SECRET-KEY-1…` per line; blank lines and lines
    /// starting with `#` are skipped (the format of age's identity files). `what` names
    /// the source in errors.
    pub fn parse(text: &str, what: &str) -> Result<Self> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let id = x25519::Identity::from_str(line).map_err(|_| {
                Error::invalid(
                    format!("{what}, line {}", i + 1),
                    "not an age X25519 identity (AGE-SECRET-KEY-1…, from `worm keygen --age`)",
                )
            })?;
            keys.push(id);
        }
        if keys.is_empty() {
            return Err(Error::invalid(what, "holds no age identity"));
        }
        Ok(Identities {
            keys: Arc::new(keys),
        })
    }

    /// The identities of an identity file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("reading identity file {}", path.display()), e))?;
        Self::parse(&text, &format!("identity file {}", path.display()))
    }

    /// These and `other`'s, for a reader given several files (a key rotation).
    pub fn merged(&self, other: &Identities) -> Identities {
        let mut keys: Vec<x25519::Identity> = self.keys.as_ref().clone();
        keys.extend(other.keys.iter().cloned());
        Identities {
            keys: Arc::new(keys),
        }
    }

    /// How many identities there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The recipients these identities decrypt for.
    pub fn recipients(&self) -> Vec<String> {
        self.keys
            .iter()
            .map(|k| k.to_public().to_string())
            .collect()
    }

    /// Decrypt an age ciphertext, refusing plaintexts past `limit` bytes. `what` names
    /// the ciphertext and `recipients` what it says it is encrypted to, for the error when
    /// no identity matches ([`Error::NoIdentity`]).
    pub fn decrypt(
        &self,
        ct: &[u8],
        limit: u64,
        what: &str,
        recipients: &[String],
    ) -> Result<Vec<u8>> {
        let no_identity = || Error::NoIdentity {
            what: what.to_string(),
            recipients: recipients.to_vec(),
            given: self.keys.len(),
        };
        if self.keys.is_empty() {
            return Err(no_identity());
        }
        let bad = |e: String| Error::invalid(format!("encrypted records of {what}"), e);
        let dec = age::Decryptor::new_buffered(ct).map_err(|e| bad(e.to_string()))?;
        let mut r = match dec.decrypt(self.keys.iter().map(|k| k as &dyn age::Identity)) {
            Ok(r) => r,
            Err(age::DecryptError::NoMatchingKeys) => return Err(no_identity()),
            Err(e) => return Err(bad(e.to_string())),
        };
        let mut out = Vec::new();
        (&mut r)
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| bad(e.to_string()))?;
        if out.len() as u64 > limit {
            return Err(bad(format!("expand past {limit} bytes")));
        }
        Ok(out)
    }
}

/// A batch header's encryption: the recipients its records are encrypted to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// The age recipients (`age1…`).
    pub age: Vec<String>,
}

/// The one line that holds an encrypted batch's records.
#[derive(Serialize, Deserialize)]
struct SectionLine<'a> {
    /// Base64 of the age ciphertext.
    #[serde(borrow)]
    age: Cow<'a, str>,
}

/// Encrypt a batch's record section (`records`, `count` lines each ending in `\n`):
/// returns the ciphertext line (without its newline) and the salt of each record.
pub(crate) fn seal_section(
    records: &[u8],
    count: usize,
    to: &Recipients,
) -> Result<(Vec<u8>, Vec<[u8; SALT_LEN]>)> {
    let mut plain = vec![0u8; count * SALT_LEN];
    getrandom::fill(&mut plain)
        .map_err(|e| Error::io("drawing record salts", std::io::Error::other(e.to_string())))?;
    let salts = plain
        .chunks_exact(SALT_LEN)
        .map(|c| {
            let mut s = [0u8; SALT_LEN];
            s.copy_from_slice(c);
            s
        })
        .collect();
    plain.extend_from_slice(records);
    let z = zstd::bulk::compress(&plain, ZSTD_LEVEL)
        .map_err(|e| Error::io("compressing records before encryption", e))?;
    let ct = to.encrypt(&z)?;
    use base64::Engine as _;
    let line = serde_json::to_vec(&SectionLine {
        age: Cow::Owned(base64::engine::general_purpose::STANDARD.encode(ct)),
    })
    .map_err(|e| Error::invalid("encrypted section", e.to_string()))?;
    Ok((line, salts))
}

/// An encrypted batch's records, decrypted.
#[derive(Debug, Clone)]
pub struct Opened {
    plain: Vec<u8>,
    count: usize,
}

impl Opened {
    /// Each record's salt and line (without its newline), in order.
    pub fn records(&self) -> impl Iterator<Item = (&[u8; SALT_LEN], &[u8])> {
        let (salts, lines) = self.plain.split_at(self.count * SALT_LEN);
        salts
            .chunks_exact(SALT_LEN)
            .filter_map(|c| c.try_into().ok())
            .zip(crate::batch::record_lines(lines))
    }
}

/// Decrypt the record line of an encrypted batch with header `h`; `what` names the batch
/// (its key) in errors. The plaintext is refused past `limit` bytes, and must hold exactly
/// the header's record count.
pub fn open_section(
    h: &Header,
    line: &[u8],
    ids: &Identities,
    limit: u64,
    what: &str,
) -> Result<Opened> {
    let recipients = h.enc.as_ref().map(|e| e.age.as_slice()).unwrap_or(&[]);
    let bad = |m: String| Error::invalid(format!("encrypted records of {what}"), m);
    let sec: SectionLine<'_> = serde_json::from_slice(line).map_err(|e| bad(e.to_string()))?;
    use base64::Engine as _;
    let ct = base64::engine::general_purpose::STANDARD
        .decode(sec.age.as_bytes())
        .map_err(|e| bad(format!("not base64: {e}")))?;
    let z = ids.decrypt(&ct, limit, what, recipients)?;
    let plain = Compression::Zstd.decompress(&z, limit)?;
    let count = usize::try_from(h.records).map_err(|_| bad("record count too large".into()))?;
    let Some(lines) = plain.get(count.saturating_mul(SALT_LEN)..) else {
        return Err(bad(format!(
            "shorter than the salts of the {count} records the header names"
        )));
    };
    let n = crate::batch::record_lines(lines).count();
    if n != count || (count > 0 && !lines.ends_with(b"\n")) {
        return Err(bad(format!(
            "the header names {count} records, the plaintext holds {n} lines"
        )));
    }
    Ok(Opened { plain, count })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn each_recipient_decrypts_alone_and_others_are_named() {
        let (s1, p1) = generate();
        let (s2, p2) = generate();
        let (s3, _) = generate();
        let to = Recipients::parse([&p1, &p2, &p1]).unwrap();
        assert_eq!(to.names(), &[p1.clone(), p2.clone()]);
        let ct = to.encrypt(b"secret").unwrap();
        assert!(ct.starts_with(AGE_MAGIC));
        for s in [&s1, &s2] {
            let id = Identities::parse(s, "k").unwrap();
            assert_eq!(id.decrypt(&ct, 100, "b", to.names()).unwrap(), b"secret");
        }
        let wrong = Identities::parse(&s3, "k").unwrap();
        let e = wrong
            .decrypt(&ct, 100, "batch 'x'", to.names())
            .unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::NoIdentity);
        let msg = e.to_string();
        assert!(
            msg.contains(&p1) && msg.contains(&p2) && msg.contains("batch 'x'"),
            "{msg}"
        );
        assert!(!msg.contains('\n'));
        assert!(
            Identities::parse(&s1, "k")
                .unwrap()
                .decrypt(&ct, 3, "b", &[])
                .is_err()
        );
        assert!(Recipients::parse(["age1nope"]).is_err());
        assert!(Recipients::parse(Vec::<String>::new()).is_err());
        assert!(Identities::parse("# nothing\n", "k").is_err());
    }

    #[test]
    fn a_section_round_trips_and_checks_its_count() {
        let (s, p) = generate();
        let to = Recipients::parse([p]).unwrap();
        let (line, salts) = seal_section(b"{\"a\":1}\n{\"b\":2}\n", 2, &to).unwrap();
        assert!(!line.windows(5).any(|w| w == b"\"a\":1"));
        let mut h = Header {
            records: 2,
            enc: Some(Encryption {
                age: to.names().to_vec(),
            }),
            ..Default::default()
        };
        let ids = Identities::parse(&s, "k").unwrap();
        let o = open_section(&h, &line, &ids, 1 << 20, "b").unwrap();
        let got: Vec<_> = o.records().map(|(s, l)| (*s, l.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (salts[0], b"{\"a\":1}".to_vec()),
                (salts[1], b"{\"b\":2}".to_vec())
            ]
        );
        assert_ne!(salts[0], salts[1]);
        h.records = 3;
        assert!(open_section(&h, &line, &ids, 1 << 20, "b").is_err());
    }
}
