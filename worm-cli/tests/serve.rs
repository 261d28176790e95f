//! `worm serve` with real clients: Python's `logging` through the OpenTelemetry SDK's
//! `LoggingHandler` and OTLP exporters (HTTP protobuf and gRPC; pinned versions from PyPI,
//! scripts/otel-venv.sh), OTLP/JSON and NDJSON through `curl`. Each test runs the built
//! binary on fs stores, stops it with SIGTERM and reads the store back with `worm verify`
//! and `worm cat`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::serve::{Server, client, curl, gzip, python};
use common::{cat, verify};
use serde_json::Value;

fn one(store: &Path, request_id: &str) -> Value {
    let recs = cat(store, &["--request-id", request_id]);
    assert_eq!(recs.len(), 1, "exactly one record {request_id}: {recs:?}");
    recs.into_iter().next().unwrap()
}

const OTLP_JSON: &str = r#"{"resourceLogs":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"json_service"}}]},
  "scopeLogs":[{"scope":{"name":"json.audit"},"logRecords":[
   {"timeUnixNano":"1700000000123456789","observedTimeUnixNano":"1700000009000000000",
    "severityNumber":17,"severityText":"ERROR","body":{"stringValue":"export refused"},
    "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
    "attributes":[{"key":"request_id","value":{"stringValue":"j-1"}},
      {"key":"user_id","value":{"stringValue":"u-j"}},{"key":"action","value":{"stringValue":"export"}},
      {"key":"rows","value":{"intValue":"42"}}]},
   {"observedTimeUnixNano":"1700000001000000000","severityText":"WARNING",
    "body":{"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}},
    "attributes":[{"key":"request_id","value":{"stringValue":"j-2"}}]}]}]}]}"#;

#[test]
fn python_sdk_json_and_ndjson_round_trip_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let srv = Server::start(&store, &spool, &[]);
    let (ok, h) = client(
        "http",
        &srv.url(),
        "billing",
        4,
        &["--prefix", "h", "--gzip"],
    );
    assert!(ok, "{h}");
    let (ok, g) = client(
        "grpc",
        &format!("http://{}", srv.grpc),
        "camera_service",
        4,
        &["--prefix", "g"],
    );
    assert!(ok, "{g}");
    let (code, body) = curl(&[
        "-H",
        "content-type: application/json",
        "--data-binary",
        OTLP_JSON,
        &format!("{}/v1/logs", srv.url()),
    ]);
    assert_eq!((code, body.as_str()), (200, "{}"));
    let nd =
        gzip(b"{\"message\":\"nd ok\",\"request_id\":\"n-1\",\"user_id\":\"u9\"}\n\nnot json\n");
    let nd_file = dir.path().join("nd.gz");
    std::fs::write(&nd_file, nd).unwrap();
    let (code, body) = curl(&[
        "-H",
        "content-encoding: gzip",
        "--data-binary",
        &format!("@{}", nd_file.display()),
        &format!("{}/v1/audit?service=ndjson_service", srv.url()),
    ]);
    assert_eq!(code, 200, "{body}");
    let nd: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (
            nd["accepted"].as_u64(),
            nd["invalid"].as_u64(),
            nd["empty"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );
    let (code, metrics) = curl(&[&format!("{}/metrics", srv.url())]);
    assert_eq!(code, 200);
    assert!(
        metrics.contains("worm_serve_records_received_total{protocol=\"otlp_grpc\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("worm_serve_records_invalid_total 1"),
        "{metrics}"
    );
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");

    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], 4 + 4 + 2 + 2, "{report}");

    // OTLP/HTTP (protobuf, gzip) from Python logging.
    let r = one(&store, "h-0");
    assert_eq!(r["service_name"], "billing");
    assert_eq!(r["level"], "WARN");
    assert_eq!(r["message"], "card charged 0");
    assert_eq!(r["user_id"], "user0");
    assert_eq!(r["action"], "charge");
    assert_eq!(r["amount"], 0);
    assert_eq!(r["currency"], "EUR");
    assert_eq!(r["logger_name"], "app.audit");
    assert_eq!(r["trace_id"], h["trace_id"]);
    assert_eq!(r["span_id"], h["span_id"]);
    assert_eq!(r["resource"]["host.name"], "test-host");
    assert!(r["timestamp"].as_str().unwrap().starts_with("20"));
    assert_eq!(one(&store, "h-1")["level"], "INFO");
    // OTLP/gRPC.
    let r = one(&store, "g-0");
    assert_eq!(r["service_name"], "camera_service");
    assert_eq!(r["trace_id"], g["trace_id"]);
    assert_eq!(r["span_id"], g["span_id"]);
    assert_eq!(one(&store, "g-3")["user_id"], "user3");
    // OTLP/JSON: the event's time; the observed time when it has none.
    let r = one(&store, "j-1");
    assert_eq!(r["timestamp"], "2023-11-14T22:13:20.123Z");
    assert_eq!(r["level"], "ERROR");
    assert_eq!(r["message"], "export refused");
    assert_eq!(r["service_name"], "json_service");
    assert_eq!(r["logger_name"], "json.audit");
    assert_eq!(
        (r["user_id"].as_str(), r["action"].as_str()),
        (Some("u-j"), Some("export"))
    );
    assert_eq!(r["rows"], 42);
    assert_eq!(r["trace_id"], "5b8efff798038103d269b633813fc60c");
    assert_eq!(r["span_id"], "eee19b7ec3c1b174");
    let r = one(&store, "j-2");
    assert_eq!(r["timestamp"], "2023-11-14T22:13:21.000Z");
    assert_eq!(r["level"], "WARN");
    assert_eq!(r["body"]["k"], true);
    // NDJSON: the valid line, and the invalid one kept as worm ship keeps it.
    assert_eq!(one(&store, "n-1")["service_name"], "ndjson_service");
    let bad = cat(&store, &["--service", "ndjson_service"])
        .into_iter()
        .find(|r| r["action"] == "worm.invalid_input")
        .expect("the invalid line is stored");
    assert_eq!(bad["raw"], "not json");
    assert_eq!(bad["input_line"], 3);
}

