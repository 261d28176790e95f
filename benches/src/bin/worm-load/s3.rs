//! Throughput to S3 (the local Ceph gateway): the whole pipeline into `S3Sink` against a
//! raw `object_store` put loop of the same object sizes and concurrency, side by side in
//! one run. Reads `WORM_TEST_S3_ENDPOINT` and the AWS keys (`scripts/s3-server.sh env`).

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use object_store::ObjectStoreExt;
use serde_json::json;
use worm_benches::event::{SERVICE, audit_record};
use worm_benches::measure::{cpu_secs, processes_cpu_secs, thread_cpu_secs};
use worm_benches::sinks::Gated;
use worm_core::key::{DEFAULT_TEMPLATE, KeyTemplate};
use worm_core::pipeline::AuditLogBuilder;
use worm_core::{Level, WormSink};
use worm_s3::S3SinkBuilder;

use crate::args::Args;

pub fn run(args: &Args) -> Result<(), String> {
    let endpoint = std::env::var("WORM_TEST_S3_ENDPOINT")
        .map_err(|_| "set WORM_TEST_S3_ENDPOINT (scripts/s3-server.sh env ceph)".to_string())?;
    let objects: usize = args.num("objects", 200)?;
    let size: usize = args.num("size", 256 << 10)?;
    let concurrency: usize = args.num("concurrency", 2)?;
    let rounds: usize = args.num("rounds", 3)?;
    // `--retention off`: no per-object Object Lock headers (the bucket default applies).
    let retention = args.str("retention") != Some("off");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let sink = fresh_bucket(&rt, &endpoint, "worm-bench")?;
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
    let raw_round = |round: usize| {
        let store = sink.object_store().clone();
        timed_loop(&rt, objects, concurrency, "raw", |i| {
            let store = store.clone();
            let body = payload.clone();
            async move {
                let path = object_store::path::Path::from(format!("raw/{round}/{i}.json"));
                store.put(&path, body.into()).await
            }
        })
    };
    // The sink alone, no pipeline: `S3Sink::put_unique` of the raw loop's buffer with the
    // pipeline's request shape (its metadata, content type and Object Lock retention),
    // `concurrency` at a time. Against raw, it prices the request's headers; against the
    // pipeline's uploads, the pipeline.
    let meta_off = args.str("sink-meta") == Some("off");
    let sink_round = |round: usize| {
        timed_loop(&rt, objects, concurrency, "sink", |i| {
            let sink = sink.clone();
            let body = payload.clone();
            let mut opts = worm_core::PutOptions {
                content_type: Some("application/x-ndjson".into()),
                retention: retention.then(|| {
                    worm_core::Retention::days_from_now(worm_core::RetentionMode::Governance, 1)
                }),
                ..Default::default()
            };
            if !meta_off {
                for (k, v) in [
                    ("service_name", SERVICE.to_string()),
                    ("request_id", "req-12345-abcde".into()),
                    ("log_level", "INFO".into()),
                    ("timestamp", "2026-11-27T03:00:00.000Z".into()),
                    ("worm_handler_version", "1.0.0".into()),
                    ("worm-stream", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b".into()),
                    ("worm-seq", i.to_string()),
                ] {
                    opts.metadata.insert(k.into(), v);
                }
            }
            async move {
                sink.put_unique(&format!("sink/{round}/{i}.json"), body, &opts)
                    .await
            }
        })
    };
    // Both sides start from their input in memory: the raw loop from a prebuilt buffer,
    // worm from prebuilt records (building a record is the application's work; turning
    // it into JSON, sealing, hashing and uploading it is worm's).
    let records = || -> Vec<_> {
        (0..(objects * per_object) as u64)
            .map(|n| audit_record(n, Level::Info))
            .collect()
    };
    // worm: records through the pipeline (serialised, sealed, chained, Object Lock
    // headers, sha256 checksum, metadata), cut into objects of the same size. The timing
    // includes the writer's start (bucket preflight) and the final batch at close.
    let worm_round = |round: usize| -> Result<(f64, Cpu), String> {
        let dyn_sink: Arc<dyn WormSink> = sink.clone();
        let input = records();
        let cpu = Cpu::now();
        let t = Instant::now();
        let (log, guard) = writer(dyn_sink, &format!("worm/{round}"))?;
        for r in input {
            log.log(r).map_err(|e| e.to_string())?;
        }
        guard.close_blocking().map_err(|e| e.to_string())?;
        Ok((t.elapsed().as_secs_f64(), cpu.elapsed()))
    };
    // worm, uploads alone: every batch sealed behind a closed gate first, then the gate
    // opens and the clock runs until close returns.
    let upload_round = |round: usize| -> Result<(f64, Cpu), String> {
        let gated = Arc::new(Gated::new(sink.clone()));
        let dyn_sink: Arc<dyn WormSink> = gated.clone();
        let (log, guard) = writer(dyn_sink, &format!("gated/{round}"))?;
        for r in records() {
            log.log(r).map_err(|e| e.to_string())?;
        }
        while log.stats().chain_head.map(|(seq, _)| seq + 1) < Some(objects as u64) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let cpu = Cpu::now();
        let t = Instant::now();
        gated.open();
        guard.close_blocking().map_err(|e| e.to_string())?;
        Ok((t.elapsed().as_secs_f64(), cpu.elapsed()))
    };
    let side = |name: &str, round: usize| match name {
        "raw" => raw_round(round),
        "sink" => sink_round(round),
        "upload" => upload_round(round),
        "worm" => worm_round(round),
        other => Err(format!("--only {other}: use raw, sink, upload or worm")),
    };
    // `--only SIDE`: run one side alone (for profiling it), no ratio. `--sides a,b`: those
    // sides only, side by side (with a ratio when `raw` is among them).
    let names: Vec<&str> = match (args.str("only"), args.str("sides")) {
        (Some(one), _) => vec![one],
        (None, Some(list)) => list.split(',').collect(),
        (None, None) => SIDES.to_vec(),
    };
    // Round 0 warms every side up and is not counted. Each round runs every side once,
    // starting one further along each time, so that no side always runs first or right
    // after the same other side, and a gateway that slows down as it fills slows all
    // sides alike.
    let mut secs = vec![0.0; names.len()];
    let mut cpu = vec![Cpu::default(); names.len()];
    let mut per_round: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for round in 0..=rounds {
        for k in 0..names.len() {
            let i = (k + round) % names.len();
            let (s, c) = side(names[i], round)?;
            if round > 0 {
                secs[i] += s;
                cpu[i] = cpu[i].plus(c);
                per_round[i].push(s);
            }
        }
    }
    let total = objects * rounds;
    let raw = names.iter().position(|n| *n == "raw");
    let sides: serde_json::Map<String, serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let ratio = raw.map(|r| secs[r] / secs[i]);
            let ratio_per_round: Option<Vec<f64>> = raw.map(|r| {
                per_round[r]
                    .iter()
                    .zip(&per_round[i])
                    .map(|(a, b)| a / b)
                    .collect()
            });
            (
                (*name).to_string(),
                json!({
                    "objects_per_s": total as f64 / secs[i],
                    "mb_per_s": (total * payload.len()) as f64 / 1e6 / secs[i],
                    "ratio_to_raw": ratio,
                    "ratio_per_round": ratio_per_round,
                    "cpu_ms_per_object": cpu[i].per_object(total),
                }),
            )
        })
        .collect();
    crate::emit(json!({
        "bench": "s3",
        "label": args.str("label").unwrap_or("shared"),
        "endpoint": endpoint,
        "objects_per_round": objects,
        "rounds": rounds,
        "retention": retention,
        "sink_metadata": !meta_off,
        "object_bytes": payload.len(),
        "records_per_object": per_object,
        "concurrency": concurrency,
        "sides": sides,
    }));
    // Every side's objects go, so that runs do not fill a shared test server's
    // memory-backed store (a full run stores ~800 MiB).
    empty_bucket(&rt, &sink)
}

