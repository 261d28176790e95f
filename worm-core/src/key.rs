//! Object keys: the configurable layout and the sanitising of every part that goes in it.

use chrono::{DateTime, Datelike, Timelike, Utc};
use uuid::Uuid;

use crate::error::{Error, Result};

/// The original system's layout: `{prefix}/YYYY/MM/DD/{request_id}-{uuid}.json`.
pub const DEFAULT_TEMPLATE: &str = "{prefix}/{YYYY}/{MM}/{DD}/{request_id}-{uuid}{ext}";

/// The default layout when records are encrypted: the date and the batch id, nothing
/// taken from a record's content.
pub const ENCRYPTED_TEMPLATE: &str = "{prefix}/{YYYY}/{MM}/{DD}/{uuid}{ext}";

/// Default key prefix (`AWS_S3_PREFIX`).
pub const DEFAULT_PREFIX: &str = "audit-logs";

/// Longest single key part kept after sanitising; longer values are cut.
const MAX_PART: usize = 128;

/// Longest key accepted (S3's limit).
pub const MAX_KEY_LEN: usize = 1024;

/// Values a key is built from.
#[derive(Debug, Clone)]
pub struct KeyParts<'a> {
    /// Time of the batch's first record.
    pub time: DateTime<Utc>,
    /// The batch's first record's request id.
    pub request_id: Option<&'a str>,
    /// Service name.
    pub service: &'a str,
    /// Batch id.
    pub batch: Uuid,
    /// Stream id.
    pub stream: Uuid,
    /// Sequence number in the stream.
    pub seq: u64,
    /// File extension including the dot (`.json`, `.json.gz`, `.json.zst`).
    pub ext: &'a str,
}

/// A key layout with placeholders: `{prefix}`, `{YYYY}`, `{MM}`, `{DD}`, `{HH}`,
/// `{service}`, `{request_id}`, `{uuid}` (required: the batch id), `{stream}`, `{seq}`
/// and `{ext}`.
///
/// ```
/// use worm_core::key::{KeyTemplate, KeyParts};
/// let t = KeyTemplate::new(worm_core::key::DEFAULT_TEMPLATE, "audit-logs").unwrap();
/// let batch = uuid::Uuid::nil();
/// let key = t.render(&KeyParts {
///     time: "2025-06-12T10:30:00Z".parse().unwrap(),
///     request_id: Some("../../etc/passwd"),
///     service: "camera_service",
///     batch, stream: batch, seq: 0, ext: ".json",
/// });
/// assert_eq!(key, "audit-logs/2025/06/12/_.__._etc_passwd-00000000-0000-0000-0000-000000000000.json");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    template: String,
    prefix: String,
}

impl Default for KeyTemplate {
    fn default() -> Self {
        KeyTemplate {
            template: DEFAULT_TEMPLATE.to_string(),
            prefix: DEFAULT_PREFIX.to_string(),
        }
    }
}

impl KeyTemplate {
    /// Check and build a template. The template must contain `{uuid}` so that every key
    /// carries its batch id (the verifier relies on it to catch moved content).
    pub fn new(template: &str, prefix: &str) -> Result<Self> {
        if !template.contains("{uuid}") {
            return Err(Error::invalid(
                format!("key template '{template}'"),
                "must contain {uuid} (the batch id), so each object's key names its content",
            ));
        }
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let close = rest[open..].find('}').ok_or_else(|| {
                Error::invalid(format!("key template '{template}'"), "unclosed '{'")
            })?;
            let name = &rest[open + 1..open + close];
            if !matches!(
                name,
                "prefix"
                    | "YYYY"
                    | "MM"
                    | "DD"
                    | "HH"
                    | "service"
                    | "request_id"
                    | "uuid"
                    | "stream"
                    | "seq"
                    | "ext"
            ) {
                return Err(Error::invalid(
                    format!("key template '{template}'"),
                    format!("unknown placeholder {{{name}}}"),
                ));
            }
            rest = &rest[open + close + 1..];
        }
        Ok(KeyTemplate {
            template: template.to_string(),
            prefix: sanitize_prefix(prefix)?,
        })
    }

    /// The layout for encrypted records: [`ENCRYPTED_TEMPLATE`] in place of the default
    /// one; a custom layout naming `{request_id}` is refused, since the key would carry
    /// record content in the clear.
    pub fn without_record_content(&self) -> Result<Self> {
        if self.template == DEFAULT_TEMPLATE {
            return Ok(KeyTemplate {
                template: ENCRYPTED_TEMPLATE.to_string(),
                prefix: self.prefix.clone(),
            });
        }
        if self.template.contains("{request_id}") {
            return Err(Error::invalid(
                format!("key template '{}'", self.template),
                "names {request_id}, which would put record content in the key of an encrypted batch; leave it out",
            ));
        }
        Ok(self.clone())
    }

    /// The same template under another prefix (sanitised like [`new`](Self::new)'s).
    pub fn with_prefix(&self, prefix: &str) -> Result<Self> {
        Ok(KeyTemplate {
            template: self.template.clone(),
            prefix: sanitize_prefix(prefix)?,
        })
    }

    /// The sanitised prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The longest fixed start of every key: what to list to find this writer's objects.
    pub fn list_prefix(&self) -> String {
        let mut out = String::new();
        let mut rest = self.template.as_str();
        loop {
            let Some(open) = rest.find('{') else {
                out.push_str(rest);
                return out;
            };
            out.push_str(&rest[..open]);
            if !rest[open..].starts_with("{prefix}") {
                return out;
            }
            out.push_str(&self.prefix);
            rest = &rest[open + "{prefix}".len()..];
        }
    }

    /// Render a key. Every substituted value is sanitised, so no value can add a `/`,
    /// a `..` segment or a control character.
    pub fn render(&self, p: &KeyParts<'_>) -> String {
        let mut out = String::with_capacity(self.template.len() + 64);
        let mut rest = self.template.as_str();
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').map_or(rest.len(), |c| open + c);
            let name = &rest[open + 1..close];
            match name {
                "prefix" => out.push_str(&self.prefix),
                "YYYY" => out.push_str(&format!("{:04}", p.time.year())),
                "MM" => out.push_str(&format!("{:02}", p.time.month())),
                "DD" => out.push_str(&format!("{:02}", p.time.day())),
                "HH" => out.push_str(&format!("{:02}", p.time.hour())),
                "service" => out.push_str(&sanitize_part(Some(p.service))),
                "request_id" => out.push_str(&sanitize_part(p.request_id)),
                "uuid" => out.push_str(&p.batch.to_string()),
                "stream" => out.push_str(&p.stream.to_string()),
                "seq" => out.push_str(&format!("{:012}", p.seq)),
                "ext" => out.push_str(&sanitize_part(Some(p.ext))),
                _ => {}
            }
            rest = rest.get(close + 1..).unwrap_or("");
        }
        out.push_str(rest);
        out
    }
}

