//! `worm::init`: the original `configure_logging`, driven by the same environment
//! variables.

use std::sync::Arc;

use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, Layer};
use worm_core::env::EnvConfig;
use worm_core::integrate::WormLayer;
use worm_core::{AuditLog, AuditLogBuilder, Error, Result, WormSink, WriterGuard};

/// What [`init`] installed. Keep it alive for the life of the program: dropping it
/// drops the guard, which closes the audit log (waiting at most its drop timeout); close
/// the guard to see the outcome.
#[must_use = "dropping the handle closes the audit log"]
#[derive(Debug)]
pub struct Logging {
    /// The audit log, when WORM logging is enabled.
    pub log: Option<AuditLog>,
    /// The one way to close the audit log (when enabled).
    pub guard: Option<WriterGuard>,
    /// The settings read from the environment.
    pub env: EnvConfig,
}

/// Configure logging for `service` like the original `configure_logging`:
///
/// - console output as JSON lines on stdout, at `LOG_LEVEL` (default INFO);
/// - when `ENABLE_WORM_LOGGING` is true, every event at that level or above also becomes
///   an audit record (see [`env_layer`]).
///
/// Installs a global `tracing` subscriber; fails if one is already installed. To compose
/// with your own subscriber instead, use [`env_layer`] (or [`layer`](crate::layer)).
///
/// ```no_run
/// # fn main() -> worm::Result<()> {
/// let logging = worm::init("camera_service")?;
/// tracing::info!(request_id = "req-1", user_id = "user123", action = "login", "user logged in");
/// if let Some(guard) = logging.guard {
///     guard.close_blocking()?;
/// }
/// # Ok(()) }
/// ```
pub fn init(service: &str) -> Result<Logging> {
    init_with(service, EnvConfig::from_env()?)
}

/// [`init`] with explicit settings instead of the environment.
pub fn init_with(service: &str, env: EnvConfig) -> Result<Logging> {
    let filter = EnvFilter::new(env.log_level.as_str().to_ascii_lowercase());
    let console = tracing_subscriber::fmt::layer()
        .json()
        .with_writer(std::io::stdout)
        .with_filter(filter);
    let (layer, guard) = env_layer(service, &env)?.unzip();
    let log = guard.as_ref().map(|g| g.log().clone());
    tracing_subscriber::registry()
        .with(console)
        .with(layer)
        .try_init()
        .map_err(|e| Error::invalid("tracing subscriber", format!("could not install: {e}")))?;
    if let Some(log) = &log {
        tracing::info!(
            target: "worm",
            service,
            store = %describe(&env),
            stream = %log.stats().stream,
            "WORM audit logging enabled"
        );
    }
    Ok(Logging { log, guard, env })
}

/// The audit part of [`init`], not installed, to add to a subscriber of your own: `None`
/// when `ENABLE_WORM_LOGGING` is off. Events at `LOG_LEVEL` or above become audit
/// records, batched with the `compliance` preset (5 records / 15 s, 7 years GOVERNANCE)
/// under `AWS_S3_PREFIX`, into S3 (`AWS_S3_BUCKET`, `AWS_REGION`, `AWS_ENDPOINT_URL`;
/// feature `s3`) or, without a bucket, into the local directory `WORM_DIR` (default
/// `./worm-data`) with immutable files where the process may set them.
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// use worm::env::EnvConfig;
///
/// # fn main() -> worm::Result<()> {
/// let (audit, guard) = worm::env_layer("camera_service", &EnvConfig::from_env()?)?.unzip();
/// tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer())
///     .with(audit)
///     .init();
/// # drop(guard);
/// # Ok(()) }
/// ```
pub fn env_layer(service: &str, env: &EnvConfig) -> Result<Option<(WormLayer, WriterGuard)>> {
    if !env.enable_worm {
        return Ok(None);
    }
    let (log, guard) = AuditLogBuilder::new(open_sink(env)?, service)
        .compliance()
        .prefix(&env.store.prefix)
        .build()?;
    Ok(Some((WormLayer::new(log).min_level(env.log_level), guard)))
}

fn describe(env: &EnvConfig) -> String {
    match &env.store.bucket {
        Some(b) => format!("s3://{b}/{}", env.store.prefix),
        None => env.store.dir.clone(),
    }
}

fn open_sink(env: &EnvConfig) -> Result<Arc<dyn WormSink>> {
    #[cfg(feature = "s3")]
    if env.store.bucket.is_some() {
        let sink = worm_s3::S3SinkBuilder::from_store_env(&env.store).build()?;
        return Ok(Arc::new(sink));
    }
    #[cfg(not(feature = "s3"))]
    if let Some(bucket) = &env.store.bucket {
        return Err(Error::invalid(
            format!("AWS_S3_BUCKET='{bucket}'"),
            "this build of worm has no S3 support; enable the `s3` feature",
        ));
    }
    #[cfg(feature = "fs")]
    {
        let sink = worm_fs::FsSink::builder(&env.store.dir)
            .immutable(true)
            .allow_read_only_fallback(true)
            .build()?;
        Ok(Arc::new(sink))
    }
    #[cfg(not(feature = "fs"))]
    Err(Error::invalid(
        "WORM store",
        "no AWS_S3_BUCKET set and this build has no local-directory support (feature `fs`)",
    ))
}
