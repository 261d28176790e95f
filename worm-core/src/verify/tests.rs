//! Unit tests of the verifier against an in-memory map that allows tampering.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream};
use uuid::Uuid;

use super::*;
use crate::batch::{self, Header};
use crate::hash::Sha256Hex;
use crate::sign::Signer;
use crate::sink::{Capabilities, PutOptions, PutReceipt, StoredObject};

/// A bare map: overwrite and delete allowed, so tests can tamper.
#[derive(Debug, Default)]
struct MapSink(Mutex<BTreeMap<String, Bytes>>);

impl MapSink {
    fn set(&self, key: &str, body: Vec<u8>) {
        self.0.lock().unwrap().insert(key.to_string(), body.into());
    }
    fn body(&self, key: &str) -> Vec<u8> {
        self.0.lock().unwrap()[key].to_vec()
    }
    fn remove(&self, key: &str) {
        self.0.lock().unwrap().remove(key);
    }
}

#[async_trait]
impl WormSink for MapSink {
    async fn put(&self, key: &str, body: Bytes, _: &PutOptions) -> Result<PutReceipt> {
        let size = body.len() as u64;
        let sha256 = Sha256Hex::of(&body);
        self.0.lock().unwrap().insert(key.to_string(), body);
        Ok(PutReceipt {
            key: key.to_string(),
            version_id: None,
            sha256,
            size,
        })
    }
    async fn get(&self, key: &str) -> Result<StoredObject> {
        let body = self
            .0
            .lock()
            .unwrap()
            .get(key)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                key: key.to_string(),
                target: "map:".into(),
            })?;
        Ok(StoredObject::plain(key, body))
    }
    fn list<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        let items: Vec<_> = self
            .0
            .lock()
            .unwrap()
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| {
                Ok(ObjectInfo {
                    key: k.clone(),
                    size: v.len() as u64,
                    last_modified: None,
                    not_a_file: None,
                })
            })
            .collect();
        Box::pin(stream::iter(items))
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    fn describe(&self) -> String {
        "map:".into()
    }
}

struct Built {
    keys: Vec<String>,
    stream: Uuid,
    chains: Vec<Sha256Hex>,
}

fn records(seq: u64, n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        out.extend_from_slice(
            format!("{{\"timestamp\":\"2025-06-12T10:{:02}:{:02}.000Z\",\"level\":\"INFO\",\"message\":\"m{i}\"}}\n", seq % 60, i % 60)
                .as_bytes(),
        );
    }
    out
}

fn header(stream: Uuid, seq: u64, prev: Option<Sha256Hex>, n: u64) -> Header {
    let ts = |i: u64| (n > 0).then(|| format!("2025-06-12T10:{:02}:{:02}.000Z", seq % 60, i % 60));
    Header {
        v: 1,
        stream,
        batch: Uuid::now_v7(),
        service: "svc".into(),
        seq,
        prev,
        records: n,
        first_ts: ts(0),
        last_ts: ts(n.saturating_sub(1)),
        ..Default::default()
    }
}

fn build(sink: &MapSink, n: u64, close: bool, signer: Option<&Signer>) -> Built {
    let stream = Uuid::now_v7();
    let mut prev = None;
    let mut out = Built {
        keys: vec![],
        stream,
        chains: vec![],
    };
    for seq in 0..n {
        let last = close && seq + 1 == n;
        let count = if last { 0 } else { 3 };
        let h = header(stream, seq, prev, count);
        let (body, chain) = batch::encode(&h, &records(seq, count), last, signer);
        let key = format!("p/{:03}-{}.json", seq, h.batch);
        sink.set(&key, body);
        out.keys.push(key);
        out.chains.push(chain);
        prev = Some(chain);
    }
    out
}

fn kinds(r: &Report) -> Vec<(Kind, String)> {
    r.problems.iter().map(|p| (p.kind, p.key.clone())).collect()
}

#[tokio::test]
async fn clean_stream_verifies_and_summarises() {
    let sink = MapSink::default();
    let s = Signer::from_seed([7; 32]);
    let b = build(&sink, 5, true, Some(&s));
    let seen = Arc::new(Mutex::new(0u64));
    let seen2 = seen.clone();
    let r = Verifier::new()
        .prefix("p/")
        .public_key(s.public_key())
        .on_object(move |p| *seen2.lock().unwrap() = p.objects_done)
        .verify(&sink)
        .await
        .unwrap();
    assert!(r.problems.is_empty(), "{r}");
    assert!(r.is_intact());
    assert_eq!(*seen.lock().unwrap(), 5);
    assert_eq!((r.objects, r.batches, r.records), (5, 5, 12));
    let st = &r.streams[0];
    assert_eq!(st.stream, b.stream);
    assert!(st.closed);
    assert_eq!(st.signed, Signed::All);
    assert_eq!(st.key_ids, vec![s.key_id().to_string()]);
    assert_eq!(st.first_ts.as_deref(), Some("2025-06-12T10:00:00.000Z"));
    assert_eq!(st.last_ts.as_deref(), Some("2025-06-12T10:03:02.000Z"));
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"signed\":\"all\""), "{json}");
}

