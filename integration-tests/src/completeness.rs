//! The completeness suite: what the Merkle tree, signed checkpoints, heartbeats,
//! successions and anchors of `worm-batch/2` add to the tamper suite. Each case names its
//! kind and key. Every case takes a store with a raw (tamper) path and a fresh prefix, so
//! fs (`tests/completeness.rs`) and S3 (`tests/s3_completeness.rs`) run the same cases.
#![allow(clippy::unwrap_used, missing_docs)] // a test suite: a panic is the failure report

use std::time::Duration;

use crate::chain::{
    BuiltStream, Raw, StreamSpec, plain_body, raw_put_plain, reencode, tree_after, write_stream,
};
use chrono::Utc;
use futures::StreamExt;
use worm::batch::Predecessor;
use worm::query::{Filter, Query};
use worm::sign::Signer;
use worm::tlog::proof::ProofBundle;
use worm::verify::{Anchor, Kind, Report, Severity, Verifier};

/// A fresh prefix under `prefix` for one scenario.
fn sub(prefix: &str) -> String {
    format!("{prefix}/{}", uuid::Uuid::now_v7().simple())
}

/// What every case needs of a store.
pub trait Store: Raw + Clone + Sync + 'static {}
impl<T: Raw + Clone + Sync + 'static> Store for T {}

fn writer() -> Signer {
    Signer::from_seed([42; 32])
}

async fn verify_with(sink: &dyn worm::WormSink, prefix: &str, v: Verifier) -> Report {
    v.prefix(format!("{prefix}/"))
        .public_key(writer().public_key())
        .verify(sink)
        .await
        .unwrap()
}

fn errors(r: &Report) -> Vec<(Kind, String)> {
    let mut v: Vec<_> = r.errors().map(|p| (p.kind, p.key.clone())).collect();
    v.sort();
    v
}

/// The anchor an auditor keeps: the stream's latest signed checkpoint.
async fn anchor_of(sink: &dyn worm::WormSink, prefix: &str, s: &BuiltStream) -> Anchor {
    let r = verify_with(sink, prefix, Verifier::new()).await;
    assert!(r.is_intact(), "{r}");
    let st = r.streams.iter().find(|x| x.stream == s.stream).unwrap();
    let a = Anchor::parse(st.checkpoint.as_deref().unwrap()).unwrap();
    assert_eq!((a.stream, a.signed), (s.stream, true));
    a
}

pub async fn silence_beyond_three_heartbeats_is_stale_and_a_fresh_open_stream_is_live(
    sink: &impl Store,
    prefix: &str,
) {
    let p = sub(prefix);
    let w = writer();
    let old = Utc::now() - chrono::Duration::hours(1);
    let s = write_stream(
        sink,
        &StreamSpec::new(5, 10)
            .under(&p)
            .signed(&w)
            .open()
            .live(60_000, old),
    )
    .await;
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert_eq!(errors(&r), vec![(Kind::Stale, s.key(4).to_string())], "{r}");

    // The tail (heartbeats included) removed from a live stream: the last checkpoint
    // left is old, so the removal shows as stale.
    let p = sub(prefix);
    let s = write_stream(
        sink,
        &StreamSpec::new(5, 10)
            .under(&p)
            .signed(&w)
            .open()
            .live(60_000, Utc::now()),
    )
    .await;
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(r.is_intact(), "{r}");
    let live: Vec<_> = r.of_kind(Kind::Open).collect();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].severity, Severity::Info, "{r}");
    sink.raw_delete(s.key(4)).await;
    sink.raw_delete(s.key(3)).await;
    let later = Utc::now() + chrono::Duration::minutes(5);
    let r = verify_with(sink, &p, Verifier::new().now(later)).await;
    assert_eq!(errors(&r), vec![(Kind::Stale, s.key(2).to_string())], "{r}");
    // --max-silence overrides the writer's cadence.
    let r = verify_with(
        sink,
        &p,
        Verifier::new()
            .now(later)
            .max_silence(Duration::from_secs(3600)),
    )
    .await;
    assert!(r.is_intact(), "{r}");
}

