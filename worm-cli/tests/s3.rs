//! `worm` against a real S3 server with Object Lock: s3 setup/verify, ship to s3://,
//! verify/ls/cat s3://.
//!
//! The server is chosen as for the integration suites (`integration_tests::s3::S3Env`):
//! `WORM_TEST_S3_ENDPOINT` (+ `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), as printed by
//! `scripts/s3-server.sh env ceph`, or with the feature `docker` a container testcontainers
//! starts. Without either the test prints that it skipped and passes, unless
//! `WORM_TEST_REQUIRE_S3=1`. `worm` gets the endpoint as `--endpoint` and the credentials
//! through the standard AWS variables.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

mod common;

use std::process::Command;

use common::*;
use integration_tests::s3::S3Env;
use serde_json::Value;

/// `worm` with the server's credentials.
fn worm_on(env: &S3Env) -> Command {
    let mut c = worm();
    c.envs(env.credential_vars());
    c
}

fn expect_on(env: &S3Env, args: &[&str], input: &[u8], code: i32) -> String {
    expect_cmd(worm_on(env), args, input, code)
}

/// A runtime for the S3 calls a test makes itself (buckets, reading objects back).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn s3_json(env: &S3Env, args: &[&str], code: i32) -> Value {
    let out = expect_on(env, args, b"", code);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn setup_ship_verify_ls_cat_on_s3() {
    let Some(env) = S3Env::get() else { return };
    let ep = env.endpoint.clone();
    let bucket = format!(
        "worm-cli-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    let setup = s3_json(
        &env,
        &[
            "s3",
            "setup",
            &bucket,
            "--endpoint",
            &ep,
            "--retention-days",
            "1",
            "--json",
        ],
        0,
    );
    assert_eq!(setup["bucket"], bucket.as_str());
    // Lifecycle is not required: SeaweedFS does not implement it (setup says so; a
    // verification only sees it missing).
    let check = s3_json(
        &env,
        &[
            "s3",
            "verify",
            &bucket,
            "--endpoint",
            &ep,
            "--retention-days",
            "1",
            "--json",
            "--no-lifecycle",
        ],
        0,
    );
    let status = |name: &str| {
        check["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["setting"] == name)
            .map(|s| s["status"].as_str().unwrap().to_string())
    };
    assert_eq!(status("versioning").as_deref(), Some("ok"), "{check}");
    assert_eq!(status("object_lock").as_deref(), Some("ok"), "{check}");
    assert_eq!(
        status("default_retention").as_deref(),
        Some("ok"),
        "{check}"
    );
    // Other retention than configured: not as required.
    expect_on(
        &env,
        &[
            "s3",
            "verify",
            &bucket,
            "--endpoint",
            &ep,
            "--retention-days",
            "9",
            "--no-lifecycle",
        ],
        b"",
        1,
    );

    let url = format!("s3://{bucket}/cli-test");
    let mut input = records(12);
    input.extend_from_slice(b"not json\n");
    let out = expect_on(
        &env,
        &[
            "ship",
            "--to",
            &url,
            "--endpoint",
            &ep,
            "--json",
            "--service",
            "camera_service",
            "--retention-days",
            "1",
        ],
        &input,
        0,
    );
    let s: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (s["stored"].as_u64(), s["invalid"].as_u64()),
        (Some(13), Some(1)),
        "{s}"
    );
    assert_eq!(s["all_stored"], true);

    let out = expect_on(&env, &["verify", &url, "--endpoint", &ep, "--json"], b"", 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], 13);
    assert_eq!(report["streams"][0]["closed"], true);
    assert_eq!(report["versions_checked"], true);

    let ls = expect_on(&env, &["ls", &url, "--endpoint", &ep, "--json"], b"", 0);
    assert!(
        ls.lines().all(|l| l.contains("\"key\":\"cli-test/")),
        "{ls}"
    );
    let cat = expect_on(
        &env,
        &["cat", &url, "--endpoint", &ep, "--user-id", "user1"],
        b"",
        0,
    );
    assert_eq!(cat.lines().count(), 4);
    let invalid = expect_on(
        &env,
        &[
            "cat",
            &url,
            "--endpoint",
            &ep,
            "--action",
            "worm.invalid_input",
        ],
        b"",
        0,
    );
    assert!(invalid.contains("\"raw\":\"not json\""), "{invalid}");

    // The bucket from the environment, as the original handler read it.
    let o = worm_on(&env)
        .args(["verify", "--endpoint", &ep, "-q"])
        .env("AWS_S3_BUCKET", &bucket)
        .env("AWS_S3_PREFIX", "cli-test")
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn unreachable_or_missing_bucket_is_a_one_line_error() {
    let Some(env) = S3Env::get() else { return };
    let ep = env.endpoint.clone();
    let o = run_cmd(
        worm_on(&env),
        &[
            "ship",
            "--to",
            "s3://worm-cli-no-such-bucket",
            "--endpoint",
            &ep,
        ],
        b"{}\n",
    );
    let (code, _, err) = text(&o);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.starts_with("worm: cannot write to store 's3://worm-cli-no-such-bucket'"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// `worm serve` into an S3 bucket and a local directory (`--to` twice): the Python SDK's
/// records over OTLP/HTTP and NDJSON through curl, stored with Object Lock, verified and
/// read back; the directory holds the same objects (`verify --replica`) and verifies too.
#[test]
fn serve_to_s3_round_trip() {
    let Some(env) = S3Env::get() else { return };
    let ep = env.endpoint.clone();
    let bucket = format!(
        "worm-serve-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    );
    expect_on(
        &env,
        &[
            "s3",
            "setup",
            &bucket,
            "--endpoint",
            &ep,
            "--retention-days",
            "1",
        ],
        b"",
        0,
    );
    // No prefix in the URL: the S3 store and the directory share the default key prefix.
    let url = format!("s3://{bucket}");
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("replica");
    let srv = serve::Server::start_cmd(
        worm_on(&env),
        &url,
        &dir.path().join("spool"),
        &[
            "--to",
            local.to_str().unwrap(),
            "--endpoint",
            &ep,
            "--retention-days",
            "1",
        ],
    );
    let (ok, v) = serve::client("http", &srv.url(), "billing", 6, &["--prefix", "s3"]);
    assert!(ok, "{v}");
    let ndjson: String = (0..4)
        .map(|i| format!("{{\"message\":\"n{i}\",\"request_id\":\"nd-{i}\"}}\n"))
        .collect();
    let (code, body) = serve::curl(&[
        "--data-binary",
        &ndjson,
        &format!("{}/v1/audit?service=ledger", srv.url()),
    ]);
    assert_eq!(code, 200, "{body}");
    let (code, err) = srv.term();
    assert_eq!(code, 0, "{err}");
    let same = expect_on(
        &env,
        &[
            "verify",
            &url,
            "--endpoint",
            &ep,
            "--replica",
            local.to_str().unwrap(),
        ],
        b"",
        0,
    );
    assert!(same.contains("replica identical"), "{same}");
    let (code, report) = verify(&local, &["--require-closed"]);
    assert_eq!(
        (code, &report["records"]),
        (0, &Value::from(10)),
        "{report}"
    );
    let out = expect_on(
        &env,
        &[
            "verify",
            &url,
            "--endpoint",
            &ep,
            "--json",
            "--require-closed",
        ],
        b"",
        0,
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["records"], 10, "{report}");
    let cat = expect_on(
        &env,
        &["cat", &url, "--endpoint", &ep, "--request-id", "s3-5"],
        b"",
        0,
    );
    let r: Value = serde_json::from_str(cat.trim()).unwrap();
    assert_eq!(
        (r["service_name"].as_str(), r["user_id"].as_str()),
        (Some("billing"), Some("user5"))
    );
    assert_eq!(r["trace_id"].as_str().map(str::len), Some(32));
}

/// Encryption on S3: no record value in any key, body or metadata value of what ship
/// stored (nor in the spool it kept), the store verifies without a key, and each
/// recipient's identity reads the records back.
#[test]
fn encrypted_ship_to_s3_keeps_record_content_out_of_keys_bodies_and_metadata() {
    use futures::TryStreamExt;
    use worm::WormSink;
    let Some(env) = S3Env::get() else { return };
    let ep = env.endpoint.clone();
    let rt = runtime();
    let bucket = rt.block_on(env.fresh_bucket());
    let dir = tempfile::tempdir().unwrap();
    let (a, ra) = keygen_age(dir.path(), "a.key");
    let (b, rb) = keygen_age(dir.path(), "b.key");
    let spool = dir.path().join("spool");
    let url = format!("s3://{bucket}/enc");
    let tag = marker_tag();
    expect_on(
        &env,
        &[
            "ship",
            "--to",
            &url,
            "--endpoint",
            &ep,
            "--retention-days",
            "1",
            "--encrypt-to",
            &ra,
            "--encrypt-to",
            &rb,
            "--spool",
            spool.to_str().unwrap(),
            "--batch-size",
            "6",
            "--heartbeat",
            "0",
            "--quiet",
        ],
        &marked_records(&tag, 25),
        0,
    );
    assert_no_marker_under(&spool, &tag);

    let sink = env.builder(&bucket).build().unwrap();
    let objects = rt.block_on(async {
        let listed: Vec<_> = sink.list("enc/").try_collect().await.unwrap();
        let mut out = Vec::new();
        for info in listed {
            out.push(sink.get(&info.key).await.unwrap());
        }
        out
    });
    assert_eq!(objects.len(), 5, "4 batches of 6 and the final one");
    for o in &objects {
        assert_no_marker(o.key.as_bytes(), &tag, "an object key");
        assert_no_marker(&o.body, &tag, &format!("the body of {}", o.key));
        assert!(!o.metadata.is_empty(), "{} carries metadata", o.key);
        for (k, v) in &o.metadata {
            assert_no_marker(k.as_bytes(), &tag, &format!("metadata of {}", o.key));
            assert_no_marker(v.as_bytes(), &tag, &format!("metadata {k} of {}", o.key));
        }
        assert!(!o.metadata.contains_key("request_id"), "{:?}", o.metadata);
        let p = worm::batch::parse(&o.body).unwrap();
        assert!(p.header.enc.is_some(), "{}", o.key);
    }

    let out = expect_on(&env, &["verify", &url, "--endpoint", &ep, "--json"], b"", 0);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["intact"], true, "{report}");
    assert_eq!(report["records"], 25, "{report}");
    for id in [&a, &b] {
        let out = expect_on(
            &env,
            &[
                "cat",
                &url,
                "--endpoint",
                &ep,
                "--identity",
                id.to_str().unwrap(),
            ],
            b"",
            0,
        );
        let ids: Vec<String> = out
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap()["request_id"].to_string())
            .collect();
        let want: Vec<String> = (0..25).map(|i| format!("\"rq-{tag}-{i}\"")).collect();
        assert_eq!(ids, want);
    }
    let o = run_cmd(worm_on(&env), &["cat", &url, "--endpoint", &ep], b"");
    let (code, _, err) = text(&o);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&ra) && err.contains(&rb), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

/// Per-store lock settings from the URL: two Ceph buckets get different retention (read
/// back through the S3 API), a store without any gets the writer's, `worm sync` applies
/// its destination's, and a bad parameter is a one-line error naming the store and the
/// parameter.
#[test]
fn ship_gives_each_target_the_lock_settings_of_its_url() {
    use worm::{RetentionMode, WormSink};
    let Some(env) = S3Env::get() else { return };
    let ep = env.endpoint.clone();
    let rt = runtime();
    let (a, b, c, d) = rt.block_on(async {
        (
            env.fresh_bucket().await,
            env.fresh_bucket().await,
            env.fresh_bucket().await,
            env.fresh_bucket().await,
        )
    });
    let url_a = format!("s3://{a}/locks?retention=1&mode=compliance");
    let url_b = format!("s3://{b}/locks?retention=2d&legal-hold=on");
    let url_c = format!("s3://{c}/locks");
    let records: String = (0..7)
        .map(|i| format!("{{\"message\":\"locks {i}\"}}\n"))
        .collect();
    let out = expect_on(
        &env,
        &[
            "ship",
            "--to",
            &url_a,
            "--to",
            &url_b,
            "--to",
            &url_c,
            "--endpoint",
            &ep,
            "--retention-days",
            "3",
            "--batch-size",
            "3",
            "--heartbeat",
            "0",
            "--json",
        ],
        records.as_bytes(),
        0,
    );
    let summary: Value = serde_json::from_str(&out).unwrap();
    // Target names leave the lock parameters out (the spool remembers stores by name).
    let names: Vec<&str> = summary["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            format!("s3://{a}/locks"),
            format!("s3://{b}/locks"),
            url_c.clone()
        ],
        "{summary}"
    );
    // `worm sync` gives its destination the lock settings of its URL too.
    let url_d = format!("s3://{d}/locks?retention=4&mode=compliance");
    expect_on(&env, &["sync", &url_c, &url_d, "--endpoint", &ep], b"", 0);
    let want = [
        (&a, RetentionMode::Compliance, 1, false),
        (&b, RetentionMode::Governance, 2, true),
        (&c, RetentionMode::Governance, 3, false),
        (&d, RetentionMode::Compliance, 4, false),
    ];
    for (bucket, mode, days, hold) in want {
        let sink = env.builder(bucket).build().unwrap();
        let objects = rt.block_on(async {
            use futures::TryStreamExt;
            let listed: Vec<_> = sink.list("locks/").try_collect().await.unwrap();
            let mut out = Vec::new();
            for info in listed {
                out.push(sink.get(&info.key).await.unwrap());
            }
            out
        });
        assert_eq!(
            objects.len() as u64,
            summary["batches"],
            "{bucket}: {summary}"
        );
        for o in &objects {
            let r = o
                .retention
                .as_ref()
                .unwrap_or_else(|| panic!("{bucket} {}", o.key));
            assert_eq!(r.mode, mode, "{bucket} {}", o.key);
            let left = r.retain_until - chrono::Utc::now();
            assert!(
                left > chrono::Duration::days(days) - chrono::Duration::minutes(10)
                    && left <= chrono::Duration::days(days),
                "{bucket} {}: {left} left, want {days} days",
                o.key
            );
            assert_eq!(o.legal_hold, Some(hold), "{bucket} {}", o.key);
            if hold {
                // Lift the hold so the bucket can age out like the others.
                rt.block_on(sink.put_legal_hold(&o.key, o.version_id.as_deref(), false))
                    .unwrap();
            }
        }
    }

    for (param, value) in [
        ("retention", "7x"),
        ("mode", "strict"),
        ("legal-hold", "maybe"),
    ] {
        let bad = format!("s3://{a}/locks?{param}={value}");
        let o = run_cmd(
            worm_on(&env),
            &["ship", "--to", &url_c, "--to", &bad, "--endpoint", &ep],
            b"{}\n",
        );
        let (code, _, err) = text(&o);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.starts_with(&format!(
                "worm: cannot open store '{bad}': bad URL parameter '{param}={value}'"
            )),
            "{err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

/// `worm sync` keeps keys, so it refuses a destination whose prefix the source's keys are
/// not under (the copies would be invisible to a verify of that destination, and a second
/// sync would copy again), before copying anything. Into the bucket's own prefix it copies,
/// and a second run has nothing to do.
#[test]
fn sync_refuses_a_destination_prefix_that_would_hide_the_copies() {
    let Some(env) = S3Env::get() else { return };
    let ep = env.endpoint.clone();
    let bucket = runtime().block_on(env.fresh_bucket());
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("store");
    let src = src.to_str().unwrap();
    let input: String = (0..20)
        .map(|i| format!("{{\"message\":\"m{i}\",\"request_id\":\"r{i}\"}}\n"))
        .collect();
    expect_on(
        &env,
        &["ship", "--quiet", "--to", src, "--heartbeat", "0"],
        input.as_bytes(),
        0,
    );
    let elsewhere = format!("s3://{bucket}/elsewhere");
    let o = run_cmd(
        worm_on(&env),
        &["sync", src, &elsewhere, "--endpoint", &ep],
        b"",
    );
    let (code, _, err) = text(&o);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("prefix 'elsewhere/'") && err.contains("audit-logs/"),
        "the error names the prefix and a key outside it: {err}"
    );
    let whole = format!("s3://{bucket}");
    let listed = expect_on(&env, &["ls", &whole, "--endpoint", &ep, "--json"], b"", 0);
    assert_eq!(listed.lines().count(), 0, "nothing was copied: {listed}");
    let (code, _, err) = text(&run_cmd(
        worm_on(&env),
        &["sync", src, &whole, "--endpoint", &ep],
        b"",
    ));
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = text(&run_cmd(
        worm_on(&env),
        &["sync", src, &whole, "--endpoint", &ep],
        b"",
    ));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing to copy"), "{err}");
    let out = expect_on(
        &env,
        &["verify", &whole, "--endpoint", &ep, "--json"],
        b"",
        0,
    );
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["records"], 20, "{report}");
}
