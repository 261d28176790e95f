//! A store an attacker filled: 100 zstd and 100 gzip bombs (each expanding past 2 GiB), a
//! 2 GiB single-line object, a symbolic link out of the root, a directory loop, a FIFO
//! and 100,000 empty foreign objects, beside a real stream. `verify`, `cat`, `ls` and `prove` each
//! finish within 60 s below 512 MiB peak RSS (the child's, from `wait4`), name every
//! hostile object by its key, and still verify and print every record of the stream.
//!
//! The bounds are about the shipped (release) binary: `scripts/test.sh` builds it and runs
//! this test with `WORM_BIN=target/release/worm -- --ignored`. A debug build spends
//! minutes decompressing and hashing unoptimised, which says nothing about the bounds.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use integration_tests::bombs::{first_line, gzip_bomb, zstd_bomb};
use serde_json::Value;

const BOMBS: usize = 100;
const FOREIGN: usize = 100_000;
const RECORDS: usize = 2_000;
const MAX_SECS: u64 = 60;
const MAX_RSS_KIB: i64 = 512 << 10;

/// The first line of a real batch of the store.
fn header_line(store: &Path) -> Vec<u8> {
    let batch = walk_files(&store.join("audit-logs"))
        .into_iter()
        .next()
        .expect("a batch of the real stream");
    first_line(&fs::read(batch).unwrap()).to_vec()
}

/// Regular files below `dir`, following no link.
fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let t = fs::symlink_metadata(&p).unwrap().file_type();
        if t.is_dir() {
            out.extend(walk_files(&p));
        } else if t.is_file() {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// What the attacker adds, by key and the kind `worm verify` must give it.
fn plant(store: &Path) -> Vec<(String, &'static str)> {
    let header = header_line(store);
    let mut planted = Vec::new();
    let (zst, gz) = (zstd_bomb(&header), gzip_bomb(&header));
    assert!(zst.len() <= 66 << 10, "zstd bomb of {} bytes", zst.len());
    fs::create_dir(store.join("bombs")).unwrap();
    for i in 0..BOMBS {
        for (ext, body) in [("json.zst", &zst), ("json.gz", &gz)] {
            let key = format!("bombs/{i:03}.{ext}");
            fs::write(store.join(&key), body).unwrap();
            planted.push((key, "oversized"));
        }
    }
    let big = File::create(store.join("one-line.json")).unwrap();
    (&big).write_all(b"{\"message\":\"").unwrap();
    big.set_len(2 << 30).unwrap();
    planted.push(("one-line.json".into(), "oversized"));
    std::os::unix::fs::symlink("/etc/passwd", store.join("passwd.json")).unwrap();
    planted.push(("passwd.json".into(), "not_a_file"));
    std::os::unix::fs::symlink("..", store.join("audit-logs/loop")).unwrap();
    planted.push(("audit-logs/loop".into(), "not_a_file"));
    let fifo = std::ffi::CString::new(store.join("pipe.json").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    planted.push(("pipe.json".into(), "not_a_file"));
    fs::create_dir(store.join("junk")).unwrap();
    for i in 0..FOREIGN {
        let key = format!("junk/{i:06}");
        File::create(store.join(&key)).unwrap();
        planted.push((key, "inserted"));
    }
    planted
}

/// The binary under test, with no store settings from the environment.
fn worm() -> std::process::Command {
    let bin = std::env::var_os("WORM_BIN").expect("WORM_BIN: the worm binary to measure");
    let mut c = std::process::Command::new(bin);
    for k in [
        "AWS_S3_BUCKET",
        "AWS_S3_PREFIX",
        "WORM_DIR",
        "AWS_ENDPOINT_URL",
    ] {
        c.env_remove(k);
    }
    c
}

/// One run of `worm`: exit code, stdout, stderr, wall time and the child's peak RSS.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    secs: f64,
    cpu_secs: f64,
    /// `wait4`'s peak: at least the child's own, since a spawned child inherits the
    /// parent's high-water mark through exec. The bound is asserted on this.
    max_rss_kib: i64,
    /// The child's own peak (`VmHWM`), sampled every 5 ms until it exits: the figure.
    hwm_kib: i64,
}

/// The peak RSS of the running process `pid`'s current program, in KiB.
fn vm_hwm_kib(pid: libc::pid_t) -> i64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn measure(args: &[&str], dir: &Path) -> Run {
    let out_path = dir.join("stdout");
    let err_path = dir.join("stderr");
    let start = Instant::now();
    let child = worm()
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).unwrap())
        .stderr(File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: zeroed rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut hwm_kib = 0;
    loop {
        // SAFETY: `pid` is our child, not yet reaped; both pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            break;
        }
        assert_eq!(r, 0, "wait4: {}", std::io::Error::last_os_error());
        hwm_kib = hwm_kib.max(vm_hwm_kib(pid));
        std::thread::sleep(Duration::from_millis(5));
    }
    let secs = start.elapsed().as_secs_f64();
    // Reaped by wait4 above: `Child` must not wait again.
    drop(child);
    Run {
        code: if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            -1
        },
        stdout: fs::read_to_string(out_path).unwrap(),
        stderr: fs::read_to_string(err_path).unwrap(),
        secs,
        cpu_secs: [usage.ru_utime, usage.ru_stime]
            .iter()
            .map(|t| t.tv_sec as f64 + t.tv_usec as f64 / 1e6)
            .sum(),
        max_rss_kib: usage.ru_maxrss,
        hwm_kib,
    }
}

