//! Store URLs and opening them: a local directory, an S3 bucket, or memory.

use std::path::PathBuf;
use std::sync::Arc;

use worm::WormSink;
use worm::env::StoreEnv;
use worm::verify::VersionSource;

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
            for pair in query.into_iter().flat_map(|q| q.split('&')) {
                match pair.split_once('=') {
                    Some(("endpoint", v)) if !v.is_empty() => endpoint = Some(v.to_string()),
                    Some(("region", v)) if !v.is_empty() => region = Some(v.to_string()),
                    _ => {
                        return Err(format!(
                            "unknown S3 URL parameter '{pair}' (use endpoint=URL or region=R)"
                        ));
                    }
                }
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
            });
        }
        if let Some(path) = s.strip_prefix("file://") {
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
    let write_prefix = env.prefix.clone();
    match parsed {
        StoreUrl::Memory => Ok(Store {
            sink: Arc::new(worm::memory::MemorySink::new()),
            list_prefix: String::new(),
            write_prefix,
            versions: None,
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
                name,
            })
        }
        StoreUrl::S3 {
            bucket,
            prefix,
            endpoint,
            region,
        } => {
            let s3 = S3Args {
                endpoint: endpoint.or_else(|| s3.endpoint.clone()),
                region: region.or_else(|| s3.region.clone()),
            };
            open_s3(&env, name, bucket, prefix, &s3)
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
            }
        );
        assert_eq!(
            StoreUrl::parse("s3://b").unwrap(),
            StoreUrl::S3 {
                bucket: "b".into(),
                prefix: None,
                endpoint: None,
                region: None,
            }
        );
        assert_eq!(
            StoreUrl::parse("s3://b/p?endpoint=http://127.0.0.1:8333&region=eu-1").unwrap(),
            StoreUrl::S3 {
                bucket: "b".into(),
                prefix: Some("p".into()),
                endpoint: Some("http://127.0.0.1:8333".into()),
                region: Some("eu-1".into()),
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
    }
}