#[test]
fn tokens_bind_services_and_nothing_refused_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let tokens = dir.path().join("tokens");
    std::fs::write(&tokens, "# test tokens\nbilling-token-0123456789 billing\n").unwrap();
    let srv = Server::start(&store, &spool, &["--tokens", tokens.to_str().unwrap()]);
    let bt = ["--token", "billing-token-0123456789"];
    let (ok, v) = client(
        "http",
        &srv.url(),
        "billing",
        3,
        &[&bt[..], &["--prefix", "b"]].concat(),
    );
    assert!(ok, "{v}");
    let (ok, v) = client(
        "http",
        &srv.url(),
        "camera_service",
        3,
        &[&bt[..], &["--prefix", "c"]].concat(),
    );
    assert!(
        !ok && v["exported"] == 0,
        "billing's token must not write camera_service: {v}"
    );
    let (ok, v) = client(
        "grpc",
        &format!("http://{}", srv.grpc),
        "camera_service",
        3,
        &[&bt[..], &["--prefix", "cg"]].concat(),
    );
    assert!(!ok && v["exported"] == 0, "{v}");
    let (ok, v) = client(
        "http",
        &srv.url(),
        "billing",
        2,
        &["--token", "wrong-token-0123456789", "--prefix", "w"],
    );
    assert!(!ok && v["exported"] == 0, "{v}");
    let audit = format!("{}/v1/audit", srv.url());
    let line = r#"{"message":"x","service_name":"camera_service","request_id":"nd-c"}"#;
    assert_eq!(curl(&["--data-binary", line, &audit]).0, 401, "no token");
    assert_eq!(
        curl(&[
            "-H",
            "authorization: Bearer billing-token-012345678",
            "--data-binary",
            line,
            &audit
        ])
        .0,
        401
    );
    let (code, body) = curl(&[
        "-H",
        "authorization: Bearer billing-token-0123456789",
        "--data-binary",
        line,
        &audit,
    ]);
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("camera_service"), "{body}");
    // Without service_name, the token's only service.
    let (code, body) = curl(&[
        "-H",
        "authorization: Bearer billing-token-0123456789",
        "--data-binary",
        r#"{"message":"y","request_id":"nd-b"}"#,
        &audit,
    ]);
    assert_eq!(code, 200, "{body}");
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    let all = cat(&store, &[]);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(
        all.iter().all(|r| r["service_name"] == "billing"),
        "{all:?}"
    );
    assert_eq!(one(&store, "nd-b")["service_name"], "billing");
}