#[tokio::test]
async fn open_stream_is_a_warning_unless_closing_is_required() {
    let sink = MapSink::default();
    let b = build(&sink, 3, false, None);
    let r = verify(&sink, "").await.unwrap();
    assert!(r.is_intact());
    assert_eq!(kinds(&r), vec![(Kind::Open, b.keys[2].clone())]);
    assert_eq!(r.problems[0].severity, Severity::Warning);
    let r = Verifier::new()
        .require_closed(true)
        .verify(&sink)
        .await
        .unwrap();
    assert!(!r.is_intact());
    assert_eq!(kinds(&r), vec![(Kind::Truncated, b.keys[2].clone())]);
}

#[tokio::test]
async fn gaps_modifications_and_foreign_objects() {
    let sink = MapSink::default();
    let b = build(&sink, 6, true, None);
    sink.remove(&b.keys[2]);
    let mut body = sink.body(&b.keys[4]);
    let i = body.windows(4).position(|w| w == b"\"m1\"").unwrap() + 1;
    body[i] ^= 0x01;
    sink.set(&b.keys[4], body);
    sink.set("p/zz-readme.txt", b"hello".to_vec());
    let r = verify(&sink, "p/").await.unwrap();
    let mut k = kinds(&r);
    k.sort();
    assert_eq!(
        k,
        vec![
            (Kind::Modified, b.keys[4].clone()),
            (Kind::Missing, b.keys[3].clone()),
            (Kind::Inserted, "p/zz-readme.txt".to_string()),
        ]
    );
}

#[tokio::test]
async fn rewritten_link_blames_the_replaced_batch_and_reorder_is_named() {
    let sink = MapSink::default();
    let b = build(&sink, 5, true, None);
    // Replace seq 1 with new content and a recomputed seal, without fixing seq 2.
    let h = header(b.stream, 1, Some(b.chains[0]), 1);
    let mut h2 = h.clone();
    h2.batch = batch::parse(&sink.body(&b.keys[1])).unwrap().header.batch;
    let (body, _) = batch::encode(&h2, &records(1, 1), false, None);
    sink.set(&b.keys[1], body);
    let r = verify(&sink, "").await.unwrap();
    assert_eq!(kinds(&r), vec![(Kind::Modified, b.keys[1].clone())], "{r}");

    // A batch whose prev names an earlier batch than the one before it.
    let sink = MapSink::default();
    let b = build(&sink, 4, false, None);
    let old = batch::parse(&sink.body(&b.keys[3])).unwrap().header;
    let h = Header {
        prev: Some(b.chains[1]),
        ..old
    };
    let (body, _) = batch::encode(&h, &records(3, 3), false, None);
    sink.set(&b.keys[3], body);
    let r = verify(&sink, "").await.unwrap();
    assert_eq!(
        kinds(&r),
        vec![
            (Kind::Reordered, b.keys[3].clone()),
            (Kind::Open, b.keys[3].clone())
        ],
        "{r}"
    );
}

#[tokio::test]
async fn signatures_unknown_keys_and_unsigned() {
    let sink = MapSink::default();
    let good = Signer::from_seed([1; 32]);
    let evil = Signer::from_seed([2; 32]);
    let b = build(&sink, 3, true, Some(&good));
    let unsigned = build(&sink, 2, true, None);
    // Re-sign seq 1 with another key.
    let p = batch::parse(&sink.body(&b.keys[1])).unwrap();
    let body = sink.body(&b.keys[1]);
    let (resigned, _) = batch::encode(&p.header, &body[p.records.clone()], false, Some(&evil));
    sink.set(&b.keys[1], resigned);
    let r = Verifier::new()
        .public_key(good.public_key())
        .verify(&sink)
        .await
        .unwrap();
    let mut k = kinds(&r);
    k.sort();
    assert_eq!(
        k,
        vec![
            (Kind::BadSignature, b.keys[1].clone()),
            (Kind::Unsigned, unsigned.keys[0].clone())
        ],
        "{r}"
    );
    assert!(r.problems.iter().any(|p| p.message.contains(evil.key_id())));
    // Without a key the new seal line still breaks the chain: seq 2 names the old hash.
    let r = verify(&sink, "").await.unwrap();
    assert_eq!(kinds(&r), vec![(Kind::Modified, b.keys[1].clone())], "{r}");
}

