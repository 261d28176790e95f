//! The mapping against the one it replaced (`reference`: each OTLP log record built into
//! an [`AuditRecord`] with a JSON map of fields, then serialised): the same line, byte for
//! byte, for every field kind of the README's OTLP mapping, and for random requests.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use worm_core::AuditRecord;

use super::*;
use crate::otlp::proto::*;

/// The mapping as it was before records were written straight to their line (kept here
/// as the reference the new one must match).
mod reference {
    use base64::Engine;
    use chrono::{DateTime, Utc};
    use serde_json::{Map, Number, Value as Json};
    use worm_core::AuditRecord;
    use worm_core::record::timestamp;

    use super::super::{RESERVED, UNKNOWN_SERVICE, level};
    use crate::otlp::proto::{AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Value};

    pub fn map_request(req: ExportLogsServiceRequest) -> Vec<(String, AuditRecord)> {
        let mut out = Vec::new();
        for rl in req.resource_logs {
            let mut service = None;
            let mut resource = Map::new();
            for kv in rl.resource.map(|r| r.attributes).unwrap_or_default() {
                match (
                    kv.key.as_str(),
                    kv.value.as_ref().and_then(|v| v.value.as_ref()),
                ) {
                    ("service.name", Some(Value::StringValue(s))) => service = Some(s.clone()),
                    _ => {
                        let (k, v) = key_value(kv, 0);
                        resource.insert(k, v);
                    }
                }
            }
            let service = service
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| UNKNOWN_SERVICE.to_string());
            for sl in rl.scope_logs {
                let scope = sl.scope.map(|s| s.name).filter(|n| !n.is_empty());
                for lr in sl.log_records {
                    let record = map_record(lr, &service, scope.as_deref(), &resource);
                    out.push((service.clone(), record));
                }
            }
        }
        out
    }

    fn map_record(
        lr: LogRecord,
        service: &str,
        scope: Option<&str>,
        resource: &Map<String, Json>,
    ) -> AuditRecord {
        let when = [lr.time_unix_nano, lr.observed_time_unix_nano]
            .into_iter()
            .find(|&t| t != 0)
            .and_then(from_nanos)
            .unwrap_or_else(timestamp::now);
        let level = level(lr.severity_number, &lr.severity_text);
        let (message, body) = match lr.body.and_then(|b| b.value) {
            None => (None, None),
            Some(Value::StringValue(s)) => (Some(s), None),
            Some(other) => (None, Some(any_value(other, 0))),
        };
        let mut r = AuditRecord::new(level, "");
        r.message = message;
        r.timestamp = when;
        r.service_name = Some(service.to_string());
        r.logger_name = scope.map(str::to_string);
        for kv in lr.attributes {
            let (k, v) = key_value(kv, 0);
            match k.as_str() {
                "request_id" => r.request_id = Some(text(v)),
                "user_id" => r.user_id = Some(text(v)),
                "action" => r.action = Some(text(v)),
                k if RESERVED.contains(&k) => {
                    r.extra.insert(format!("attr.{k}"), v);
                }
                _ => {
                    r.extra.insert(k, v);
                }
            }
        }
        if let Some(b) = body {
            r.extra.insert("body".into(), b);
        }
        if lr.trace_id.iter().any(|&b| b != 0) {
            r.extra
                .insert("trace_id".into(), Json::String(hex(&lr.trace_id)));
        }
        if lr.span_id.iter().any(|&b| b != 0) {
            r.extra
                .insert("span_id".into(), Json::String(hex(&lr.span_id)));
        }
        if !lr.event_name.is_empty() {
            r.extra
                .insert("event_name".into(), Json::String(lr.event_name));
        }
        if lr.dropped_attributes_count > 0 {
            r.extra.insert(
                "dropped_attributes_count".into(),
                Json::from(lr.dropped_attributes_count),
            );
        }
        if !resource.is_empty() {
            r.extra
                .insert("resource".into(), Json::Object(resource.clone()));
        }
        r
    }

    fn from_nanos(n: u64) -> Option<DateTime<Utc>> {
        let n = i64::try_from(n).ok()?;
        Some(DateTime::from_timestamp_nanos(n))
    }

    fn text(v: Json) -> String {
        match v {
            Json::String(s) => s,
            other => other.to_string(),
        }
    }

    const MAX_DEPTH: usize = 64;

    fn key_value(kv: KeyValue, depth: usize) -> (String, Json) {
        let v = kv
            .value
            .and_then(|v: AnyValue| v.value)
            .map_or(Json::Null, |v| any_value(v, depth));
        (kv.key, v)
    }

    fn any_value(v: Value, depth: usize) -> Json {
        if depth > MAX_DEPTH {
            return Json::Null;
        }
        match v {
            Value::StringValue(s) => Json::String(s),
            Value::BoolValue(b) => Json::Bool(b),
            Value::IntValue(i) => Json::from(i),
            Value::DoubleValue(d) => Number::from_f64(d).map_or_else(
                || {
                    Json::String(
                        if d.is_nan() {
                            "NaN"
                        } else if d > 0.0 {
                            "Infinity"
                        } else {
                            "-Infinity"
                        }
                        .into(),
                    )
                },
                Json::Number,
            ),
            Value::BytesValue(b) => {
                Json::String(base64::engine::general_purpose::STANDARD.encode(b))
            }
            Value::ArrayValue(a) => Json::Array(
                a.values
                    .into_iter()
                    .map(|e| e.value.map_or(Json::Null, |v| any_value(v, depth + 1)))
                    .collect(),
            ),
            Value::KvlistValue(l) => Json::Object(
                l.values
                    .into_iter()
                    .map(|kv| key_value(kv, depth + 1))
                    .collect(),
            ),
            Value::StringValueStrindex(_) => Json::Null,
        }
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Each record's service and line, by the new mapping.
fn lines(req: ExportLogsServiceRequest) -> Vec<(String, String)> {
    let recs = split_request(req);
    let mut m = Mapper::new();
    recs.iter()
        .map(|r| {
            let mut line = Vec::new();
            m.fields(r).write_json(&mut line);
            (r.service().to_string(), String::from_utf8(line).unwrap())
        })
        .collect()
}

/// The new mapping gives the reference's lines, byte for byte; returns them.
fn same_as_reference(req: &ExportLogsServiceRequest) -> Vec<(String, String)> {
    let new = lines(req.clone());
    let old: Vec<(String, String)> = reference::map_request(req.clone())
        .into_iter()
        .map(|(s, r)| (s, r.to_json_line()))
        .collect();
    assert_eq!(new.len(), old.len());
    for (n, o) in new.iter().zip(&old) {
        assert_eq!(n, o);
    }
    new
}

fn any(v: Value) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

fn kv(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: any(v),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn kvlist(kvs: Vec<KeyValue>) -> Value {
    Value::KvlistValue(KeyValueList { values: kvs })
}

fn array(vs: Vec<Option<Value>>) -> Value {
    Value::ArrayValue(ArrayValue {
        values: vs.into_iter().map(|value| AnyValue { value }).collect(),
    })
}

fn request(
    resource: Vec<KeyValue>,
    scope: &str,
    records: Vec<LogRecord>,
) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: resource,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: scope.into(),
                    ..Default::default()
                }),
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn at(ns: u64) -> LogRecord {
    LogRecord {
        time_unix_nano: ns,
        ..Default::default()
    }
}

