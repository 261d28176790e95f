//! A full backlog is answered 429 with Retry-After and logs nothing of the request; once
//! the store is back every acknowledged record is stored, once. The store's puts are
//! stalled (FaultySink) so the spool fills; requests go through `curl` (NDJSON over
//! HTTP/1.1, and OTLP/gRPC calls over h2c for the gRPC statuses). Also: an idle HTTP/2
//! connection is closed after the idle timeout.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use prost::Message;
use worm::memory::MemorySink;
use worm::memory::testing::FaultySink;
use worm::{AuditLogBuilder, WormSink};
use worm_serve::otlp::proto::{
    AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Resource, ResourceLogs, ScopeLogs,
    Value,
};
use worm_serve::streams::Streams;
use worm_serve::{Limits, ServeConfig};

fn config() -> ServeConfig {
    ServeConfig {
        http: Some("127.0.0.1:0".parse().unwrap()),
        grpc: None,
        tls: None,
        insecure_plaintext: false,
        tokens: None,
        ack: worm_serve::Ack::Spool,
        limits: Limits::default(),
        max_line_bytes: 1 << 20,
    }
}

/// POST an NDJSON body; the status and headers.
/// `worm_serve::serve` on its own runtime: the runtime, the HTTP address, the sender that
/// stops it and the server's task.
struct Running {
    rt: tokio::runtime::Runtime,
    addr: String,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<Result<worm_serve::Summary, String>>,
}

fn start(cfg: ServeConfig, streams: Streams) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let server = rt.spawn(worm_serve::serve(
        cfg,
        streams,
        async move {
            let _ = stop_rx.await;
        },
        move |b| addr_tx.send(b.http.unwrap().to_string()).unwrap(),
    ));
    let addr = addr_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    Running {
        rt,
        addr,
        stop,
        server,
    }
}

fn post(addr: &str, body: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "--data-binary", body])
        .arg(format!("http://{addr}/v1/audit?service=billing"))
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head)
}

/// One OTLP/gRPC `Export` call carrying `msg` (h2c, prior knowledge); the response's
/// headers and trailers as curl prints them.
fn grpc(addr: &str, msg: &[u8]) -> String {
    let mut frame = vec![0u8];
    frame.extend((msg.len() as u32).to_be_bytes());
    frame.extend(msg);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &frame).unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-D",
            "-",
            "-o",
            "/dev/null",
        ])
        .args(["-H", "content-type: application/grpc", "--data-binary"])
        .arg(format!("@{}", file.path().display()))
        .arg(format!("http://{addr}{}", worm_serve::grpc::EXPORT_PATH))
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// One log record of service `billing`.
fn otlp_billing() -> Vec<u8> {
    let s = |v: &str| {
        Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        })
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: s("billing"),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    body: s("over grpc"),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// Streams whose writers cannot store (the sink stalled, a 1-byte spool bound), so their
/// queues fill to `records` or to `bytes`, whichever comes first. Keep the directory
/// while the server runs.
fn stalled(
    records: usize,
    bytes: usize,
) -> (tempfile::TempDir, Arc<FaultySink<MemorySink>>, Streams) {
    let spool = tempfile::tempdir().unwrap();
    let sink = Arc::new(FaultySink::new(MemorySink::new()));
    sink.stall_puts();
    let s2 = sink.clone();
    let spool_dir = spool.path().to_path_buf();
    let open = move |service: &str| {
        AuditLogBuilder::new(s2.clone(), service)
            .max_records(1)
            .queue_capacity(records)
            .max_queue_bytes(bytes)
            .max_spool_bytes(1)
            .heartbeat(None)
            .spool_dir(&spool_dir, Default::default())
            .build()
            .map_err(|e| e.to_string())
    };
    (spool, sink, Streams::new(Box::new(open), 8, None))
}

