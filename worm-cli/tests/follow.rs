//! `worm ship --follow`: a file written and rotated while it is followed, with a kill -9
//! in the middle and a rotation while no follower runs: every line stored exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{cat, expect, verify, worm};

/// A follower process, killed when dropped (a failed assertion must not leave it running).
struct Follower(Option<Child>);

impl Follower {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the follower is still ours")
    }

    /// Hand the child over to be waited for (it is then no longer killed on drop).
    fn take(mut self) -> Child {
        self.0.take().expect("the follower is still ours")
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(c) = &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn follower(log: &Path, spool: &Path, store: &Path) -> Follower {
    Follower(Some(
        worm()
            .args(["ship", "--follow"])
            .arg(log)
            .arg("--spool")
            .arg(spool)
            .arg("--to")
            .arg(store)
            .args([
                "--service",
                "camera_service",
                "--batch-size",
                "50",
                "--interval",
                "0.2",
                "--heartbeat",
                "0",
                "--quiet",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn worm ship --follow"),
    ))
}

/// Appends numbered lines to `path`, rotating (rename to `path.K`, create anew) on request.
struct Writer<'a> {
    path: &'a Path,
    file: File,
    next: u64,
    rotations: u32,
}

impl<'a> Writer<'a> {
    fn new(path: &'a Path) -> Self {
        Writer {
            path,
            file: File::create(path).unwrap(),
            next: 0,
            rotations: 0,
        }
    }

    fn write(&mut self, n: u64, pause_every: u64) {
        for _ in 0..n {
            writeln!(
                self.file,
                r#"{{"level":"INFO","message":"frame exported","action":"export","n":{}}}"#,
                self.next
            )
            .unwrap();
            self.next += 1;
            if self.next.is_multiple_of(pause_every) {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    fn rotate(&mut self) {
        self.rotations += 1;
        let old = self.path.with_extension(format!("log.{}", self.rotations));
        std::fs::rename(self.path, old).unwrap();
        self.file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(self.path)
            .unwrap();
    }
}

/// Every `n` the store holds, with how often.
fn stored(store: &Path) -> BTreeMap<u64, u32> {
    let mut seen = BTreeMap::new();
    for r in cat(store, &["--action", "export"]) {
        *seen.entry(r["n"].as_u64().expect("n")).or_insert(0) += 1;
    }
    seen
}

fn wait_for_all(store: &Path, total: u64) -> BTreeMap<u64, u32> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = stored(store);
        if seen.len() as u64 >= total || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn a_followed_file_rotated_twice_with_a_kill_9_in_the_middle_is_stored_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let (log, spool, store) = (
        dir.path().join("app.log"),
        dir.path().join("spool"),
        dir.path().join("store"),
    );
    let mut w = Writer::new(&log);
    w.write(1_500, 100);
    let mut ship = follower(&log, &spool, &store);
    w.write(1_500, 100);
    w.rotate(); // rename and create while the follower runs
    w.write(1_000, 100);
    // Killed once it has stored something (a follower killed before its first record
    // has no position yet, and starts the file at the path from its beginning).
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && (!store.exists() || stored(&store).is_empty()) {
        std::thread::sleep(Duration::from_millis(100));
    }
    ship.child().kill().unwrap(); // SIGKILL: no close, no final batch
    ship.child().wait().unwrap();
    // While nobody follows: more lines in the old file, then another rotation.
    w.write(700, 100);
    w.rotate();
    w.write(800, 100);
    let ship = follower(&log, &spool, &store);
    w.write(1_500, 100);
    let total = w.next;
    let seen = wait_for_all(&store, total);
    // SIGTERM: the follower stops reading and closes its stream with a final batch.
    let ship = ship.take();
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(ship.id() as i32, libc::SIGTERM) }, 0);
    let out = ship.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");

    let twice: Vec<_> = seen.iter().filter(|(_, c)| **c > 1).take(5).collect();
    assert!(twice.is_empty(), "lines stored twice: {twice:?}");
    let missing: Vec<_> = (0..total)
        .filter(|n| !seen.contains_key(n))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "lines lost: {missing:?} of {total}");
    assert_eq!(seen.len() as u64, total);
    // After the SIGTERM, a follower started again has nothing new and repeats nothing.
    let mut again = follower(&log, &spool, &store);
    std::thread::sleep(Duration::from_millis(1_500));
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::kill(again.child().id() as i32, libc::SIGTERM) },
        0
    );
    again.child().wait().unwrap();
    assert_eq!(
        stored(&store),
        seen,
        "a restart after a clean stop adds nothing"
    );
    let (code, report) = verify(&store, &[]);
    assert_eq!(code, 0, "{report}");
    eprintln!(
        "follow drill: {total} lines, 2 rotations, 1 kill -9, stored {} exactly once",
        seen.len()
    );
}

#[test]
fn follow_without_a_spool_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    std::fs::write(&log, b"{}\n").unwrap();
    let err = expect(
        &[
            "ship",
            "--follow",
            log.to_str().unwrap(),
            "--to",
            dir.path().join("store").to_str().unwrap(),
        ],
        b"",
        2,
    );
    assert!(err.is_empty(), "usage errors go to stderr: {err}");
}
