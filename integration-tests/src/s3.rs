//! The S3 test environment: which server, which credentials, a fresh bucket per run.
//!
//! - `WORM_TEST_S3_ENDPOINT` (+ `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, optional
//!   `AWS_DEFAULT_REGION`) selects a running server, e.g. from
//!   `eval "$(scripts/s3-server.sh env ceph)"`;
//! - otherwise, with the cargo feature `docker` and a Docker engine, testcontainers starts
//!   one server for the test process (SeaweedFS from the local image `scripts/s3-image.sh`
//!   builds, or MinIO when its image is present: see the `docker` module, feature `docker`);
//! - otherwise every S3 test prints `skipped: no S3 server (set WORM_TEST_S3_ENDPOINT)` and
//!   passes — unless `WORM_TEST_REQUIRE_S3=1`, which turns the skip into a failure (CI).
//!
//! Each test binary creates its own bucket (`worm-it-<uuid>`, Object Lock on, through
//! [`S3Setup`]); each test or conformance case writes under its own fresh prefix.

use std::sync::OnceLock;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::OnceCell;
use worm_core::testing::{Setup, Tamper};
use worm_core::{Error, Result};
use worm_s3::{S3Setup, S3Sink, S3SinkBuilder};

/// How to reach the S3 server under test.
#[derive(Debug, Clone)]
pub struct S3Env {
    /// `http://127.0.0.1:7480`.
    pub endpoint: String,
    /// Access key id.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
    /// Region (`us-east-1` unless `AWS_DEFAULT_REGION` / `AWS_REGION` say otherwise).
    pub region: String,
    /// Which server, for messages (`WORM_TEST_S3_SERVER`, or the container's image).
    pub server: String,
}

const SKIP: &str = "skipped: no S3 server (set WORM_TEST_S3_ENDPOINT)";

impl S3Env {
    /// The environment, or `None` (with the skip message printed) when no server is
    /// configured. Panics when `WORM_TEST_REQUIRE_S3=1` and there is none.
    pub fn get() -> Option<S3Env> {
        static ENV: OnceLock<Option<S3Env>> = OnceLock::new();
        let env = ENV.get_or_init(|| from_env().or_else(from_docker)).clone();
        if env.is_none() {
            if std::env::var("WORM_TEST_REQUIRE_S3").is_ok_and(|v| v == "1") {
                panic!(
                    "WORM_TEST_REQUIRE_S3=1 but no S3 server: set WORM_TEST_S3_ENDPOINT (scripts/s3-server.sh env ceph), \
                     or test with --features docker and a Docker engine"
                );
            }
            eprintln!("{SKIP}");
        }
        env
    }

