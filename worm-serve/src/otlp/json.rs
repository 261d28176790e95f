//! OTLP/JSON (the OTLP specification's JSON encoding of the protobuf messages) into the
//! same messages as the protobuf decoder gives, through `opentelemetry-proto`'s serde
//! derives: lowerCamelCase keys, trace and span ids in hex, 64-bit integers as numbers or
//! decimal strings, enums as integers, bytes in base64; unknown keys ignored (the proto's
//! snake_case names are not keys in OTLP/JSON, so they are ignored too). Each error names
//! the path of the value it is about.

use serde_json::{Map, Number, Value as Json};

use super::proto::ExportLogsServiceRequest;

/// A decoding error: where and what.
pub type JsonError = String;

/// Decode an `ExportLogsServiceRequest` from OTLP/JSON.
pub fn decode_request(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let err = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => match de.end() {
            Ok(()) => return Ok(r),
            Err(e) => return Err(format!("not valid JSON: {e}")),
        },
        Err(e) => e,
    };
    // Shim: the proto3 JSON mapping lets a double be a string ("1.5", "NaN", "Infinity",
    // "-Infinity"; the collector writes non-finite ones so), but opentelemetry-proto
    // 0.33's AnyValue reads `doubleValue` as a JSON number only. Only when the plain decode
    // failed: rewrite such values and decode again.
    let mut v: Json = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return Err(message(err)),
    };
    if !doubles_as_numbers(&mut v) {
        return Err(message(err));
    }
    serde_path_to_error::deserialize(v).map_err(message)
}

fn message(e: serde_path_to_error::Error<serde_json::Error>) -> JsonError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    if inner.is_syntax() || inner.is_eof() {
        format!("not valid JSON: {inner}")
    } else if path == "." {
        inner.to_string()
    } else {
        format!("{path}: {inner}")
    }
}

/// Rewrite every `"doubleValue": "<text>"` into a number; a non-finite one, which JSON
/// cannot hold as a number, into `"stringValue"` of its name (the record field is that
/// text either way, see [`super::map`]). Whether anything changed.
fn doubles_as_numbers(v: &mut Json) -> bool {
    match v {
        Json::Array(a) => a.iter_mut().fold(false, |c, e| doubles_as_numbers(e) | c),
        Json::Object(o) => {
            let mut changed = double_in(o);
            for e in o.values_mut() {
                changed |= doubles_as_numbers(e);
            }
            changed
        }
        _ => false,
    }
}

fn double_in(o: &mut Map<String, Json>) -> bool {
    let Some(Json::String(text)) = o.get("doubleValue") else {
        return false;
    };
    let d = match text.as_str() {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        t => match t.parse::<f64>() {
            Ok(d) => d,
            Err(_) => return false,
        },
    };
    match Number::from_f64(d) {
        Some(n) => {
            o.insert("doubleValue".into(), Json::Number(n));
        }
        None => {
            let name = text.clone();
            o.remove("doubleValue");
            o.insert("stringValue".into(), Json::String(name));
        }
    }
    true
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::super::proto::Value;
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
            Some(Value::IntValue(42))
        );
        assert_eq!(
            rec.attributes[3].value.as_ref().unwrap().value,
            Some(Value::BytesValue(vec![0, 1]))
        );
        // Doubles as strings (the shim).
        assert_eq!(
            rec.attributes[2].value.as_ref().unwrap().value,
            Some(Value::StringValue("NaN".into()))
        );
        let r = decode_request(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"attributes":[{"key":"x","value":{"doubleValue":"2.5"}}]}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            r.resource_logs[0].scope_logs[0].log_records[0].attributes[0]
                .value
                .as_ref()
                .unwrap()
                .value,
            Some(Value::DoubleValue(2.5))
        );
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
        // Enum names are not OTLP/JSON (integers only).
        let e = decode_request(
            br#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN"}]}]}]}"#,
        )
        .unwrap_err();
        assert!(e.contains("severityNumber"), "{e}");
        // serde takes a struct from an array too (by field order): the error is about
        // the first field.
        let e = decode_request(b"[1]").unwrap_err();
        assert!(e.contains("invalid type: integer `1`"), "{e}");
        assert!(
            decode_request(b"{")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
        assert!(
            decode_request(b"{} x")
                .unwrap_err()
                .starts_with("not valid JSON")
        );
    }
}
