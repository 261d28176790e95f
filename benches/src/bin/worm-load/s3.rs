//! Throughput to S3 (the local Ceph gateway): the whole pipeline into `S3Sink` against a
//! raw `object_store` put loop of the same object sizes and concurrency, side by side in
//! one run. Reads `WORM_TEST_S3_ENDPOINT` and the AWS keys (`scripts/s3-server.sh env`).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::per_sec;
use worm_core::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm_core::pipeline::AuditLogBuilder;
use worm_core::{Level, WormSink};
use worm_s3::S3SinkBuilder;

use crate::args::Args;

pub fn run(args: &Args) -> Result<(), String> {
    let endpoint = std::env::var("WORM_TEST_S3_ENDPOINT")
        .map_err(|_| "set WORM_TEST_S3_ENDPOINT (scripts/s3-server.sh env ceph)".to_string())?;
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let objects: usize = args.num("objects", 200)?;
    let size: usize = args.num("size", 256 << 10)?;
    let concurrency: usize = args.num("concurrency", 2)?;
    let rounds: usize = args.num("rounds", 3)?;
    let bucket = format!("worm-bench-{}", uuid_like());
    let builder = || {
        S3SinkBuilder::new()
            .with_endpoint(&endpoint)
            .with_region(var("AWS_DEFAULT_REGION", "us-east-1"))
            .with_credentials(
                var("AWS_ACCESS_KEY_ID", "test"),
                var("AWS_SECRET_ACCESS_KEY", "testsecret"),
            )
            .with_bucket(&bucket)
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    rt.block_on(async {
        builder()
            .build_setup()
            .map_err(|e| e.to_string())?
            .with_policy(false)
            .with_lifecycle(false)
            .apply()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(())
    })?;
    let sink = Arc::new(builder().build().map_err(|e| e.to_string())?);
    rt.block_on(sink.preflight()).map_err(|e| e.to_string())?;
    let line = audit_record(0, Level::Info)
        .service(SERVICE)
        .to_json_line()
        .len()
        + 1;
    let per_object = (size / line).max(1);
    let payload = bytes::Bytes::from(vec![b'x'; per_object * line]);

    let (mut worm_s, mut raw_s) = (0.0, 0.0);
    for round in 0..rounds {
        // Raw: object_store puts of the same size, `concurrency` at a time.
        let store = sink.object_store().clone();
        let t = Instant::now();
        rt.block_on(async {
            futures::stream::iter(0..objects)
                .map(|i| {
                    let store = store.clone();
                    let body = payload.clone();
                    async move {
                        let path = object_store::path::Path::from(format!("raw/{round}/{i}.json"));
                        store.put(&path, body.into()).await
                    }
                })
                .buffer_unordered(concurrency)
                .for_each(|r| async {
                    if let Err(e) = r {
                        eprintln!("raw put failed: {e}");
                    }
                })
                .await;
        });
        raw_s += t.elapsed().as_secs_f64();

        // worm: records through the pipeline, cut into objects of the same size.
        let dyn_sink: Arc<dyn WormSink> = sink.clone();
        let t = Instant::now();
        let (log, guard) = AuditLogBuilder::new(dyn_sink, SERVICE)
            .max_records(per_object)
            .max_bytes(usize::MAX)
            .max_in_flight(concurrency)
            .retention(worm_core::RetentionMode::Governance, 1)
            .keys(
                KeyTemplate::new(DEFAULT_TEMPLATE, &format!("worm/{round}"))
                    .map_err(|e| e.to_string())?,
            )
            .build()
            .map_err(|e| e.to_string())?;
        for n in 0..(objects * per_object) as u64 {
            log.log(audit_record(n, Level::Info))
                .map_err(|e| e.to_string())?;
        }
        guard.close_blocking().map_err(|e| e.to_string())?;
        worm_s += t.elapsed().as_secs_f64();
    }
    let total = (objects * rounds) as f64;
    let mb = total * payload.len() as f64 / 1e6;
    crate::emit(json!({
        "bench": "s3",
        "endpoint": endpoint,
        "objects_per_round": objects,
        "rounds": rounds,
        "object_bytes": payload.len(),
        "concurrency": concurrency,
        "raw_objects_per_s": total / raw_s,
        "worm_objects_per_s": total / worm_s,
        "raw_mb_per_s": mb / raw_s,
        "worm_mb_per_s": mb / worm_s,
        "ratio_worm_to_raw": raw_s / worm_s,
        "worm_records_per_s": per_sec(total * per_object as f64, std::time::Duration::from_secs_f64(worm_s)),
    }));
    Ok(())
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{t:x}")
}
