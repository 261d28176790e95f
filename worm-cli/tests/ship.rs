//! `worm ship`: invalid input lines, summaries, exit codes, SIGTERM/SIGINT.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

#[test]
fn invalid_lines_are_stored_as_invalid_input_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"message\":\"first\",\"user_id\":\"u1\"}\n"); // 1
    input.extend_from_slice(b"this is not json\n"); // 2
    input.extend_from_slice(b"\n"); // 3 empty
    input.extend_from_slice(b"{\"message\":\"bad \xff\xfe utf8\"}\n"); // 4
    input.extend_from_slice(b"{\"message\":\"nul \0 inside\"}\n"); // 5
    input.extend_from_slice(b"{\"confidence\":NaN}\n"); // 6
    input.extend_from_slice(format!("{}{}\n", "[".repeat(300), "]".repeat(300)).as_bytes()); // 7
    input.extend_from_slice(b"[\"an\",\"array\"]\n"); // 8
    input.extend_from_slice(b"{\"timestamp\":\"yesterday\"}\n"); // 9
    // 10: a 50 MiB line, far over the 1 MiB default; must not be buffered whole.
    input.push(b'{');
    input.extend(std::iter::repeat_n(b'x', 50 << 20));
    input.push(b'\n');
    input.extend_from_slice(b"   \t \n"); // 11 empty
    input.extend_from_slice(b"{\"message\":\"last\",\"level\":\"warning\"}"); // 12, no newline

    let s = ship(&store, &[], &input);
    assert_eq!(s["lines"], 12, "{s}");
    assert_eq!(s["records"], 2, "{s}");
    assert_eq!(s["invalid"], 8, "{s}");
    assert_eq!(s["empty"], 2, "{s}");
    assert_eq!(s["stored"], 10, "{s}");
    assert_eq!(s["all_stored"], true);
    assert_eq!(s["stopped_by"], "eof");

    let invalid = cat(&store, &["--action", "worm.invalid_input"]);
    let by_line: Vec<(u64, String)> = invalid
        .iter()
        .map(|r| {
            (
                r["input_line"].as_u64().unwrap(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let lines: Vec<u64> = by_line.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, vec![2, 4, 5, 6, 7, 8, 9, 10]);
    let reason = |n: u64| &by_line.iter().find(|(l, _)| *l == n).unwrap().1;
    assert!(reason(2).starts_with("not valid JSON"), "{}", reason(2));
    assert!(reason(4).starts_with("not valid UTF-8"), "{}", reason(4));
    assert!(reason(5).contains("control character"), "{}", reason(5));
    assert!(reason(6).starts_with("not valid JSON"), "{}", reason(6));
    assert!(reason(7).contains("recursion limit"), "{}", reason(7));
    assert!(reason(8).contains("found an array"), "{}", reason(8));
    assert!(reason(9).contains("yesterday"), "{}", reason(9));
    assert!(reason(10).contains("over the limit"), "{}", reason(10));

    let raw = |n: u64| invalid.iter().find(|r| r["input_line"] == n).unwrap();
    assert_eq!(raw(2)["raw"], "this is not json");
    assert_eq!(raw(4)["raw"], "{\"message\":\"bad \u{fffd}\u{fffd} utf8\"}");
    assert_eq!(raw(5)["raw"], "{\"message\":\"nul \0 inside\"}");
    let long = raw(10);
    assert_eq!(long["raw_bytes"], (50 << 20) + 1);
    assert_eq!(long["raw_truncated"], true);
    assert!(long["raw"].as_str().unwrap().len() <= 8 << 10);
    assert!(invalid.iter().all(|r| r["level"] == "WARN"));

    let valid = cat(&store, &["--user-id", "u1"]);
    assert_eq!(valid.len(), 1);
    assert_eq!(valid[0]["message"], "first");
    let last = cat(
        &store,
        &["--level", "WARN", "--action", "worm.invalid_input"],
    )
    .len();
    assert_eq!(last, 8);
    let (code, _) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0);
}

#[test]
fn max_line_bytes_is_configurable_and_text_summary_goes_to_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let long = format!("{{\"message\":\"{}\"}}\n", "y".repeat(200));
    let input = format!("{long}{{\"message\":\"short\"}}\n");
    let o = run(
        &[
            "ship",
            "--to",
            store.to_str().unwrap(),
            "--max-line-bytes",
            "100",
        ],
        input.as_bytes(),
    );
    let (code, out, err) = text(&o);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "");
    assert!(err.contains("stored 2 records"), "{err}");
    assert!(err.contains("invalid 1"), "{err}");
    assert_eq!(cat(&store, &["--action", "worm.invalid_input"]).len(), 1);

    let o = run(&["ship", "--to", store.to_str().unwrap(), "-q"], b"{}\n");
    assert_eq!(text(&o), (0, String::new(), String::new()));
}