#[test]
fn maps_every_field() {
    let req = request(
        vec![kv("service.name", s("billing")), kv("host.name", s("h1"))],
        "app.audit",
        vec![LogRecord {
            time_unix_nano: 0,
            observed_time_unix_nano: 1_700_000_000_123_000_000,
            severity_number: 17,
            body: any(s("refund")),
            attributes: vec![
                kv("request_id", s("r-1")),
                kv("user_id", Value::IntValue(7)),
                kv("action", s("refund")),
                kv("amount", Value::DoubleValue(9.5)),
                kv("level", s("fake")),
            ],
            trace_id: vec![0xab; 16],
            span_id: vec![0x01; 8],
            ..Default::default()
        }],
    );
    let m = same_as_reference(&req);
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].0, "billing");
    let r = AuditRecord::from_json(&m[0].1).unwrap();
    assert_eq!(timestamp::format(&r.timestamp), "2023-11-14T22:13:20.123Z");
    assert_eq!(r.level, Level::Error);
    assert_eq!(r.message.as_deref(), Some("refund"));
    assert_eq!(r.request_id.as_deref(), Some("r-1"));
    assert_eq!(r.user_id.as_deref(), Some("7"));
    assert_eq!(r.action.as_deref(), Some("refund"));
    assert_eq!(r.logger_name.as_deref(), Some("app.audit"));
    assert_eq!(r.service_name.as_deref(), Some("billing"));
    assert_eq!(r.extra["amount"], 9.5);
    assert_eq!(r.extra["attr.level"], "fake");
    assert_eq!(r.extra["trace_id"], "ab".repeat(16));
    assert_eq!(r.extra["span_id"], "0101010101010101");
    assert_eq!(r.extra["resource"]["host.name"], "h1");
}

