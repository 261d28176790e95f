//! The tamper suite: build stores, tamper with them through the backend's raw path (for
//! fs: clear the immutable attribute as root, then edit files), and check that the
//! verifier names the right kind and key.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use integration_tests::chain::{
    Raw, StreamSpec, fs_store, plain_body, raw_put_plain, reencode, tree_after, write_stream,
};
use worm::WormSink;
use worm::batch::Compression;
use worm::key::KeyParts;
use worm::memory::MemorySink;
use worm::sign::Signer;
use worm::verify::{Kind, Report, Severity, Verifier};

const PREFIX: &str = "audit-logs/";

fn writer_key() -> Signer {
    Signer::from_seed([42; 32])
}

fn attacker_key() -> Signer {
    Signer::from_seed([66; 32])
}

async fn verify(sink: &dyn worm::WormSink, key: Option<&Signer>) -> Report {
    let mut v = Verifier::new().prefix(PREFIX);
    if let Some(k) = key {
        v = v.public_key(k.public_key());
    }
    v.verify(sink).await.unwrap()
}

/// (kind, key) of every finding of `severity`, sorted.
fn found(r: &Report, severity: Severity) -> Vec<(Kind, String)> {
    let mut v: Vec<_> = r
        .problems
        .iter()
        .filter(|p| p.severity == severity)
        .map(|p| (p.kind, p.key.clone()))
        .collect();
    v.sort();
    v
}

fn errors(r: &Report) -> Vec<(Kind, String)> {
    found(r, Severity::Error)
}

fn one(kind: Kind, key: &str) -> Vec<(Kind, String)> {
    vec![(kind, key.to_string())]
}

/// Flip one byte inside a record's message (keeps it valid JSON).
/// On an encrypted store (`WORM_TEST_ENCRYPT=1`), one character of the base64 ciphertext.
fn flip_record_byte(plain: &mut [u8]) {
    if let Some(at) = plain.windows(8).position(|w| w == b"{\"age\":\"") {
        let at = at + 8 + 100;
        plain[at] = if plain[at] == b'A' { b'B' } else { b'A' };
        return;
    }
    let at = plain.windows(6).position(|w| w == b"frame ").unwrap() + 6;
    plain[at] = if plain[at] == b'9' {
        b'8'
    } else {
        plain[at] + 1
    };
}

#[tokio::test]
async fn flipped_byte_in_a_record_is_modified_in_every_encoding() {
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let (_d, sink) = fs_store();
        let w = writer_key();
        let s = write_stream(&sink, &StreamSpec::new(8, 20).signed(&w).compressed(c)).await;
        assert!(verify(&sink, Some(&w)).await.problems.is_empty());
        let key = s.key(3);
        if sink.capabilities().immutability == worm::Immutability::ImmutableFiles {
            // Even root cannot edit in place until the attribute is cleared.
            assert!(sink.is_immutable(key).unwrap());
            assert!(std::fs::write(sink.path_of(key).unwrap(), b"x").is_err());
        }
        let mut plain = plain_body(&sink, key).await;
        flip_record_byte(&mut plain);
        raw_put_plain(&sink, key, &plain).await;
        let r = verify(&sink, Some(&w)).await;
        assert_eq!(errors(&r), one(Kind::Modified, key), "{c:?}: {r}");
        assert!(
            r.problems[0].message.contains("does not match its seal"),
            "{r}"
        );
        // The same without a public key.
        assert_eq!(errors(&verify(&sink, None).await), one(Kind::Modified, key));
    }
}

#[tokio::test]
async fn flipped_byte_in_compressed_bytes_is_unreadable() {
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(5, 20).compressed(Compression::Gzip)).await;
    let key = s.key(2);
    let mut stored = sink.get(key).await.unwrap().body.to_vec();
    let mid = stored.len() / 2;
    stored[mid] ^= 0x40;
    sink.raw_put(key, stored).await;
    let r = verify(&sink, None).await;
    // The unreadable batch's seq is a gap in its stream; the gap says it may be that one.
    let mut want = vec![
        (Kind::Unreadable, key.to_string()),
        (Kind::Missing, s.key(3).to_string()),
    ];
    want.sort();
    assert_eq!(errors(&r), want, "{r}");
    assert!(
        r.of_kind(Kind::Missing)
            .next()
            .unwrap()
            .message
            .contains("could not be read"),
        "{r}"
    );
}