#[test]
fn presets_and_batching_flags() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("hv");
    // high-volume keeps WARN and above.
    let s = ship(&store, &["--preset", "high-volume"], &records(20));
    assert_eq!(s["filtered"], 18, "{s}");
    assert_eq!(s["stored"], 2, "{s}");
    assert!(
        files(&store)
            .iter()
            .all(|p| p.to_str().unwrap().ends_with(".json.zst"))
    );
    assert_eq!(cat(&store, &[]).len(), 2);

    // --compress overrides the preset's: gzip under compliance, none under high-volume.
    let store = dir.path().join("gz");
    let s = ship(
        &store,
        &["--compress", "gzip", "--batch-size", "5"],
        &records(12),
    );
    assert_eq!(s["stored"], 12, "{s}");
    let keys = files(&store);
    assert!(
        keys.iter()
            .all(|p| p.to_str().unwrap().ends_with(".json.gz")),
        "{keys:?}"
    );
    assert_eq!(cat(&store, &[]).len(), 12);
    let store = dir.path().join("hv-plain");
    let s = ship(
        &store,
        &["--preset", "high-volume", "--compress", "none"],
        &records(20),
    );
    assert_eq!(s["stored"], 2, "{s}");
    assert!(
        files(&store)
            .iter()
            .all(|p| p.to_str().unwrap().ends_with(".json"))
    );

    let store = dir.path().join("b");
    let s = ship(
        &store,
        &[
            "--batch-size",
            "7",
            "--interval",
            "0.5",
            "--retention-days",
            "30",
            "--mode",
            "compliance",
        ],
        &records(21),
    );
    // 3 full batches and the final one.
    assert_eq!(s["batches"], 4, "{s}");
    assert_eq!(
        text(&run(
            &["ship", "--to", store.to_str().unwrap(), "--interval", "0"],
            b""
        ))
        .0,
        2
    );
}

/// --batch-bytes overrides the byte budget that cuts a batch before --batch-size
/// records; --max-in-flight changes how many uploads run at once, never what is stored.
#[test]
fn batch_bytes_and_max_in_flight_flags() {
    let dir = tempfile::tempdir().unwrap();
    let input = records(300);
    let line_bytes = input.len() / 300;
    // Default budget (1 MiB): one batch of 300 records and the final one.
    let s = ship(&dir.path().join("a"), &["--batch-size", "300"], &input);
    assert_eq!(
        (s["stored"].as_u64(), s["batches"].as_u64()),
        (Some(300), Some(2)),
        "{s}"
    );
    // A budget of ~40 records: the same records in more batches, each within it.
    let budget = (line_bytes * 40).max(1024);
    let store = dir.path().join("b");
    let s = ship(
        &store,
        &["--batch-size", "300", "--batch-bytes", &budget.to_string()],
        &input,
    );
    assert_eq!(s["stored"], 300, "{s}");
    let batches = s["batches"].as_u64().unwrap();
    // More than the budget's share: at least one more than full budgets would make.
    assert!(batches > 300 * line_bytes as u64 / budget as u64, "{s}");
    assert_eq!(cat(&store, &[]).len(), 300);
    assert_eq!(verify(&store, &[]).0, 0);
    for n in ["1", "8"] {
        let store = dir.path().join(format!("in-flight-{n}"));
        let s = ship(&store, &["--batch-size", "7", "--max-in-flight", n], &input);
        assert_eq!(s["stored"], 300, "{s}");
        assert_eq!(s["all_stored"], true, "{s}");
        assert_eq!(cat(&store, &[]).len(), 300);
        assert_eq!(verify(&store, &[]).0, 0);
    }
    let to = dir.path().join("refused");
    let to = to.to_str().unwrap();
    for bad in [
        &["--batch-bytes", "1023"][..],
        &["--batch-bytes", "33554433"],
        &["--max-in-flight", "0"],
        &["--max-in-flight", "65"],
    ] {
        let mut args = vec!["ship", "--to", to];
        args.extend_from_slice(bad);
        assert_eq!(text(&run(&args, b"")).0, 2, "{bad:?}");
    }
}

