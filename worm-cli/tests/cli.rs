//! The `worm` binary: help, keygen, demo, verify (intact, tampered, signed), ls, cat,
//! exit codes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;
use serde_json::Value;

#[test]
fn help_for_every_command() {
    let top = expect(&["--help"], b"", 0);
    for word in [
        "ship",
        "verify",
        "ls",
        "cat",
        "s3",
        "keygen",
        "demo",
        "EXIT CODES",
    ] {
        assert!(top.contains(word), "--help lacks {word}: {top}");
    }
    for cmd in [
        &["ship", "--help"][..],
        &["verify", "--help"],
        &["ls", "--help"],
        &["cat", "--help"],
        &["s3", "--help"],
        &["s3", "setup", "--help"],
        &["s3", "verify", "--help"],
        &["keygen", "--help"],
        &["demo", "--help"],
    ] {
        let out = expect(cmd, b"", 0);
        assert!(out.contains("Usage: worm"), "{cmd:?}: {out}");
    }
    let ship = expect(&["ship", "--help"], b"", 0);
    for flag in [
        "--to",
        "--service",
        "--preset",
        "--batch-size",
        "--interval",
        "--retention-days",
        "--mode",
        "--sign-key",
        "--spool",
        "--max-line-bytes",
        "--json",
        "--quiet",
        "SIGTERM",
    ] {
        assert!(ship.contains(flag), "ship --help lacks {flag}");
    }
}

#[test]
fn usage_and_store_errors_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let o = run(&["verify", missing.to_str().unwrap()], b"");
    let (code, _, err) = text(&o);
    assert_eq!(code, 2);
    assert!(err.starts_with("worm: cannot open store '"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let (code, _, err) = text(&run(&["ls", "gs://bucket"], b""));
    assert_eq!(code, 2);
    assert!(err.contains("unknown scheme 'gs://'"), "{err}");

    let (code, _, err) = text(&run(&["cat", "memory:", "--since", "yesterday"], b""));
    assert_eq!(code, 2);
    assert!(
        err.contains("--since") && err.contains("yesterday"),
        "{err}"
    );

    let (code, _, err) = text(&run(&["cat", "memory:", "--level", "loud"], b""));
    assert_eq!(code, 2, "{err}");

    // clap's own usage errors.
    assert_eq!(text(&run(&["ship", "--preset", "fast"], b"")).0, 2);
    assert_eq!(text(&run(&["frobnicate"], b"")).0, 2);

    // A store path that is a file.
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let (code, _, err) = text(&run(&["ship", "--to", file.to_str().unwrap()], b"{}\n"));
    assert_eq!(code, 2);
    assert!(err.contains("cannot open store"), "{err}");

    // A missing signing key.
    let store = dir.path().join("s");
    let (code, _, err) = text(&run(
        &[
            "ship",
            "--to",
            store.to_str().unwrap(),
            "--sign-key",
            "/nonexistent/key",
        ],
        b"{}\n",
    ));
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/key"), "{err}");
}

#[test]
fn keygen_writes_a_private_secret_a_public_key_and_a_vkey_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let k = key.to_str().unwrap();
    let (code, _, err) = text(&run(&["keygen", "--out", k], b""));
    assert_eq!(code, 0, "{err}");
    let secret = std::fs::read_to_string(&key).unwrap();
    let public = std::fs::read_to_string(dir.path().join("audit.key.pub")).unwrap();
    let vkey = std::fs::read_to_string(dir.path().join("audit.key.vkey")).unwrap();
    assert!(secret.starts_with("PRIVATE+KEY+worm+"), "{secret}");
    assert!(public.starts_with("worm-ed25519-public:"));
    assert!(vkey.starts_with("worm+") && vkey.ends_with('\n'), "{vkey}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(err.contains("key id"), "{err}");
    // The three files are one key: same seal key id, and the vkey's note key id.
    let s = worm::sign::Signer::from_file(&key).unwrap();
    for p in ["audit.key.pub", "audit.key.vkey"] {
        let pk = worm::sign::PublicKey::from_file(&dir.path().join(p)).unwrap();
        assert_eq!(pk.key_id(), s.key_id(), "{p}");
        assert_eq!(pk.to_vkey(), vkey.trim_end(), "{p}");
    }
    assert!(err.contains(&s.public_key().vkey_prefix()), "{err}");

    let (code, _, err) = text(&run(&["keygen", "--out", k], b""));
    assert_eq!(code, 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(
        std::fs::read_to_string(&key).unwrap(),
        secret,
        "secret key unchanged"
    );
    // Only the .pub or the .vkey taken is enough to refuse.
    for taken in ["other.pub", "other.vkey"] {
        let other = dir.path().join("other");
        std::fs::write(dir.path().join(taken), b"x").unwrap();
        assert_eq!(
            text(&run(&["keygen", "--out", other.to_str().unwrap()], b"")).0,
            2
        );
        assert!(!other.exists());
        std::fs::remove_file(dir.path().join(taken)).unwrap();
    }
}

#[test]
fn demo_writes_verifies_and_adds_a_stream_on_a_second_run() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("worm-data");
    let s = store.to_str().unwrap();
    let out = expect(&["demo", s], b"", 0);
    assert!(
        out.contains("intact") && !out.contains("NOT intact"),
        "{out}"
    );
    assert!(out.contains("signed by"), "{out}");

    let out = expect(&["demo", s, "--json"], b"", 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["intact"], true);
    assert_eq!(v["report"]["streams"].as_array().unwrap().len(), 2);

    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["intact"], true);
    let motion = cat(&store, &["--action", "motion_detected"]);
    assert_eq!(motion.len(), 24);
    for r in &motion {
        assert_eq!(r["service_name"], "camera_service");
        assert!(r["camera_id"].as_str().unwrap().starts_with("cam"));
        assert!(r["confidence"].as_f64().unwrap() > 0.5);
        assert!(r["detection_count"].as_u64().unwrap() >= 1);
        assert!(r["request_id"].as_str().unwrap().starts_with("req-"));
    }
    let mallory = cat(&store, &["--user-id", "op.mallory", "--level", "error"]);
    assert_eq!(mallory.len(), 2);
    assert!(mallory.iter().all(|r| r["action"] == "account_locked"));

    // Memory: the whole run in one process.
    let out = expect(&["demo", "memory:"], b"", 0);
    assert!(out.contains("intact"), "{out}");
}

