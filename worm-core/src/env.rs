//! The original system's environment variables.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ENABLE_WORM_LOGGING` | store audit records in WORM storage (`true`/`1`/`yes`/`on`) | off |
//! | `LOG_LEVEL` | lowest level logged (console and WORM) | `INFO` |
//! | `AWS_S3_BUCKET` | S3 bucket; when unset, a local directory is used | — |
//! | `AWS_S3_PREFIX` | key prefix | `audit-logs` |
//! | `AWS_REGION` | S3 region | `us-east-1` |
//! | `AWS_ENDPOINT_URL` | S3-compatible endpoint (MinIO, Ceph, …) | AWS |
//! | `WORM_DIR` | local store directory when no bucket is set | `./worm-data` |

use crate::error::{Error, Result};
use crate::key::{DEFAULT_PREFIX, sanitize_prefix};
use crate::record::Level;

/// Settings read from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConfig {
    /// `ENABLE_WORM_LOGGING`.
    pub enable_worm: bool,
    /// `LOG_LEVEL`.
    pub log_level: Level,
    /// `AWS_S3_BUCKET`.
    pub bucket: Option<String>,
    /// `AWS_S3_PREFIX` (sanitised).
    pub prefix: String,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// `WORM_DIR`.
    pub dir: String,
}

impl EnvConfig {
    /// Read the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read from any lookup function (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let non_empty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let enable_worm = match non_empty("ENABLE_WORM_LOGGING") {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| {
                Error::invalid(
                    format!("ENABLE_WORM_LOGGING='{v}'"),
                    "expected true/false, 1/0, yes/no or on/off",
                )
            })?,
        };
        let log_level = match non_empty("LOG_LEVEL") {
            None => Level::Info,
            Some(v) => v.parse().map_err(|_| {
                Error::invalid(
                    format!("LOG_LEVEL='{v}'"),
                    "expected TRACE, DEBUG, INFO, WARN or ERROR",
                )
            })?,
        };
        let prefix = match non_empty("AWS_S3_PREFIX") {
            None => DEFAULT_PREFIX.to_string(),
            Some(p) => sanitize_prefix(&p)
                .map_err(|e| Error::invalid(format!("AWS_S3_PREFIX='{p}'"), e.to_string()))?,
        };
        Ok(EnvConfig {
            enable_worm,
            log_level,
            bucket: non_empty("AWS_S3_BUCKET"),
            prefix,
            region: non_empty("AWS_REGION"),
            endpoint: non_empty("AWS_ENDPOINT_URL"),
            dir: non_empty("WORM_DIR").unwrap_or_else(|| "./worm-data".into()),
        })
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<EnvConfig> {
        let m: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        EnvConfig::from_lookup(|k| m.get(k).cloned())
    }

    #[test]
    fn defaults_and_values() {
        let d = cfg(&[]).unwrap();
        assert!(!d.enable_worm);
        assert_eq!(
            (d.log_level, d.prefix.as_str(), d.bucket),
            (Level::Info, "audit-logs", None)
        );
        let c = cfg(&[
            ("ENABLE_WORM_LOGGING", "TRUE"),
            ("LOG_LEVEL", "warning"),
            ("AWS_S3_BUCKET", "b"),
            ("AWS_S3_PREFIX", "/x/y/"),
        ])
        .unwrap();
        assert!(c.enable_worm);
        assert_eq!(
            (c.log_level, c.prefix.as_str(), c.bucket.as_deref()),
            (Level::Warn, "x/y", Some("b"))
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        assert!(
            cfg(&[("ENABLE_WORM_LOGGING", "maybe")])
                .unwrap_err()
                .to_string()
                .contains("ENABLE_WORM_LOGGING")
        );
        assert!(
            cfg(&[("LOG_LEVEL", "loud")])
                .unwrap_err()
                .to_string()
                .contains("LOG_LEVEL")
        );
        assert!(
            cfg(&[("AWS_S3_PREFIX", "a/../b")])
                .unwrap_err()
                .to_string()
                .contains("AWS_S3_PREFIX")
        );
    }
}
