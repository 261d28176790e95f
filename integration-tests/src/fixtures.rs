//! Records and names the suites share.

use worm::{AuditRecord, Level};

/// A key prefix no other test or run uses: `it-<name>-<uuid v7>`.
pub fn unique_prefix(name: &str) -> String {
    format!("it-{name}-{}", uuid::Uuid::now_v7().simple())
}

/// A camera motion detection numbered `n` (field `n`), as the surveillance platform logs it.
pub fn motion(n: u64) -> AuditRecord {
    AuditRecord::new(
        Level::Info,
        format!("Motion detected in camera cam{:03}", n % 40),
    )
    .request_id(format!("req-{n}"))
    .user_id("user123")
    .action("motion_detected")
    .field("camera_id", format!("cam{:03}", n % 40))
    .field("n", n)
}