/// Whether `key` carries the batch id `batch` (hyphenated or simple, lower case), as every
/// key a writer makes does. A batch under a key without its id was moved or copied there.
pub fn carries_batch_id(key: &str, batch: Uuid) -> bool {
    let mut buf = Uuid::encode_buffer();
    key.contains(&*batch.hyphenated().encode_lower(&mut buf))
        || key.contains(&*batch.simple().encode_lower(&mut buf))
}

/// Make one key part safe: only `[A-Za-z0-9._-]` survive (others become `_`), no `..`
/// sequence, not empty (`none`), at most 128 bytes.
pub fn sanitize_part(v: Option<&str>) -> String {
    let v = v.unwrap_or("");
    let mut s: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(MAX_PART)
        .collect();
    while s.contains("..") {
        s = s.replace("..", "_.");
    }
    if s.is_empty() || s == "." {
        return "none".to_string();
    }
    s
}

/// Check a prefix: `/`-separated segments, each non-empty, made of `[A-Za-z0-9._-]`,
/// never `.` or `..`. Leading and trailing slashes are dropped.
pub fn sanitize_prefix(prefix: &str) -> Result<String> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    for seg in trimmed.split('/') {
        let ok = !seg.is_empty()
            && seg != "."
            && seg != ".."
            && seg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !ok {
            return Err(Error::invalid(
                format!("key prefix '{prefix}'"),
                format!(
                    "segment '{seg}' must be non-empty, not '.' or '..', and use only A-Z a-z 0-9 . _ -"
                ),
            ));
        }
    }
    Ok(trimmed.to_string())
}

/// Check that `key` is safe for every backend: not empty, at most 1024 bytes, no leading
/// or doubled `/`, no `.` or `..` segment, no control character or backslash.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(Error::invalid(
            format!("key '{}'", key.escape_debug()),
            reason,
        ))
    };
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > MAX_KEY_LEN {
        return bad("longer than 1024 bytes");
    }
    if key.starts_with('/') || key.ends_with('/') {
        return bad("must not start or end with '/'");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return bad("contains a control character or backslash");
    }
    if key
        .split('/')
        .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return bad("has an empty, '.' or '..' segment");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(rid: Option<&str>) -> KeyParts<'_> {
        KeyParts {
            time: "2025-06-12T10:30:00Z".parse().unwrap(),
            request_id: rid,
            service: "svc",
            batch: Uuid::nil(),
            stream: Uuid::nil(),
            seq: 7,
            ext: ".json",
        }
    }

    #[test]
    fn default_layout_matches_original() {
        let t = KeyTemplate::default();
        assert_eq!(
            t.render(&parts(Some("req-12345-abcde"))),
            "audit-logs/2025/06/12/req-12345-abcde-00000000-0000-0000-0000-000000000000.json"
        );
        assert_eq!(t.list_prefix(), "audit-logs/");
        assert!(t.render(&parts(None)).contains("/none-"));
    }

    #[test]
    fn hostile_request_ids_stay_in_their_segment() {
        let t = KeyTemplate::default();
        let long = "x".repeat(5000);
        for rid in [
            "../../etc/passwd",
            "/",
            "..",
            ".",
            "a/b",
            "\n\u{0}",
            "é",
            long.as_str(),
        ] {
            let k = t.render(&parts(Some(rid)));
            validate_key(&k).unwrap();
            assert_eq!(k.matches('/').count(), 4, "{k}");
            assert!(k.len() < 300);
        }
    }

    #[test]
    fn template_and_prefix_checks() {
        assert!(KeyTemplate::new("{prefix}/{seq}", "p").is_err());
        assert!(KeyTemplate::new("{prefix}/{nope}/{uuid}", "p").is_err());
        assert!(KeyTemplate::new("{prefix}/{uuid}", "a/../b").is_err());
        let t = KeyTemplate::new("{service}/{stream}/{seq}-{uuid}{ext}", "ignored").unwrap();
        assert_eq!(
            t.render(&parts(None)),
            "svc/00000000-0000-0000-0000-000000000000/000000000007-00000000-0000-0000-0000-000000000000.json"
        );
        assert!(validate_key("a//b").is_err());
        assert!(validate_key("a/./b").is_err());
        assert!(validate_key("ok/k ey+=@,;$&~!'()[]").is_ok());
    }
}
