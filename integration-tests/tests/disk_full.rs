//! The fs target runs out of space: clear errors, no partial objects, and nothing accepted
//! is lost once space returns. Uses a small tmpfs (needs root, as CI runs).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::readback::{assert_chain, read_streams};
use worm::fs::FsSink;
use worm::pipeline::RetryConfig;
use worm::{AuditLogBuilder, AuditRecord, Error, Level, WormSink};

/// A tmpfs of a given size, unmounted on drop.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(dir: &Path, size: &str) -> Option<SmallFs> {
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        st.success().then(|| SmallFs(dir.to_path_buf()))
    }

    fn grow(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(st.success());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_disk_is_reported_leaves_no_partial_objects_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let Some(fs) = SmallFs::mount(&store, "256k") else {
        assert!(
            !is_root(),
            "root could not mount a tmpfs for the disk-full drill"
        );
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let sink: Arc<dyn WormSink> = Arc::new(FsSink::builder(&store).build().unwrap());
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .max_records(50)
        .retry(RetryConfig {
            max_retries: 1,
            initial_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(20),
            max_round_backoff: Duration::from_millis(200),
            jitter_seed: Some(3),
        })
        .build()
        .unwrap();
    let pad = "x".repeat(1000);
    const N: u64 = 2_000; // ~2 MB of records into 256 KiB
    for n in 0..N {
        log.log(
            AuditRecord::new(Level::Info, "export")
                .action("video_export")
                .field("n", n)
                .field("pad", pad.as_str()),
        )
        .unwrap();
    }
    let err = log
        .flush_blocking(Some(Duration::from_secs(3)))
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    let s = log.stats();
    assert!(s.failures > 0 && s.pending > 0 && s.stored < N, "{s:?}");

    // Nothing partial: every file is a complete, sealed batch; no temp file is left over.
    let mut files = Vec::new();
    for e in walk(&store) {
        let name = e.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with(".worm-tmp-"),
            "temp file left behind: {}",
            e.display()
        );
        files.push(e);
    }
    let partial = read_streams(sink.as_ref(), "").await; // panics on a partial batch
    let stored_now: usize = partial.values().flatten().map(|b| b.records.len()).sum();
    assert_eq!(stored_now as u64, s.stored);

    // Space returns: everything accepted lands, once.
    fs.grow("16m");
    log.flush().await.unwrap();
    guard.close().await.unwrap();
    let streams = read_streams(sink.as_ref(), "").await;
    let batches = streams.values().next().unwrap();
    assert_chain(batches, true);
    let mut seen = BTreeSet::new();
    for r in batches.iter().flat_map(|b| &b.records) {
        assert!(seen.insert(r["n"].as_u64().unwrap()), "stored twice");
    }
    assert_eq!(seen.len() as u64, N);
    drop(fs);
}

#[test]
fn the_fs_error_names_the_path_and_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    std::fs::create_dir(&store).unwrap();
    let Some(_fs) = SmallFs::mount(&store, "64k") else {
        assert!(!is_root(), "root could not mount a tmpfs");
        return;
    };
    let sink = FsSink::builder(&store).build().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let body = bytes::Bytes::from(vec![b'x'; 200_000]);
    let err = rt
        .block_on(sink.put("audit-logs/big.json", body, &worm::PutOptions::default()))
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("audit-logs") && msg.to_lowercase().contains("space"),
        "{msg}"
    );
    assert!(err.is_retryable(), "a full disk may clear: {msg}");
    assert!(
        walk(&store).iter().all(|p| !p.ends_with("big.json")),
        "no partial object"
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
