//! `worm ship --to A --to B`, `worm verify A --replica B`, `worm sync A B` and the anchor
//! store (`--anchor-to`, `verify --anchor-store`), on local directories.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{expect, files, records, run, text};
use serde_json::Value;

fn writable(p: &Path) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Two replicas written by one `worm ship`, with signed batches.
fn replicated(dir: &Path) -> (String, String, Value) {
    let (a, b) = (dir.join("a"), dir.join("b"));
    let key = dir.join("k");
    expect(&["keygen", "--out", key.to_str().unwrap()], b"", 0);
    let (a, b) = (
        a.to_str().unwrap().to_string(),
        b.to_str().unwrap().to_string(),
    );
    let out = expect(
        &[
            "ship",
            "--to",
            &a,
            "--to",
            &b,
            "--json",
            "--batch-size",
            "10",
            "--heartbeat",
            "0",
            "--sign-key",
            key.to_str().unwrap(),
            "--anchor-to",
            dir.join("anchors").to_str().unwrap(),
        ],
        &records(60),
        0,
    );
    (a, b, serde_json::from_str(&out).unwrap())
}

#[test]
fn ship_to_two_stores_writes_the_same_bytes_under_the_same_keys() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, summary) = replicated(dir.path());
    assert_eq!(summary["stored"], 60);
    let targets = summary["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for t in targets {
        assert_eq!(t["batches_stored"], 7, "{t}");
        assert_eq!(
            (t["backlog_batches"].as_u64(), t["missed"].as_u64()),
            (Some(0), Some(0))
        );
    }
    let rel = |root: &str| -> Vec<(String, Vec<u8>)> {
        files(Path::new(root))
            .into_iter()
            .map(|p| {
                let k = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                (k, std::fs::read(&p).unwrap())
            })
            .collect()
    };
    assert_eq!(rel(&a), rel(&b));
    assert_eq!(rel(&a).len(), 7);
    let out = expect(&["verify", &a, "--replica", &b], b"", 0);
    assert!(out.contains("replica identical"), "{out}");
    // The bad ack policies are refused with what was wrong.
    let (code, _, err) = text(&run(
        &["ship", "--to", &a, "--to", &b, "--ack-targets", "quorum 3"],
        b"",
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("quorum 3"), "{err}");
    let (code, _, err) = text(&run(&["ship", "--to", &a, "--ack-targets", "most"], b""));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'most'"), "{err}");
}

#[test]
fn verify_replica_names_a_deleted_and_a_modified_batch_and_sync_repairs_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = replicated(dir.path());
    let in_b = files(Path::new(&b));
    let in_a = files(Path::new(&a));
    // One batch deleted from b, another modified in a.
    let deleted = &in_b[1];
    writable(deleted.parent().unwrap());
    writable(deleted);
    std::fs::remove_file(deleted).unwrap();
    let modified = &in_a[3];
    writable(modified);
    let mut bytes = std::fs::read(modified).unwrap();
    bytes[40] ^= 1;
    std::fs::write(modified, bytes).unwrap();
    let key = |root: &str, p: &Path| p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
    let (deleted_key, modified_key) = (key(&b, deleted), key(&a, modified));

    let o = run(&["verify", &a, "--replica", &b, "--json"], b"");
    let (code, out, err) = text(&o);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let r = &v["replica"];
    assert_eq!(r["only_in_a"][0]["key"], deleted_key.as_str(), "{r}");
    assert_eq!(r["only_in_b"].as_array().unwrap().len(), 0, "{r}");
    assert_eq!(r["different"][0]["key"], modified_key.as_str(), "{r}");
    assert_eq!(r["same"], 5, "{r}");
    let out = expect(&["verify", &a, "--replica", &b], b"", 1);
    assert!(
        out.contains(&format!("missing_in_replica '{deleted_key}'")),
        "{out}"
    );
    assert!(
        out.contains(&format!("replica_differs '{modified_key}'")),
        "{out}"
    );

    // The modified batch is left alone in both; the deleted one is copied back.
    let (code, _, err) = text(&run(&["sync", &a, &b], b""));
    assert_eq!(code, 1, "a batch that differs is reported: {err}");
    assert!(err.contains("copied 1 of 1"), "{err}");
    assert!(
        err.contains(&format!("never overwritten) '{modified_key}'")),
        "{err}"
    );
    assert!(deleted.exists());
    let copy = std::fs::read(deleted).unwrap();
    assert_eq!(
        copy,
        std::fs::read(Path::new(&a).join(&deleted_key)).unwrap()
    );
    let (code, _, err) = text(&run(&["sync", &a, &b], b""));
    assert_eq!(code, 1);
    assert!(err.contains("nothing to copy"), "{err}");

    // With the modification undone in a, the replicas agree and a sync has nothing to do.
    let original = std::fs::read(Path::new(&b).join(&modified_key)).unwrap();
    std::fs::write(modified, original).unwrap();
    let out = expect(&["verify", &a, "--replica", &b], b"", 0);
    assert!(out.contains("replica identical"), "{out}");
    let (code, _, err) = text(&run(&["sync", &a, &b], b""));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to copy"), "{err}");
    // A fresh replica is filled completely, then verifies identical.
    let c = dir.path().join("c");
    let (code, _, err) = text(&run(&["sync", &a, c.to_str().unwrap()], b""));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("copied 7 of 7"), "{err}");
    expect(
        &["verify", &a, "--replica", c.to_str().unwrap(), "-q"],
        b"",
        0,
    );
}

