//! Client-side encryption through `worm`: no record content in any stored byte or spool
//! file (a `kill -9` included), verification without a key, reading with each recipient's
//! identity, across a key rotation, and the one-line refusal of a wrong identity.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// The request ids of `records`, in order.
fn request_ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["request_id"].as_str().unwrap().to_string())
        .collect()
}

/// The request ids [`marked_records`] gives.
fn expected_ids(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("rq-{tag}-{i}")).collect()
}

/// `worm cat` expected to refuse: its one stderr line.
fn refused_cat(store: &Path, args: &[&str]) -> String {
    let mut all = vec!["cat", store.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, out, err) = text(&run(&all, b""));
    assert_eq!(code, 2, "cat {args:?}: exit {code}\n{out}\n{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn encrypted_store_hides_records_verifies_without_a_key_and_reads_with_each_identity() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let (a, ra) = keygen_age(dir.path(), "a.key");
    let (b, rb) = keygen_age(dir.path(), "b.key");
    let (c, rc) = keygen_age(dir.path(), "c.key");
    let sign = dir.path().join("sig.key");
    expect(&["keygen", "--out", sign.to_str().unwrap()], b"", 0);
    let pubkey = format!("{}.pub", sign.display());
    let (ida, idb, idc) = (
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        c.to_str().unwrap(),
    );

    // Operator and auditor, one from a file, one on the command line.
    let tag1 = marker_tag();
    let s = ship(
        &store,
        &[
            "--encrypt-to-file",
            &format!("{ida}.pub"),
            "--encrypt-to",
            &rb,
            "--sign-key",
            sign.to_str().unwrap(),
            "--batch-size",
            "7",
            "--heartbeat",
            "0",
        ],
        &marked_records(&tag1, 30),
    );
    assert_eq!(s["stored"], 30, "{s}");
    assert!(assert_no_marker_under(&store, &tag1) >= 5);

    let (code, report) = verify(&store, &["--public-key", &pubkey, "--require-closed"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], 30, "{report}");
    assert_eq!(report["intact"], true, "{report}");

    for id in [ida, idb] {
        let got = cat(&store, &["--identity", id]);
        assert_eq!(request_ids(&got), expected_ids(&tag1, 30));
        assert_eq!(got[29]["client_ip"], format!("ip-{tag1}-29"));
    }
    let err = refused_cat(&store, &["--identity", idc]);
    assert!(err.contains(&ra) && err.contains(&rb), "{err}");
    assert!(!err.contains(&rc), "{err}");
    let err = refused_cat(&store, &[]);
    assert!(err.contains(&ra) && err.contains("no identity"), "{err}");

    // Rotation: a new writer encrypts to the new recipient only.
    let tag2 = marker_tag();
    ship(
        &store,
        &[
            "--encrypt-to",
            &rc,
            "--sign-key",
            sign.to_str().unwrap(),
            "--heartbeat",
            "0",
        ],
        &marked_records(&tag2, 20),
    );
    assert_no_marker_under(&store, &tag1);
    assert_no_marker_under(&store, &tag2);
    for (old, new) in [(ida, idc), (idb, idc)] {
        let got = cat(&store, &["--identity", old, "--identity", new]);
        let mut ids = request_ids(&got);
        ids.sort();
        let mut want = expected_ids(&tag1, 30);
        want.extend(expected_ids(&tag2, 20));
        want.sort();
        assert_eq!(ids, want);
    }
    let err = refused_cat(&store, &["--identity", ida]);
    assert!(err.contains(&rc) && !err.contains(&ra), "{err}");

    let (code, report) = verify(&store, &["--public-key", &pubkey, "--require-closed"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], 50, "{report}");
    // With identities, the leaves are recomputed from the records as well.
    let (code, report) = verify(&store, &["--identity", ida, "--identity", idc]);
    assert_eq!(code, 0, "{report}");

    // ls names the recipients; with an identity it fills in the record times.
    let ls = expect(&["ls", store.to_str().unwrap(), "--json"], b"", 0);
    let first: Value = serde_json::from_str(ls.lines().next().unwrap()).unwrap();
    assert!(first["encrypted_to"].as_array().is_some(), "{first}");
    assert!(first.get("first_ts").is_none(), "{first}");
    let ls = expect(
        &[
            "ls",
            store.to_str().unwrap(),
            "--json",
            "--identity",
            ida,
            "--identity",
            idc,
        ],
        b"",
        0,
    );
    assert!(ls.lines().any(|l| l.contains("\"first_ts\"")), "{ls}");
    assert_no_marker(ls.as_bytes(), &tag1, "ls output");

    // Record proofs from an encrypted store check like any other.
    let proofs = dir.path().join("proofs");
    let rid = format!("rq-{tag1}-12");
    expect(
        &[
            "prove",
            store.to_str().unwrap(),
            "--request-id",
            &rid,
            "--identity",
            idb,
            "--identity",
            idc,
            "--out",
            proofs.to_str().unwrap(),
        ],
        b"",
        0,
    );
    let bundles = files(&proofs);
    assert_eq!(bundles.len(), 1);
    let vkey = format!("{}.vkey", sign.display());
    expect(
        &[
            "verify-proof",
            bundles[0].to_str().unwrap(),
            "--public-key",
            &vkey,
        ],
        b"",
        0,
    );
    let (code, _, err) = text(&run(
        &["prove", store.to_str().unwrap(), "--request-id", &rid],
        b"",
    ));
    assert_eq!((code, err.lines().count()), (2, 1), "{err}");
}

/// Frames in the spool's write-ahead log segments (`[len][crc][payload]`).
fn wal_frames(spool: &Path) -> usize {
    files(spool)
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("wal-"))
        .map(|p| {
            let data = std::fs::read(p).unwrap();
            let (mut off, mut n) = (0usize, 0usize);
            while off + 8 <= data.len() {
                let len = u32::from_le_bytes(data[off..off + 4].try_into().unwrap()) as usize;
                if off + 8 + len > data.len() {
                    break;
                }
                off += 8 + len;
                n += 1;
            }
            n
        })
        .sum()
}