#[tokio::test]
async fn deleted_middle_batch_is_missing() {
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(10, 10)).await;
    sink.raw_delete(s.key(4)).await;
    let r = verify(&sink, None).await;
    assert_eq!(errors(&r), one(Kind::Missing, s.key(5)), "{r}");
    assert!(r.problems[0].message.contains("seq 4 of stream"), "{r}");
}

#[tokio::test]
async fn deleted_tail_of_a_closed_stream() {
    // The final batch survives: the tail before it is gone.
    let (_d, sink) = fs_store();
    let w = writer_key();
    let s = write_stream(&sink, &StreamSpec::new(10, 10).signed(&w)).await;
    sink.raw_delete(s.key(8)).await;
    sink.raw_delete(s.key(9)).await;
    let r = verify(&sink, Some(&w)).await;
    assert_eq!(errors(&r), one(Kind::Truncated, s.key(10)), "{r}");
    assert!(r.problems[0].message.contains("seqs 8..=9"), "{r}");

    // The final batch is gone too: the stream looks open, which the objects alone cannot
    // tell from a writer that never closed. A warning by default; an error when every
    // stream must be closed.
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(10, 10).signed(&w)).await;
    for seq in 8..=10 {
        sink.raw_delete(s.key(seq)).await;
    }
    let r = verify(&sink, Some(&w)).await;
    assert!(r.is_intact(), "{r}");
    assert_eq!(found(&r, Severity::Warning), one(Kind::Open, s.key(7)));
    assert!(!r.streams[0].closed);
    let r = Verifier::new()
        .prefix(PREFIX)
        .public_key(w.public_key())
        .require_closed(true)
        .verify(&sink)
        .await
        .unwrap();
    assert_eq!(errors(&r), one(Kind::Truncated, s.key(7)), "{r}");
}

#[tokio::test]
async fn forged_batch_with_a_correct_looking_chain() {
    let w = writer_key();
    let spec = StreamSpec::new(8, 10).signed(&w);
    // A second seq 5, chained to the real seq 4, without a valid signature.
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &spec).await;
    let body = plain_body(&sink, s.key(5)).await;
    let forged_id = uuid::Uuid::now_v7();
    let (forged, _) = reencode(
        &body,
        |h| {
            h.batch = forged_id;
            h.prev = Some(s.batches[4].chain);
        },
        None,
        None,
    );
    let forged_key = format!("{PREFIX}2025/06/12/req-999999-{forged_id}.json");
    raw_put_plain(&sink, &forged_key, &forged).await;
    let r = verify(&sink, Some(&w)).await;
    assert_eq!(
        errors(&r),
        vec![
            (Kind::Inserted, forged_key.clone()),
            (Kind::Unsigned, forged_key.clone())
        ],
        "{r}"
    );

    // Appended to an open stream, signed with the attacker's own key: the chain is
    // perfect, only the signature tells.
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &spec.clone().open()).await;
    let last = s.batches.last().unwrap();
    let body = plain_body(&sink, &last.key).await;
    let forged_id = uuid::Uuid::now_v7();
    let (forged, _) = reencode(
        &body,
        |h| {
            h.batch = forged_id;
            h.seq = last.seq + 1;
            h.prev = Some(last.chain);
            h.tree = Some(tree_after(&body));
        },
        None,
        Some(&attacker_key()),
    );
    let forged_key = format!("{PREFIX}2025/06/12/req-999999-{forged_id}.json");
    raw_put_plain(&sink, &forged_key, &forged).await;
    let r = verify(&sink, Some(&w)).await;
    assert_eq!(errors(&r), one(Kind::BadSignature, &forged_key), "{r}");
    assert!(
        r.errors()
            .next()
            .unwrap()
            .message
            .contains(&worm::hash::hex_encode(
                &attacker_key().public_key().note_key_id()
            ))
    );
    // Without a public key the forged tail of an open stream cannot be told apart.
    assert!(verify(&sink, None).await.is_intact());

    // Unsigned, but after the final batch of a closed stream.
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(4, 10)).await;
    let fin = s.batches.last().unwrap();
    let body = plain_body(&sink, s.key(3)).await;
    let forged_id = uuid::Uuid::now_v7();
    let (forged, _) = reencode(
        &body,
        |h| {
            h.batch = forged_id;
            h.seq = fin.seq + 1;
            h.prev = Some(fin.chain);
            h.tree = Some(tree_after(&body));
        },
        None,
        None,
    );
    let forged_key = format!("{PREFIX}2025/06/12/req-999999-{forged_id}.json");
    raw_put_plain(&sink, &forged_key, &forged).await;
    assert_eq!(
        errors(&verify(&sink, None).await),
        one(Kind::Inserted, &forged_key)
    );
}

