//! Store URLs and opening them: a local directory, an S3 bucket, or memory.

use std::path::PathBuf;
use std::sync::Arc;

use worm::env::StoreEnv;
use worm::pipeline::{Target, TargetLocks};
use worm::verify::VersionSource;
use worm::{RetentionMode, WormSink};

use crate::cli::S3Args;
use crate::error::{CliError, CliResult};

/// Where a store is, as parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A local directory (a path or `file:///path`).
    Fs(PathBuf),
    /// An S3 bucket, with the key prefix from the URL path if any.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix (`None`: `AWS_S3_PREFIX` or `audit-logs`).
        prefix: Option<String>,
        /// The server, from `?endpoint=URL` (`None`: `--endpoint` or the environment).
        endpoint: Option<String>,
        /// The region, from `&region=R` (`None`: `--region` or the environment).
        region: Option<String>,
        /// This store's own lock settings, from `retention=`, `mode=` and `legal-hold=`.
        locks: UrlLocks,
    },
    /// An in-process store that vanishes on exit.
    Memory,
}

impl StoreUrl {
    /// Parse a store URL: `s3://bucket[/prefix]`, `file:///path`, `memory:`, or a path.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (rest, query) = match rest.split_once('?') {
                Some((r, q)) => (r, Some(q)),
                None => (rest, None),
            };
            let (mut endpoint, mut region) = (None, None);
            let mut locks = UrlLocks::default();
            for pair in query.into_iter().flat_map(|q| q.split('&')) {
                match pair.split_once('=') {
                    Some(("endpoint", v)) if !v.is_empty() => endpoint = Some(v.to_string()),
                    Some(("region", v)) if !v.is_empty() => region = Some(v.to_string()),
                    Some((k, v)) if locks.set(k, v)? => {}
                    _ => {
                        return Err(format!(
                            "unknown S3 URL parameter '{pair}' (use endpoint=URL, region=R, \
                             retention=DAYS|Nd|Ny|none, mode=governance|compliance or \
                             legal-hold=on|off)"
                        ));
                    }
                }
            }
            if locks.retention == Some(None) && locks.mode.is_some() {
                return Err(
                    "retention=none with mode=: no per-object retention has no mode (give \
                     retention=DAYS, or drop mode=)"
                        .into(),
                );
            }
            let (bucket, prefix) = match rest.split_once('/') {
                Some((b, p)) => (b, p.trim_matches('/')),
                None => (rest, ""),
            };
            if bucket.is_empty() {
                return Err("no bucket name after s3://".into());
            }
            return Ok(StoreUrl::S3 {
                bucket: bucket.to_string(),
                prefix: (!prefix.is_empty()).then(|| prefix.to_string()),
                endpoint,
                region,
                locks,
            });
        }
        if let Some(path) = s.strip_prefix("file://") {
            if path.contains('?') {
                return Err(
                    "file:// URLs take no parameters (a local directory keeps no \
                     retention or legal hold; see --immutable)"
                        .into(),
                );
            }
            if !path.starts_with('/') {
                return Err("file:// URLs need an absolute path (file:///var/lib/worm)".into());
            }
            return Ok(StoreUrl::Fs(PathBuf::from(path)));
        }
        if s == "memory:" || s == "memory://" {
            return Ok(StoreUrl::Memory);
        }
        if let Some((scheme, _)) = s.split_once("://") {
            return Err(format!(
                "unknown scheme '{scheme}://' (use a path, file://, s3:// or memory:)"
            ));
        }
        if s.is_empty() {
            return Err("empty store path".into());
        }
        Ok(StoreUrl::Fs(PathBuf::from(s)))
    }
}

/// Lock settings of one store, from its URL: `s3://bucket/prefix?retention=7y&mode=compliance`.
/// Each is optional; what is not given is the writer's (`--retention-days`, `--mode`,
/// the preset).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlLocks {
    /// `retention=`: days (`Some(Some(d))`), or `none` (`Some(None)`: no per-object
    /// retention, the bucket's default applies).
    pub retention: Option<Option<u32>>,
    /// `mode=governance|compliance`.
    pub mode: Option<RetentionMode>,
    /// `legal-hold=on|off`.
    pub legal_hold: Option<bool>,
}