#[test]
fn records_that_cannot_be_stored_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    std::fs::create_dir(&store).unwrap();
    // Keys go under audit-logs/…; a plain file there makes every write fail.
    std::fs::write(store.join("audit-logs"), b"in the way").unwrap();
    let o = run(
        &[
            "ship",
            "--to",
            store.to_str().unwrap(),
            "--json",
            "--close-timeout",
            "2",
        ],
        &records(3),
    );
    let (code, out, err) = text(&o);
    assert_eq!(code, 1, "{out} {err}");
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s["all_stored"], false);
    assert_eq!(s["stored"], 0);
    assert!(
        err.starts_with("worm: not every record was stored in '"),
        "{err}"
    );
}

/// Spawn `worm ship`, feed `first` lines, wait for a stored batch (the signal handler is
/// installed before the store is opened), feed `rest`, signal, and return the summary.
fn ship_then_signal(signal: libc::c_int, first: usize, rest: usize) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let mut child = worm()
        .args([
            "ship",
            "--to",
            store.to_str().unwrap(),
            "--json",
            "--batch-size",
            "5",
        ])
        .args(["--interval", "3600"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let all = records(first + rest);
    let split = all
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(first - 1)
        .unwrap()
        .0
        + 1;
    stdin.write_all(&all[..split]).unwrap();
    let t = Instant::now();
    while files(&store).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "no batch stored");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Everything below goes into the pipe; ship may not have read it when the signal
    // arrives, and must read it anyway. stdin stays open: ship must not wait for EOF.
    stdin.write_all(&all[split..]).unwrap();
    stdin.flush().unwrap();
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    // SAFETY: kill(2) with a valid signal number on our own child's pid.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "ship did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(status.code(), Some(0), "{stdout} {stderr}");
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    (dir, summary)
}

#[test]
fn sigterm_stores_every_line_written_before_it() {
    let (dir, s) = ship_then_signal(libc::SIGTERM, 7, 3000);
    assert_eq!(s["stopped_by"], "SIGTERM", "{s}");
    assert_eq!(s["lines"], 3007, "{s}");
    assert_eq!(s["stored"], 3007, "{s}");
    assert_eq!(s["all_stored"], true);
    let store = dir.path().join("s");
    let all = cat(&store, &[]);
    assert_eq!(all.len(), 3007);
    for (i, r) in all.iter().enumerate() {
        assert_eq!(r["message"], format!("m{i}"));
    }
    // Closed: the final batch was written.
    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn sigint_stops_the_same_way() {
    let (dir, s) = ship_then_signal(libc::SIGINT, 5, 40);
    assert_eq!(s["stopped_by"], "SIGINT", "{s}");
    assert_eq!(s["stored"], 45, "{s}");
    assert_eq!(cat(&dir.path().join("s"), &[]).len(), 45);
}

#[test]
fn spool_keeps_what_a_killed_ship_had_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let spool = dir.path().join("spool");
    let (s, sp) = (store.to_str().unwrap(), spool.to_str().unwrap());
    let mut child = worm()
        .args([
            "ship",
            "--to",
            s,
            "--spool",
            sp,
            "--batch-size",
            "1000",
            "--interval",
            "3600",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&records(50)).unwrap();
    stdin.flush().unwrap();
    // Wait until the last record is in the spool's write-ahead log.
    let t = Instant::now();
    while !files(&spool).iter().any(|p| {
        std::fs::read(p)
            .unwrap()
            .windows(5)
            .any(|w| w == b"\"m49\"")
    }) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "records never reached the spool"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: no chance to store anything
    child.wait().unwrap();
    drop(stdin);
    assert!(
        cat(&store, &[]).is_empty(),
        "nothing was stored before the kill"
    );

    let summary = ship(&store, &["--spool", sp], b"");
    assert_eq!(summary["recovered"], 50, "{summary}");
    assert_eq!(summary["all_stored"], true);
    let all = cat(&store, &[]);
    assert_eq!(all.len(), 50);
    assert_eq!(all[49]["message"], "m49");
    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["streams"].as_array().unwrap().len(),
        1,
        "same stream: {report}"
    );
}
