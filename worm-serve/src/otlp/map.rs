//! OTLP log records into audit records (the mapping the README documents).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value as Json};
use worm_core::record::timestamp;
use worm_core::{AuditRecord, Level};

use super::proto::{AnyValue, ExportLogsServiceRequest, KeyValue, LogRecord, Value};

/// Service name of records whose resource has no `service.name`.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// Record fields an attribute may not overwrite (the schema's own): such an attribute is
/// kept under `attr.<key>`.
const RESERVED: &[&str] = &[
    "timestamp",
    "level",
    "service_name",
    "message",
    "logger_name",
    "module",
    "function",
    "line",
    "trace_id",
    "span_id",
    "resource",
];

/// One mapped record and the service (stream) it belongs to.
#[derive(Debug)]
pub struct Mapped {
    /// The resource's `service.name` (or [`UNKNOWN_SERVICE`]).
    pub service: String,
    /// The record.
    pub record: AuditRecord,
}

/// Every record of a request, in order.
pub fn map_request(req: ExportLogsServiceRequest) -> Vec<Mapped> {
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
                out.push(Mapped {
                    service: service.clone(),
                    record,
                });
            }
        }
    }
    out
}

/// One log record.
pub fn map_record(
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

/// OTLP severity number (1–24) to a level; unspecified (0): the severity text if it names
/// one, else INFO.
pub fn level(number: i32, text: &str) -> Level {
    match number {
        1..=4 => Level::Trace,
        5..=8 => Level::Debug,
        9..=12 => Level::Info,
        13..=16 => Level::Warn,
        17..=24 => Level::Error,
        _ => text.parse().unwrap_or(Level::Info),
    }
}

fn from_nanos(n: u64) -> Option<DateTime<Utc>> {
    let n = i64::try_from(n).ok()?;
    Some(DateTime::from_timestamp_nanos(n))
}

/// A schema field from an attribute: a string as it is, anything else as its JSON text.
fn text(v: Json) -> String {
    match v {
        Json::String(s) => s,
        other => other.to_string(),
    }
}

/// Nesting kept in a field; deeper values are stored as their JSON text… of `null`
/// (decoders already stop at 100 levels for protobuf and 64 for JSON).
const MAX_DEPTH: usize = 64;

fn key_value(kv: KeyValue, depth: usize) -> (String, Json) {
    let v = kv
        .value
        .and_then(|v: AnyValue| v.value)
        .map_or(Json::Null, |v| any_value(v, depth));
    (kv.key, v)
}

/// An OTLP value as JSON: bytes in base64, non-finite doubles as their names (`NaN`,
/// `Infinity`, `-Infinity`).
pub fn any_value(v: Value, depth: usize) -> Json {
    if depth > MAX_DEPTH {
        return Json::Null;
    }
    match v {
        Value::StringValue(s) => Json::String(s),
        Value::BoolValue(b) => Json::Bool(b),
        Value::IntValue(i) => Json::from(i),
        Value::DoubleValue(d) => Number::from_f64(d).map_or_else(
            // The proto3 JSON names.
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
        Value::BytesValue(b) => Json::String(base64::engine::general_purpose::STANDARD.encode(b)),
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
        // An index into a profile's string table: for logs the proto says to take the
        // value as absent.
        Value::StringValueStrindex(_) => Json::Null,
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use crate::otlp::proto::*;

    fn kv(k: &str, v: Value) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    #[test]
    fn maps_every_field() {
        let req = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", Value::StringValue("billing".into())),
                        kv("host.name", Value::StringValue("h1".into())),
                    ],
                    ..Default::default()
                }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope {
                        name: "app.audit".into(),
                        ..Default::default()
                    }),
                    log_records: vec![LogRecord {
                        time_unix_nano: 0,
                        observed_time_unix_nano: 1_700_000_000_123_000_000,
                        severity_number: 17,
                        body: Some(AnyValue {
                            value: Some(Value::StringValue("refund".into())),
                        }),
                        attributes: vec![
                            kv("request_id", Value::StringValue("r-1".into())),
                            kv("user_id", Value::IntValue(7)),
                            kv("action", Value::StringValue("refund".into())),
                            kv("amount", Value::DoubleValue(9.5)),
                            kv("level", Value::StringValue("fake".into())),
                        ],
                        trace_id: vec![0xab; 16],
                        span_id: vec![0x01; 8],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let m = map_request(req);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].service, "billing");
        let r = &m[0].record;
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
        // The line round-trips through the record schema.
        let back = AuditRecord::from_json(&r.to_json_line()).unwrap();
        assert_eq!(back.extra["trace_id"], r.extra["trace_id"]);
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
                    log_records: vec![LogRecord::default()],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        assert_eq!(map_request(req)[0].service, UNKNOWN_SERVICE);
    }
}
