//! Reading records back with `worm::query`: filters, order, where each record is stored,
//! and batches that cannot be read.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use chrono::Duration;
use futures::StreamExt;
use integration_tests::chain::{Raw, StreamSpec, write_stream};
use worm::Level;
use worm::batch::Compression;
use worm::memory::MemorySink;
use worm::query::{Filter, Hit, Query};

async fn run(sink: &MemorySink, filter: Filter) -> (Vec<Hit>, Vec<String>) {
    let q = Query::new(filter).prefix("audit-logs/").concurrency(3);
    let items: Vec<_> = q.records(sink).collect().await;
    let mut hits = Vec::new();
    let mut errors = Vec::new();
    for i in items {
        match i {
            Ok(h) => hits.push(h),
            Err(e) => errors.push(e.to_string()),
        }
    }
    (hits, errors)
}

#[tokio::test]
async fn filters_order_and_provenance() {
    let sink = MemorySink::new();
    let a_spec = StreamSpec::new(5, 20)
        .service("camera_service")
        .compressed(Compression::Zstd);
    let b_spec = StreamSpec::new(3, 10)
        .service("door_service")
        .starting(a_spec.start + Duration::hours(1))
        .open();
    // Written in reverse, so that listing order is not the answer.
    let b = write_stream(&sink, &b_spec).await;
    let a = write_stream(&sink, &a_spec).await;

    let (hits, errors) = run(&sink, Filter::default()).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(hits.len(), 130);
    assert!(hits[..100].iter().all(|h| h.stream == a.stream));
    assert!(
        hits.windows(2)
            .all(|w| w[0].stream != w[1].stream || (w[0].seq, w[0].line) < (w[1].seq, w[1].line))
    );

    // Request id: records 30..39 of stream a, in batch seq 1, lines 10..19.
    let f = Filter {
        request_id: Some("req-000003".into()),
        ..Filter::default()
    };
    let (hits, _) = run(&sink, f).await;
    assert_eq!(hits.len(), 10);
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(
            (h.key.as_str(), h.seq, h.line),
            (a.key(1), 1, 10 + i as u64)
        );
        assert_eq!(h.record.request_id.as_deref(), Some("req-000003"));
        assert_eq!(worm::AuditRecord::from_json(&h.raw).unwrap(), h.record);
    }

    // Level: every 50th record is an ERROR; stream a (earlier) comes first.
    let f = Filter {
        min_level: Some(Level::Error),
        ..Filter::default()
    };
    let (hits, _) = run(&sink, f).await;
    let got: Vec<_> = hits.iter().map(|h| (h.stream, h.seq, h.line)).collect();
    assert_eq!(
        got,
        vec![(a.stream, 0, 0), (a.stream, 2, 10), (b.stream, 0, 0)]
    );

    // Service, time range, user and action together.
    let since = b_spec.start + Duration::milliseconds(5);
    let until = b_spec.start + Duration::milliseconds(25);
    let f = Filter {
        service: Some("door_service".into()),
        since: Some(since),
        until: Some(until),
        user_id: Some("user3".into()),
        ..Filter::default()
    };
    let (hits, _) = run(&sink, f).await;
    let ns: Vec<u64> = hits.iter().map(|h| h.seq * 10 + h.line).collect();
    assert_eq!(ns, vec![10, 17, 24]);
    assert!(hits.iter().all(|h| h.key == b.key(h.seq as usize)));
    let f = Filter {
        action: Some("export".into()),
        service: Some("nobody".into()),
        ..Filter::default()
    };
    assert!(run(&sink, f).await.0.is_empty());
}

#[tokio::test]
async fn unreadable_and_modified_batches_are_reported_not_hidden() {
    let sink = MemorySink::new();
    let s = write_stream(&sink, &StreamSpec::new(4, 10)).await;
    sink.raw_put(s.key(1), b"not a batch".to_vec()).await;
    let mut body = integration_tests::chain::plain_body(&sink, s.key(2)).await;
    let at = body.windows(6).position(|w| w == b"frame ").unwrap() + 6;
    body[at] = b'x';
    sink.raw_put(s.key(2), body).await;
    let (hits, errors) = run(&sink, Filter::default()).await;
    assert_eq!(hits.len(), 20);
    assert!(hits.iter().all(|h| h.seq == 0 || h.seq == 3));
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().any(|e| e.contains(s.key(1))));
    assert!(
        errors
            .iter()
            .any(|e| e.contains(s.key(2)) && e.contains("seal"))
    );
}
