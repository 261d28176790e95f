//! End to end on a real S3 server: pipeline → S3 (Object Lock) → offline verifier with
//! versions.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::Arc;

use integration_tests::fixtures::{motion, unique_prefix};
use integration_tests::s3::S3Env;
use worm::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm::sign::Signer;
use worm::verify::{Kind, Verifier};
use worm::{AuditLogBuilder, WormSinkExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_pipeline_to_s3_verifies_intact_and_shadowing_versions_are_caught() {
    let Some(env) = S3Env::get() else { return };
    let sink = Arc::new(env.sink().await);
    let prefix = unique_prefix("e2e");
    let signer = Signer::generate().unwrap();
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "camera_service")
        .max_records(50)
        .retention(worm::RetentionMode::Governance, 1)
        .keys(KeyTemplate::new(DEFAULT_TEMPLATE, &prefix).unwrap())
        .signer(signer.clone())
        .build()
        .unwrap();
    for n in 0..500 {
        log.log(motion(n)).unwrap();
    }
    let report = guard.close().await.unwrap();
    assert_eq!(report.records_stored, 500);

    let verifier = Verifier::new()
        .prefix(format!("{prefix}/"))
        .public_key(signer.public_key())
        .versions(sink.clone());
    let r = verifier.verify(sink.as_ref()).await.unwrap();
    assert!(r.is_intact(), "{r}");
    assert_eq!(r.errors().count(), 0, "{r}");
    assert_eq!(r.streams.len(), 1);
    assert!(r.streams[0].closed);

    // Someone with write access adds a second version over a batch (Object Lock allows
    // new versions; it forbids removing the old one).
    let keys: Vec<_> = sink.list_all(&format!("{prefix}/")).await.unwrap();
    let victim = &keys[3].key;
    sink.raw_put(victim, bytes::Bytes::from_static(b"{\"forged\":true}\n"))
        .await
        .unwrap();
    // And a delete marker over another one.
    let hidden = &keys[5].key;
    sink.raw_delete(hidden).await.unwrap();
    let r = verifier.verify(sink.as_ref()).await.unwrap();
    assert!(!r.is_intact(), "{r}");
    assert!(
        r.of_kind(Kind::Modified).any(|p| &p.key == victim),
        "shadowing version caught: {r}"
    );
    assert!(
        r.of_kind(Kind::DeleteMarker).any(|p| &p.key == hidden),
        "delete marker caught: {r}"
    );
}