#[tokio::test]
async fn duplicates_misplaced_and_conflicting_seq() {
    let sink = MapSink::default();
    let s = Signer::from_seed([3; 32]);
    let b = build(&sink, 4, true, Some(&s));
    // Same content under a key carrying the batch id: benign.
    let id = batch::parse(&sink.body(&b.keys[1])).unwrap().header.batch;
    let dup = format!("p/copy-{id}.json");
    sink.set(&dup, sink.body(&b.keys[1]));
    // Same content under a foreign key: misplaced.
    sink.set("p/elsewhere.json", sink.body(&b.keys[2]));
    // A second batch at seq 2, chained to seq 1, unsigned.
    let forged_h = header(b.stream, 2, Some(b.chains[1]), 1);
    let forged_key = format!("p/forged-{}.json", forged_h.batch);
    sink.set(
        &forged_key,
        batch::encode(&forged_h, &records(2, 1), false, None).0,
    );
    let r = Verifier::new()
        .public_key(s.public_key())
        .verify(&sink)
        .await
        .unwrap();
    let mut k = kinds(&r);
    k.sort();
    assert_eq!(
        k,
        vec![
            (Kind::Inserted, forged_key.clone()),
            (Kind::Copied, dup.clone()),
            (Kind::Copied, "p/elsewhere.json".to_string()),
            (Kind::Misplaced, "p/elsewhere.json".to_string()),
            (Kind::Unsigned, forged_key.clone()),
        ],
        "{r}"
    );
    // A copy under another key is an object no writer wrote: an error.
    assert_eq!(
        r.of_kind(Kind::Copied).next().unwrap().severity,
        Severity::Error
    );
}

#[tokio::test]
async fn batches_after_the_final_are_inserted() {
    let sink = MapSink::default();
    let b = build(&sink, 3, true, None);
    let h = header(b.stream, 3, Some(b.chains[2]), 2);
    let key = format!("p/late-{}.json", h.batch);
    sink.set(&key, batch::encode(&h, &records(3, 2), false, None).0);
    let r = verify(&sink, "").await.unwrap();
    assert_eq!(kinds(&r), vec![(Kind::Inserted, key)], "{r}");
}

#[tokio::test]
async fn header_disagreeing_with_records_is_modified() {
    let sink = MapSink::default();
    let b = build(&sink, 2, true, None);
    let p = batch::parse(&sink.body(&b.keys[0])).unwrap();
    let body = sink.body(&b.keys[0]);
    let h = Header {
        first_ts: Some("2024-01-01T00:00:00.000Z".into()),
        ..p.header
    };
    sink.set(
        &b.keys[0],
        batch::encode(&h, &body[p.records.clone()], false, None).0,
    );
    let r = verify(&sink, "").await.unwrap();
    // Its chain hash changed too, so seq 1's link names a batch that is gone.
    assert_eq!(kinds(&r), vec![(Kind::Modified, b.keys[0].clone())], "{r}");
    assert!(r.problems[0].message.contains("first_ts"), "{r}");
}

#[derive(Debug, Default)]
struct FakeVersions {
    versions: Vec<ObjectVersion>,
    bodies: BTreeMap<String, Bytes>,
}

#[async_trait]
impl VersionSource for FakeVersions {
    fn list_versions<'a>(&'a self, prefix: &'a str) -> BoxStream<'a, Result<ObjectVersion>> {
        Box::pin(stream::iter(
            self.versions
                .iter()
                .filter(move |v| v.key.starts_with(prefix))
                .cloned()
                .map(Ok),
        ))
    }
    async fn get_version(&self, key: &str, version_id: &str) -> Result<Bytes> {
        self.bodies
            .get(version_id)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                key: format!("{key}?versionId={version_id}"),
                target: "fake".into(),
            })
    }
}

fn version(key: &str, id: &str, latest: bool, marker: bool, etag: Option<&str>) -> ObjectVersion {
    ObjectVersion {
        key: key.into(),
        version_id: id.into(),
        is_latest: latest,
        is_delete_marker: marker,
        size: 10,
        last_modified: None,
        etag: etag.map(str::to_string),
    }
}

