//! OTLP/JSON (the OTLP specification's JSON encoding of the protobuf messages) into the
//! same messages as the protobuf decoder gives: lowerCamelCase keys (the proto's
//! snake_case names are taken too), trace and span ids in hex, 64-bit integers as numbers
//! or decimal strings, bytes in base64, severity as a number or its enum name; unknown
//! keys ignored. Each error names the path of the value it is about.

use base64::Engine;
use serde_json::{Map, Value as Json};

use super::proto::*;

/// A decoding error: where and what.
pub type JsonError = String;

/// Decode an `ExportLogsServiceRequest` from OTLP/JSON.
pub fn decode_request(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let v: Json = serde_json::from_slice(body).map_err(|e| format!("not valid JSON: {e}"))?;
    let root = object(&v, "request")?;
    let mut out = ExportLogsServiceRequest::default();
    for (i, rl) in list(root, "resourceLogs", "resource_logs", "")?
        .iter()
        .enumerate()
    {
        out.resource_logs
            .push(resource_logs(rl, &format!("resourceLogs[{i}]"))?);
    }
    Ok(out)
}

fn resource_logs(v: &Json, at: &str) -> Result<ResourceLogs, JsonError> {
    let o = object(v, at)?;
    let mut out = ResourceLogs::default();
    if let Some(r) = field(o, "resource", "resource") {
        let at = format!("{at}.resource");
        let ro = object(r, &at)?;
        out.resource = Some(Resource {
            attributes: key_values(ro, "attributes", "attributes", &at)?,
            dropped_attributes_count: uint(
                ro,
                "droppedAttributesCount",
                "dropped_attributes_count",
                &at,
            )? as u32,
        });
    }
    for (i, sl) in list(o, "scopeLogs", "scope_logs", at)?.iter().enumerate() {
        out.scope_logs
            .push(scope_logs(sl, &format!("{at}.scopeLogs[{i}]"))?);
    }
    Ok(out)
}

fn scope_logs(v: &Json, at: &str) -> Result<ScopeLogs, JsonError> {
    let o = object(v, at)?;
    let mut out = ScopeLogs::default();
    if let Some(s) = field(o, "scope", "scope") {
        let at = format!("{at}.scope");
        let so = object(s, &at)?;
        out.scope = Some(InstrumentationScope {
            name: string(so, "name", "name", &at)?,
            version: string(so, "version", "version", &at)?,
        });
    }
    for (i, r) in list(o, "logRecords", "log_records", at)?.iter().enumerate() {
        out.log_records
            .push(log_record(r, &format!("{at}.logRecords[{i}]"))?);
    }
    Ok(out)
}

fn log_record(v: &Json, at: &str) -> Result<LogRecord, JsonError> {
    let o = object(v, at)?;
    Ok(LogRecord {
        time_unix_nano: uint(o, "timeUnixNano", "time_unix_nano", at)?,
        observed_time_unix_nano: uint(o, "observedTimeUnixNano", "observed_time_unix_nano", at)?,
        severity_number: severity(o, at)?,
        severity_text: string(o, "severityText", "severity_text", at)?,
        body: field(o, "body", "body")
            .map(|b| any_value(b, &format!("{at}.body"), 0))
            .transpose()?,
        attributes: key_values(o, "attributes", "attributes", at)?,
        dropped_attributes_count: uint(o, "droppedAttributesCount", "dropped_attributes_count", at)?
            as u32,
        flags: uint(o, "flags", "flags", at)? as u32,
        trace_id: hex_id(o, "traceId", "trace_id", 16, at)?,
        span_id: hex_id(o, "spanId", "span_id", 8, at)?,
        event_name: string(o, "eventName", "event_name", at)?,
    })
}

/// Nesting allowed inside a value (arrays and maps in attributes and bodies), below
/// serde_json's own limit of 128 for the whole document.
const MAX_DEPTH: usize = 64;