#[test]
fn verify_exits_1_on_a_tampered_store_and_0_on_an_intact_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ship(&store, &["--batch-size", "5"], &records(23));
    let (code, report) = verify(&store, &[]);
    assert_eq!(
        (code, &report["intact"]),
        (0, &Value::Bool(true)),
        "{report}"
    );
    assert_eq!(report["records"], 23);
    let text_out = expect(&["verify", store.to_str().unwrap()], b"", 0);
    assert!(text_out.trim_end().ends_with("intact"), "{text_out}");
    assert_eq!(
        expect(&["verify", store.to_str().unwrap(), "--quiet"], b"", 0),
        ""
    );

    // Files are read-only (0444) but root or the owner can still chmod and edit: what the
    // verifier is for.
    let victim = files(&store)
        .into_iter()
        .find(|p| std::fs::read_to_string(p).unwrap().contains("\"m7\""))
        .unwrap();
    assert_eq!(
        std::fs::metadata(&victim).unwrap().permissions().mode() & 0o777,
        0o444
    );
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let body = std::fs::read_to_string(&victim).unwrap();
    std::fs::write(&victim, body.replace("\"m7\"", "\"m8\"")).unwrap();

    let (code, report) = verify(&store, &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["intact"], false);
    let problems = report["problems"].as_array().unwrap();
    let key = victim.strip_prefix(&store).unwrap().to_str().unwrap();
    assert!(
        problems
            .iter()
            .any(|p| p["kind"] == "modified" && p["key"] == key),
        "{problems:?}"
    );
    let o = run(&["verify", store.to_str().unwrap()], b"");
    let (code, out, _) = text(&o);
    assert_eq!(code, 1);
    assert!(
        out.contains("modified") && out.contains("NOT intact"),
        "{out}"
    );
    let (code, out, err) = text(&run(&["verify", store.to_str().unwrap(), "-q"], b""));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("NOT intact"), "{err}");

    // cat skips the modified batch, says so, and exits 1.
    let o = run(&["cat", store.to_str().unwrap()], b"");
    let (code, out, err) = text(&o);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("skipped") && err.contains("worm verify"),
        "{err}"
    );
    assert_eq!(out.lines().count(), 23 - 5, "one batch of 5 skipped");

    // A removed batch is missing.
    let store2 = dir.path().join("s2");
    ship(&store2, &["--batch-size", "2"], &records(10));
    let mut batches = files(&store2);
    batches.sort_by_key(|p| {
        let body = std::fs::read_to_string(p).unwrap();
        let v: Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
        v["worm"]["seq"].as_u64().unwrap()
    });
    std::fs::remove_file(&batches[2]).unwrap();
    let (code, report) = verify(&store2, &[]);
    assert_eq!(code, 1);
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["kind"] == "missing"),
        "{report}"
    );

    // However many objects are checked at once, the report is the same, byte for byte.
    for s in [&store, &store2] {
        let default = verify(s, &[]);
        assert_eq!(default.0, 1, "{}", default.1);
        for n in ["1", "2", "64"] {
            assert_eq!(
                verify(s, &["--concurrency", n]),
                default,
                "--concurrency {n}"
            );
        }
    }
    let (code, _, err) = text(&run(
        &["verify", store.to_str().unwrap(), "--concurrency", "0"],
        b"",
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--concurrency"), "{err}");
}

#[test]
fn signed_shipping_verifies_with_its_public_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let other = dir.path().join("other");
    expect(&["keygen", "--out", key.to_str().unwrap()], b"", 0);
    expect(&["keygen", "--out", other.to_str().unwrap()], b"", 0);
    let store = dir.path().join("s");
    ship(&store, &["--sign-key", key.to_str().unwrap()], &records(12));
    let pubkey = format!("{}.pub", key.display());
    let (code, report) = verify(&store, &["--public-key", &pubkey]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["signatures_checked"], true);
    assert_eq!(report["streams"][0]["signed"], "all");
    // The C2SP verifier key is the same key.
    let vkey = format!("{}.vkey", key.display());
    let (code, report) = verify(&store, &["--public-key", &vkey]);
    assert_eq!(code, 0, "{report}");

    let otherpub = format!("{}.pub", other.display());
    let (code, report) = verify(&store, &["--public-key", &otherpub]);
    assert_eq!(code, 1);
    assert!(
        report["problems"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["kind"] == "bad_signature"),
        "{report}"
    );
    // Both keys (a rotation): fine.
    let (code, _) = verify(
        &store,
        &["--public-key", &otherpub, "--public-key", &pubkey],
    );
    assert_eq!(code, 0);

    // Unsigned batches fail once a key is expected.
    let unsigned = dir.path().join("u");
    ship(&unsigned, &[], &records(3));
    let (code, report) = verify(&unsigned, &["--public-key", &pubkey]);
    assert_eq!(code, 1);
    assert!(
        report["problems"].to_string().contains("unsigned"),
        "{report}"
    );
}