impl UrlLocks {
    /// Take `key=value` if it is a lock setting: `Ok(false)` when the key is not one,
    /// an error naming the parameter when its value is bad.
    fn set(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let bad = |want: &str| format!("bad URL parameter '{key}={value}': expected {want}");
        match key {
            "retention" => {
                self.retention = Some(if value.eq_ignore_ascii_case("none") {
                    None
                } else {
                    Some(parse_days(value).ok_or_else(|| {
                        bad("days (30 or 30d), years (7y, 365.25 days each) or none")
                    })?)
                });
            }
            "mode" => {
                self.mode = Some(match value.to_ascii_lowercase().as_str() {
                    "governance" => RetentionMode::Governance,
                    "compliance" => RetentionMode::Compliance,
                    _ => return Err(bad("governance or compliance")),
                });
            }
            "legal-hold" | "legal_hold" => {
                self.legal_hold = Some(match value.to_ascii_lowercase().as_str() {
                    "on" | "true" | "1" => true,
                    "off" | "false" | "0" => false,
                    _ => return Err(bad("on or off")),
                });
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Whether the URL sets none of them (the store takes the writer's settings).
    pub fn is_empty(&self) -> bool {
        *self == UrlLocks::default()
    }

    /// The store's lock settings given the writer's retention and legal hold: `None` when
    /// the URL sets nothing (the writer's apply). A `mode=` alone keeps the writer's days
    /// (2557 when the writer sets none); a `retention=` alone keeps the writer's mode
    /// (governance when it sets none).
    pub fn resolve(
        &self,
        writer: Option<(RetentionMode, u32)>,
        writer_legal_hold: bool,
    ) -> Option<TargetLocks> {
        if self.is_empty() {
            return None;
        }
        let retention = match (self.retention, self.mode) {
            (Some(None), _) => None,
            (Some(Some(days)), mode) => {
                Some((mode.or(writer.map(|w| w.0)).unwrap_or_default(), days))
            }
            (None, Some(mode)) => Some((mode, writer.map_or(DEFAULT_RETENTION_DAYS, |w| w.1))),
            (None, None) => writer,
        };
        Some(TargetLocks {
            retention,
            legal_hold: self.legal_hold.unwrap_or(writer_legal_hold),
        })
    }
}

/// Days of retention when only a mode is given and the writer sets none: 7 years, as the
/// presets.
const DEFAULT_RETENTION_DAYS: u32 = 2557;

/// `30`, `30d` or `7y` (years of 365.25 days, rounded up: 7y is 2557 days); at least 1.
fn parse_days(v: &str) -> Option<u32> {
    let (num, years) = match v.strip_suffix(['y', 'Y']) {
        Some(n) => (n, true),
        None => (v.strip_suffix(['d', 'D']).unwrap_or(v), false),
    };
    let n: u32 = num.parse().ok().filter(|n| *n > 0)?;
    if years {
        let days = (f64::from(n) * 365.25).ceil();
        // At most 100 years, so the cast is exact.
        (n <= 100).then_some(days as u32)
    } else {
        Some(n)
    }
}

/// `url` without its lock parameters: the store's name in messages, stats and the
/// spool's per-target markers, which stays the same when only its lock settings change.
fn without_locks(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    if !url.starts_with("s3://") {
        return url.to_string();
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            !matches!(k, "retention" | "mode" | "legal-hold" | "legal_hold")
        })
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// An opened store.
#[derive(Debug, Clone)]
pub struct Store {
    /// The store as the user named it (for messages).
    pub name: String,
    /// The sink.
    pub sink: Arc<dyn WormSink>,
    /// What to list to find the audit objects (`""`: everything).
    pub list_prefix: String,
    /// Key prefix new batches are written under.
    pub write_prefix: String,
    /// Every object version and delete marker, where the store keeps versions (S3).
    pub versions: Option<Arc<dyn VersionSource>>,
    /// Lock settings of this store's own, from its URL (empty: the writer's).
    pub locks: UrlLocks,
}

impl Store {
    /// This store as a replication target: its name, and its URL's lock settings
    /// resolved against the writer's retention and legal hold.
    pub fn target(&self, writer: Option<(RetentionMode, u32)>, writer_legal_hold: bool) -> Target {
        let t = Target::from_arc(self.sink.clone()).name(self.name.clone());
        match self.locks.resolve(writer, writer_legal_hold) {
            Some(l) => t.locks(l),
            None => t,
        }
    }
}

/// Whether the store is opened to write (local directories are created) or only to read
/// (a missing directory is an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only: the store must exist.
    Read,
    /// Write: a local directory is created if missing.
    Write {
        /// Set the Linux immutable attribute on local files.
        immutable: bool,
    },
}

/// Open `url` (or the environment's default store, [`StoreEnv::default_store`], when
/// `None`).
pub fn open(url: Option<&str>, access: Access, s3: &S3Args) -> CliResult<Store> {
    let env = StoreEnv::from_env().map_err(|e| CliError::fatal(e.to_string()))?;
    let name = url.map_or_else(|| env.default_store(), str::to_string);
    let cannot =
        |e: &dyn std::fmt::Display| CliError::fatal(format!("cannot open store '{name}': {e}"));
    let parsed = StoreUrl::parse(&name).map_err(|e| cannot(&e))?;
    let name = without_locks(&name);
    let write_prefix = env.prefix.clone();
    match parsed {
        StoreUrl::Memory => Ok(Store {
            sink: Arc::new(worm::memory::MemorySink::new()),
            list_prefix: String::new(),
            write_prefix,
            versions: None,
            locks: UrlLocks::default(),
            name,
        }),
        StoreUrl::Fs(root) => {
            let immutable = matches!(access, Access::Write { immutable: true });
            let sink = worm::fs::FsSink::builder(&root)
                .create_root(access != Access::Read)
                .immutable(immutable)
                .build()
                .map_err(|e| cannot(&e))?;
            Ok(Store {
                sink: Arc::new(sink),
                // A local store is the whole directory: a plain copy of a bucket keeps its
                // keys' prefixes, and any foreign file in it deserves to be reported.
                list_prefix: String::new(),
                write_prefix,
                versions: None,
                locks: UrlLocks::default(),
                name,
            })
        }
        StoreUrl::S3 {
            bucket,
            prefix,
            endpoint,
            region,
            locks,
        } => {
            let s3 = S3Args {
                endpoint: endpoint.or_else(|| s3.endpoint.clone()),
                region: region.or_else(|| s3.region.clone()),
            };
            let mut store = open_s3(&env, name, bucket, prefix, &s3)?;
            store.locks = locks;
            Ok(store)
        }
    }
}

/// An S3 store: new batches go under the URL's prefix, else `AWS_S3_PREFIX`.
#[cfg(feature = "s3")]
fn open_s3(
    env: &StoreEnv,
    name: String,
    bucket: String,
    prefix: Option<String>,
    s3: &S3Args,
) -> CliResult<Store> {
    let cannot =
        |e: &dyn std::fmt::Display| CliError::fatal(format!("cannot open store '{name}': {e}"));
    let write_prefix = match prefix {
        Some(p) => worm::key::sanitize_prefix(&p).map_err(|e| cannot(&e))?,
        None => env.prefix.clone(),
    };
    let sink = Arc::new(
        s3_builder(env, &bucket, s3)
            .build()
            .map_err(|e| cannot(&e))?,
    );
    Ok(Store {
        versions: Some(sink.clone()),
        sink,
        list_prefix: if write_prefix.is_empty() {
            String::new()
        } else {
            format!("{write_prefix}/")
        },
        write_prefix,
        locks: UrlLocks::default(),
        name,
    })
}

#[cfg(not(feature = "s3"))]
fn open_s3(
    _env: &StoreEnv,
    name: String,
    _bucket: String,
    _prefix: Option<String>,
    _s3: &S3Args,
) -> CliResult<Store> {
    Err(CliError::fatal(format!(
        "cannot open store '{name}': this worm was built without S3 support (cargo feature `s3`)"
    )))
}

/// An S3 builder from the environment's settings, with the command line's bucket,
/// endpoint and region.
#[cfg(feature = "s3")]
pub fn s3_builder(env: &StoreEnv, bucket: &str, s3: &S3Args) -> worm::s3::S3SinkBuilder {
    let mut b = worm::s3::S3SinkBuilder::from_store_env(env).with_bucket(bucket);
    if let Some(e) = &s3.endpoint {
        b = b.with_endpoint(e);
    }
    if let Some(r) = &s3.region {
        b = b.with_region(r);
    }
    b
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            StoreUrl::parse("s3://b/x/y/").unwrap(),
            StoreUrl::S3 {
                bucket: "b".into(),
                prefix: Some("x/y".into()),
                endpoint: None,
                region: None,
                locks: UrlLocks::default(),
            }
        );
        assert_eq!(
            StoreUrl::parse("s3://b").unwrap(),
            StoreUrl::S3 {
                bucket: "b".into(),
                prefix: None,
                endpoint: None,
                region: None,
                locks: UrlLocks::default(),
            }
        );
        assert_eq!(
            StoreUrl::parse("s3://b/p?endpoint=http://127.0.0.1:8333&region=eu-1").unwrap(),
            StoreUrl::S3 {
                bucket: "b".into(),
                prefix: Some("p".into()),
                endpoint: Some("http://127.0.0.1:8333".into()),
                region: Some("eu-1".into()),
                locks: UrlLocks::default(),
            }
        );
        assert!(
            StoreUrl::parse("s3://b?acl=x")
                .unwrap_err()
                .contains("acl=x")
        );
        assert_eq!(
            StoreUrl::parse("file:///var/w").unwrap(),
            StoreUrl::Fs("/var/w".into())
        );
        assert_eq!(StoreUrl::parse("./d").unwrap(), StoreUrl::Fs("./d".into()));
        assert_eq!(StoreUrl::parse("memory:").unwrap(), StoreUrl::Memory);
        assert!(StoreUrl::parse("s3://").is_err());
        assert!(StoreUrl::parse("file://rel").is_err());
        assert!(StoreUrl::parse("gs://b").unwrap_err().contains("gs://"));
        assert!(StoreUrl::parse("file:///w?retention=1").is_err());
    }

    fn locks_of(url: &str) -> UrlLocks {
        match StoreUrl::parse(url).unwrap() {
            StoreUrl::S3 { locks, .. } => locks,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lock_parameters() {
        use RetentionMode::{Compliance, Governance};
        let l = locks_of("s3://b/p?retention=7y&mode=compliance&legal-hold=on");
        assert_eq!(
            l.resolve(Some((Governance, 30)), false),
            Some(TargetLocks {
                retention: Some((Compliance, 2557)),
                legal_hold: true,
            })
        );
        // What the URL does not set is the writer's.
        let writer = Some((Compliance, 30));
        assert_eq!(
            locks_of("s3://b?retention=10d").resolve(writer, false),
            Some(TargetLocks {
                retention: Some((Compliance, 10)),
                legal_hold: false,
            })
        );
        assert_eq!(
            locks_of("s3://b?mode=governance").resolve(writer, true),
            Some(TargetLocks {
                retention: Some((Governance, 30)),
                legal_hold: true,
            })
        );
        assert_eq!(
            locks_of("s3://b?retention=none").resolve(writer, false),
            Some(TargetLocks {
                retention: None,
                legal_hold: false,
            })
        );
        assert_eq!(
            locks_of("s3://b?endpoint=http://h:1").resolve(writer, false),
            None
        );
        assert_eq!(locks_of("s3://b?retention=1y").retention, Some(Some(366)));
        for (url, param) in [
            ("s3://b?retention=7x", "retention=7x"),
            ("s3://b?retention=0", "retention=0"),
            ("s3://b?retention=", "retention="),
            ("s3://b?mode=strict", "mode=strict"),
            ("s3://b?legal-hold=maybe", "legal-hold=maybe"),
            ("s3://b?retention=none&mode=compliance", "retention=none"),
            ("s3://b?retain=1", "retain=1"),
        ] {
            let e = StoreUrl::parse(url).unwrap_err();
            assert!(e.contains(param), "{url}: {e}");
        }
        assert_eq!(
            without_locks("s3://b/p?endpoint=http://h:1&retention=7y&mode=compliance"),
            "s3://b/p?endpoint=http://h:1"
        );
        assert_eq!(without_locks("s3://b/p?retention=7y"), "s3://b/p");
        assert_eq!(without_locks("./d?x"), "./d?x");
    }
}