fn within_bounds(what: &str, r: &Run) {
    eprintln!(
        "{what}: {:.1} s ({:.1} s CPU), peak RSS {:.1} MiB (wait4: {:.1} MiB), exit {}",
        r.secs,
        r.cpu_secs,
        r.hwm_kib as f64 / 1024.0,
        r.max_rss_kib as f64 / 1024.0,
        r.code
    );
    assert!(
        r.secs < Duration::from_secs(MAX_SECS).as_secs_f64(),
        "{what} took {:.1} s",
        r.secs
    );
    assert!(
        r.max_rss_kib < MAX_RSS_KIB,
        "{what} peaked at {} KiB",
        r.max_rss_kib
    );
}

#[test]
#[ignore = "needs WORM_BIN, the release binary: scripts/test.sh runs it"]
fn verify_cat_ls_and_prove_stay_bounded_and_name_every_hostile_object() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let store_s = store.to_str().unwrap();
    let mut input = String::new();
    for i in 0..RECORDS {
        input.push_str(&format!(
            "{{\"timestamp\":\"2025-06-12T10:00:00Z\",\"message\":\"real record {i}\"}}\n"
        ));
    }
    let key = tmp.path().join("signing.key");
    let keygen = worm()
        .args(["keygen", "--out", key.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{keygen:?}");
    let mut ship = worm()
        .args([
            "ship",
            "--to",
            store_s,
            "--batch-size",
            "100",
            "--sign-key",
            key.to_str().unwrap(),
        ])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    ship.stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(ship.wait().unwrap().success());
    let t = Instant::now();
    let planted = plant(&store);
    eprintln!(
        "planted {} hostile entries in {:.1} s",
        planted.len(),
        t.elapsed().as_secs_f64()
    );
    let real: BTreeSet<String> = walk_files(&store.join("audit-logs"))
        .iter()
        .map(|p| {
            p.strip_prefix(&store)
                .unwrap()
                .to_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(real.len() >= RECORDS / 100, "{real:?}");

    // verify --json: every hostile key with its kind, nothing about the real stream.
    let v = measure(&["verify", store_s, "--json"], tmp.path());
    within_bounds("verify --json", &v);
    assert_eq!(v.code, 1, "{}", v.stderr);
    let report: Value = serde_json::from_str(&v.stdout).unwrap();
    let found: BTreeSet<(String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["key"].as_str().unwrap().to_string(),
                p["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = planted
        .iter()
        .map(|(k, kind)| (k.clone(), kind.to_string()))
        .collect();
    assert_eq!(found.len(), expected.len(), "one finding per hostile entry");
    assert!(found == expected, "findings differ from what was planted");
    assert_eq!(report["records"], RECORDS as u64, "{}", report["streams"]);
    assert_eq!(report["streams"][0]["closed"], true);
    assert_eq!(report["streams"][0]["records"], RECORDS as u64);

    // verify (text): grouped, with a count.
    let v = measure(&["verify", store_s], tmp.path());
    within_bounds("verify", &v);
    assert_eq!(v.code, 1);
    assert!(
        v.stdout.contains(&format!(
            "... and {} more inserted finding(s), {FOREIGN} in all",
            FOREIGN - 5
        )),
        "{}",
        &v.stdout[..v.stdout.len().min(4000)]
    );
    assert!(v.stdout.lines().count() < 100, "the text report is grouped");

    // cat: every real record on stdout, every hostile object named on stderr.
    let c = measure(&["cat", store_s, "--quiet"], tmp.path());
    within_bounds("cat", &c);
    assert_eq!(c.code, 1);
    let printed: Vec<&str> = c.stdout.lines().collect();
    assert_eq!(printed.len(), RECORDS);
    for (i, line) in printed.iter().enumerate() {
        assert!(line.contains(&format!("\"real record {i}\"")), "{line}");
    }
    // Each skipped object's line names it in quotes: `... batch 'KEY': ...`.
    let named: BTreeSet<&str> = c
        .stderr
        .lines()
        .filter_map(|l| l.split('\'').nth(1))
        .collect();
    for (key, _) in &planted {
        assert!(named.contains(key.as_str()), "cat does not name {key}");
    }

    // prove: a proof for every real record, every hostile object named as skipped.
    let p = measure(&["prove", store_s], tmp.path());
    within_bounds("prove", &p);
    assert_eq!(p.code, 1, "{}", &p.stderr[..p.stderr.len().min(2000)]);
    let bundles: Vec<Value> = p
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(bundles.len(), RECORDS);
    for (i, b) in bundles.iter().enumerate() {
        let record = b["record"].as_str().unwrap();
        assert!(record.contains(&format!("\"real record {i}\"")), "{record}");
    }
    let named: BTreeSet<&str> = p
        .stderr
        .lines()
        .filter_map(|l| l.split('\'').nth(1))
        .collect();
    for (key, _) in &planted {
        assert!(named.contains(key.as_str()), "prove does not name {key}");
    }

    // ls: every key, hostile ones with why they are not batches.
    let l = measure(&["ls", store_s, "--json"], tmp.path());
    within_bounds("ls --json", &l);
    let rows: Vec<Value> = l
        .stdout
        .lines()
        .map(|r| serde_json::from_str(r).unwrap())
        .collect();
    let errors: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.get("error").is_some())
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(errors.len(), planted.len());
    assert!(planted.iter().all(|(k, _)| errors.contains(k.as_str())));
    let batches: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r.get("error").is_none())
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(batches, real.iter().map(String::as_str).collect());
}