#[tokio::test]
async fn swapped_contents_are_misplaced() {
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(8, 10).compressed(Compression::Zstd)).await;
    let (a, b) = (s.key(3), s.key(6));
    let body_a = sink.get(a).await.unwrap().body.to_vec();
    let body_b = sink.get(b).await.unwrap().body.to_vec();
    sink.raw_put(a, body_b).await;
    sink.raw_put(b, body_a).await;
    let r = verify(&sink, None).await;
    let mut want = vec![
        (Kind::Misplaced, a.to_string()),
        (Kind::Misplaced, b.to_string()),
    ];
    want.sort();
    assert_eq!(errors(&r), want, "{r}");
}

#[tokio::test]
async fn duplicated_batch_under_another_key() {
    let sink = MemorySink::new();
    let spec = StreamSpec::new(6, 10);
    let s = write_stream(&sink, &spec).await;
    let orig = &s.batches[2];
    let body = plain_body(&sink, &orig.key).await;
    // Under a key of the default layout but another batch id: misplaced.
    let other_id = uuid::Uuid::now_v7();
    let foreign = format!("{PREFIX}2025/06/13/req-000002-{other_id}.json");
    raw_put_plain(&sink, &foreign, &body).await;
    let r = verify(&sink, None).await;
    assert_eq!(
        errors(&r),
        vec![
            (Kind::Copied, foreign.clone()),
            (Kind::Misplaced, foreign.clone())
        ],
        "{r}"
    );

    // Under another key that does carry its batch id (another day's folder): still an
    // object no writer wrote, so an error; the stream itself is intact and counted once.
    let sink = MemorySink::new();
    let s = write_stream(&sink, &spec).await;
    let orig = &s.batches[2];
    let body = plain_body(&sink, &orig.key).await;
    let copy = spec.template.render(&KeyParts {
        time: "2025-06-13T00:00:00Z".parse().unwrap(),
        request_id: Some("copy"),
        service: &spec.service,
        batch: orig.batch,
        stream: s.stream,
        seq: orig.seq,
        ext: ".json",
    });
    raw_put_plain(&sink, &copy, &body).await;
    let r = verify(&sink, None).await;
    assert_eq!(errors(&r), one(Kind::Copied, &copy), "{r}");
    assert_eq!(r.streams[0].batches, 7);
    assert_eq!(r.streams[0].records, 60);
}

#[tokio::test]
async fn resigned_with_another_key_is_bad_signature() {
    let (_d, sink) = fs_store();
    let w = writer_key();
    let s = write_stream(&sink, &StreamSpec::new(6, 10).signed(&w)).await;
    let key = s.key(3);
    let body = plain_body(&sink, key).await;
    let (resigned, _) = reencode(&body, |_| {}, None, Some(&attacker_key()));
    raw_put_plain(&sink, key, &resigned).await;
    let r = verify(&sink, Some(&w)).await;
    assert_eq!(errors(&r), one(Kind::BadSignature, key), "{r}");
    // Without the public key the new seal line still breaks the link from seq 4.
    assert_eq!(errors(&verify(&sink, None).await), one(Kind::Modified, key));
}

/// Replace batch 3's records and rebuild the chain from there to the end.
async fn rewrite_chain_from(
    sink: &impl Raw,
    s: &integration_tests::chain::BuiltStream,
    from: usize,
    signer: Option<&Signer>,
) {
    let mut prev = s.batches[from - 1].chain;
    let mut tree = tree_after(&plain_body(sink, &s.batches[from - 1].key).await);
    for b in &s.batches[from..] {
        let body = plain_body(sink, &b.key).await;
        let records = if b.seq == from as u64 {
            let mut plain = integration_tests::chain::open_records(&body);
            flip_record_byte(&mut plain);
            Some(plain)
        } else {
            None
        };
        let (new, chain) = reencode(
            &body,
            |h| {
                h.prev = Some(prev);
                h.tree = Some(tree.clone());
            },
            records.as_deref(),
            signer,
        );
        raw_put_plain(sink, &b.key, &new).await;
        tree = tree_after(&new);
        prev = chain;
    }
}