#[test]
fn ls_lists_batches_with_stream_seq_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let summary = ship(&store, &["--batch-size", "4"], &records(10));
    let stream = summary["stream"].as_str().unwrap().to_string();
    let out = expect(&["ls", store.to_str().unwrap(), "--json"], b"", 0);
    let objs: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // 4 + 4 + 2 records, then the final batch (the 2 may ride in it).
    let total: u64 = objs.iter().map(|o| o["records"].as_u64().unwrap()).sum();
    assert_eq!(total, 10);
    assert!(objs.iter().all(|o| o["stream"] == stream.as_str()));
    let mut seqs: Vec<u64> = objs.iter().map(|o| o["seq"].as_u64().unwrap()).collect();
    seqs.sort();
    assert_eq!(seqs, (0..objs.len() as u64).collect::<Vec<_>>());
    assert_eq!(objs.iter().filter(|o| o["is_final"] == true).count(), 1);

    let table = expect(&["ls", store.to_str().unwrap()], b"", 0);
    assert!(table.starts_with("STREAM"), "{table}");
    assert_eq!(table.lines().count(), objs.len() + 1);

    // Time filters: everything was written just now.
    let future = expect(
        &[
            "ls",
            store.to_str().unwrap(),
            "--json",
            "--since",
            "2999-01-01",
        ],
        b"",
        0,
    );
    assert_eq!(future, "");
    let recent = expect(
        &["ls", store.to_str().unwrap(), "--json", "--since", "1h"],
        b"",
        0,
    );
    assert!(recent.lines().count() >= 3, "{recent}");
    let past = expect(
        &[
            "ls",
            store.to_str().unwrap(),
            "--json",
            "--until",
            "2000-01-01T00:00:00Z",
        ],
        b"",
        0,
    );
    assert_eq!(past, "");

    // A foreign file shows up with its error.
    std::fs::write(store.join("stray.txt"), b"hello").unwrap();
    let out = expect(&["ls", store.to_str().unwrap(), "--json"], b"", 0);
    assert!(
        out.contains("stray.txt") && out.contains("not a readable batch"),
        "{out}"
    );

    // A batch copied under a key no writer used is marked, and only the copy.
    let batch = files(&store)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    std::fs::copy(&batch, store.join("copy.json")).unwrap();
    let out = expect(&["ls", store.to_str().unwrap(), "--json"], b"", 0);
    let marked: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|o| o["misplaced"] == true)
        .map(|o| o["key"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(marked, vec!["copy.json".to_string()], "{out}");
    let table = expect(&["ls", store.to_str().unwrap()], b"", 0);
    let copy_row = table.lines().find(|l| l.contains("copy.json")).unwrap();
    assert!(copy_row.contains("moved or copied here"), "{table}");
    assert_eq!(table.matches("moved or copied").count(), 1, "{table}");
}

#[test]
fn cat_filters_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ship(&store, &["--service", "camera_service"], &records(30));
    let all = cat(&store, &[]);
    assert_eq!(all.len(), 30);
    // In stream order.
    let msgs: Vec<&str> = all.iter().map(|r| r["message"].as_str().unwrap()).collect();
    let want: Vec<String> = (0..30).map(|i| format!("m{i}")).collect();
    assert_eq!(msgs, want);
    assert!(all.iter().all(|r| r["service_name"] == "camera_service"));
    assert_eq!(cat(&store, &["--request-id", "req-3"]).len(), 4); // 3, 10, 17, 24
    assert_eq!(cat(&store, &["--user-id", "user1"]).len(), 10);
    assert_eq!(cat(&store, &["--level", "ERROR"]).len(), 3);
    assert_eq!(cat(&store, &["--level", "warn"]).len(), 3);
    assert_eq!(cat(&store, &["--action", "login"]).len(), 15);
    assert_eq!(
        cat(&store, &["--action", "login", "--user-id", "user0"]).len(),
        5
    );
    assert_eq!(cat(&store, &["--service", "camera_service"]).len(), 30);
    assert_eq!(cat(&store, &["--service", "other"]).len(), 0);
    assert_eq!(cat(&store, &["--since", "10m"]).len(), 30);
    assert_eq!(cat(&store, &["--until", "10m"]).len(), 0);
}

#[test]
fn cat_into_a_closed_pipe_ends_quietly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    ship(&store, &["--batch-size", "1000"], &records(3000));
    let mut child = worm()
        .args(["cat", store.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 16];
    std::io::Read::read_exact(&mut stdout, &mut first).unwrap();
    drop(stdout); // like `| head -c 16`
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.is_empty(), "{err}");
}