fn any_value(v: &Json, at: &str, depth: usize) -> Result<AnyValue, JsonError> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested deeper than {MAX_DEPTH} levels"));
    }
    let o = object(v, at)?;
    let one = |k: &str, s: &str| field(o, k, s);
    let value = if let Some(s) = one("stringValue", "string_value") {
        Some(Value::String(
            s.as_str()
                .ok_or_else(|| format!("{at}.stringValue: expected a string"))?
                .to_string(),
        ))
    } else if let Some(b) = one("boolValue", "bool_value") {
        Some(Value::Bool(b.as_bool().ok_or_else(|| {
            format!("{at}.boolValue: expected true or false")
        })?))
    } else if let Some(i) = one("intValue", "int_value") {
        Some(Value::Int(int64(i, &format!("{at}.intValue"))?))
    } else if let Some(d) = one("doubleValue", "double_value") {
        Some(Value::Double(double(d, &format!("{at}.doubleValue"))?))
    } else if let Some(a) = one("arrayValue", "array_value") {
        let at = format!("{at}.arrayValue");
        let ao = object(a, &at)?;
        let mut values = Vec::new();
        for (i, e) in list(ao, "values", "values", &at)?.iter().enumerate() {
            values.push(any_value(e, &format!("{at}.values[{i}]"), depth + 1)?);
        }
        Some(Value::Array(ArrayValue { values }))
    } else if let Some(k) = one("kvlistValue", "kvlist_value") {
        let at = format!("{at}.kvlistValue");
        let ko = object(k, &at)?;
        Some(Value::Kvlist(KeyValueList {
            values: key_values_at(ko, "values", "values", &at, depth + 1)?,
        }))
    } else if let Some(b) = one("bytesValue", "bytes_value") {
        let s = b
            .as_str()
            .ok_or_else(|| format!("{at}.bytesValue: expected a base64 string"))?;
        Some(Value::Bytes(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| format!("{at}.bytesValue: not valid base64: {e}"))?,
        ))
    } else {
        None
    };
    Ok(AnyValue { value })
}

fn key_values(
    o: &Map<String, Json>,
    k: &str,
    s: &str,
    at: &str,
) -> Result<Vec<KeyValue>, JsonError> {
    key_values_at(o, k, s, at, 0)
}

fn key_values_at(
    o: &Map<String, Json>,
    k: &str,
    s: &str,
    at: &str,
    depth: usize,
) -> Result<Vec<KeyValue>, JsonError> {
    let mut out = Vec::new();
    for (i, kv) in list(o, k, s, at)?.iter().enumerate() {
        let at = format!("{}{k}[{i}]", dot(at));
        let kvo = object(kv, &at)?;
        out.push(KeyValue {
            key: string(kvo, "key", "key", &at)?,
            value: field(kvo, "value", "value")
                .map(|v| any_value(v, &format!("{at}.value"), depth))
                .transpose()?,
        });
    }
    Ok(out)
}

fn severity(o: &Map<String, Json>, at: &str) -> Result<i32, JsonError> {
    match field(o, "severityNumber", "severity_number") {
        None | Some(Json::Null) => Ok(0),
        Some(Json::String(name)) => severity_by_name(name)
            .ok_or_else(|| format!("{}severityNumber: unknown severity '{name}'", dot(at))),
        Some(v) => {
            let n = int64(v, &format!("{}severityNumber", dot(at)))?;
            i32::try_from(n).map_err(|_| format!("{}severityNumber: {n} is out of range", dot(at)))
        }
    }
}

/// `SEVERITY_NUMBER_WARN2` → 14.
fn severity_by_name(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("SEVERITY_NUMBER_")?;
    if rest == "UNSPECIFIED" {
        return Some(0);
    }
    let split = rest
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(rest.len());
    let (base, n) = rest.split_at(split);
    let base = match base {
        "TRACE" => 1,
        "DEBUG" => 5,
        "INFO" => 9,
        "WARN" => 13,
        "ERROR" => 17,
        "FATAL" => 21,
        _ => return None,
    };
    let step = match n {
        "" => 0,
        "2" => 1,
        "3" => 2,
        "4" => 3,
        _ => return None,
    };
    Some(base + step)
}

fn dot(at: &str) -> String {
    if at.is_empty() {
        String::new()
    } else {
        format!("{at}.")
    }
}

/// The value under the camelCase key, else under the proto name; `null` counts as absent.
fn field<'a>(o: &'a Map<String, Json>, camel: &str, snake: &str) -> Option<&'a Json> {
    o.get(camel)
        .or_else(|| o.get(snake))
        .filter(|v| !v.is_null())
}

fn object<'a>(v: &'a Json, at: &str) -> Result<&'a Map<String, Json>, JsonError> {
    v.as_object()
        .ok_or_else(|| format!("{at}: expected an object, found {}", kind(v)))
}

fn list<'a>(o: &'a Map<String, Json>, k: &str, s: &str, at: &str) -> Result<&'a [Json], JsonError> {
    match field(o, k, s) {
        None => Ok(&[]),
        Some(Json::Array(a)) => Ok(a),
        Some(v) => Err(format!(
            "{}{k}: expected an array, found {}",
            dot(at),
            kind(v)
        )),
    }
}