pub async fn a_removed_predecessor_stream_is_missing_stream(sink: &impl Store, prefix: &str) {
    let p = sub(prefix);
    let w = writer();
    let a = write_stream(sink, &StreamSpec::new(4, 10).under(&p).signed(&w)).await;
    let last = a.batches.last().unwrap();
    let pred = Predecessor {
        stream: a.stream,
        size: last.tree_size,
        root: last.root,
    };
    let b = write_stream(
        sink,
        &StreamSpec::new(3, 10)
            .under(&p)
            .signed(&w)
            .after(pred.clone()),
    )
    .await;
    assert!(verify_with(sink, &p, Verifier::new()).await.is_intact());

    // Its tail removed: shorter than the successor names.
    sink.raw_delete(a.key(4)).await;
    sink.raw_delete(a.key(3)).await;
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(
        errors(&r).contains(&(Kind::MissingStream, b.key(0).to_string())),
        "{r}"
    );
    // All of it removed.
    for i in 0..3 {
        sink.raw_delete(a.key(i)).await;
    }
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert_eq!(
        errors(&r),
        vec![(Kind::MissingStream, b.key(0).to_string())],
        "{r}"
    );
    assert!(
        r.errors()
            .next()
            .unwrap()
            .message
            .contains(&a.stream.to_string())
    );
}

pub async fn anchors_catch_deletion_and_a_rewrite_resigned_with_the_writers_own_key(
    sink: &impl Store,
    prefix: &str,
) {
    let w = writer();
    let spec = |p: &str| StreamSpec::new(6, 10).under(p).signed(&w);

    // Tail removed, final batch included: the stream looks open, but the anchor knows
    // it was longer.
    let p = sub(prefix);
    let s = write_stream(sink, &spec(&p)).await;
    let anchor = anchor_of(sink, &p, &s).await;
    for i in 4..=6 {
        sink.raw_delete(s.key(i)).await;
    }
    let r = verify_with(sink, &p, Verifier::new().anchor(anchor.clone())).await;
    let key = format!("anchor worm/{} size {}", s.stream, anchor.size);
    assert_eq!(errors(&r), vec![(Kind::MissingStream, key.clone())], "{r}");

    // The whole stream removed.
    for i in 0..4 {
        sink.raw_delete(s.key(i)).await;
    }
    let r = verify_with(sink, &p, Verifier::new().anchor(anchor.clone())).await;
    assert_eq!(errors(&r), vec![(Kind::MissingStream, key.clone())], "{r}");

    // Every batch rewritten and re-signed with the writer's key: internally perfect,
    // inconsistent with the anchor.
    let p = sub(prefix);
    let s = write_stream(sink, &spec(&p)).await;
    let anchor = anchor_of(sink, &p, &s).await;
    let mut prev = None;
    let mut tree = None;
    for b in &s.batches {
        let body = plain_body(sink, &b.key).await;
        let p = worm::batch::parse(&body).unwrap();
        let _ = &p;
        let mut recs = crate::chain::open_records(&body);
        if let Some(at) = recs.windows(6).position(|x| x == b"frame ") {
            recs[at + 6] = b'X';
        }
        let (new, chain) = reencode(
            &body,
            |h| {
                h.prev = prev;
                if let Some(t) = tree.clone() {
                    h.tree = Some(t);
                }
            },
            Some(&recs),
            Some(&w),
        );
        raw_put_plain(sink, &b.key, &new).await;
        tree = Some(tree_after(&new));
        prev = Some(chain);
    }
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(
        r.is_intact(),
        "a rewrite by the key holder is invisible without an anchor: {r}"
    );
    let r = verify_with(sink, &p, Verifier::new().anchor(anchor.clone())).await;
    let key = format!("anchor worm/{} size {}", s.stream, anchor.size);
    assert_eq!(errors(&r), vec![(Kind::Inconsistent, key)], "{r}");

    // An anchor signed by another key is refused, not trusted.
    let evil = Signer::from_seed([66; 32]);
    let forged = worm::tlog::note::sign(
        &worm::tlog::note::Note::parse(&anchor.text).unwrap().text,
        &evil,
    )
    .unwrap();
    let r = verify_with(
        sink,
        &p,
        Verifier::new().anchor(Anchor::parse(&forged).unwrap()),
    )
    .await;
    assert_eq!(errors(&r)[0].0, Kind::BadSignature, "{r}");
}

