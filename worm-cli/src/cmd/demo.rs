//! `worm demo`: realistic surveillance-platform audit events through the real pipeline,
//! then a verification of the store.

use serde::Serialize;
use serde_json::json;
use tokio::runtime::Runtime;
use worm::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm::sign::Signer;
use worm::verify::{Kind, Report, Severity, Verifier};
use worm::{AuditLogBuilder, AuditRecord, Level};

use crate::cli::DemoArgs;
use crate::cmd::verify;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
use crate::output;
use crate::store::{self, Access};

/// Service name of the demo writer (records carry their own service names).
const SERVICE: &str = "surveillance-platform";

/// What `--json` prints.
#[derive(Debug, Serialize)]
struct DemoJson<'a> {
    intact: bool,
    stream: String,
    records: u64,
    batches: u64,
    key_id: String,
    report: &'a Report,
}

/// Write the events, close the stream, verify.
pub fn run(rt: &Runtime, a: DemoArgs) -> CliResult<u8> {
    let store = store::open(
        a.store.as_deref(),
        Access::Write { immutable: false },
        &a.s3,
    )?;
    let signer = Signer::generate().map_err(|e| CliError::context("cannot generate a key", e))?;
    let public = signer.public_key();
    let key_id = signer.key_id().to_string();
    let keys = KeyTemplate::new(DEFAULT_TEMPLATE, &store.write_prefix)
        .map_err(|e| CliError::fatal(e.to_string()))?;
    let cannot_write =
        |e: worm::Error| CliError::fatal(format!("cannot write to store '{}': {e}", store.name));
    let (log, guard) = AuditLogBuilder::new(store.sink.clone(), SERVICE)
        .compliance()
        .keys(keys)
        .signer(signer)
        .build()
        .map_err(cannot_write)?;
    let events = events(&log.stats().stream.simple().to_string());
    let written = events.len();
    for r in events {
        log.log(r).map_err(cannot_write)?;
    }
    let closed = guard.close_blocking().map_err(|e| {
        CliError::problems(format!(
            "not every demo record was stored in '{}': {e}",
            store.name
        ))
    })?;
    if !a.json {
        println!(
            "worm demo: wrote {written} surveillance audit events to '{}' \
             (compliance preset: 5 records per batch, signed with a throw-away key {key_id})\n  \
             stream {}: {} records in {} batches, closed with final batch seq {}",
            store.name,
            closed.stream,
            closed.records_stored,
            closed.batches_stored,
            closed.final_seq
        );
    }

    let verifier = Verifier::new().public_key(public);
    let mut report = rt.block_on(verify::verify(&store, verifier, a.json))?;
    // Earlier demo runs and other writers signed with other keys, or not at all: their
    // signatures are not this run's to judge. Everything else counts, for every stream.
    report.problems.retain(|p| {
        p.stream == Some(closed.stream) || !matches!(p.kind, Kind::BadSignature | Kind::Unsigned)
    });
    report.signatures_checked = false;
    let ours_clean = !report
        .problems
        .iter()
        .any(|p| p.stream == Some(closed.stream) && p.severity >= Severity::Warning);
    let intact = report.is_intact() && ours_clean;
    if a.json {
        output::json(&DemoJson {
            intact,
            stream: closed.stream.to_string(),
            records: closed.records_stored,
            batches: closed.batches_stored,
            key_id,
            report: &report,
        })?;
    } else {
        if ours_clean {
            println!(
                "  this run's stream: every batch present, chained, closed, and signed by {key_id}"
            );
        }
        verify::print_report(&report);
        // A memory store is gone when this process ends: nothing to look at later.
        if intact && !store.name.starts_with("memory:") {
            // The store as the next commands need it named (with its endpoint, if any).
            let s = match &a.s3.endpoint {
                Some(e) => format!("{} --endpoint {e}", store.name),
                None => store.name.clone(),
            };
            println!(
                "\nnext: worm ls {s}\n      worm cat {s} --action motion_detected | jq .\n      \
                 worm cat {s} --user-id op.mallory\n      worm verify {s}"
            );
        }
    }
    Ok(if intact { EXIT_OK } else { EXIT_PROBLEMS })
}

/// Small deterministic-per-run pseudo-random numbers (xorshift), seeded from the stream
/// id so that runs differ.
struct Rng(u64);

