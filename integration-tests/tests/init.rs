//! `worm::init`: the original `configure_logging`, from environment variables.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;

use integration_tests::readback::{assert_chain, read_streams};
use worm::env::EnvConfig;

#[test]
fn init_installs_console_and_worm_output_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("ENABLE_WORM_LOGGING", "true".to_string()),
        ("LOG_LEVEL", "INFO".to_string()),
        ("WORM_DIR", dir.path().display().to_string()),
        ("AWS_S3_PREFIX", "audit-logs".to_string()),
    ]);
    let env = EnvConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let logging = worm::init_with("camera_service", env).unwrap();
    {
        let span = tracing::info_span!("request", request_id = "req-12345");
        let _e = span.enter();
        tracing::info!(
            user_id = "user123",
            action = "motion_detected",
            camera_id = "cam001",
            "Motion detected"
        );
        tracing::debug!("below LOG_LEVEL: neither console nor WORM");
    }
    // A second init fails clearly instead of silently doing nothing.
    let again = worm::init_with("x", EnvConfig::from_lookup(|_| None).unwrap()).unwrap_err();
    assert!(again.to_string().contains("tracing subscriber"), "{again}");
    logging.guard.unwrap().close_blocking().unwrap();

    let sink = worm::fs::FsSink::builder(dir.path()).build().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&sink, "audit-logs/"));
    assert_eq!(streams.len(), 1);
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let records: Vec<_> = batches.iter().flat_map(|b| &b.records).collect();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["request_id"], "req-12345");
    assert_eq!(records[0]["service_name"], "camera_service");
    assert_eq!(records[0]["camera_id"], "cam001");
}