#[test]
fn hostile_input_gets_the_right_status_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let srv = Server::start(
        &store,
        &spool,
        &["--max-body-bytes", "1048576", "--max-records", "10"],
    );
    let logs = format!("{}/v1/logs", srv.url());
    let pb = ["-H", "content-type: application/x-protobuf"];
    let js = ["-H", "content-type: application/json"];
    let garbage = dir.path().join("garbage");
    std::fs::write(&garbage, [0xffu8, 0xff, 0xff, 0x0f, 0x12, 0x34, 0x56]).unwrap();
    let at = |p: &Path| format!("@{}", p.display());
    assert_eq!(
        curl(&[&pb[..], &["--data-binary", &at(&garbage), &logs]].concat()).0,
        400
    );
    let (code, body) = curl(&[&js[..], &["--data-binary", "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"timeUnixNano\":\"soon\"}]}]}]}", &logs]].concat());
    assert_eq!(code, 400);
    assert!(
        body.contains("resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano"),
        "{body}"
    );
    assert_eq!(
        curl(&[&js[..], &["--data-binary", "{nope", &logs]].concat()).0,
        400
    );
    assert_eq!(
        curl(&[
            "-H",
            "content-type: text/plain",
            "--data-binary",
            "x",
            &logs
        ])
        .0,
        415
    );
    // A gzip bomb: 1 GiB of zeros in about 1 MiB; refused at the 1 MiB cap.
    let bomb = dir.path().join("bomb.gz");
    let mut zeros = std::fs::File::create(dir.path().join("zeros")).unwrap();
    zeros.write_all(&vec![0u8; 64 << 20]).unwrap();
    drop(zeros);
    let gz = gzip(&std::fs::read(dir.path().join("zeros")).unwrap());
    std::fs::write(&bomb, &gz).unwrap();
    let rss_before = srv.peak_rss_kib();
    let (code, body) = curl(&[
        "-H",
        "content-encoding: gzip",
        "--data-binary",
        &at(&bomb),
        &format!("{}/v1/audit", srv.url()),
    ]);
    assert_eq!(code, 413, "{body}");
    assert!(body.contains("decompresses to more than"), "{body}");
    let (code, _) = curl(
        &[
            &pb[..],
            &[
                "-H",
                "content-encoding: gzip",
                "--data-binary",
                &at(&bomb),
                &logs,
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 413);
    let grown = srv.peak_rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 16 << 10,
        "peak RSS grew by {grown} KiB on a 64 MiB gzip bomb"
    );
    // Over the body limit on the wire, and over the record limit.
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b' '; 2 << 20]).unwrap();
    assert_eq!(
        curl(&[
            "--data-binary",
            &at(&big),
            &format!("{}/v1/audit", srv.url())
        ])
        .0,
        413
    );
    let many = "{\"message\":\"m\"}\n".repeat(11);
    assert_eq!(
        curl(&["--data-binary", &many, &format!("{}/v1/audit", srv.url())]).0,
        413
    );
    assert_eq!(curl(&[&format!("{}/nope", srv.url())]).0, 404);
    assert_eq!(
        curl(&[&format!("{}/healthz", srv.url())]),
        (200, "ok\n".to_string())
    );
    assert_eq!(curl(&[&format!("{}/readyz", srv.url())]).0, 200);
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    assert!(cat(&store, &[]).is_empty(), "nothing refused is stored");
}