impl Rng {
    fn new(seed: &str) -> Self {
        let s = seed.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(s | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn request_id(&mut self) -> String {
        format!("req-{:08x}", self.next() as u32)
    }
}

fn rec(
    level: Level,
    service: &str,
    action: &str,
    message: String,
    request_id: &str,
    user_id: Option<&str>,
    code: (&str, &str, u32),
) -> AuditRecord {
    let mut r = AuditRecord::new(level, message)
        .service(service)
        .request_id(request_id)
        .action(action);
    if let Some(u) = user_id {
        r = r.user_id(u);
    }
    r.logger_name = Some(service.to_string());
    r.module = Some(code.0.to_string());
    r.function = Some(code.1.to_string());
    r.line = Some(code.2);
    r
}

/// A morning on the platform: logins, motion detections, PTZ moves, a configuration
/// change, a failed-login burst, a video export, logouts.
fn events(seed: &str) -> Vec<AuditRecord> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    let auth = ("auth_handler", "authenticate", 88);
    let login = |rng: &mut Rng, user: &str, ip: &str| {
        rec(
            Level::Info,
            "auth_service",
            "login",
            format!("User {user} logged in"),
            &rng.request_id(),
            Some(user),
            auth,
        )
        .field("source_ip", ip)
        .field("method", "password+totp")
    };
    out.push(login(&mut rng, "op.alice", "10.20.0.14"));
    out.push(login(&mut rng, "op.bob", "10.20.0.22"));
    for i in 0..12 {
        let cam = format!("cam{:03}", 1 + rng.below(8));
        let confidence = 0.55 + rng.below(45) as f64 / 100.0;
        let count = 1 + rng.below(5);
        let zone = ["entrance", "parking", "loading_dock", "lobby"][rng.below(4) as usize];
        out.push(
            rec(
                Level::Info,
                "camera_service",
                "motion_detected",
                format!("Motion detected in camera {cam}"),
                &rng.request_id(),
                None,
                ("motion_detector", "process_frame", 245),
            )
            .field("camera_id", cam.as_str())
            .field("confidence", (confidence * 100.0).round() / 100.0)
            .field("detection_count", count)
            .field("zone", zone)
            .field("frame", 1000 + i * 37),
        );
        if i % 4 == 1 {
            let rid = rng.request_id();
            let (pan, tilt, zoom) = (rng.below(360), rng.below(90), 1 + rng.below(10));
            out.push(
                rec(
                    Level::Info,
                    "camera_service",
                    "ptz_move",
                    format!("PTZ move on {cam} to pan {pan}, tilt {tilt}, zoom {zoom}x"),
                    &rid,
                    Some("op.alice"),
                    ("ptz_controller", "move_to", 131),
                )
                .field("camera_id", cam.as_str())
                .field("pan", pan)
                .field("tilt", tilt)
                .field("zoom", zoom),
            );
        }
    }
    let rid = rng.request_id();
    out.push(
        rec(
            Level::Warn,
            "camera_service",
            "camera_config_changed",
            "Camera cam003 motion sensitivity changed from 0.7 to 0.5".into(),
            &rid,
            Some("op.bob"),
            ("camera_admin", "update_settings", 57),
        )
        .field("camera_id", "cam003")
        .field("setting", "motion_sensitivity")
        .field("old_value", 0.7)
        .field("new_value", 0.5),
    );
    for attempt in 1..=3 {
        out.push(
            rec(
                Level::Warn,
                "auth_service",
                "login_failed",
                format!("Failed login for op.mallory (attempt {attempt})"),
                &rng.request_id(),
                Some("op.mallory"),
                auth,
            )
            .field("source_ip", "203.0.113.77")
            .field("reason", "bad_password")
            .field("attempt", attempt),
        );
    }
    out.push(
        rec(
            Level::Error,
            "auth_service",
            "account_locked",
            "Account op.mallory locked after 3 failed logins".into(),
            &rng.request_id(),
            Some("op.mallory"),
            ("auth_handler", "lock_account", 140),
        )
        .field("source_ip", "203.0.113.77")
        .field("failed_attempts", 3),
    );
    let export = rng.request_id();
    let export_id = format!("exp-{:06x}", rng.next() as u32 & 0xff_ffff);
    out.push(
        rec(
            Level::Info,
            "export_service",
            "video_export_requested",
            "Video export of cam002 08:00-08:15 requested".into(),
            &export,
            Some("op.alice"),
            ("export_api", "create_export", 64),
        )
        .field("camera_id", "cam002")
        .field("export_id", export_id.as_str())
        .field("clip", json!({"from": "08:00:00", "to": "08:15:00"}))
        .field("case_ref", "INC-2025-0612"),
    );
    out.push(
        rec(
            Level::Info,
            "export_service",
            "video_export_completed",
            format!("Video export {export_id} completed"),
            &export,
            Some("op.alice"),
            ("export_worker", "finish", 203),
        )
        .field("camera_id", "cam002")
        .field("export_id", export_id.as_str())
        .field("size_bytes", 48_000_000 + rng.below(9_000_000))
        .field("sha256_recorded", true),
    );
    for user in ["op.bob", "op.alice"] {
        out.push(rec(
            Level::Info,
            "auth_service",
            "logout",
            format!("User {user} logged out"),
            &rng.request_id(),
            Some(user),
            ("auth_handler", "logout", 112),
        ));
    }
    out
}
