//! The bombs of `hostile_store.rs`, uploaded as objects into a bucket with Object Lock:
//! the verifier and the query API report each one by its key as `oversized`, stay far
//! below 512 MiB peak RSS, and still verify and return every record of the real stream.
//!
//! 25 zstd bombs (64 KiB each) and 25 gzip bombs (2 MiB each, deflate's best ratio for
//! 2 GiB) rather than the fs test's 100 of each, to keep the upload short; the verifier
//! reads at most 8 objects at once whatever their number.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;

use futures::StreamExt;
use integration_tests::bombs::{first_line, gzip_bomb, zstd_bomb};
use integration_tests::chain::{StreamSpec, plain_body, write_stream};
use integration_tests::s3::S3Env;
use worm::query::{Filter, Query};
use worm::verify::{Kind, Verifier};
use worm::{PutOptions, WormSink};

const BOMBS: usize = 25;

fn peak_rss_kib() -> i64 {
    // SAFETY: zeroed rusage is a valid value for getrusage to fill.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a live local of the right type.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) }, 0);
    u.ru_maxrss
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bombs_in_a_bucket_are_oversized_and_the_stream_still_verifies() {
    let Some(env) = S3Env::get() else { return };
    let bucket = env.fresh_bucket().await;
    let sink = env.builder(&bucket).build().unwrap();
    let spec = StreamSpec::new(5, 20);
    let built = write_stream(&sink, &spec).await;
    let header = first_line(&plain_body(&sink, built.key(0)).await).to_vec();
    let (zst, gz) = (zstd_bomb(&header), gzip_bomb(&header));
    let mut planted = BTreeSet::new();
    for i in 0..BOMBS {
        for (ext, body, enc) in [("json.zst", &zst, "zstd"), ("json.gz", &gz, "gzip")] {
            let key = format!("bombs/{i:03}.{ext}");
            let opts = PutOptions {
                content_encoding: Some(enc.into()),
                ..PutOptions::default()
            };
            sink.put(&key, body.clone().into(), &opts).await.unwrap();
            planted.insert(key);
        }
    }
    let before = peak_rss_kib();

    let report = Verifier::new().verify(&sink).await.unwrap();
    let oversized: BTreeSet<String> = report
        .of_kind(Kind::Oversized)
        .map(|p| p.key.clone())
        .collect();
    assert_eq!(oversized, planted, "{report}");
    assert_eq!(report.problems.len(), planted.len(), "{report}");
    assert_eq!(report.records, 100, "{report}");
    assert!(report.streams[0].closed, "{report}");

    let query = Query::new(Filter::default());
    let mut hits = query.records(&sink);
    let (mut records, mut skipped) = (0, BTreeSet::new());
    while let Some(h) = hits.next().await {
        match h {
            Ok(_) => records += 1,
            Err(e) => {
                let key = planted
                    .iter()
                    .find(|k| e.to_string().contains(&format!("'{k}'")))
                    .unwrap_or_else(|| panic!("an error about no bomb: {e}"));
                skipped.insert(key.clone());
            }
        }
    }
    assert_eq!(records, 100);
    assert_eq!(skipped, planted);

    let peak = peak_rss_kib();
    eprintln!(
        "peak RSS {:.1} MiB before reading, {:.1} MiB after verify and query",
        before as f64 / 1024.0,
        peak as f64 / 1024.0
    );
    assert!(peak < 512 << 10, "peak RSS {peak} KiB");
}
