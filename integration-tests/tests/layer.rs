//! `worm::layer` and `worm::env_layer`: the audit layer composed with a subscriber of the
//! caller's own, nothing installed globally.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use integration_tests::readback::read_streams;
use tracing_subscriber::Layer;
use tracing_subscriber::prelude::*;
use worm::env::EnvConfig;
use worm::memory::MemorySink;

/// The caller's own layer: counts the events it sees.
struct Counting(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Counting {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn layer_composes_with_the_callers_own_layers() {
    let mem = MemorySink::new();
    let (audit, guard) = worm::layer(mem.clone(), "auth_service").unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(Counting(seen.clone()))
        .with(audit);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(user_id = "user123", action = "login", "user logged in");
        tracing::warn!(user_id = "user123", action = "logout", "user logged out");
    });
    let report = guard.close_blocking().unwrap();
    assert_eq!(report.records_stored, 2);
    assert_eq!(
        seen.load(Ordering::Relaxed),
        2,
        "the caller's layer saw both"
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&mem, ""));
    let actions: Vec<_> = streams
        .values()
        .flatten()
        .flat_map(|b| &b.records)
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["login", "logout"]);
}

#[test]
fn env_layer_follows_the_environment_without_installing_anything() {
    let off = EnvConfig::from_lookup(|_| None).unwrap();
    assert!(worm::env_layer("svc", &off).unwrap().is_none());

    let dir = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("ENABLE_WORM_LOGGING", "yes".to_string()),
        ("LOG_LEVEL", "WARN".to_string()),
        ("WORM_DIR", dir.path().display().to_string()),
        ("AWS_S3_PREFIX", "prod".to_string()),
    ]);
    let env = EnvConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let (audit, guard) = worm::env_layer("camera_service", &env).unwrap().unwrap();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(audit), || {
        tracing::info!(action = "below_log_level", "not stored");
        tracing::error!(action = "camera_offline", "camera cam001 offline");
    });
    assert_eq!(guard.close_blocking().unwrap().records_stored, 1);
    let sink = worm::fs::FsSink::builder(dir.path()).build().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let streams = rt.block_on(read_streams(&sink, "prod/"));
    let records: Vec<_> = streams
        .values()
        .flatten()
        .flat_map(|b| &b.records)
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["action"], "camera_offline");
}