/// A record changed and its batch sealed again (root, seal and chain hash recomputed, no
/// key): the batch is consistent in itself, but the next batch's `prev` names the chain
/// hash of the original, which in `/3` commits to the records through the seal's root.
#[tokio::test]
async fn a_record_changed_and_its_batch_resealed_breaks_the_chain() {
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(6, 10)).await;
    let body = plain_body(&sink, s.key(2)).await;
    let mut records = integration_tests::chain::open_records(&body);
    flip_record_byte(&mut records);
    let (new, chain) = reencode(&body, |_| {}, Some(&records), None);
    assert_ne!(chain, s.batches[2].chain);
    raw_put_plain(&sink, s.key(2), &new).await;
    let r = verify(&sink, None).await;
    // Seq 2 no longer is what seq 3 chains to, and seq 3's tree no longer starts where
    // seq 2's ends.
    assert_eq!(
        errors(&r),
        vec![
            (Kind::Modified, s.key(2).to_string()),
            (Kind::Modified, s.key(3).to_string())
        ],
        "{r}"
    );
    assert!(
        r.errors().next().unwrap().message.contains("was replaced"),
        "{r}"
    );
}

#[tokio::test]
async fn replaced_batch_with_recomputed_chain() {
    let w = writer_key();
    // Signed: every rewritten batch fails, whether stripped of its signature or re-signed.
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(6, 10).signed(&w)).await;
    rewrite_chain_from(&sink, &s, 3, Some(&attacker_key())).await;
    let r = verify(&sink, Some(&w)).await;
    let mut want: Vec<_> = (3..=6)
        .map(|i| (Kind::BadSignature, s.key(i).to_string()))
        .collect();
    want.sort();
    assert_eq!(errors(&r), want, "{r}");

    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(6, 10).signed(&w)).await;
    rewrite_chain_from(&sink, &s, 3, None).await;
    let r = verify(&sink, Some(&w)).await;
    let mut want: Vec<_> = (3..=6)
        .map(|i| (Kind::Unsigned, s.key(i).to_string()))
        .collect();
    want.sort();
    assert_eq!(errors(&r), want, "{r}");

    // Unsigned: undetectable. The rewritten chain is internally consistent, and nothing
    // outside it says what it was; the verifier says so in its docs.
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(6, 10)).await;
    let before = plain_body(&sink, s.key(3)).await;
    rewrite_chain_from(&sink, &s, 3, None).await;
    assert_ne!(plain_body(&sink, s.key(3)).await, before);
    let r = verify(&sink, None).await;
    assert!(
        r.problems.is_empty(),
        "undetectable without signatures, yet found: {r}"
    );
}

#[tokio::test]
async fn untouched_store_of_100k_records_verifies_clean() {
    let (_d, sink) = fs_store();
    let s = write_stream(&sink, &StreamSpec::new(1000, 100)).await;
    let r = verify(&sink, None).await;
    assert!(r.problems.is_empty(), "{r}");
    assert_eq!((r.objects, r.batches, r.records), (1001, 1001, 100_000));
    assert_eq!(r.streams.len(), 1);
    let st = &r.streams[0];
    assert!(st.closed);
    assert_eq!(
        (st.stream, st.batches, st.records),
        (s.stream, 1001, 100_000)
    );
}

#[tokio::test]
async fn clean_compressed_signed_stores_and_several_streams() {
    let (_d, sink) = fs_store();
    let w = writer_key();
    for c in [Compression::None, Compression::Gzip, Compression::Zstd] {
        write_stream(&sink, &StreamSpec::new(20, 50).signed(&w).compressed(c)).await;
    }
    write_stream(
        &sink,
        &StreamSpec::new(3, 5)
            .signed(&w)
            .service("door_service")
            .open(),
    )
    .await;
    let r = verify(&sink, Some(&w)).await;
    assert!(r.is_intact(), "{r}");
    assert_eq!(r.streams.len(), 4);
    assert_eq!(r.records, 3 * 20 * 50 + 15);
    assert_eq!(found(&r, Severity::Warning).len(), 1);
    let note_id = format!(
        "worm+{}",
        worm::hash::hex_encode(&w.public_key().note_key_id())
    );
    assert!(
        r.streams.iter().all(|s| s.key_ids == vec![note_id.clone()]),
        "{r:?}"
    );
    // An unsigned stream among them is reported once, on its first batch.
    let s = write_stream(&sink, &StreamSpec::new(4, 5)).await;
    let r = verify(&sink, Some(&w)).await;
    assert_eq!(errors(&r), one(Kind::Unsigned, s.key(0)), "{r}");
}