pub async fn record_proofs_verify_and_any_altered_field_fails(sink: &impl Store, prefix: &str) {
    let p = sub(prefix);
    let w = writer();
    write_stream(sink, &StreamSpec::new(7, 13).under(&p).signed(&w)).await;
    let filter = Filter {
        request_id: Some("req-000004".into()),
        ..Filter::default()
    };
    let mut bundles = Vec::new();
    let summary = worm::prove::Prover::new(filter)
        .identities(crate::chain::test_identities())
        .prefix(format!("{p}/"))
        .prove(sink, |b| {
            bundles.push(b);
            Ok(())
        })
        .await
        .unwrap();
    assert!(summary.refused.is_empty(), "{summary:?}");
    assert!(!bundles.is_empty());
    let keys = [w.public_key()];
    for b in &bundles {
        let json = b.to_json();
        assert_eq!(b.tree_size, 91);
        worm::tlog::proof::verify(json.as_bytes(), &keys).unwrap();
        let alter = |f: &dyn Fn(&mut ProofBundle)| {
            let mut x = b.clone();
            f(&mut x);
            worm::tlog::proof::verify(x.to_json().as_bytes(), &keys).is_err()
        };
        assert!(alter(
            &|x| x.record = x.record.replace("req-000004", "req-000043")
        ));
        assert!(alter(&|x| x.index = (x.index + 1) % x.tree_size));
        assert!(alter(&|x| x.tree_size += 1));
        assert!(alter(&|x| x.stream = uuid::Uuid::now_v7()));
        assert!(alter(&|x| x.inclusion[0] = x.inclusion[1].clone()));
        assert!(alter(&|x| x.inclusion.pop().map_or((), |_| ())));
        assert!(alter(
            &|x| x.checkpoint = x.checkpoint.replacen("\n91\n", "\n92\n", 1)
        ));
        assert!(
            worm::tlog::proof::verify(json.as_bytes(), &[Signer::from_seed([9; 32]).public_key()])
                .is_err()
        );
    }
}

/// Every record under `prefix`, read as `cat` reads (with the test identity), and every
/// batch skipped.
async fn read_all(sink: &impl Store, prefix: &str) -> Vec<worm::Result<worm::query::Hit>> {
    Query::new(Filter::default())
        .identities(crate::chain::test_identities())
        .prefix(format!("{prefix}/"))
        .records(sink)
        .collect()
        .await
}

pub async fn a_copy_under_another_key_is_an_error_and_read_once(sink: &impl Store, prefix: &str) {
    let p = sub(prefix);
    let s = write_stream(sink, &StreamSpec::new(10, 30).under(&p)).await;
    let body = plain_body(sink, s.key(3)).await;
    let copy = format!("{}.copy.json", s.key(3));
    raw_put_plain(sink, &copy, &body).await;
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(errors(&r).contains(&(Kind::Copied, copy.clone())), "{r}");
    let hits = read_all(sink, &p).await;
    let records = hits.iter().filter(|h| h.is_ok()).count();
    assert_eq!(records, 300);
    let skipped: Vec<_> = hits.iter().filter_map(|h| h.as_ref().err()).collect();
    assert_eq!(skipped.len(), 1);
    assert!(skipped[0].to_string().contains(&copy), "{}", skipped[0]);
}

/// Stores written as earlier versions wrote them (`worm-batch/1`, and `/2` whose seal
/// hashes the whole body) verify clean, and a byte changed in a record of either is
/// `modified` to `verify` and skipped by `cat`.
pub async fn worm_batch_1_and_2_stores_still_verify_and_show_a_changed_record(
    sink: &impl Store,
    prefix: &str,
) {
    let w = writer();
    for (what, spec) in [
        ("/1", StreamSpec::new(5, 10).v1()),
        ("/2", StreamSpec::new(5, 10).v2()),
    ] {
        let p = sub(prefix);
        let s = write_stream(sink, &spec.under(&p).signed(&w)).await;
        let body = plain_body(sink, s.key(2)).await;
        let v = worm::batch::parse(&body).unwrap().header.v;
        assert_eq!(v, if what == "/1" { 1 } else { 2 }, "{what}");
        let r = verify_with(sink, &p, Verifier::new()).await;
        assert!(r.problems.is_empty(), "{what}: {r}");
        assert_eq!(r.records, 50, "{what}");
        // One byte in the middle of the batch's first record line.
        let p2 = worm::batch::parse(&body).unwrap();
        let first = &body[p2.records.clone()];
        let line_len = first.iter().position(|&b| b == b'\n').unwrap();
        let mut bad = body.clone();
        bad[p2.records.start + line_len / 2] ^= 1;
        raw_put_plain(sink, s.key(2), &bad).await;
        let r = verify_with(sink, &p, Verifier::new()).await;
        assert_eq!(
            errors(&r),
            vec![(Kind::Modified, s.key(2).to_string())],
            "{what}: {r}"
        );
        let hits = read_all(sink, &p).await;
        assert_eq!(hits.iter().filter(|h| h.is_ok()).count(), 40, "{what}");
        let skipped: Vec<_> = hits.iter().filter_map(|h| h.as_ref().err()).collect();
        assert_eq!(skipped.len(), 1, "{what}");
        assert!(skipped[0].to_string().contains(s.key(2)), "{}", skipped[0]);
    }
}