fn string(o: &Map<String, Json>, k: &str, s: &str, at: &str) -> Result<String, JsonError> {
    match field(o, k, s) {
        None => Ok(String::new()),
        Some(Json::String(v)) => Ok(v.clone()),
        Some(v) => Err(format!(
            "{}{k}: expected a string, found {}",
            dot(at),
            kind(v)
        )),
    }
}

fn uint(o: &Map<String, Json>, k: &str, s: &str, at: &str) -> Result<u64, JsonError> {
    let Some(v) = field(o, k, s) else {
        return Ok(0);
    };
    let at = format!("{}{k}", dot(at));
    let n = int64_or_u64(v, &at)?;
    u64::try_from(n).map_err(|_| format!("{at}: {n} is negative"))
}

fn int64(v: &Json, at: &str) -> Result<i64, JsonError> {
    let n = int64_or_u64(v, at)?;
    i64::try_from(n).map_err(|_| format!("{at}: {n} is out of range for a 64-bit integer"))
}

/// An integer as a JSON number or a decimal string (how OTLP/JSON writes 64-bit ones).
fn int64_or_u64(v: &Json, at: &str) -> Result<i128, JsonError> {
    let n = match v {
        Json::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        Json::String(s) => s.parse::<i128>().ok(),
        _ => None,
    };
    let n = n.ok_or_else(|| {
        format!(
            "{at}: expected an integer (a number or a decimal string), found {}",
            kind(v)
        )
    })?;
    if n < i128::from(i64::MIN) || n > i128::from(u64::MAX) {
        return Err(format!("{at}: {n} is out of range for a 64-bit integer"));
    }
    Ok(n)
}

fn double(v: &Json, at: &str) -> Result<f64, JsonError> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            s => s.parse().ok(),
        },
        _ => None,
    }
    .ok_or_else(|| format!("{at}: expected a number, found {}", kind(v)))
}

fn hex_id(
    o: &Map<String, Json>,
    k: &str,
    s: &str,
    len: usize,
    at: &str,
) -> Result<Vec<u8>, JsonError> {
    let text = string(o, k, s, at)?;
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let at = format!("{}{k}", dot(at));
    if text.len() != len * 2 {
        return Err(format!(
            "{at}: expected {} hex digits, found {} characters",
            len * 2,
            text.len()
        ));
    }
    (0..len)
        .map(|i| {
            u8::from_str_radix(text.get(2 * i..2 * i + 2).unwrap_or("x"), 16)
                .map_err(|_| format!("{at}: '{text}' is not hex"))
        })
        .collect()
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn decodes_the_spec_example_shape() {
        let body = br#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"billing"}}]},
          "scopeLogs":[{"scope":{"name":"app.audit"},"logRecords":[{"timeUnixNano":"1700000000123456789",
          "observedTimeUnixNano":1700000000200000000,"severityNumber":13,"severityText":"WARNING",
          "traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"eee19b7ec3c1b174",
          "body":{"stringValue":"card charged"},
          "attributes":[{"key":"request_id","value":{"stringValue":"r1"}},{"key":"n","value":{"intValue":"42"}},
            {"key":"d","value":{"doubleValue":"NaN"}},{"key":"b","value":{"bytesValue":"AAE="}},
            {"key":"l","value":{"arrayValue":{"values":[{"boolValue":true}]}}},
            {"key":"m","value":{"kvlistValue":{"values":[{"key":"k","value":{"stringValue":"v"}}]}}}]}]}]}]}"#;
        let r = decode_request(body).unwrap();
        let rec = &r.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(rec.time_unix_nano, 1_700_000_000_123_456_789);
        assert_eq!(rec.observed_time_unix_nano, 1_700_000_000_200_000_000);
        assert_eq!(rec.severity_number, 13);
        assert_eq!(rec.trace_id[0], 0x5b);
        assert_eq!(rec.span_id.len(), 8);
        assert_eq!(rec.attributes.len(), 6);
        assert_eq!(
            rec.attributes[1].value.as_ref().unwrap().value,
            Some(Value::Int(42))
        );
        assert_eq!(severity_by_name("SEVERITY_NUMBER_WARN2"), Some(14));
    }

    #[test]
    fn errors_name_the_path() {
        let e = decode_request(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"soon"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(
            e.starts_with("resourceLogs[0].scopeLogs[0].logRecords[0].timeUnixNano:"),
            "{e}"
        );
        let e = decode_request(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"zz"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("traceId"), "{e}");
        assert!(
            decode_request(b"[1]")
                .unwrap_err()
                .contains("expected an object")
        );
        assert!(
            decode_request(b"{")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
    }
}