#[test]
fn a_killed_encrypted_ship_leaves_no_record_content_in_its_spool() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("s");
    let spool = dir.path().join("spool");
    let (a, ra) = keygen_age(dir.path(), "a.key");
    let (s, sp) = (store.to_str().unwrap(), spool.to_str().unwrap());
    let tag = marker_tag();
    let mut child = worm()
        .args([
            "ship",
            "--to",
            s,
            "--spool",
            sp,
            "--encrypt-to",
            &ra,
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
    stdin.write_all(&marked_records(&tag, 50)).unwrap();
    stdin.flush().unwrap();
    // Wait until every record is in the spool's write-ahead log.
    let t = Instant::now();
    while wal_frames(&spool) < 50 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "records never reached the spool"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL: the records exist only in the spool
    child.wait().unwrap();
    drop(stdin);
    assert!(assert_no_marker_under(&spool, &tag) >= 2);
    assert_no_marker_under(&store, &tag);

    // A writer without an identity cannot replay them: it says so and touches nothing.
    let (code, _, err) = text(&run(
        &["ship", "--to", s, "--spool", sp, "--encrypt-to", &ra],
        b"",
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--spool-identity"), "{err}");
    assert_eq!(wal_frames(&spool), 50);

    let summary = ship(
        &store,
        &[
            "--spool",
            sp,
            "--encrypt-to",
            &ra,
            "--spool-identity",
            a.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(summary["recovered"], 50, "{summary}");
    assert_eq!(summary["all_stored"], true);
    assert_no_marker_under(&store, &tag);
    assert_no_marker_under(&spool, &tag);
    let all = cat(&store, &["--identity", a.to_str().unwrap()]);
    assert_eq!(request_ids(&all), expected_ids(&tag, 50));
    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
}