#[tokio::test]
async fn versions_shadowed_and_delete_markers() {
    let sink = MapSink::default();
    let b = build(&sink, 2, true, None);
    let mut src = FakeVersions {
        versions: vec![
            version(&b.keys[0], "a2", true, false, Some("e1")),
            version(&b.keys[0], "a1", false, false, Some("e1")),
            version(&b.keys[1], "b2", true, false, Some("e2")),
            version(&b.keys[1], "b1", false, false, Some("e3")),
            version("p/gone.json", "c2", true, true, None),
            version("p/gone.json", "c1", false, false, Some("e4")),
        ],
        bodies: BTreeMap::new(),
    };
    src.bodies.insert("b2".into(), Bytes::from_static(b"new"));
    src.bodies.insert("b1".into(), Bytes::from_static(b"old"));
    let r = Verifier::new()
        .versions(Arc::new(src))
        .verify(&sink)
        .await
        .unwrap();
    assert!(r.versions_checked);
    let mut k = kinds(&r);
    k.sort();
    assert_eq!(
        k,
        vec![
            (Kind::Modified, b.keys[1].clone()),
            (Kind::Duplicate, b.keys[0].clone()),
            (Kind::DeleteMarker, "p/gone.json".to_string()),
        ],
        "{r}"
    );
    let modified = r.of_kind(Kind::Modified).next().unwrap();
    assert_eq!(
        modified.version_ids,
        vec!["b2".to_string(), "b1".to_string()]
    );
    assert!(!r.is_intact());
}

#[tokio::test]
async fn compressed_objects_and_expansion_limit() {
    let sink = MapSink::default();
    let b = build(&sink, 2, true, None);
    for (i, c) in [batch::Compression::Gzip, batch::Compression::Zstd]
        .into_iter()
        .enumerate()
    {
        let body = sink.body(&b.keys[i]);
        sink.remove(&b.keys[i]);
        sink.set(
            &format!("{}{}", b.keys[i].trim_end_matches(".json"), c.ext()),
            c.compress(&body).unwrap(),
        );
    }
    let r = verify(&sink, "").await.unwrap();
    assert!(r.problems.is_empty(), "{r}");
    let r = Verifier::new()
        .max_object_bytes(50)
        .verify(&sink)
        .await
        .unwrap();
    assert_eq!(r.of_kind(Kind::Oversized).count(), 2, "{r}");
    assert!(
        r.of_kind(Kind::Oversized)
            .all(|p| p.message.contains("expands past 50 bytes")),
        "{r}"
    );
}

#[tokio::test]
async fn bombs_and_long_lines_are_oversized_and_the_rest_verifies() {
    use std::io::Write;
    let sink = MapSink::default();
    build(&sink, 3, true, None);
    let h = header(Uuid::now_v7(), 0, None, 0);
    let (body, _) = batch::encode(&h, b"", false, None);
    let first = body.iter().position(|&b| b == b'\n').unwrap() + 1;
    for (name, c, fill) in [
        ("zeros.json.zst", batch::Compression::Zstd, 0u8),
        ("newlines.json.zst", batch::Compression::Zstd, b'\n'),
        ("zeros.json.gz", batch::Compression::Gzip, 0u8),
    ] {
        let mut out = Vec::new();
        {
            let mut w: Box<dyn Write + '_> = match c {
                batch::Compression::Gzip => Box::new(flate2::write::GzEncoder::new(
                    &mut out,
                    flate2::Compression::best(),
                )),
                _ => Box::new(
                    zstd::stream::write::Encoder::new(&mut out, 3)
                        .unwrap()
                        .auto_finish(),
                ),
            };
            w.write_all(&body[..first]).unwrap();
            let chunk = vec![fill; 1 << 16];
            for _ in 0..(8 << 20) / chunk.len() {
                w.write_all(&chunk).unwrap();
            }
        }
        sink.set(name, out);
    }
    sink.set("header-only-line.json", body[..first].to_vec());
    sink.set("long-header.json", vec![b'{'; 100 << 10]);
    let r = Verifier::new()
        .max_object_bytes(1 << 20)
        .verify(&sink)
        .await
        .unwrap();
    let keys = |k: Kind| r.of_kind(k).map(|p| p.key.as_str()).collect::<Vec<_>>();
    assert_eq!(
        keys(Kind::Oversized),
        vec![
            "long-header.json",
            "newlines.json.zst",
            "zeros.json.gz",
            "zeros.json.zst"
        ],
        "{r}"
    );
    assert!(
        r.of_kind(Kind::Oversized)
            .find(|p| p.key == "zeros.json.zst")
            .unwrap()
            .message
            .contains("line 2 is longer than 65536 bytes"),
        "{r}"
    );
    assert_eq!(keys(Kind::Unreadable), vec!["header-only-line.json"], "{r}");
    assert_eq!((r.batches, r.records), (3, 6), "{r}");
}

