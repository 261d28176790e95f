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
use worm_benches::sinks::Gated;
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
    // `--retention off`: no per-object Object Lock headers (the bucket default applies).
    let retention = args.str("retention") != Some("off");
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

    let writer = |sink: Arc<dyn WormSink>, prefix: &str| {
        let b = AuditLogBuilder::new(sink, SERVICE)
            .max_records(per_object)
            .max_bytes(usize::MAX)
            .max_in_flight(concurrency)
            .keys(KeyTemplate::new(DEFAULT_TEMPLATE, prefix).map_err(|e| e.to_string())?);
        let b = if retention {
            b.retention(worm_core::RetentionMode::Governance, 1)
        } else {
            b.no_retention()
        };
        b.build().map_err(|e| e.to_string())
    };
    // Raw: object_store puts of the same size, `concurrency` at a time.
    let raw_round = |round: usize| -> Result<f64, String> {
        let store = sink.object_store().clone();
        let t = Instant::now();
        let failed = rt.block_on(async {
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
                .filter(|r| futures::future::ready(r.is_err()))
                .count()
                .await
        });
        if failed > 0 {
            return Err(format!("{failed} raw puts failed"));
        }
        Ok(t.elapsed().as_secs_f64())
    };
    // worm: records through the pipeline (serialised, sealed, chained, Object Lock
    // headers, Content-MD5 and sha256 checksum), cut into objects of the same size. The
    // timing includes the writer's start (bucket preflight) and the final batch at close.
    let worm_round = |round: usize| -> Result<f64, String> {
        let dyn_sink: Arc<dyn WormSink> = sink.clone();
        let t = Instant::now();
        let (log, guard) = writer(dyn_sink, &format!("worm/{round}"))?;
        for n in 0..(objects * per_object) as u64 {
            log.log(audit_record(n, Level::Info))
                .map_err(|e| e.to_string())?;
        }
        guard.close_blocking().map_err(|e| e.to_string())?;
        Ok(t.elapsed().as_secs_f64())
    };
    // worm, uploads alone: every batch sealed behind a closed gate first, then the gate
    // opens and the clock runs until close returns.
    let upload_round = |round: usize| -> Result<f64, String> {
        let gated = Arc::new(Gated::new(sink.clone()));
        let dyn_sink: Arc<dyn WormSink> = gated.clone();
        let (log, guard) = writer(dyn_sink, &format!("gated/{round}"))?;
        for n in 0..(objects * per_object) as u64 {
            log.log(audit_record(n, Level::Info))
                .map_err(|e| e.to_string())?;
        }
        while log.stats().chain_head.map(|(seq, _)| seq + 1) < Some(objects as u64) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let t = Instant::now();
        gated.open();
        guard.close_blocking().map_err(|e| e.to_string())?;
        Ok(t.elapsed().as_secs_f64())
    };
    // Round 0 warms both up and is not counted; the order alternates so that neither
    // side always runs on a gateway the other just loaded.
    // `--only raw|worm|upload`: run one side alone (for profiling it), no ratio.
    if let Some(only) = args.str("only") {
        let mut secs = 0.0;
        for round in 0..=rounds {
            let s = match only {
                "raw" => raw_round(round)?,
                "worm" => worm_round(round)?,
                "upload" => upload_round(round)?,
                other => return Err(format!("--only {other}: use raw, worm or upload")),
            };
            if round > 0 {
                secs += s;
            }
        }
        crate::emit(json!({
            "bench": "s3",
            "only": only,
            "objects_per_s": (objects * rounds) as f64 / secs,
        }));
        return Ok(());
    }
    let (mut worm_s, mut raw_s, mut upload_s) = (0.0, 0.0, 0.0);
    let mut ratios = Vec::new();
    for round in 0..=rounds {
        let (r, w, u) = if round % 2 == 0 {
            let r = raw_round(round)?;
            let w = worm_round(round)?;
            (r, w, upload_round(round)?)
        } else {
            let u = upload_round(round)?;
            let w = worm_round(round)?;
            (raw_round(round)?, w, u)
        };
        if round > 0 {
            raw_s += r;
            worm_s += w;
            upload_s += u;
            ratios.push(r / w);
        }
    }
    let total = (objects * rounds) as f64;
    let mb = total * payload.len() as f64 / 1e6;
    crate::emit(json!({
        "bench": "s3",
        "endpoint": endpoint,
        "objects_per_round": objects,
        "rounds": rounds,
        "retention": retention,
        "object_bytes": payload.len(),
        "concurrency": concurrency,
        "raw_objects_per_s": total / raw_s,
        "worm_objects_per_s": total / worm_s,
        "raw_mb_per_s": mb / raw_s,
        "worm_mb_per_s": mb / worm_s,
        "ratio_worm_to_raw": raw_s / worm_s,
        "ratio_per_round": ratios,
        "upload_only_objects_per_s": total / upload_s,
        "ratio_upload_only_to_raw": raw_s / upload_s,
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