/// A tampered replica is input too: an object larger than any batch can be is reported by
/// key and never read (a sparse 1 GiB file here: reading it would take 1 GiB of memory).
#[test]
fn verify_replica_and_sync_never_read_an_oversized_object() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = replicated(dir.path());
    let in_b = files(Path::new(&b));
    let grown = &in_b[2];
    writable(grown.parent().unwrap());
    writable(grown);
    std::fs::File::options()
        .write(true)
        .open(grown)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();
    let grown_key = grown
        .strip_prefix(&b)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // And one only in a, which sync would copy.
    let extra = Path::new(&a).join(format!("{grown_key}.big"));
    writable(extra.parent().unwrap());
    std::fs::File::create(&extra)
        .unwrap()
        .set_len(1 << 30)
        .unwrap();

    let o = run(&["verify", &a, "--replica", &b, "--json"], b"");
    let (code, out, err) = text(&o);
    assert_eq!(code, 1, "{out}{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let over = v["replica"]["oversized"].as_array().unwrap();
    assert_eq!(over.len(), 1, "{v}");
    assert!(
        over[0].as_str().unwrap().contains(&grown_key) && over[0].as_str().unwrap().contains(&b),
        "{over:?}"
    );
    assert_eq!(v["replica"]["different"].as_array().unwrap().len(), 0);
    let out = expect(&["verify", &a, "--replica", &b], b"", 1);
    assert!(out.contains(&format!("error oversized {b}")), "{out}");

    let (code, _, err) = text(&run(&["sync", &a, &b], b""));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("oversized, never read: {b}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("NOT copied '{grown_key}.big'")),
        "{err}"
    );
    assert!(!Path::new(&b).join(format!("{grown_key}.big")).exists());
}

