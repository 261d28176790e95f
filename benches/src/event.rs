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
