//! The one reader of worm's environment variables: `worm::init`, the `worm` command and
//! `S3SinkBuilder::from_env` all take their settings from here, so they agree on what
//! a variable means (one parser for booleans, one for the prefix).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ENABLE_WORM_LOGGING` | store audit records in WORM storage (`true`/`1`/`yes`/`on`) | off |
//! | `LOG_LEVEL` | lowest level logged (console and WORM) | `INFO` |
//! | `AWS_S3_BUCKET` | S3 bucket; when unset, a local directory is used | — |
//! | `AWS_S3_PREFIX` | key prefix of new batches | `audit-logs` |
//! | `AWS_REGION` (or `AWS_DEFAULT_REGION`) | S3 region | `us-east-1` |
//! | `AWS_ENDPOINT_URL` | S3-compatible endpoint (MinIO, Ceph, …) | AWS |
//! | `AWS_ALLOW_HTTP` | allow plain `http://` to a non-loopback endpoint (booleans as above) | off |
//! | `WORM_DIR` | local store directory when no bucket is set | `./worm-data` |
//!
//! AWS credentials (`AWS_ACCESS_KEY_ID`, web identity, container and instance
//! credentials) are read by object_store's credential chain, not here.

use crate::error::{Error, Result};
use crate::key::{DEFAULT_PREFIX, sanitize_prefix};
use crate::record::Level;

/// Where audit objects are stored, from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreEnv {
    /// `AWS_S3_BUCKET`.
    pub bucket: Option<String>,
    /// `AWS_S3_PREFIX` (sanitised): the key prefix of new batches.
    pub prefix: String,
    /// `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    pub region: Option<String>,
    /// `AWS_ENDPOINT_URL`.
    pub endpoint: Option<String>,
    /// `AWS_ALLOW_HTTP`.
    pub allow_http: bool,
    /// `WORM_DIR`.
    pub dir: String,
}

impl StoreEnv {
    /// Read the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read from any lookup function (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let prefix = match var("AWS_S3_PREFIX") {
            None => DEFAULT_PREFIX.to_string(),
            Some(p) => sanitize_prefix(&p)
                .map_err(|e| Error::invalid(format!("AWS_S3_PREFIX='{p}'"), e.to_string()))?,
        };
        Ok(StoreEnv {
            bucket: var("AWS_S3_BUCKET"),
            prefix,
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            endpoint: var("AWS_ENDPOINT_URL"),
            allow_http: flag(&var, "AWS_ALLOW_HTTP")?,
            dir: var("WORM_DIR").unwrap_or_else(|| "./worm-data".into()),
        })
    }

    /// The default store: `s3://<bucket>` when a bucket is set, else the directory.
    pub fn default_store(&self) -> String {
        match &self.bucket {
            Some(b) => format!("s3://{b}"),
            None => self.dir.clone(),
        }
    }
}

/// What `worm::init` reads: whether and at what level to log, and where to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvConfig {
    /// `ENABLE_WORM_LOGGING`.
    pub enable_worm: bool,
    /// `LOG_LEVEL`.
    pub log_level: Level,
    /// Where audit objects go.
    pub store: StoreEnv,
}

impl EnvConfig {
    /// Read the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Read from any lookup function (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let var = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let log_level = match var("LOG_LEVEL") {
            None => Level::Info,
            Some(v) => v.parse().map_err(|_| {
                Error::invalid(
                    format!("LOG_LEVEL='{v}'"),
                    "expected TRACE, DEBUG, INFO, WARN or ERROR",
                )
            })?,
        };
        Ok(EnvConfig {
            enable_worm: flag(&var, "ENABLE_WORM_LOGGING")?,
            log_level,
            store: StoreEnv::from_lookup(&get)?,
        })
    }
}

/// A boolean variable: unset is false; anything but the words below is an error naming it.
fn flag(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<bool> {
    match var(name) {
        None => Ok(false),
        Some(v) => parse_bool(&v).ok_or_else(|| {
            Error::invalid(
                format!("{name}='{v}'"),
                "expected true/false, 1/0, yes/no or on/off",
            )
        }),
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
            (
                d.log_level,
                d.store.prefix.as_str(),
                d.store.bucket.as_deref()
            ),
            (Level::Info, "audit-logs", None)
        );
        assert_eq!(d.store.default_store(), "./worm-data");
        let c = cfg(&[
            ("ENABLE_WORM_LOGGING", "TRUE"),
            ("LOG_LEVEL", "warning"),
            ("AWS_S3_BUCKET", "b"),
            ("AWS_S3_PREFIX", "/x/y/"),
            ("AWS_DEFAULT_REGION", "eu-west-1"),
            ("AWS_ALLOW_HTTP", "on"),
        ])
        .unwrap();
        assert!(c.enable_worm);
        assert_eq!(
            (
                c.log_level,
                c.store.prefix.as_str(),
                c.store.bucket.as_deref()
            ),
            (Level::Warn, "x/y", Some("b"))
        );
        assert_eq!(c.store.region.as_deref(), Some("eu-west-1"));
        assert!(c.store.allow_http);
        assert_eq!(c.store.default_store(), "s3://b");
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
            cfg(&[("AWS_ALLOW_HTTP", "yes please")])
                .unwrap_err()
                .to_string()
                .contains("AWS_ALLOW_HTTP")
        );
        assert!(
            cfg(&[("AWS_S3_PREFIX", "a/../b")])
                .unwrap_err()
                .to_string()
                .contains("AWS_S3_PREFIX")
        );
    }
}
