//! [`S3SinkBuilder`]: configuration from the environment and code.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::client::HttpConnector;
use object_store::{ClientOptions, RetryConfig};
use worm_core::env::StoreEnv;
use worm_core::{Error, Result};

use crate::error::error_chain;
use crate::http::Connector;
use crate::request::{Parts, S3Client};
use crate::setup::S3Setup;
use crate::sink::S3Sink;

/// Builds an [`S3Sink`] (or an [`S3Setup`]) for one bucket.
///
/// It holds only store settings: where the bucket is and how to reach it. What a writer
/// puts on each object (key prefix, retention) is the writer's
/// ([`AuditLogBuilder`](worm_core::AuditLogBuilder)); the bucket's default retention is
/// [`S3Setup`]'s.
///
/// [`from_env`](Self::from_env) reads `AWS_S3_BUCKET`, `AWS_REGION`, `AWS_ENDPOINT_URL`
/// and `AWS_ALLOW_HTTP` through [`worm_core::env`], and every standard AWS credential
/// source object_store knows: `AWS_ACCESS_KEY_ID` /
/// `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, web identity (`AWS_WEB_IDENTITY_TOKEN_FILE`
/// + `AWS_ROLE_ARN`), ECS/EKS container credentials and the EC2 instance metadata service.
///
/// Plain `http://` endpoints are refused unless they are loopback (`127.0.0.1`,
/// `localhost`, `[::1]`) or [`with_allow_http`](Self::with_allow_http) (or
/// `AWS_ALLOW_HTTP=true`) says so. Custom endpoints use path-style addressing
/// (`http://host:port/bucket/key`).
#[derive(Debug, Clone)]
pub struct S3SinkBuilder {
    store: AmazonS3Builder,
    bucket: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    allow_http: bool,
    require_worm: bool,
    timeout: Duration,
    connect_timeout: Duration,
}

impl Default for S3SinkBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl S3SinkBuilder {
    /// A builder that reads nothing from the environment (credentials still come from
    /// object_store's chain unless [`with_credentials`](Self::with_credentials) is used).
    pub fn new() -> Self {
        S3SinkBuilder {
            store: AmazonS3Builder::new(),
            bucket: None,
            region: None,
            endpoint: None,
            allow_http: false,
            require_worm: true,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Read the bucket, region, endpoint and `AWS_ALLOW_HTTP` from the environment
    /// ([`StoreEnv`]) and credentials from object_store's chain. A malformed value is an
    /// error naming the variable.
    pub fn from_env() -> Result<Self> {
        Ok(Self::from_store_env(&StoreEnv::from_env()?))
    }

    /// [`from_env`](Self::from_env) with settings already read; credentials still come from
    /// object_store's chain.
    pub fn from_store_env(env: &StoreEnv) -> Self {
        let store = AmazonS3Builder::from_env();
        let or_store = |v: &Option<String>, k: AmazonS3ConfigKey| {
            v.clone().or_else(|| store.get_config_value(&k))
        };
        let bucket = or_store(&env.bucket, AmazonS3ConfigKey::Bucket);
        let region = or_store(&env.region, AmazonS3ConfigKey::Region);
        let endpoint = or_store(&env.endpoint, AmazonS3ConfigKey::Endpoint);
        S3SinkBuilder {
            store,
            bucket,
            region,
            endpoint,
            allow_http: env.allow_http,
            ..Self::new()
        }
    }

    /// The bucket.
    pub fn with_bucket(mut self, bucket: impl Into<String>) -> Self {
        self.bucket = Some(bucket.into());
        self
    }

    /// The region (default `us-east-1`); S3-compatible servers usually accept any.
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// An S3-compatible endpoint such as `http://127.0.0.1:7480` (path-style addressing).
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Allow a plain-HTTP endpoint that is not loopback. Credentials are still signed, but
    /// audit records travel unencrypted: only for trusted networks.
    pub fn with_allow_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Static credentials (instead of the environment / role chain).
    pub fn with_credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.store = self
            .store
            .with_access_key_id(access_key_id)
            .with_secret_access_key(secret_access_key);
        self
    }

    /// A session token to go with [`with_credentials`](Self::with_credentials).
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.store = self.store.with_token(token);
        self
    }

    /// Whether [`preflight`](worm_core::WormSink::preflight) must find versioning and
    /// Object Lock on the bucket (default `true`). With `false`, a bucket without them is
    /// accepted with a warning and objects are written without lock headers, like the
    /// original handler did; [`capabilities`](worm_core::WormSink::capabilities) then say
    /// [`Immutability::None`](worm_core::Immutability::None).
    pub fn require_worm(mut self, require: bool) -> Self {
        self.require_worm = require;
        self
    }

    /// Timeout of one request (default 60 s) and of connecting (default 5 s).
    pub fn with_timeouts(mut self, request: Duration, connect: Duration) -> Self {
        self.timeout = request;
        self.connect_timeout = connect;
        self
    }

