//! The audit event both sides of every comparison emit, so that they do the same work.

use worm_core::{AuditRecord, Level};

/// The span every benchmark event runs in: a request carrying `request_id`, as a web or
/// video service would open per request.
pub fn request_span() -> tracing::Span {
    tracing::info_span!("request", request_id = "req-12345-abcde")
}

/// One audit event, the shape of the original system's motion-detection records.
/// `n` numbers the event, so that a record can be traced from `log` to the store.
#[inline(never)]
pub fn audit_event(n: u64) {
    tracing::info!(
        user_id = "user123",
        action = "motion_detected",
        camera_id = "cam001",
        confidence = 0.92,
        detection_count = 3,
        n,
        "Motion detected in camera cam001"
    );
}

/// The same event as a record built by hand (for the pipeline benches), about 300 bytes
/// of JSON once the writer stamps the service name.
pub fn audit_record(n: u64, level: Level) -> AuditRecord {
    let mut r = AuditRecord::new(level, "Motion detected in camera cam001")
        .request_id("req-12345-abcde")
        .user_id("user123")
        .action("motion_detected")
        .field("camera_id", "cam001")
        .field("confidence", 0.92)
        .field("detection_count", 3)
        .field("n", n);
    r.logger_name = Some("camera_service".into());
    r.line = Some(245);
    r
}

/// Service name used by every writer in the benches.
pub const SERVICE: &str = "camera_service";

/// The two subscribers every caller-cost comparison sets side by side: `WormLayer` into a
/// writer storing to a [`NullSink`](crate::sinks::NullSink), and
/// `tracing_subscriber::fmt().json()` on a `tracing_appender::non_blocking` writer over
/// `io::sink()` (`lossy(false)`, so neither side drops). Both background threads drain to
/// nothing. Keep the guards until the measurement ends; close the writer's guard.
///
/// `max_queue_bytes` sets the writer's queue byte budget (`None`: the library's default,
/// 8 MiB). `non_blocking` queues up to 128,000 lines; with these ~300-byte records the
/// default budget holds about 19,000, so a burst longer than that makes the caller wait for
/// the writer (backpressure) where `non_blocking` still has room.
pub fn caller_subscribers(max_queue_bytes: Option<usize>) -> worm_core::Result<CallerSubscribers> {
    use tracing_subscriber::prelude::*;
    let sink = std::sync::Arc::new(crate::sinks::NullSink::default());
    let mut builder = worm_core::pipeline::AuditLogBuilder::new(sink.clone(), SERVICE);
    if let Some(bytes) = max_queue_bytes {
        builder = builder.max_queue_bytes(bytes);
    }
    let (log, worm_guard) = builder.build()?;
    let worm = tracing::Dispatch::new(
        tracing_subscriber::registry().with(worm_core::integrate::WormLayer::new(log)),
    );
    let (writer, fmt_guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::sink());
    let fmt = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(writer)
            .finish(),
    );
    Ok(CallerSubscribers {
        worm,
        worm_guard,
        sink,
        fmt,
        fmt_guard,
    })
}

/// What [`caller_subscribers`] builds.
pub struct CallerSubscribers {
    /// `WormLayer` on a writer.
    pub worm: tracing::Dispatch,
    /// The writer's guard: close it to store the last batch.
    pub worm_guard: worm_core::pipeline::WriterGuard,
    /// Where the writer stores (counts PUTs and bytes).
    pub sink: std::sync::Arc<crate::sinks::NullSink>,
    /// `fmt().json()` on `non_blocking`.
    pub fmt: tracing::Dispatch,
    /// Flushes the non-blocking writer when dropped.
    pub fmt_guard: tracing_appender::non_blocking::WorkerGuard,
}