    /// The variables a child process (`worm`) needs for this server: the endpoint is
    /// passed as `--endpoint`, credentials and region through the standard AWS variables.
    pub fn credential_vars(&self) -> [(&'static str, &str); 3] {
        [
            ("AWS_ACCESS_KEY_ID", &self.access_key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret_key),
            ("AWS_DEFAULT_REGION", &self.region),
        ]
    }

    /// A sink builder for `bucket` on this server (static credentials, no env lookup).
    pub fn builder(&self, bucket: &str) -> S3SinkBuilder {
        S3SinkBuilder::new()
            .with_endpoint(&self.endpoint)
            .with_region(&self.region)
            .with_credentials(&self.access_key, &self.secret_key)
            .with_bucket(bucket)
    }

    /// A setup for `bucket` as the tests use it: Object Lock and default retention, no
    /// bucket policy (its TLS rule would refuse every request to a plain-HTTP test server,
    /// and its delete rule would hide whether Object Lock itself refuses deletes), no
    /// lifecycle.
    pub fn test_setup(&self, bucket: &str) -> S3Setup {
        self.builder(bucket)
            .build_setup()
            .expect("building an S3Setup for the test server")
            .with_policy(false)
            .with_lifecycle(false)
    }

    /// A new bucket with Object Lock, created through [`S3Setup`].
    pub async fn fresh_bucket(&self) -> String {
        let bucket = unique_bucket();
        let report = self.test_setup(&bucket).apply().await.unwrap_or_else(|e| {
            panic!("creating test bucket '{bucket}' at {}: {e}", self.endpoint)
        });
        for s in &report.steps {
            assert!(
                !matches!(s.outcome, worm_s3::StepOutcome::Failed { .. }),
                "setting up test bucket '{bucket}': {s:?}"
            );
        }
        bucket
    }

    /// This test binary's shared bucket (created once).
    pub async fn shared_bucket(&self) -> String {
        static BUCKET: OnceCell<String> = OnceCell::const_new();
        BUCKET.get_or_init(|| self.fresh_bucket()).await.clone()
    }

    /// A preflighted sink on the shared bucket.
    pub async fn sink(&self) -> S3Sink {
        let bucket = self.shared_bucket().await;
        let sink = self.builder(&bucket).build().expect("building the S3 sink");
        worm_core::WormSink::preflight(&sink)
            .await
            .unwrap_or_else(|e| panic!("preflight of the shared test bucket: {e}"));
        sink
    }
}

/// `worm-it-<32 hex>`: unique per call.
pub fn unique_bucket() -> String {
    format!("worm-it-{}", uuid::Uuid::now_v7().simple())
}

/// The conformance fixture: a sink on the shared bucket plus its raw tamper path, or
/// `None` (skip) without a server.
pub async fn conformance_fixture() -> Option<Setup<S3Sink, S3Tamper>> {
    let env = S3Env::get()?;
    let sink = env.sink().await;
    Some(Setup::new(sink.clone()).with_tamper(S3Tamper(sink)))
}

fn from_env() -> Option<S3Env> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let endpoint = var("WORM_TEST_S3_ENDPOINT")?;
    Some(S3Env {
        endpoint,
        access_key: var("AWS_ACCESS_KEY_ID").unwrap_or_else(|| "test".into()),
        secret_key: var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "testsecret".into()),
        region: var("AWS_DEFAULT_REGION")
            .or_else(|| var("AWS_REGION"))
            .unwrap_or_else(|| "us-east-1".into()),
        server: var("WORM_TEST_S3_SERVER").unwrap_or_else(|| "WORM_TEST_S3_ENDPOINT".into()),
    })
}

#[cfg(feature = "docker")]
fn from_docker() -> Option<S3Env> {
    crate::docker::start_shared()
}

/// Built without the `docker` feature: no server in Docker.
#[cfg(not(feature = "docker"))]
fn from_docker() -> Option<S3Env> {
    None
}

/// The raw S3 path an operator (or attacker) holding the sink's credentials would try.
#[derive(Debug, Clone)]
pub struct S3Tamper(pub S3Sink);

#[async_trait]
impl Tamper for S3Tamper {
    /// Delete every stored version of the key, bypassing GOVERNANCE retention. (A plain
    /// DELETE without a version id only adds a delete marker and removes nothing.)
    async fn delete(&self, key: &str) -> Result<()> {
        for v in self.0.versions_of(key).await? {
            if !v.is_delete_marker {
                self.0.delete_version(key, &v.version_id, true).await?;
            }
        }
        Ok(())
    }

    /// S3 cannot change the bytes of a version; a plain PUT only adds a version on top.
    /// So, like an attacker, remove the locked first version (refused under Object Lock)
    /// and only then put.
    async fn overwrite(&self, key: &str, body: Bytes) -> Result<()> {
        self.delete(key).await?;
        self.0.raw_put(key, body).await.map(|_| ())
    }
}

/// Whether an error is the server refusing (as opposed to a transport problem).
pub fn is_refusal(e: &Error) -> bool {
    matches!(e, Error::PermissionDenied { .. } | Error::Backend { .. })
}

/// The tamper suites' raw path on S3: what an operator holding the sink's credentials
/// with governance bypass can do (see [`S3Tamper`]).
impl crate::chain::Raw for S3Sink {
    async fn raw_put(&self, key: &str, stored: Vec<u8>) {
        S3Tamper(self.clone())
            .overwrite(key, Bytes::from(stored))
            .await
            .expect("overwrite on S3 (bypassing governance)");
    }
    async fn raw_delete(&self, key: &str) {
        S3Tamper(self.clone())
            .delete(key)
            .await
            .expect("delete on S3 (bypassing governance)");
    }
}
