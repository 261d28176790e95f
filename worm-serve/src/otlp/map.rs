//! OTLP log records into audit records (the mapping the README documents), written
//! straight from the decoded message into each record's JSON line.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Utc};
use worm_core::Level;
use worm_core::record::{RecordFields, timestamp, write_json_str};

use super::proto::{ExportLogsServiceRequest, KeyValue, LogRecord, Value};

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

/// Where a record came from: its resource's service and other attributes, and its scope.
/// Shared by the records of one `ScopeLogs`.
#[derive(Debug)]
pub struct Origin {
    /// The resource's `service.name` (or [`UNKNOWN_SERVICE`]).
    pub service: String,
    /// The instrumentation scope's name, when it has one: `logger_name`.
    pub scope: Option<String>,
    /// `,"resource":{…}` (the resource's other attributes), or nothing when it has none.
    resource: Vec<u8>,
}

/// One OTLP log record as decoded, with its origin. It becomes an audit record's line
/// when logged ([`Mapper::fields`]): no [`AuditRecord`](worm_core::AuditRecord) and no map of fields is built.
#[derive(Debug)]
pub struct OtlpRecord {
    /// Resource and scope.
    pub origin: Arc<Origin>,
    /// The record.
    pub record: LogRecord,
}

impl OtlpRecord {
    /// The service (stream) it belongs to.
    pub fn service(&self) -> &str {
        &self.origin.service
    }
}

/// Every record of a request, in order, each with its origin.
pub fn split_request(req: ExportLogsServiceRequest) -> Vec<OtlpRecord> {
    let n = req
        .resource_logs
        .iter()
        .flat_map(|rl| &rl.scope_logs)
        .map(|sl| sl.log_records.len())
        .sum();
    let mut out = Vec::with_capacity(n);
    for rl in req.resource_logs {
        let mut service = None;
        let mut others = Vec::new();
        let attrs = rl.resource.map(|r| r.attributes).unwrap_or_default();
        for kv in &attrs {
            match (
                kv.key.as_str(),
                kv.value.as_ref().and_then(|v| v.value.as_ref()),
            ) {
                ("service.name", Some(Value::StringValue(s))) => service = Some(s.as_str()),
                _ => others.push(kv),
            }
        }
        let service = service
            .filter(|s| !s.is_empty())
            .unwrap_or(UNKNOWN_SERVICE)
            .to_string();
        let mut resource = Vec::new();
        if !others.is_empty() {
            resource.extend_from_slice(b",\"resource\":");
            write_object(&mut resource, others.len(), |i| others[i], 0);
        }
        for sl in rl.scope_logs {
            let origin = Arc::new(Origin {
                service: service.clone(),
                scope: sl.scope.map(|s| s.name).filter(|n| !n.is_empty()),
                resource: resource.clone(),
            });
            out.extend(sl.log_records.into_iter().map(|record| OtlpRecord {
                origin: origin.clone(),
                record,
            }));
        }
    }
    out
}