    /// The bucket configured so far.
    pub fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }

    /// The endpoint configured so far (`None`: AWS).
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// Build the sink. Nothing is sent yet; call
    /// [`preflight`](worm_core::WormSink::preflight) to check the bucket.
    pub fn build(self) -> Result<S3Sink> {
        let parts = self.parts()?;
        Ok(S3Sink::new(parts))
    }

    /// Build an [`S3Setup`] for creating and verifying the bucket.
    pub fn build_setup(self) -> Result<S3Setup> {
        let parts = self.parts()?;
        Ok(S3Setup::new(parts))
    }

    fn parts(self) -> Result<Parts> {
        let bucket = self
            .bucket
            .clone()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                Error::invalid(
                    "S3 bucket",
                    "not set: set AWS_S3_BUCKET or call with_bucket(..)",
                )
            })?;
        validate_bucket(&bucket)?;
        let region = self
            .region
            .clone()
            .unwrap_or_else(|| "us-east-1".to_string());
        let (bucket_url, http) = match &self.endpoint {
            Some(ep) => {
                let ep = ep.trim_end_matches('/');
                let http = check_endpoint(ep, self.allow_http)?;
                (format!("{ep}/{bucket}"), http)
            }
            // Virtual-hosted style on AWS, except for dotted names (TLS wildcard mismatch).
            None if bucket.contains('.') => {
                (format!("https://s3.{region}.amazonaws.com/{bucket}"), false)
            }
            None => (format!("https://{bucket}.s3.{region}.amazonaws.com"), false),
        };

        let options = ClientOptions::new()
            .with_allow_http(http)
            .with_timeout(self.timeout)
            .with_connect_timeout(self.connect_timeout);
        // No retries inside the provider: the pipeline retries with backoff and jitter.
        // This covers the credential providers (STS, IMDS) object_store drives for us.
        let retry = RetryConfig {
            max_retries: 0,
            retry_timeout: self.timeout,
            ..RetryConfig::default()
        };
        let mut store = self
            .store
            .clone()
            .with_bucket_name(&bucket)
            .with_region(&region)
            .with_client_options(options.clone())
            .with_http_connector(Connector { plain: http })
            .with_retry(retry);
        if let Some(ep) = &self.endpoint {
            store = store
                .with_endpoint(ep.trim_end_matches('/'))
                .with_allow_http(http)
                .with_virtual_hosted_style_request(false);
        }
        let store = store
            .build()
            .map_err(|e| Error::invalid("S3 configuration", error_chain(&e)))?;
        let http_client = Connector { plain: http }
            .connect(&options)
            .map_err(|e| Error::invalid("S3 HTTP client", error_chain(&e)))?;
        let client = S3Client {
            http: http_client,
            credentials: Arc::clone(store.credentials()),
            region,
            bucket,
            bucket_url,
        };
        Ok(Parts {
            client,
            store,
            require_worm: self.require_worm,
            endpoint: self.endpoint.clone(),
        })
    }
}

/// S3 bucket naming rules that matter for building URLs.
fn validate_bucket(b: &str) -> Result<()> {
    let ok = (3..=63).contains(&b.len())
        && b.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
        && b.as_bytes()[0].is_ascii_alphanumeric()
        && b.as_bytes()[b.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            format!("S3 bucket name '{b}'"),
            "use 3-63 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
        ))
    }
}

/// `https://` always; `http://` only to loopback or when explicitly allowed. Returns
/// whether the endpoint is plain HTTP.
fn check_endpoint(ep: &str, allow_http: bool) -> Result<bool> {
    let bad = |why: &str| {
        Err(Error::invalid(
            format!("S3 endpoint '{ep}'"),
            why.to_string(),
        ))
    };
    let (http, rest) = if let Some(r) = ep.strip_prefix("https://") {
        (false, r)
    } else if let Some(r) = ep.strip_prefix("http://") {
        (true, r)
    } else {
        return bad("must start with https:// (or http:// for a local test server)");
    };
    let authority = rest.split('/').next().unwrap_or("");
    if authority.is_empty() {
        return bad("has no host");
    }
    if rest.contains('/') {
        return bad("must be scheme://host[:port] only; the bucket goes in AWS_S3_BUCKET");
    }
    let host = if authority.starts_with('[') {
        authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    let loopback = host == "localhost" || host == "[::1]" || host.starts_with("127.");
    if http && !loopback && !allow_http {
        return bad(
            "is plain HTTP to a non-loopback host: audit records would travel unencrypted; \
             use https://, or with_allow_http(true) / AWS_ALLOW_HTTP=true on a trusted network",
        );
    }
    Ok(http)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert!(!check_endpoint("https://s3.example.com", false).unwrap());
        assert!(check_endpoint("http://127.0.0.1:7480", false).unwrap());
        assert!(check_endpoint("http://localhost:8333", false).unwrap());
        assert!(check_endpoint("http://[::1]:8333", false).unwrap());
        let e = check_endpoint("http://10.0.0.5:9000", false).unwrap_err();
        assert!(e.to_string().contains("plain HTTP"), "{e}");
        assert!(check_endpoint("http://10.0.0.5:9000", true).unwrap());
        assert!(check_endpoint("ftp://x", true).is_err());
        assert!(check_endpoint("http://127.0.0.1:7480/bucket", true).is_err());
    }

    #[test]
    fn build_needs_a_valid_bucket() {
        let e = S3SinkBuilder::new().build().unwrap_err();
        assert!(e.to_string().contains("AWS_S3_BUCKET"), "{e}");
        assert!(
            S3SinkBuilder::new()
                .with_bucket("Bad_Name")
                .build()
                .is_err()
        );
        let b = S3SinkBuilder::new()
            .with_bucket("audit")
            .with_endpoint("http://127.0.0.1:7480/")
            .with_credentials("k", "s");
        let sink = b.build().unwrap();
        assert_eq!(worm_core::WormSink::describe(&sink), "s3://audit");
    }
}