pub async fn the_writer_heartbeats_while_idle_and_names_its_predecessor_from_the_store(
    sink: &impl Store,
    prefix: &str,
) {
    use worm::AuditLogBuilder;
    let p = sub(prefix);
    let w = writer();
    // Writer A: a few records, idle through several heartbeats, closed.
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .keys(worm::key::KeyTemplate::new(worm::key::DEFAULT_TEMPLATE, &p).unwrap())
        .signer(w.clone())
        .writer_id("camera_service@host-a")
        .heartbeat(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    for n in 0..5 {
        log.log(crate::fixtures::motion(n)).unwrap();
    }
    log.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(r.is_intact(), "{r}");
    assert!(r.streams[0].batches >= 4, "idle heartbeats sealed: {r}");
    assert_eq!(
        r.of_kind(Kind::Open).next().unwrap().severity,
        Severity::Info
    );
    let a = guard.close().await.unwrap();

    // Writer B of the same identity, without a spool: learns A from the store.
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .keys(worm::key::KeyTemplate::new(worm::key::DEFAULT_TEMPLATE, &p).unwrap())
        .signer(w.clone())
        .writer_id("camera_service@host-a")
        .build()
        .unwrap();
    log.log(crate::fixtures::motion(9)).unwrap();
    let b = guard.close().await.unwrap();
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(
        r.problems.iter().all(|p| p.severity != Severity::Error),
        "{r}"
    );
    assert_eq!(r.streams.len(), 2);

    // A removed: B names it, so it is missed.
    let keys: Vec<String> = sink
        .list(&format!("{p}/"))
        .map(|i| i.unwrap().key)
        .collect::<Vec<_>>()
        .await;
    let mut removed = 0;
    for k in &keys {
        let body = plain_body(sink, k).await;
        if worm::batch::parse(&body).unwrap().header.stream == a.stream {
            sink.raw_delete(k).await;
            removed += 1;
        }
    }
    assert!(removed >= 5);
    let r = verify_with(sink, &p, Verifier::new()).await;
    let e = errors(&r);
    assert_eq!(e.len(), 1, "{r}");
    assert_eq!(e[0].0, Kind::MissingStream, "{r}");
    assert!(r.errors().next().unwrap().stream == Some(b.stream), "{r}");
}

/// Several writers of one service on one host at once: each its own stream, all intact.
pub async fn several_writers_of_one_service_at_once_verify_clean(sink: &impl Store, prefix: &str) {
    use worm::AuditLogBuilder;
    let p = sub(prefix);
    let w = writer();
    let mut writers = Vec::new();
    for _ in 0..3 {
        writers.push(
            AuditLogBuilder::new(sink.clone(), "camera_service")
                .keys(worm::key::KeyTemplate::new(worm::key::DEFAULT_TEMPLATE, &p).unwrap())
                .signer(w.clone())
                .max_records(7)
                .build()
                .unwrap(),
        );
    }
    for n in 0..60 {
        let (log, _) = &writers[n as usize % 3];
        log.log(crate::fixtures::motion(n)).unwrap();
    }
    let mut live = Vec::new();
    for (i, (log, guard)) in writers.into_iter().enumerate() {
        log.flush().await.unwrap();
        if i == 0 {
            live.push(guard); // one stays open: a live writer beside closed ones
        } else {
            guard.close().await.unwrap();
        }
    }
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(r.is_intact(), "{r}");
    assert_eq!(r.streams.len(), 3, "{r}");
    assert_eq!(r.records, 60);
    for g in live {
        g.close().await.unwrap();
    }
    let r = verify_with(sink, &p, Verifier::new()).await;
    assert!(r.problems.is_empty(), "{r}");
}