#[test]
fn anchor_store_holds_only_checkpoints_and_verify_uses_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b, summary) = replicated(dir.path());
    let anchors = dir.path().join("anchors");
    let published = summary["anchor"]["batches_stored"].as_u64().unwrap();
    assert!(published >= 1, "{summary}");
    assert_eq!(summary["anchor"]["missed"], 0);
    let notes = files(&anchors);
    assert_eq!(notes.len() as u64, published);
    // Every batch's checkpoint, not only the newest of each upload.
    assert_eq!(published, summary["batches"].as_u64().unwrap(), "{summary}");
    for n in &notes {
        let text = std::fs::read_to_string(n).unwrap();
        assert!(text.starts_with("worm/"), "a checkpoint note: {text}");
        assert!(text.contains("\n\n\u{2014} "), "signed: {text}");
    }
    let pubkey = dir.path().join("k.pub");
    let anchor_store = anchors.to_str().unwrap();
    let args = [
        "verify",
        &a,
        "--anchor-store",
        anchor_store,
        "--public-key",
        pubkey.to_str().unwrap(),
    ];
    expect(&args, b"", 0);
    // The tail removed (the batch with the last records and the final one): on its own
    // the store looks like a stream whose writer is still at work, but it is shorter
    // than the anchored tree.
    for p in files(Path::new(&a)) {
        let body = std::fs::read_to_string(&p).unwrap();
        if body.contains("\"message\":\"m59\"") || body.contains("\"final\":true}}") {
            writable(p.parent().unwrap());
            std::fs::remove_file(&p).unwrap();
        }
    }
    expect(&args[..2], b"", 0);
    let out = expect(&args, b"", 1);
    assert!(out.contains("against the anchor"), "{out}");
    // An anchor store without checkpoints is an error, not a silent pass.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let (code, _, err) = text(&run(
        &["verify", &a, "--anchor-store", empty.to_str().unwrap()],
        b"",
    ));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("holds no checkpoint"), "{err}");
}

/// The batches of a local store, in stream order: (path, body).
fn batches_in_order(store: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = files(store)
        .into_iter()
        .map(|p| {
            let body = std::fs::read(&p).unwrap();
            (p, body)
        })
        .collect();
    out.sort_by_key(|(_, b)| worm::batch::parse(b).unwrap().header.seq);
    out
}

/// A middle batch rewritten, and every later one chained and signed again with the
/// writer's own key: the store verifies intact on its own, and the anchor store catches
/// it, even with every checkpoint after the rewritten batch deleted from the anchor store
/// (the reason to publish every checkpoint, not only the newest).
#[test]
fn anchor_store_catches_a_middle_batch_rewritten_and_resigned_with_the_writers_key() {
    use integration_tests::chain::{reencode, tree_after};
    let dir = tempfile::tempdir().unwrap();
    let (a, _b, summary) = replicated(dir.path());
    let signer = worm::sign::Signer::from_file(&dir.path().join("k")).unwrap();
    let batches = batches_in_order(Path::new(&a));
    assert_eq!(batches.len() as u64, summary["batches"].as_u64().unwrap());
    let middle = 2;
    let mut prev = None;
    let mut tree = None;
    for (path, body) in &batches[middle..] {
        let p = worm::batch::parse(body).unwrap();
        let records = body[p.records.clone()].to_vec();
        let edited = String::from_utf8(records)
            .unwrap()
            .replace("\"message\":\"m25\"", "\"message\":\"forged\"");
        let (new, chain) = reencode(
            body,
            |h| {
                if prev.is_some() {
                    h.prev = prev;
                }
                if let Some(t) = tree.clone() {
                    h.tree = Some(t);
                }
            },
            Some(edited.as_bytes()),
            Some(&signer),
        );
        writable(path.parent().unwrap());
        std::fs::remove_file(path).unwrap();
        std::fs::write(path, &new).unwrap();
        tree = Some(tree_after(&new));
        prev = Some(chain);
    }
    let all: String = batches_in_order(Path::new(&a))
        .iter()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert!(
        all.contains("forged") && !all.contains("\"m25\""),
        "the rewrite took"
    );

    let pubkey = dir.path().join("k.pub");
    let anchors = dir.path().join("anchors");
    // On its own the rewritten store is intact: the key holder rewrote it.
    expect(
        &["verify", &a, "--public-key", pubkey.to_str().unwrap()],
        b"",
        0,
    );
    // Keep only the anchor store's checkpoint of the rewritten batch.
    let mut notes = files(&anchors);
    notes.sort();
    assert_eq!(notes.len(), batches.len());
    for n in &notes[middle + 1..] {
        writable(n.parent().unwrap());
        std::fs::remove_file(n).unwrap();
    }
    let out = expect(
        &[
            "verify",
            &a,
            "--anchor-store",
            anchors.to_str().unwrap(),
            "--public-key",
            pubkey.to_str().unwrap(),
        ],
        b"",
        1,
    );
    assert!(out.contains("against the anchor"), "{out}");
}