/// A value of an extra field, by reference.
#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    /// An OTLP value (`None`: absent, written `null`), at the top level.
    Any(Option<&'a Value>),
    /// Bytes as a lower-case hex string.
    Hex(&'a [u8]),
    /// A string.
    Str(&'a str),
    /// A number.
    Count(u32),
}

/// A schema field an attribute sets: the attribute's value, by index (the last one of
/// that name wins).
#[derive(Debug, Clone, Copy, Default)]
struct Schema {
    request_id: Option<usize>,
    user_id: Option<usize>,
    action: Option<usize>,
}

/// Maps records to [`RecordFields`], reusing its buffers from one record to the next.
#[derive(Debug, Default)]
pub struct Mapper<'a> {
    fields: Vec<(Cow<'a, str>, Field<'a>)>,
    buf: Vec<u8>,
}

impl<'a> Mapper<'a> {
    /// An empty mapper.
    pub fn new() -> Self {
        Self::default()
    }

    /// The audit record of `r` (the mapping the README documents): its schema fields by
    /// reference, its other fields written into this mapper's buffer.
    pub fn fields(&mut self, r: &'a OtlpRecord) -> RecordFields<'_> {
        let lr = &r.record;
        let when = [lr.time_unix_nano, lr.observed_time_unix_nano]
            .into_iter()
            .find(|&t| t != 0)
            .and_then(from_nanos)
            .unwrap_or_else(timestamp::now);
        let (message, body) = match lr.body.as_ref().and_then(|b| b.value.as_ref()) {
            None => (None, None),
            Some(Value::StringValue(s)) => (Some(s.as_str()), None),
            Some(other) => (None, Some(other)),
        };
        self.fields.clear();
        let mut schema = Schema::default();
        for (i, kv) in lr.attributes.iter().enumerate() {
            let k = kv.key.as_str();
            let v = kv.value.as_ref().and_then(|v| v.value.as_ref());
            match k {
                "request_id" => schema.request_id = Some(i),
                "user_id" => schema.user_id = Some(i),
                "action" => schema.action = Some(i),
                k if RESERVED.contains(&k) => {
                    self.fields
                        .push((Cow::Owned(format!("attr.{k}")), Field::Any(v)));
                }
                k => self.fields.push((Cow::Borrowed(k), Field::Any(v))),
            }
        }
        if let Some(b) = body {
            self.fields
                .push((Cow::Borrowed("body"), Field::Any(Some(b))));
        }
        if lr.trace_id.iter().any(|&b| b != 0) {
            self.fields
                .push((Cow::Borrowed("trace_id"), Field::Hex(&lr.trace_id)));
        }
        if lr.span_id.iter().any(|&b| b != 0) {
            self.fields
                .push((Cow::Borrowed("span_id"), Field::Hex(&lr.span_id)));
        }
        if !lr.event_name.is_empty() {
            self.fields
                .push((Cow::Borrowed("event_name"), Field::Str(&lr.event_name)));
        }
        if lr.dropped_attributes_count > 0 {
            self.fields.push((
                Cow::Borrowed("dropped_attributes_count"),
                Field::Count(lr.dropped_attributes_count),
            ));
        }
        let buf = &mut self.buf;
        buf.clear();
        let fields = &self.fields;
        // A field set twice keeps its first place and its last value (what a JSON map
        // with insertion order does).
        each_distinct(
            fields.len(),
            |i| fields[i].0.as_ref(),
            |first, last| {
                buf.push(b',');
                write_json_str(buf, &fields[first].0);
                buf.push(b':');
                match fields[last].1 {
                    Field::Any(v) => write_value(buf, v, 0),
                    Field::Hex(b) => write_hex(buf, b),
                    Field::Str(s) => write_json_str(buf, s),
                    Field::Count(n) => {
                        let _ = serde_json::to_writer(&mut *buf, &n);
                    }
                }
            },
        );
        buf.extend_from_slice(&r.origin.resource);
        let extra_end = buf.len();
        // A schema field's text: a value that maps to a JSON string as that string,
        // anything else as its JSON text.
        let mut text = |i: Option<usize>| {
            let v = lr.attributes[i?]
                .value
                .as_ref()
                .and_then(|v| v.value.as_ref());
            let start = buf.len();
            match v {
                Some(Value::StringValue(s)) => return Some(Text::Borrowed(s)),
                Some(Value::DoubleValue(d)) if !d.is_finite() => {
                    return Some(Text::Borrowed(non_finite(*d)));
                }
                Some(Value::BytesValue(b)) => {
                    buf.extend_from_slice(BASE64.encode(b).as_bytes());
                }
                v => write_value(buf, v, 0),
            }
            Some(Text::At(start..buf.len()))
        };
        let ids = [
            text(schema.request_id),
            text(schema.user_id),
            text(schema.action),
        ];
        let buf = &self.buf;
        // Only `&str`s and JSON text were written: valid UTF-8 (checked all the same).
        let at = |t: &Option<Text<'a>>| -> Option<&str> {
            match t.as_ref()? {
                Text::Borrowed(s) => Some(*s),
                Text::At(r) => std::str::from_utf8(&buf[r.clone()]).ok(),
            }
        };
        RecordFields {
            timestamp: when,
            level: level(lr.severity_number, &lr.severity_text),
            service_name: Some(&r.origin.service),
            request_id: at(&ids[0]),
            user_id: at(&ids[1]),
            action: at(&ids[2]),
            message,
            logger_name: r.origin.scope.as_deref(),
            module: None,
            function: None,
            line: None,
            extra_json: &buf[..extra_end],
        }
    }
}

/// A schema field's text: borrowed from the request, or JSON text in the mapper's buffer.
enum Text<'a> {
    Borrowed(&'a str),
    At(Range<usize>),
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

const BASE64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Nesting kept in a field; deeper values are stored as `null` (decoders already stop at
/// 100 levels for protobuf and 64 for JSON).
const MAX_DEPTH: usize = 64;

/// Keys compared pairwise up to this many fields; more are looked up in a hash map (a
/// record with thousands of attributes must not cost their square).
const PAIRWISE: usize = 16;

/// Call `f(first, last)` for each distinct key of `n`, in the order of first appearance:
/// the index of its first and of its last occurrence.
fn each_distinct<'k>(n: usize, key: impl Fn(usize) -> &'k str, mut f: impl FnMut(usize, usize)) {
    if n <= PAIRWISE {
        for i in 0..n {
            let k = key(i);
            if (0..i).any(|j| key(j) == k) {
                continue;
            }
            let last = (i + 1..n).rev().find(|&j| key(j) == k).unwrap_or(i);
            f(i, last);
        }
        return;
    }
    let mut last: HashMap<&str, usize> = HashMap::with_capacity(n);
    for i in 0..n {
        last.insert(key(i), i);
    }
    for i in 0..n {
        if let Some(l) = last.remove(key(i)) {
            f(i, l);
        }
    }
}

/// An OTLP value as JSON: bytes in base64, non-finite doubles as their names (`NaN`,
/// `Infinity`, `-Infinity`), a map's keys once (last value, first place), deeper than
/// [`MAX_DEPTH`] or absent as `null`.
fn write_value(out: &mut Vec<u8>, v: Option<&Value>, depth: usize) {
    let Some(v) = v.filter(|_| depth <= MAX_DEPTH) else {
        out.extend_from_slice(b"null");
        return;
    };
    match v {
        Value::StringValue(s) => write_json_str(out, s),
        Value::BoolValue(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::IntValue(i) => {
            let _ = serde_json::to_writer(&mut *out, i);
        }
        Value::DoubleValue(d) if d.is_finite() => {
            let _ = serde_json::to_writer(&mut *out, d);
        }
        Value::DoubleValue(d) => write_json_str(out, non_finite(*d)),
        Value::BytesValue(b) => write_json_str(out, &BASE64.encode(b)),
        Value::ArrayValue(a) => {
            out.push(b'[');
            for (i, e) in a.values.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, e.value.as_ref(), depth + 1);
            }
            out.push(b']');
        }
        Value::KvlistValue(l) => write_object(out, l.values.len(), |i| &l.values[i], depth + 1),
        // An index into a profile's string table: for logs the proto says to take the
        // value as absent.
        Value::StringValueStrindex(_) => out.extend_from_slice(b"null"),
    }
}

/// A double JSON cannot hold as a number, by its proto3 JSON name.
fn non_finite(d: f64) -> &'static str {
    if d.is_nan() {
        "NaN"
    } else if d > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

/// `n` key-value pairs (`kv(i)`) as a JSON object, their values at `depth`.
fn write_object<'k>(out: &mut Vec<u8>, n: usize, kv: impl Fn(usize) -> &'k KeyValue, depth: usize) {
    out.push(b'{');
    let mut sep = false;
    each_distinct(
        n,
        |i| kv(i).key.as_str(),
        |first, last| {
            if std::mem::replace(&mut sep, true) {
                out.push(b',');
            }
            write_json_str(out, &kv(first).key);
            out.push(b':');
            let v = kv(last).value.as_ref().and_then(|v| v.value.as_ref());
            write_value(out, v, depth);
        },
    );
    out.push(b'}');
}

fn write_hex(out: &mut Vec<u8>, b: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &x in b {
        out.push(DIGITS[usize::from(x >> 4)]);
        out.push(DIGITS[usize::from(x & 0xf)]);
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests;