/// Delete every version in the bucket (the objects' retention is GOVERNANCE, so the
/// owner may).
pub fn empty_bucket(rt: &tokio::runtime::Runtime, s3: &worm_s3::S3Sink) -> Result<(), String> {
    rt.block_on(async {
        let versions = s3.list_versions("").await.map_err(|e| e.to_string())?;
        let results: Vec<_> = futures::stream::iter(versions)
            .map(|v| async move { s3.delete_version(&v.key, &v.version_id, true).await })
            .buffer_unordered(16)
            .collect()
            .await;
        results
            .into_iter()
            .collect::<Result<Vec<()>, _>>()
            .map(|_| ())
            .map_err(|e| format!("emptying s3://{}: {e}", s3.bucket()))
    })
}

/// Time `objects` requests made by `put(i)`, `concurrency` at a time, on the main
/// thread; every one must succeed.
fn timed_loop<F, Fut, T, E>(
    rt: &tokio::runtime::Runtime,
    objects: usize,
    concurrency: usize,
    what: &str,
    put: F,
) -> Result<(f64, Cpu), String>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let cpu = Cpu::now();
    let t = Instant::now();
    let errors: Vec<String> = rt.block_on(
        futures::stream::iter(0..objects)
            .map(put)
            .buffer_unordered(concurrency)
            .filter_map(|r| futures::future::ready(r.err().map(|e| e.to_string())))
            .collect(),
    );
    if let Some(first) = errors.first() {
        return Err(format!(
            "{} of {objects} {what} puts failed; the first: {first}",
            errors.len()
        ));
    }
    Ok((t.elapsed().as_secs_f64(), cpu.elapsed()))
}

