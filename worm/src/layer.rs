//! `worm::layer`: a `tracing` layer and its guard, to compose with any subscriber.

use worm_core::integrate::WormLayer;
use worm_core::{AuditLogBuilder, Result, WormSink, WriterGuard};

/// A [`WormLayer`] that stores every event as an audit record of `service` in `sink`,
/// and the [`WriterGuard`] that closes the stream: add the layer to any subscriber, keep
/// the guard for the program's life (like tracing-appender's `non_blocking`).
///
/// Plain settings ([`AuditLogBuilder::new`]); for others, build the writer yourself and
/// wrap its handle: `WormLayer::new(log)`. No network I/O happens here; the sink is
/// checked before the first upload (see [`AuditLogBuilder`]).
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// # fn main() -> worm::Result<()> {
/// let (worm_layer, guard) = worm::layer(worm::memory::MemorySink::new(), "camera_service")?;
/// let subscriber = tracing_subscriber::registry()
///     .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
///     .with(worm_layer);
/// tracing::subscriber::with_default(subscriber, || {
///     tracing::info!(user_id = "user123", action = "login", "user logged in");
/// });
/// let report = guard.close_blocking()?;
/// assert_eq!(report.records_stored, 1);
/// # Ok(()) }
/// ```
pub fn layer(
    sink: impl WormSink + 'static,
    service: impl Into<String>,
) -> Result<(WormLayer, WriterGuard)> {
    let (log, guard) = AuditLogBuilder::new(sink, service).build()?;
    Ok((WormLayer::new(log), guard))
}