#[test]
fn full_backlog_is_429_then_everything_acknowledged_is_stored() {
    let (_spool, sink, streams) = stalled(4, worm::pipeline::DEFAULT_MAX_QUEUE_BYTES);
    let Running {
        rt,
        addr,
        stop: stop_tx,
        server,
    } = start(config(), streams);

    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..40 {
        let body = format!("{{\"message\":\"m{i}\",\"request_id\":\"r{i}\"}}\n");
        let (status, head) = post(&addr, &body);
        match status {
            200 => acked.push(i),
            429 => {
                refused = Some(head);
                break;
            }
            s => panic!("request {i}: unexpected status {s}: {head}"),
        }
    }
    let head = refused.expect("a stalled store must fill the backlog and get 429");
    assert!(
        head.to_ascii_lowercase().contains("retry-after: 1"),
        "{head}"
    );
    assert!(!acked.is_empty());
    // OTLP/gRPC while full: RESOURCE_EXHAUSTED with the retry delay, nothing logged.
    let head = grpc(&addr, &otlp_billing());
    assert!(head.contains("grpc-status: 8"), "{head}");
    assert!(head.contains("grpc-status-details-bin: "), "{head}");
    let info = head
        .lines()
        .find_map(|l| l.strip_prefix("google.rpc.retryinfo-bin: "))
        .expect("RetryInfo for the OpenTelemetry exporters");
    let info = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(info.trim().trim_end_matches('='))
        .unwrap();
    let info = tonic_types::pb::RetryInfo::decode(&info[..]).unwrap();
    assert_eq!(info.retry_delay.map(|d| d.seconds), Some(1));
    // A malformed message: INVALID_ARGUMENT.
    let head = grpc(&addr, &[0xff, 0xff, 0xff, 0x0f, 0x12, 0x34, 0x56]);
    assert!(head.contains("grpc-status: 3"), "{head}");

    // The store comes back: requests are taken again and everything is stored. Wait
    // until the backlog has drained (every acknowledged record stored), so the next
    // request is not refused while the writer catches up.
    sink.release_puts();
    let stored = || {
        let out = Command::new("curl")
            .args(["-s", &format!("http://{addr}/metrics")])
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("worm_records_stored_total{service=\"billing\"} "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0) as usize
    };
    for _ in 0..100 {
        if stored() >= acked.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut ok_again = false;
    for _ in 0..100 {
        if post(&addr, "{\"message\":\"after\",\"request_id\":\"after\"}\n").0 == 200 {
            ok_again = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        ok_again,
        "requests are accepted again once the store is back"
    );
    stop_tx.send(()).unwrap();
    let summary = rt.block_on(server).unwrap().unwrap();
    let (service, closed) = &summary.closed[0];
    assert_eq!(service, "billing");
    let report = closed.as_ref().expect("closed with everything stored");
    assert_eq!(report.records_stored, acked.len() as u64 + 1);

    let inner: Arc<dyn WormSink> = Arc::new(sink.inner().clone());
    let v = rt
        .block_on(worm::verify::verify(inner.as_ref(), ""))
        .unwrap();
    assert!(v.is_intact(), "{v:?}");
    assert_eq!(
        v.records,
        acked.len() as u64 + 1,
        "each acknowledged record once"
    );
    assert!(
        summary
            .metrics
            .contains("worm_serve_requests_total{endpoint=\"ndjson\",status=\"429\"} 1"),
        "{}",
        summary.metrics
    );
}

/// The backlog is bounded in bytes too: with room for 10,000 records but only 8 KiB of
/// them, requests of 1 KiB records get 429 once 8 KiB wait, and nothing of a refused
/// request is logged.
#[test]
fn a_backlog_full_in_bytes_is_429_and_every_acknowledged_record_is_stored() {
    let (_spool, sink, streams) = stalled(10_000, 8 << 10);
    let Running {
        rt,
        addr,
        stop: stop_tx,
        server,
    } = start(config(), streams);
    let pad = "p".repeat(1024);
    let mut acked = 0;
    let mut refused = false;
    for i in 0..40 {
        let body = format!("{{\"message\":\"m{i}\",\"request_id\":\"r{i}\",\"pad\":\"{pad}\"}}\n");
        match post(&addr, &body).0 {
            200 => acked += 1,
            429 => {
                refused = true;
                break;
            }
            s => panic!("request {i}: unexpected status {s}"),
        }
    }
    assert!(refused, "8 KiB of 1 KiB records must fill the backlog");
    // At most 8 records fit the budget, plus the one the writer sealed before it stopped
    // taking records and those it had taken meanwhile.
    assert!((1..=12).contains(&acked), "{acked} acknowledged");
    sink.release_puts();
    stop_tx.send(()).unwrap();
    let summary = rt.block_on(server).unwrap().unwrap();
    let report = summary.closed[0]
        .1
        .as_ref()
        .expect("closed with everything stored");
    assert_eq!(
        report.records_stored, acked,
        "each acknowledged record, once"
    );
    let inner: Arc<dyn WormSink> = Arc::new(sink.inner().clone());
    let v = rt
        .block_on(worm::verify::verify(inner.as_ref(), ""))
        .unwrap();
    assert!(v.is_intact(), "{v:?}");
    assert_eq!(v.records, acked);
}

#[test]
fn idle_http2_connections_are_closed_with_goaway() {
    use std::io::{Read, Write};
    let spool = tempfile::tempdir().unwrap();
    let spool_dir = spool.path().to_path_buf();
    let open = move |service: &str| {
        AuditLogBuilder::new(Arc::new(MemorySink::new()), service)
            .spool_dir(&spool_dir, Default::default())
            .build()
            .map_err(|e| e.to_string())
    };
    let mut cfg = config();
    cfg.limits.idle_timeout = Duration::from_secs(1);
    let Running {
        rt,
        addr,
        stop: stop_tx,
        server,
    } = start(cfg, Streams::new(Box::new(open), 8, None));

    // An h2c client that answers the server's SETTINGS and PINGs and sends nothing else.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .unwrap();
    let started = std::time::Instant::now();
    let mut goaway = false;
    loop {
        let mut head = [0u8; 9];
        match c.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the idle connection is still open: {e}"),
        }
        let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
        let mut payload = vec![0u8; len];
        c.read_exact(&mut payload).unwrap();
        let (kind, ack) = (head[3], head[4] & 1 == 1);
        match kind {
            4 if !ack => c.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]).unwrap(),
            6 if !ack => {
                let _ = c.write_all(&[&[0, 0, 8, 6, 1, 0, 0, 0, 0][..], &payload].concat());
            }
            7 => goaway = true,
            _ => {}
        }
    }
    let took = started.elapsed();
    assert!(goaway, "the server says GOAWAY before closing");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(8),
        "closed after {took:?} with --idle-timeout 1"
    );
    stop_tx.send(()).unwrap();
    rt.block_on(server).unwrap().unwrap();
}
