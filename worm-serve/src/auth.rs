//! Bearer tokens and the services each may write (`--tokens FILE`).
//!
//! The file has one token per line: the token, white space, then the services it may write,
//! separated by commas (`*`: any). Blank lines and lines starting with `#` are skipped.
//!
//! ```text
//! # token                            services
//! 3f9c0a7e51d24b8e9a6f0c1d2e3f4a5b   billing
//! 9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a   camera_service,camera_uploader
//! ```
//!
//! Only SHA-256 hashes of the tokens are kept in memory, and a presented token is
//! compared with every one of them in constant time, so the reply time tells nothing about
//! how much of a token was right, nor which line matched.

use std::path::Path;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Shortest token accepted in the file (bytes).
pub const MIN_TOKEN_LEN: usize = 16;

/// Which services a token may write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Any service.
    Any,
    /// Only these.
    Services(Vec<String>),
}

impl Scope {
    /// Whether the token may write into `service`'s stream.
    pub fn allows(&self, service: &str) -> bool {
        match self {
            Scope::Any => true,
            Scope::Services(s) => s.iter().any(|x| x == service),
        }
    }

    /// The one service this scope allows, if it allows exactly one.
    pub fn only(&self) -> Option<&str> {
        match self {
            Scope::Services(s) if s.len() == 1 => Some(&s[0]),
            _ => None,
        }
    }
}

/// The tokens of a `--tokens` file.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<([u8; 32], Scope)>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish()
    }
}

impl Tokens {
    /// Read a tokens file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the tokens file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("tokens file {}: {e}", path.display()))
    }

    /// Parse the text of a tokens file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let n = i + 1;
            let mut parts = line.split_whitespace();
            let (Some(token), Some(services), None) = (parts.next(), parts.next(), parts.next())
            else {
                return Err(format!(
                    "line {n}: expected 'TOKEN SERVICE[,SERVICE…]' (or 'TOKEN *')"
                ));
            };
            if token.len() < MIN_TOKEN_LEN {
                return Err(format!(
                    "line {n}: the token is {} bytes; at least {MIN_TOKEN_LEN} are required",
                    token.len()
                ));
            }
            let scope = if services == "*" {
                Scope::Any
            } else {
                let list: Vec<String> = services.split(',').map(str::to_string).collect();
                if let Some(bad) = list.iter().find(|s| !crate::streams::valid_service(s)) {
                    return Err(format!(
                        "line {n}: '{bad}' is not a service name (1 to 128 of A-Z a-z 0-9 . _ -)"
                    ));
                }
                Scope::Services(list)
            };
            let hash = hash(token);
            if entries.iter().any(|(h, _)| *h == hash) {
                return Err(format!("line {n}: this token is listed twice"));
            }
            entries.push((hash, scope));
        }
        if entries.is_empty() {
            return Err("no tokens".into());
        }
        Ok(Tokens { entries })
    }

    /// The scope of the token in an `Authorization: Bearer TOKEN` value, if it is one of
    /// ours. Every entry is compared, in constant time.
    pub fn check(&self, authorization: Option<&[u8]>) -> Option<Scope> {
        let token = authorization?.strip_prefix(b"Bearer ")?;
        let presented: [u8; 32] = Sha256::digest(token).into();
        let mut found = None;
        for (h, scope) in &self.entries {
            if bool::from(h.ct_eq(&presented)) {
                found = Some(scope.clone());
            }
        }
        found
    }
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn scopes_and_refusals() {
        let t = Tokens::parse(
            "# comment\n\nbilling-token-0123456789 billing\nadmin-token-0123456789ab *\n",
        )
        .unwrap();
        let b = t.check(Some(b"Bearer billing-token-0123456789")).unwrap();
        assert!(b.allows("billing") && !b.allows("camera_service"));
        assert_eq!(b.only(), Some("billing"));
        assert_eq!(
            t.check(Some(b"Bearer admin-token-0123456789ab")),
            Some(Scope::Any)
        );
        assert_eq!(t.check(Some(b"Bearer billing-token-012345678")), None);
        assert_eq!(t.check(Some(b"billing-token-0123456789")), None);
        assert_eq!(t.check(None), None);
        assert!(
            Tokens::parse("short billing")
                .unwrap_err()
                .contains("line 1")
        );
        assert!(
            Tokens::parse("0123456789abcdef0 a/b")
                .unwrap_err()
                .contains("'a/b'")
        );
        assert!(
            Tokens::parse("0123456789abcdef0")
                .unwrap_err()
                .contains("expected")
        );
        assert!(Tokens::parse("# only\n").unwrap_err().contains("no tokens"));
    }
}