#[test]
fn severity_and_missing_service() {
    assert_eq!(level(0, "WARNING"), Level::Warn);
    assert_eq!(level(0, ""), Level::Info);
    assert_eq!(level(3, ""), Level::Trace);
    assert_eq!(level(21, ""), Level::Error);
    let req = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: None,
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records: vec![at(1)],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    assert_eq!(same_as_reference(&req)[0].0, UNKNOWN_SERVICE);
    // An empty service name, and a non-string one (kept in `resource`).
    let req = request(vec![kv("service.name", s(""))], "", vec![at(1)]);
    assert_eq!(same_as_reference(&req)[0].0, UNKNOWN_SERVICE);
    let req = request(
        vec![
            kv("service.name", Value::IntValue(3)),
            kv("service.name", s("x")),
        ],
        "",
        vec![at(1)],
    );
    let m = same_as_reference(&req);
    assert_eq!(m[0].0, "x");
    assert!(
        m[0].1.contains(r#""resource":{"service.name":3}"#),
        "{}",
        m[0].1
    );
}

/// Every kind of field the README's mapping names, each kind of value, names that collide,
/// and values that need escaping, each record compared with the reference.
#[test]
fn every_field_kind_is_written_as_before() {
    let nested = |depth: usize| {
        let mut v = s("leaf");
        for i in 0..depth {
            v = if i % 2 == 0 {
                kvlist(vec![kv("k", v)])
            } else {
                array(vec![Some(v)])
            };
        }
        v
    };
    let values = vec![
        s(""),
        s("plain"),
        s("quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} del \u{7f} é 漢 🦀"),
        s(&"a long string past sixteen bytes \u{1f}".repeat(3)),
        Value::BoolValue(true),
        Value::BoolValue(false),
        Value::IntValue(0),
        Value::IntValue(-42),
        Value::IntValue(i64::MIN),
        Value::IntValue(i64::MAX),
        Value::DoubleValue(9.5),
        Value::DoubleValue(1.0),
        Value::DoubleValue(-0.0),
        Value::DoubleValue(1e300),
        Value::DoubleValue(5e-324),
        Value::DoubleValue(0.1 + 0.2),
        Value::DoubleValue(f64::NAN),
        Value::DoubleValue(f64::INFINITY),
        Value::DoubleValue(f64::NEG_INFINITY),
        Value::BytesValue(vec![]),
        Value::BytesValue(vec![0, 1, 2, 0xff, 0xfe]),
        array(vec![]),
        array(vec![
            Some(s("a")),
            None,
            Some(Value::IntValue(1)),
            Some(array(vec![])),
        ]),
        kvlist(vec![]),
        kvlist(vec![
            kv("a", Value::IntValue(1)),
            kv("b", s("x")),
            kv("a", Value::IntValue(2)),
            KeyValue {
                key: "none".into(),
                value: None,
                ..Default::default()
            },
            KeyValue {
                key: "empty".into(),
                value: Some(AnyValue { value: None }),
                ..Default::default()
            },
            kv("q\"uote", s("v")),
        ]),
        nested(63),
        nested(64),
        nested(65),
        nested(70),
        Value::StringValueStrindex(3),
    ];
    let mut records = Vec::new();
    for (i, v) in values.iter().enumerate() {
        // The value as an attribute, as each schema field, as the body.
        let n = i as u64;
        records.push(LogRecord {
            attributes: vec![kv("field", v.clone())],
            ..at(1_700_000_000_000_000_000 + n)
        });
        for name in ["request_id", "user_id", "action"] {
            records.push(LogRecord {
                attributes: vec![kv(name, v.clone())],
                ..at(1_700_000_000_000_000_000 + n)
            });
        }
        records.push(LogRecord {
            body: any(v.clone()),
            ..at(1_700_000_000_000_000_000 + n)
        });
    }
    // Every reserved name, an attribute named like each field the mapping adds, and a
    // name set twice (its first place, its last value).
    let mut attrs: Vec<KeyValue> = RESERVED
        .iter()
        .map(|k| kv(k, s(&format!("as {k}"))))
        .collect();
    attrs.extend([
        kv("attr.level", s("literal")),
        kv("body", s("attribute body")),
        kv("event_name", s("attribute event")),
        kv("dropped_attributes_count", Value::IntValue(-1)),
        kv("request_id", s("first")),
        kv("dup", Value::IntValue(1)),
        kv("other", Value::IntValue(2)),
        kv("dup", Value::IntValue(3)),
        kv("request_id", Value::IntValue(2)),
        KeyValue {
            key: "user_id".into(),
            value: None,
            ..Default::default()
        },
        kv("bad \"key\"\n", s("v")),
    ]);
    records.push(LogRecord {
        time_unix_nano: 1_700_000_000_999_999_999,
        observed_time_unix_nano: 1,
        severity_number: 9,
        severity_text: "ERROR".into(),
        body: any(kvlist(vec![kv("k", Value::BoolValue(true))])),
        attributes: attrs.clone(),
        dropped_attributes_count: 7,
        trace_id: vec![0, 0, 0, 1],
        span_id: vec![0xfe, 0xdc, 0xba],
        event_name: "login \"x\"".into(),
        ..Default::default()
    });
    // More attributes than are compared pairwise, with repeats.
    let many: Vec<KeyValue> = (0..100)
        .map(|i| kv(&format!("k{}", i % 37), Value::IntValue(i)))
        .chain(attrs)
        .collect();
    records.push(LogRecord {
        attributes: many.clone(),
        body: any(kvlist(many)),
        ..at(2)
    });
    // Severity: each number, and text where the number is unset.
    for (n, t) in [
        (0, ""),
        (0, "warning"),
        (0, "CRITICAL"),
        (0, "nonsense"),
        (1, ""),
        (4, ""),
        (5, ""),
        (8, "ERROR"),
        (12, ""),
        (13, ""),
        (16, ""),
        (17, ""),
        (24, ""),
        (25, "DEBUG"),
        (-1, ""),
    ] {
        records.push(LogRecord {
            severity_number: n,
            severity_text: t.into(),
            ..at(3)
        });
    }
    // Times: the event's, the observed one when it has none (neither, or past i64
    // nanoseconds: now, in `no_time_is_now`).
    records.push(LogRecord {
        observed_time_unix_nano: 1_700_000_001_000_000_000,
        ..Default::default()
    });
    records.push(LogRecord {
        trace_id: vec![0; 16],
        span_id: vec![0; 8],
        ..at(4)
    });
    let resource = vec![
        kv("service.name", s("billing")),
        kv("host.name", s("h\"1")),
        kv("host.name", s("h2")),
        kv("nested", nested(70)),
        kv("n", Value::DoubleValue(f64::NAN)),
    ];
    let m = same_as_reference(&request(resource.clone(), "app.audit", records.clone()));
    assert_eq!(m.len(), records.len());
    // Each line is a record the schema reads back.
    for (_, line) in &m {
        AuditRecord::from_json(line).unwrap();
    }
    // Several resources and scopes, without a scope name.
    let mut req = request(resource, "", records.clone());
    req.resource_logs.push(req.resource_logs[0].clone());
    req.resource_logs[1].resource = None;
    let scope = req.resource_logs[1].scope_logs[0].clone();
    req.resource_logs[1].scope_logs.push(scope);
    req.resource_logs[1].scope_logs[1].scope = Some(InstrumentationScope {
        name: "second".into(),
        ..Default::default()
    });
    assert_eq!(same_as_reference(&req).len(), records.len() * 3);
}

/// Random requests (names from a small set, so that they collide, values of every kind,
/// nested), compared with the reference record by record.
#[test]
fn random_requests_are_written_as_before() {
    let mut rng = fastrand::Rng::with_seed(13);
    const NAMES: &[&str] = &[
        "a",
        "b",
        "request_id",
        "user_id",
        "action",
        "level",
        "message",
        "body",
        "event_name",
        "dropped_attributes_count",
        "attr.level",
        "trace_id",
        "resource",
        "service.name",
        "x\"y",
    ];
    fn value(rng: &mut fastrand::Rng, depth: usize) -> Option<Value> {
        Some(match rng.u8(0..11) {
            0 => return None,
            1 => s(NAMES[rng.usize(..NAMES.len())]),
            2 => Value::BoolValue(rng.bool()),
            3 => Value::IntValue(rng.i64(..)),
            4 => Value::DoubleValue(f64::from_bits(rng.u64(..))),
            5 => Value::DoubleValue(rng.f64() * 1000.0),
            6 => Value::BytesValue((0..rng.usize(0..9)).map(|_| rng.u8(..)).collect()),
            7 if depth < 70 => array(
                (0..rng.usize(0..4))
                    .map(|_| value(rng, depth + 1))
                    .collect(),
            ),
            8 if depth < 70 => kvlist(attrs(rng, depth + 1, 4)),
            9 => Value::StringValueStrindex(rng.i32(..)),
            _ => s(&"\"\\\n é".repeat(rng.usize(0..3))),
        })
    }
    fn attrs(rng: &mut fastrand::Rng, depth: usize, max: usize) -> Vec<KeyValue> {
        (0..rng.usize(0..max))
            .map(|_| KeyValue {
                key: NAMES[rng.usize(..NAMES.len())].into(),
                value: rng.bool().then(|| AnyValue {
                    value: value(rng, depth),
                }),
                ..Default::default()
            })
            .collect()
    }
    let mut compared = 0;
    for _ in 0..300 {
        let records = (0..rng.usize(1..6))
            .map(|_| LogRecord {
                time_unix_nano: rng.u64(1..i64::MAX as u64),
                observed_time_unix_nano: rng.u64(..),
                severity_number: rng.i32(-2..27),
                severity_text: ["", "warn", "ERROR", "x"][rng.usize(..4)].into(),
                body: rng.bool().then(|| AnyValue {
                    value: value(&mut rng, 0),
                }),
                attributes: {
                    let max = if rng.u8(..10) == 0 { 60 } else { 10 };
                    attrs(&mut rng, 0, max)
                },
                dropped_attributes_count: rng.u32(0..3),
                trace_id: (0..rng.usize(0..17)).map(|_| rng.u8(0..2)).collect(),
                span_id: (0..rng.usize(0..9)).map(|_| rng.u8(..)).collect(),
                event_name: ["", "e", "é\""][rng.usize(..3)].into(),
                ..Default::default()
            })
            .collect();
        let resource = attrs(&mut rng, 0, 6);
        let req = request(resource, ["", "s"][rng.usize(..2)], records);
        compared += same_as_reference(&req).len();
    }
    assert!(compared > 600, "{compared}");
}

/// A record with neither time, or a time past what nanoseconds in an i64 hold (as the
/// reference: the observed time is not taken then), is stamped now.
#[test]
fn no_time_is_now() {
    let before = timestamp::now();
    let past = LogRecord {
        observed_time_unix_nano: 1,
        ..at(u64::MAX)
    };
    let m = lines(request(vec![], "", vec![LogRecord::default(), past]));
    for (_, line) in m {
        let r = AuditRecord::from_json(&line).unwrap();
        assert!(
            r.timestamp >= before && r.timestamp <= timestamp::now(),
            "{line}"
        );
    }
}
