//! Running the built `worm` binary in tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test binaries; panics are failure reports

pub mod serve;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// `worm` with an environment that cannot leak a developer's store settings into a test.
pub fn worm() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_worm"));
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

/// Run `worm args` with `input` on stdin.
pub fn run(args: &[&str], input: &[u8]) -> Output {
    run_cmd(worm(), args, input)
}

/// Run `cmd` (a [`worm`] command with more settings) with `args` and `input` on stdin.
pub fn run_cmd(mut cmd: Command, args: &[&str], input: &[u8]) -> Output {
    let mut child = cmd
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn worm");
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    // Written from a thread: a large input must not dead-lock against full output pipes.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait for worm");
    writer.join().unwrap();
    out
}

/// Exit code, stdout and stderr as text.
pub fn text(o: &Output) -> (i32, String, String) {
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Run and expect exit code `code`; returns stdout.
pub fn expect(args: &[&str], input: &[u8], code: i32) -> String {
    expect_cmd(worm(), args, input, code)
}

/// [`expect`] with a prepared command.
pub fn expect_cmd(cmd: Command, args: &[&str], input: &[u8], code: i32) -> String {
    let o = run_cmd(cmd, args, input);
    let (c, out, err) = text(&o);
    assert_eq!(
        c, code,
        "worm {args:?}: exit {c}\nstdout: {out}\nstderr: {err}"
    );
    out
}

/// `worm ship --json` into `store`; returns the summary.
pub fn ship(store: &Path, extra: &[&str], input: &[u8]) -> Value {
    let s = store.to_str().unwrap();
    let mut args = vec!["ship", "--to", s, "--json"];
    args.extend_from_slice(extra);
    let out = expect(&args, input, 0);
    serde_json::from_str(&out).expect("ship --json prints JSON")
}

/// `worm cat store args`: the records printed.
pub fn cat(store: &Path, args: &[&str]) -> Vec<Value> {
    let s = store.to_str().unwrap();
    let mut all = vec!["cat", s];
    all.extend_from_slice(args);
    expect(&all, b"", 0)
        .lines()
        .map(|l| serde_json::from_str(l).expect("cat prints JSON lines"))
        .collect()
}

/// NDJSON lines `{"message":"m<i>", …}` for i in 0..n.
pub fn records(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            r#"{{"level":"{}","request_id":"req-{}","user_id":"user{}","action":"{}","message":"m{i}"}}"#,
            if i % 10 == 0 { "ERROR" } else { "INFO" },
            i % 7,
            i % 3,
            if i % 2 == 0 { "login" } else { "motion_detected" }
        )
        .unwrap();
    }
    out
}

/// Every regular file under `dir`, sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `worm verify store --json`: exit code and report.
pub fn verify(store: &Path, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", store.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let o = run(&args, b"");
    let (code, out, err) = text(&o);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v)
}

/// A tag no record holds by chance (`mk` and 12 hex digits).
pub fn marker_tag() -> String {
    format!("mk{}", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

/// `n` NDJSON records whose every value that is record content carries `tag` (request id,
/// user id, message, an IP address field, a camera id), with `i` the record's number.
pub fn marked_records(tag: &str, n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        writeln!(
            out,
            r#"{{"level":"INFO","request_id":"rq-{tag}-{i}","user_id":"us-{tag}-{i}","action":"export","message":"exported by {tag}-{i}","client_ip":"ip-{tag}-{i}","camera_id":"cam-{tag}-{i}"}}"#
        )
        .unwrap();
    }
    out
}

/// Panic when `tag` is in `bytes` (or in them decompressed, for a gzip or zstd body):
/// `what` says where they come from.
pub fn assert_no_marker(bytes: &[u8], tag: &str, what: &str) {
    let has = |b: &[u8]| b.windows(tag.len()).any(|w| w == tag.as_bytes());
    assert!(
        !has(bytes),
        "record content '{tag}…' in the clear in {what}"
    );
    let mut plain = Vec::new();
    if bytes.starts_with(&[0x1f, 0x8b]) {
        use std::io::Read;
        let _ = flate2::read::GzDecoder::new(bytes).read_to_end(&mut plain);
    } else if bytes.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        plain = zstd::decode_all(bytes).unwrap_or_default();
    }
    assert!(!has(&plain), "record content '{tag}…' compressed in {what}");
}

/// Every file under `dir`, its path and its bytes, checked for `tag`; returns how many
/// files were checked.
pub fn assert_no_marker_under(dir: &Path, tag: &str) -> usize {
    let all = files(dir);
    for p in &all {
        assert_no_marker(p.to_string_lossy().as_bytes(), tag, "a file name");
        let bytes = std::fs::read(p).unwrap();
        assert_no_marker(&bytes, tag, &p.display().to_string());
    }
    all.len()
}

/// `worm keygen --age --out dir/name`: the identity file and its recipient.
pub fn keygen_age(dir: &Path, name: &str) -> (PathBuf, String) {
    let id = dir.join(name);
    expect(&["keygen", "--age", "--out", id.to_str().unwrap()], b"", 0);
    let mut public = id.clone().into_os_string();
    public.push(".pub");
    let r = std::fs::read_to_string(PathBuf::from(public)).unwrap();
    (id, r.trim().to_string())
}