/// The sides measured, in the order of round 1.
const SIDES: &[&str] = &["raw", "sink", "upload", "worm"];

/// The S3 servers' processes whose CPU time is counted.
pub const SERVER_PROCESSES: &[&str] = &["radosgw", "ceph-osd", "ceph-mon", "ceph-mgr", "weed"];

/// Where the CPU time of a round went, in seconds: the S3 server's processes, this
/// process's main thread (the raw loop's driver, or the producer logging records) and the
/// whole of this process (the rest is the writer thread and the runtime's workers). Read
/// from `/proc`, so in clock ticks (10 ms): rounds must be long enough.
#[derive(Debug, Clone, Copy, Default)]
struct Cpu {
    server: f64,
    main: f64,
    process: f64,
}

impl Cpu {
    /// Now, as a start mark; call on the main thread.
    fn now() -> Self {
        Cpu {
            server: processes_cpu_secs(SERVER_PROCESSES).0,
            main: thread_cpu_secs(),
            process: cpu_secs(),
        }
    }

    /// The time used since the mark `self`; call on the main thread.
    fn elapsed(self) -> Self {
        let now = Cpu::now();
        Cpu {
            server: now.server - self.server,
            main: now.main - self.main,
            process: now.process - self.process,
        }
    }

    fn plus(self, o: Cpu) -> Self {
        Cpu {
            server: self.server + o.server,
            main: self.main + o.main,
            process: self.process + o.process,
        }
    }

    /// Milliseconds per object: server, client main thread, client other threads.
    fn per_object(self, objects: usize) -> serde_json::Value {
        let ms = |s: f64| (s * 1e3 / objects as f64 * 1000.0).round() / 1000.0;
        json!({
            "server": ms(self.server),
            "client_main_thread": ms(self.main),
            "client_other_threads": ms(self.process - self.main),
        })
    }
}

/// A new bucket with Object Lock on the S3 server at `endpoint` (named `NAME-<unique>`,
/// the AWS keys from the environment), checked with a preflight.
pub fn fresh_bucket(
    rt: &tokio::runtime::Runtime,
    endpoint: &str,
    name: &str,
) -> Result<Arc<worm_s3::S3Sink>, String> {
    let var = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let bucket = format!("{name}-{}", uuid_like());
    let builder = || {
        S3SinkBuilder::new()
            .with_endpoint(endpoint)
            .with_region(var("AWS_DEFAULT_REGION", "us-east-1"))
            .with_credentials(
                var("AWS_ACCESS_KEY_ID", "test"),
                var("AWS_SECRET_ACCESS_KEY", "testsecret"),
            )
            .with_bucket(&bucket)
    };
    rt.block_on(async {
        builder()
            .build_setup()
            .map_err(|e| e.to_string())?
            .with_policy(false)
            .with_lifecycle(false)
            .apply()
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        Ok::<_, String>(())
    })?;
    let sink = Arc::new(builder().build().map_err(|e| e.to_string())?);
    rt.block_on(sink.preflight()).map_err(|e| e.to_string())?;
    Ok(sink)
}

/// A name part unique per call (the time in nanoseconds, hex).
pub fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{t:x}")
}