#[test]
fn sigterm_drains_and_every_acknowledged_record_is_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let srv = Server::start(&store, &spool, &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/otel/client.py");
    let py = Command::new(python())
        .arg(script)
        .args([
            "http",
            &srv.url(),
            "billing",
            "20000",
            "--threads",
            "4",
            "--prefix",
            "d",
            "--ids",
            "--timeout",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // SIGTERM while the client is sending: once some records were taken.
    let mut seen = false;
    for _ in 0..200 {
        let (_, m) = curl(&[&format!("{}/metrics", srv.url())]);
        let n = m
            .lines()
            .find_map(|l| l.strip_prefix("worm_serve_records_accepted_total "))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        if n >= 500 {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(seen, "the client's records arrive");
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    let py = py.wait_with_output().unwrap();
    let v: Value = serde_json::from_slice(&py.stdout).unwrap();
    let acked: Vec<&str> = v["acked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    assert!(acked.len() >= 500, "{}", acked.len());
    assert!(
        acked.len() < 20000,
        "the server stopped before the client finished"
    );
    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
    let stored = cat(&store, &[]);
    let mut count = std::collections::HashMap::new();
    for r in &stored {
        *count
            .entry(r["request_id"].as_str().unwrap().to_string())
            .or_insert(0) += 1;
    }
    for id in &acked {
        assert_eq!(
            count.get(*id),
            Some(&1),
            "acknowledged record {id} stored exactly once"
        );
    }
}

#[test]
fn idle_connections_and_slowloris_are_cut_and_others_still_served() {
    use std::io::Read;
    use std::net::TcpStream;
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let srv = Server::start(
        &store,
        &spool,
        &["--header-timeout", "1", "--max-connections", "1100"],
    );
    let rss_before = srv.peak_rss_kib();
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(&srv.http).unwrap())
        .collect();
    // A slowloris: a request head that never ends, a byte at a time.
    let mut slow = TcpStream::connect(&srv.http).unwrap();
    slow.write_all(b"POST /v1/audit HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let started = std::time::Instant::now();
    let (code, body) = curl(&[
        "--data-binary",
        "{\"message\":\"still served\",\"request_id\":\"live\"}",
        &format!("{}/v1/audit", srv.url()),
    ]);
    assert_eq!(
        code, 200,
        "a client is served beside 1,000 idle connections: {body}"
    );
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(5) {
        if slow.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        cut,
        "the slowloris connection is closed after the header timeout"
    );
    // Every idle connection has been closed by the server by now.
    for mut c in idle.into_iter().step_by(97) {
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut b = [0u8; 1];
        match c.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("an idle connection is still open: {other:?}"),
        }
    }
    let grown = srv.peak_rss_kib().saturating_sub(rss_before);
    assert!(
        grown < 64 << 10,
        "peak RSS grew by {grown} KiB with 1,000 idle connections"
    );
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    assert_eq!(cat(&store, &["--request-id", "live"]).len(), 1);
}

/// POST an NDJSON body over a fresh connection; whether the answer was 200.
fn post_ndjson(addr: &str, body: &str) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let req = format!(
        "POST /v1/audit?service=load HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut resp = String::new();
    s.write_all(req.as_bytes()).is_ok()
        && s.read_to_string(&mut resp).is_ok()
        && resp.starts_with("HTTP/1.1 200")
}

/// kill -9 under load from 8 clients, then a restart on the same spool. Each client then
/// resends the request that got no answer, as an OTLP exporter retries: every
/// acknowledged record is stored exactly once; a resent record is stored once, or twice
/// when the killed server had already written it to its spool's log without answering.
/// Those duplicates are counted and printed (README: "Acknowledgement means durable").
#[test]
fn kill_9_under_load_then_restart_stores_every_acknowledged_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let srv = Server::start(
        &store,
        &spool,
        &["--interval", "60", "--batch-size", "100000"],
    );
    let ids =
        |c: usize, n: usize| -> Vec<String> { (0..10).map(|i| format!("c{c}-{n}-{i}")).collect() };
    let body = |ids: &[String]| -> String {
        ids.iter()
            .map(|id| format!("{{\"message\":\"m\",\"request_id\":\"{id}\"}}\n"))
            .collect()
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (addr, stop) = (srv.http.clone(), stop.clone());
            std::thread::spawn(move || {
                // (acknowledged, the request that got no answer)
                let mut acked = Vec::new();
                for n in 0.. {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        return (acked, None);
                    }
                    let req = ids(c, n);
                    if !post_ndjson(&addr, &body(&req)) {
                        return (acked, Some(req));
                    }
                    acked.extend(req);
                }
                unreachable!()
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    srv.signal(libc::SIGKILL);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut acked, mut unanswered) = (Vec::new(), Vec::new());
    for c in clients {
        let (a, u) = c.join().unwrap();
        acked.extend(a);
        unanswered.extend(u);
    }
    assert!(
        acked.len() >= 80,
        "the clients were acknowledged before the kill: {}",
        acked.len()
    );
    drop(srv);
    // Nothing was stored (60 s batches): everything acknowledged is in the spool only.
    let srv = Server::start(&store, &spool, &[]);
    for req in &unanswered {
        assert!(post_ndjson(&srv.http, &body(req)), "resent {req:?}");
    }
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("service load: closed"), "{out}");
    let (code, report) = verify(&store, &[]);
    assert_eq!(code, 0, "{report}");
    let mut count = std::collections::HashMap::new();
    for r in cat(&store, &[]) {
        *count
            .entry(r["request_id"].as_str().unwrap().to_string())
            .or_insert(0u32) += 1;
    }
    for id in &acked {
        assert_eq!(
            count.get(id),
            Some(&1),
            "acknowledged record {id} stored once"
        );
    }
    let resent: std::collections::HashSet<&String> = unanswered.iter().flatten().collect();
    let mut twice = 0;
    for (id, n) in &count {
        match n {
            1 => {}
            2 if resent.contains(id) => twice += 1,
            _ => panic!("record {id} stored {n} times; only a resent record may be twice"),
        }
    }
    for id in &resent {
        assert!(count.contains_key(*id), "resent record {id} stored");
    }
    // Counted: a client can recognise them by request_id (the README says so).
    eprintln!(
        "kill -9 under load: {} records acknowledged before the kill, each stored once; \
         {} resent after no answer ({} requests), {twice} of them stored twice",
        acked.len(),
        resent.len(),
        unanswered.len()
    );
    assert_eq!(
        count.len(),
        acked.len() + resent.len(),
        "nothing else stored"
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn tls_with_client_certificates_and_plaintext_only_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        d,
        &[
            &[
                "req",
                "-x509",
                "-days",
                "1",
                "-subj",
                "/CN=test-ca",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ][..],
            &ec,
        ]
        .concat(),
    );
    for (name, ext) in [
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        openssl(
            d,
            &[
                &[
                    "req",
                    "-new",
                    "-subj",
                    &format!("/CN={name}"),
                    "-keyout",
                    &format!("{name}.key"),
                    "-out",
                    &format!("{name}.csr"),
                ][..],
                &ec,
            ]
            .concat(),
        );
        std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-days",
                "1",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
    let p = |f: &str| d.join(f).to_str().unwrap().to_string();
    let (store, spool) = (d.join("store"), d.join("spool"));
    let srv = Server::start(
        &store,
        &spool,
        &[
            "--tls-cert",
            &p("server.pem"),
            "--tls-key",
            &p("server.key"),
            "--client-ca",
            &p("ca.pem"),
        ],
    );
    let url = format!("https://{}/v1/audit?service=tls_service", srv.http);
    let line = "{\"message\":\"over mTLS\",\"request_id\":\"t-1\"}";
    let (code, body) = curl(&[
        "--cacert",
        &p("ca.pem"),
        "--cert",
        &p("client.pem"),
        "--key",
        &p("client.key"),
        "--data-binary",
        line,
        &url,
    ]);
    assert_eq!(code, 200, "{body}");
    // gRPC's transport, HTTP/2 through ALPN, on the same listener.
    let (code, _) = curl(&[
        "--http2",
        "--cacert",
        &p("ca.pem"),
        "--cert",
        &p("client.pem"),
        "--key",
        &p("client.key"),
        &format!("https://{}/healthz", srv.http),
    ]);
    assert_eq!(code, 200);
    let (code, _) = curl(&["--cacert", &p("ca.pem"), "--data-binary", line, &url]);
    assert_eq!(code, 0, "no client certificate: no TLS session");
    let (code, _) = curl(&[
        "--data-binary",
        line,
        &format!("http://{}/v1/audit", srv.http),
    ]);
    assert_eq!(code, 0, "plaintext on the TLS port gets no HTTP answer");
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    assert_eq!(one(&store, "t-1")["service_name"], "tls_service");

    // Off loopback, plaintext needs --insecure-plaintext.
    let o = common::worm()
        .args([
            "serve",
            "--to",
            store.to_str().unwrap(),
            "--spool",
            spool.to_str().unwrap(),
            "--listen",
            "0.0.0.0:0",
            "--grpc-listen",
            "off",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("without TLS"),
        "{o:?}"
    );
}

#[test]
fn ack_stored_answers_once_the_records_are_in_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    // Batches would wait 60 s; --ack stored flushes them for the request.
    let srv = Server::start(
        &store,
        &spool,
        &[
            "--ack",
            "stored",
            "--interval",
            "60",
            "--batch-size",
            "1000",
        ],
    );
    let (code, body) = curl(&[
        "--data-binary",
        "{\"message\":\"m\",\"request_id\":\"st-1\"}",
        &format!("{}/v1/audit?service=st", srv.url()),
    ]);
    assert_eq!(code, 200, "{body}");
    // Read while the server still runs: the record is already stored.
    assert_eq!(one(&store, "st-1")["service_name"], "st");
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
}

/// Every file under `root` with its path below it and its bytes.
fn tree(root: &Path) -> Vec<(String, Vec<u8>)> {
    common::files(root)
        .into_iter()
        .map(|p| {
            let k = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            (k, std::fs::read(&p).unwrap())
        })
        .collect()
}

/// The value of the `/metrics` line that starts with `series` (name and labels).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `worm serve --to A --to B --anchor-to C`: each service's stream is stored in both
/// stores, the same objects byte for byte, each intact, `verify A --replica B` finds them
/// identical; `/metrics` and the summary give each store's figures and the anchor's.
#[test]
fn serve_replicates_every_stream_to_two_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, spool) = (
        dir.path().join("a"),
        dir.path().join("b"),
        dir.path().join("spool"),
    );
    let (key, anchors) = (dir.path().join("k"), dir.path().join("anchors"));
    common::expect(&["keygen", "--out", key.to_str().unwrap()], b"", 0);
    let srv = Server::start(
        &a,
        &spool,
        &[
            "--to",
            b.to_str().unwrap(),
            "--ack-targets",
            "all",
            "--sign-key",
            key.to_str().unwrap(),
            "--anchor-to",
            anchors.to_str().unwrap(),
        ],
    );
    for (service, n) in [("billing", 120), ("camera_service", 35)] {
        let body: String = (0..n)
            .map(|i| format!("{{\"message\":\"m{i}\",\"request_id\":\"{service}-{i}\"}}\n"))
            .collect();
        let (code, text) = curl(&[
            "--data-binary",
            &body,
            &format!("{}/v1/audit?service={service}", srv.url()),
        ]);
        assert_eq!(code, 200, "{text}");
    }
    // 120 records in batches of 50: 3 batches once the last one's 0.2 s have passed.
    let (sa, sb) = (a.to_str().unwrap(), b.to_str().unwrap());
    let series =
        |name: &str, target: &str| format!("{name}{{service=\"billing\",target=\"{target}\"}}");
    let mut text = String::new();
    for _ in 0..100 {
        text = curl(&[&format!("{}/metrics", srv.url())]).1;
        if [sa, sb]
            .iter()
            .all(|t| metric(&text, &series("worm_target_batches_stored_total", t)) == Some(3.0))
            && metric(&text, "worm_records_pending{service=\"billing\"}") == Some(0.0)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for t in [sa, sb] {
        for (name, want) in [
            ("worm_target_batches_stored_total", 3.0),
            ("worm_target_backlog_batches", 0.0),
            ("worm_target_backlog_bytes", 0.0),
            ("worm_target_upload_failures_total", 0.0),
            ("worm_target_batches_missed_total", 0.0),
            ("worm_target_failing", 0.0),
        ] {
            assert_eq!(
                metric(&text, &series(name, t)),
                Some(want),
                "{name} {t}: {text}"
            );
        }
        // Stored during this test: within the last few minutes, by this machine's clock.
        let last = metric(
            &text,
            &series("worm_target_last_stored_timestamp_seconds", t),
        )
        .unwrap_or_else(|| panic!("no last-stored time for {t}: {text}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            (now - 300.0..=now + 1.0).contains(&last),
            "{t} last stored at {last}, now {now}"
        );
    }
    let sc = anchors.to_str().unwrap();
    assert!(
        metric(
            &text,
            &series("worm_anchor_checkpoints_published_total", sc)
        )
        .is_some_and(|n| n >= 1.0),
        "{text}"
    );
    for name in ["worm_anchor_failures_total", "worm_anchor_missed_total"] {
        assert_eq!(
            metric(&text, &series(name, sc)),
            Some(0.0),
            "{name}: {text}"
        );
    }
    assert!(
        !text.contains("dropped"),
        "serve never drops: no such counter: {text}"
    );
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    // The summary: each service's stores (the 3 batches and the closing one) and its
    // anchor store.
    for t in [sa, sb] {
        assert!(
            out.contains(&format!("store '{t}': 4 batches stored, 0 failed rounds")),
            "{out}"
        );
    }
    assert!(out.contains(&format!("anchor store '{sc}'")), "{out}");
    let (ta, tb) = (tree(&a), tree(&b));
    assert!(!ta.is_empty());
    assert_eq!(ta, tb, "both stores hold the same objects, byte for byte");
    for s in [&a, &b] {
        let (code, report) = verify(s, &["--require-closed"]);
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["records"], 155, "{report}");
        assert_eq!(
            report["streams"].as_array().map(Vec::len),
            Some(2),
            "{report}"
        );
    }
    let (code, _, err) = common::text(&common::run(
        &["verify", sa, "--replica", sb, "--anchor-store", sc],
        b"",
    ));
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        one(&b, "camera_service-34")["service_name"],
        "camera_service"
    );
}

/// `worm serve --encrypt-to-file`: records sent as NDJSON (one line invalid), then a
/// kill -9 and a restart with `--spool-identity`, then OTLP/JSON: all stored encrypted. No
/// record value is in an object key, a stored byte (fs metadata included), the killed
/// server's spool or serve's output; `worm verify` passes without a key and `worm cat
/// --identity` reads every record back.
#[test]
fn serve_encrypts_what_it_stores() {
    let dir = tempfile::tempdir().unwrap();
    let (store, spool) = (dir.path().join("store"), dir.path().join("spool"));
    let (id, _) = common::keygen_age(dir.path(), "age.key");
    let tag = common::marker_tag();
    let to = format!("{}.pub", id.display());
    // 60 s batches: the records wait in the spool's log when the server is killed.
    let srv = Server::start(
        &store,
        &spool,
        &["--encrypt-to-file", &to, "--interval", "60"],
    );
    let mut ndjson = common::marked_records(&tag, 20);
    ndjson.extend_from_slice(format!("not json {tag}-bad\n").as_bytes());
    let (code, body) = curl(&[
        "--data-binary",
        &String::from_utf8(ndjson).unwrap(),
        &format!("{}/v1/audit?service=billing", srv.url()),
    ]);
    assert_eq!(code, 200, "{body}");
    assert!(!body.contains(&tag), "{body}");
    srv.signal(libc::SIGKILL);
    drop(srv);
    assert!(common::assert_no_marker_under(&spool, &tag) >= 1);
    assert!(
        common::files(&store).is_empty(),
        "nothing stored before the kill"
    );
    let srv = Server::start(
        &store,
        &spool,
        &[
            "--encrypt-to-file",
            &to,
            "--spool-identity",
            id.to_str().unwrap(),
        ],
    );
    let otlp = format!(
        r#"{{"resourceLogs":[{{"resource":{{"attributes":[
  {{"key":"service.name","value":{{"stringValue":"json_service"}}}}]}},
  "scopeLogs":[{{"logRecords":[{{"severityText":"WARN","body":{{"stringValue":"body {tag}"}},
    "attributes":[{{"key":"request_id","value":{{"stringValue":"rq-{tag}-otlp"}}}},
      {{"key":"user_id","value":{{"stringValue":"us-{tag}"}}}}]}}]}}]}}]}}"#
    );
    let (code, body) = curl(&[
        "-H",
        "content-type: application/json",
        "--data-binary",
        &otlp,
        &format!("{}/v1/logs", srv.url()),
    ]);
    assert_eq!(code, 200, "{body}");
    let (code, out) = srv.term();
    assert_eq!(code, 0, "{out}");
    common::assert_no_marker(out.as_bytes(), &tag, "serve's output");
    assert!(common::assert_no_marker_under(&store, &tag) >= 2);
    common::assert_no_marker_under(&spool, &tag);
    let (code, report) = verify(&store, &["--require-closed"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["records"], 22, "{report}");
    let got = cat(&store, &["--identity", id.to_str().unwrap()]);
    let ids: Vec<&str> = got
        .iter()
        .filter_map(|r| r["request_id"].as_str())
        .collect();
    for i in 0..20 {
        assert!(ids.contains(&format!("rq-{tag}-{i}").as_str()), "{ids:?}");
    }
    let otlp = got
        .iter()
        .find(|r| r["request_id"] == format!("rq-{tag}-otlp"))
        .unwrap();
    assert_eq!(
        (otlp["message"].as_str(), otlp["service_name"].as_str()),
        (Some(format!("body {tag}").as_str()), Some("json_service"))
    );
    assert!(
        got.iter().any(|r| r["action"] == "worm.invalid_input"
            && r.to_string().contains(&format!("{tag}-bad"))),
        "{got:?}"
    );
}