/// A sealed batch whose records nest 10,000 deep and hold a 4 MiB string: the verifier
/// and the query API read it without overflowing a stack or holding more than a line.
#[tokio::test]
async fn deep_nesting_and_long_lines_in_a_sealed_batch() {
    use futures::StreamExt;
    let sink = MapSink::default();
    let deep = format!(
        "{{\"timestamp\":\"2025-06-12T10:00:00.000Z\",\"level\":\"INFO\",\"message\":\"m\",\"x\":{}{}}}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let long = format!(
        "{{\"timestamp\":\"2025-06-12T10:00:00.000Z\",\"level\":\"INFO\",\"message\":\"{}\"}}\n",
        "a".repeat(3 << 20)
    );
    let mut h = header(Uuid::now_v7(), 0, None, 2);
    h.first_ts = Some("2025-06-12T10:00:00.000Z".into());
    h.last_ts = h.first_ts.clone();
    let (body, _) = batch::encode(&h, format!("{deep}{long}").as_bytes(), true, None);
    let key = format!("p/000-{}.json", h.batch);
    sink.set(&key, body);
    let r = verify(&sink, "").await.unwrap();
    assert!(r.is_intact(), "{r}");
    assert_eq!(r.records, 2);
    let q = crate::query::Query::new(crate::query::Filter::default());
    let items: Vec<_> = q.records(&sink).collect().await;
    assert_eq!(items.len(), 2);
    let e = items[0].as_ref().unwrap_err().to_string();
    assert!(e.contains("recursion limit"), "{e}");
    assert_eq!(items[1].as_ref().unwrap().raw.len(), long.len() - 1);
}

/// A shadowed version listed larger than any batch is `modified` without being fetched
/// (the fake has no body for it: a fetch would fail the verification).
#[tokio::test]
async fn an_oversized_version_is_not_fetched() {
    let sink = MapSink::default();
    let b = build(&sink, 1, true, None);
    let mut big = version(&b.keys[0], "v1", false, false, Some("e2"));
    big.size = 5 << 30;
    let mut src = FakeVersions {
        versions: vec![version(&b.keys[0], "v2", true, false, Some("e1")), big],
        bodies: BTreeMap::new(),
    };
    src.bodies
        .insert("v2".into(), Bytes::from(sink.body(&b.keys[0])));
    let r = Verifier::new()
        .versions(Arc::new(src))
        .verify(&sink)
        .await
        .unwrap();
    assert_eq!(kinds(&r), vec![(Kind::Modified, b.keys[0].clone())], "{r}");
}

/// In `/3` every byte of a sealed batch is committed to although the seal's sha256 no
/// longer covers the records: one byte changed in a middle batch (every byte of its header
/// and records, every third of its seal line), or in the header or records of the newest
/// one, is never intact, even unsigned (the signed checkpoint only adds to this).
#[tokio::test]
async fn every_byte_of_a_v3_batch_is_committed_to() {
    {
        let v = batch::VERSION;
        let sink = MapSink::default();
        let stream = Uuid::now_v7();
        let mut tree = crate::tlog::Frontier::new();
        let mut prev = None;
        let mut keys = Vec::new();
        for seq in 0..3 {
            let mut h = header(stream, seq, prev, 3);
            h.v = v;
            h.at = Some(format!("2025-06-12T10:{seq:02}:59.000Z"));
            let (body, chain) = batch::encode_v2(&h, &records(seq, 3), false, &mut tree, None);
            assert_eq!(batch::parse(&body).unwrap().header.v, v);
            let key = format!("p/{seq:03}-{}.json", h.batch);
            sink.set(&key, body);
            keys.push(key);
            prev = Some(chain);
        }
        let check = || async { Verifier::new().verify(&sink).await.unwrap() };
        let r = check().await;
        assert!(r.is_intact(), "v{v}: {r}");
        for (key, whole) in [(&keys[1], true), (&keys[2], false)] {
            let body = sink.body(key);
            let seal_at = batch::parse(&body).unwrap().records.end;
            let seal_bytes = (seal_at..body.len()).step_by(3).filter(|_| whole);
            for i in (0..seal_at).chain(seal_bytes) {
                let mut bad = body.clone();
                bad[i] ^= 1;
                sink.set(key, bad);
                let r = check().await;
                assert!(
                    !r.is_intact(),
                    "v{v}: byte {i} of {key} ({:?}) changed, yet intact",
                    body[i] as char
                );
            }
            sink.set(key, body);
        }
    }
}
