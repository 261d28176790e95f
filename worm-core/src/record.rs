//! The audit record: the original system's JSON schema, with a stable field order.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Severity of an audit record, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Level {
    /// Very detailed diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal audit events.
    #[default]
    Info,
    /// Something unusual.
    Warn,
    /// A failure.
    Error,
}

impl Level {
    /// The canonical upper-case name (`INFO`, `WARN`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = Error;

    /// Case-insensitive; also takes Python's names (`WARNING`, `CRITICAL`, `FATAL`).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "TRACE" => Ok(Level::Trace),
            "DEBUG" => Ok(Level::Debug),
            "INFO" => Ok(Level::Info),
            "WARN" | "WARNING" => Ok(Level::Warn),
            "ERROR" | "CRITICAL" | "FATAL" => Ok(Level::Error),
            _ => Err(Error::invalid(
                format!("level '{s}'"),
                "expected one of TRACE, DEBUG, INFO, WARN, ERROR",
            )),
        }
    }
}

impl Serialize for Level {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Level {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl From<tracing::Level> for Level {
    fn from(l: tracing::Level) -> Self {
        match l {
            tracing::Level::TRACE => Level::Trace,
            tracing::Level::DEBUG => Level::Debug,
            tracing::Level::INFO => Level::Info,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::ERROR => Level::Error,
        }
    }
}

impl From<log::Level> for Level {
    fn from(l: log::Level) -> Self {
        match l {
            log::Level::Trace => Level::Trace,
            log::Level::Debug => Level::Debug,
            log::Level::Info => Level::Info,
            log::Level::Warn => Level::Warn,
            log::Level::Error => Level::Error,
        }
    }
}

/// Timestamps are written as RFC 3339 UTC with millisecond precision and `Z`.
pub mod timestamp {
    use super::*;

    /// Format a time the way every record and header stores it.
    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// Append [`format`]'s text to `out`. Written digit by digit for years 0 to 9999,
    /// because chrono's formatter costs a `String` and most of a record's serialisation
    /// time; other years go through [`format`]. The text up to the seconds is kept per
    /// thread and reused while the second is the same (records come in bursts).
    pub(crate) fn write(t: &DateTime<Utc>, out: &mut Vec<u8>) {
        use chrono::Timelike;
        thread_local! {
            /// The last second written on this thread: its date, its second of the day
            /// and its text `YYYY-MM-DDTHH:MM:SS`.
            static SECOND: std::cell::Cell<Option<(chrono::NaiveDate, u32, [u8; 19])>> =
                const { std::cell::Cell::new(None) };
        }
        // UTC's local time is the UTC time: `naive_utc` skips chrono's offset arithmetic.
        let n = t.naive_utc();
        let nanos = n.nanosecond();
        // A leap second (nanos of 1e9 and more) shows as :60: not cached.
        if nanos < 1_000_000_000 {
            let (date, secs) = (n.date(), n.num_seconds_from_midnight());
            let text = match SECOND.get() {
                Some((d, s, text)) if d == date && s == secs => Some(text),
                _ => second_text(t).inspect(|text| SECOND.set(Some((date, secs, *text)))),
            };
            if let Some(text) = text {
                let ms = nanos / 1_000_000;
                out.extend_from_slice(&text);
                out.extend_from_slice(&[
                    b'.',
                    b'0' + (ms / 100) as u8,
                    b'0' + (ms / 10 % 10) as u8,
                    b'0' + (ms % 10) as u8,
                    b'Z',
                ]);
                return;
            }
        }
        write_uncached(t, out);
    }

    /// `YYYY-MM-DDTHH:MM:SS` of `t`, for years 0 to 9999.
    fn second_text(t: &DateTime<Utc>) -> Option<[u8; 19]> {
        let mut v = Vec::with_capacity(24);
        write_uncached(t, &mut v);
        v.get(..19)?.try_into().ok().filter(|_| v.len() == 24)
    }

    /// [`write`] without the per-thread cache.
    fn write_uncached(t: &DateTime<Utc>, out: &mut Vec<u8>) {
        use chrono::{Datelike, Timelike};
        let n = t.naive_utc();
        let year = n.year();
        if !(0..=9999).contains(&year) {
            out.extend_from_slice(format(t).as_bytes());
            return;
        }
        let digits = |out: &mut Vec<u8>, v: u32, width: u32| {
            for i in (0..width).rev() {
                out.push(b'0' + (v / 10u32.pow(i) % 10) as u8);
            }
        };
        digits(out, year as u32, 4);
        out.push(b'-');
        digits(out, n.month(), 2);
        out.push(b'-');
        digits(out, n.day(), 2);
        out.push(b'T');
        digits(out, n.hour(), 2);
        out.push(b':');
        digits(out, n.minute(), 2);
        out.push(b':');
        // A leap second shows as :60, as chrono writes it.
        let nanos = n.nanosecond();
        digits(out, n.second() + nanos / 1_000_000_000, 2);
        out.push(b'.');
        digits(out, nanos % 1_000_000_000 / 1_000_000, 3);
        out.push(b'Z');
    }

    /// Parse any RFC 3339 time (any offset) and normalise it to UTC, truncated to
    /// milliseconds so that a round trip is exact.
    pub fn parse(s: &str) -> Result<DateTime<Utc>> {
        if let Some(t) = parse_stored(s) {
            return Ok(t);
        }
        let t = DateTime::parse_from_rfc3339(s).map_err(|e| {
            Error::invalid(format!("timestamp '{s}'"), format!("not RFC 3339: {e}"))
        })?;
        Ok(truncate_millis(t.with_timezone(&Utc)))
    }

    /// The form [`format`] writes (`2025-06-12T10:30:00.123Z`), read digit by digit:
    /// chrono's RFC 3339 parser costs most of the time of reading a record line. `None`
    /// for any other form (and for a leap second), which [`parse`] leaves to chrono.
    fn parse_stored(s: &str) -> Option<DateTime<Utc>> {
        let b = s.as_bytes();
        if b.len() != 24 || b[23] != b'Z' {
            return None;
        }
        let num = |r: std::ops::Range<usize>| {
            b[r].iter().try_fold(0u32, |n, &d| {
                d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
            })
        };
        for (at, sep) in [
            (4, b'-'),
            (7, b'-'),
            (10, b'T'),
            (13, b':'),
            (16, b':'),
            (19, b'.'),
        ] {
            if b[at] != sep {
                return None;
            }
        }
        let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
        let time = chrono::NaiveTime::from_hms_milli_opt(
            num(11..13)?,
            num(14..16)?,
            num(17..19).filter(|s| *s < 60)?,
            num(20..23)?,
        )?;
        Some(date.and_time(time).and_utc())
    }

    /// Drop sub-millisecond precision.
    pub fn truncate_millis(t: DateTime<Utc>) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
    }

    /// Current time at millisecond precision.
    pub fn now() -> DateTime<Utc> {
        use chrono::Timelike;
        thread_local! {
            /// The last whole second `now` saw on this thread, as Unix seconds and as a
            /// time: chrono's conversion from Unix time is most of `Utc::now`'s cost.
            static SECOND: std::cell::Cell<Option<(u64, chrono::NaiveDateTime)>> =
                const { std::cell::Cell::new(None) };
        }
        let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) else {
            return truncate_millis(Utc::now());
        };
        let (secs, millis) = (d.as_secs(), d.subsec_millis());
        let second = match SECOND.get() {
            Some((s, t)) if s == secs => Some(t),
            _ => i64::try_from(secs)
                .ok()
                .and_then(|s| DateTime::from_timestamp(s, 0))
                .map(|t| t.naive_utc())
                .inspect(|t| SECOND.set(Some((secs, *t)))),
        };
        // The system clock has no leap seconds: the whole second plus the milliseconds
        // is what `truncate_millis` of the same instant gives.
        second
            .and_then(|t| t.with_nanosecond(millis * 1_000_000))
            .map_or_else(|| truncate_millis(Utc::now()), |t| t.and_utc())
    }

    pub(crate) fn serialize<S: Serializer>(
        t: &DateTime<Utc>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<DateTime<Utc>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One structured audit record.
///
/// Field order is the original schema's and is stable on the wire; absent optional fields
/// are omitted rather than written as `null`; anything else lands in `extra`, flattened.
///
/// ```
/// use worm_core::{AuditRecord, Level};
/// let rec = AuditRecord::new(Level::Info, "Motion detected in camera cam001")
///     .service("camera_service")
///     .request_id("req-12345")
///     .action("motion_detected")
///     .field("camera_id", "cam001")
///     .field("confidence", 0.92);
/// let line = rec.to_json_line();
/// assert!(line.contains(r#""action":"motion_detected","message":"Motion detected"#));
/// assert_eq!(worm_core::AuditRecord::from_json(&line).unwrap(), rec);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When it happened (UTC, millisecond precision).
    #[serde(with = "timestamp")]
    pub timestamp: DateTime<Utc>,
    /// Severity.
    #[serde(default)]
    pub level: Level,
    /// The emitting service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// Correlation id of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The acting user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// What was done (`motion_detected`, `login`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Human-readable message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Logger (or tracing target) that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logger_name: Option<String>,
    /// Source module.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// Source function.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function: Option<String>,
    /// Source line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Every other field, e.g. `camera_id`, `confidence`, `detection_count`.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AuditRecord {
    /// A record stamped now with the given level and message.
    pub fn new(level: Level, message: impl Into<String>) -> Self {
        AuditRecord {
            timestamp: timestamp::now(),
            level,
            service_name: None,
            request_id: None,
            user_id: None,
            action: None,
            message: Some(message.into()),
            logger_name: None,
            module: None,
            function: None,
            line: None,
            extra: Map::new(),
        }
    }

    /// Set the service name.
    pub fn service(mut self, v: impl Into<String>) -> Self {
        self.service_name = Some(v.into());
        self
    }
    /// Set the request id.
    pub fn request_id(mut self, v: impl Into<String>) -> Self {
        self.request_id = Some(v.into());
        self
    }
    /// Set the user id.
    pub fn user_id(mut self, v: impl Into<String>) -> Self {
        self.user_id = Some(v.into());
        self
    }
    /// Set the action.
    pub fn action(mut self, v: impl Into<String>) -> Self {
        self.action = Some(v.into());
        self
    }
    /// Set the timestamp (truncated to milliseconds).
    pub fn at(mut self, t: DateTime<Utc>) -> Self {
        self.timestamp = timestamp::truncate_millis(t);
        self
    }
    /// Add an extra field.
    pub fn field(mut self, name: impl Into<String>, v: impl Into<Value>) -> Self {
        self.extra.insert(name.into(), v.into());
        self
    }

    /// One line of JSON, no trailing newline. JSON escapes every control character, so
    /// the line never contains a raw newline.
    pub fn to_json_line(&self) -> String {
        let mut out = Vec::with_capacity(320);
        self.write_json(&mut out);
        // Only `&str`s and serde_json's own output were written: valid UTF-8.
        String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into())
    }

    /// Append the JSON line (no newline) to `out`. Byte for byte what the derived
    /// `Serialize` writes through `serde_json::to_writer`, only faster.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.view().write_json(out);
    }

    /// The record by reference.
    pub(crate) fn view(&self) -> RecordView<'_> {
        RecordView {
            timestamp: self.timestamp,
            level: self.level,
            service_name: self.service_name.as_deref(),
            request_id: self.request_id.as_deref(),
            user_id: self.user_id.as_deref(),
            action: self.action.as_deref(),
            message: self.message.as_deref(),
            logger_name: self.logger_name.as_deref(),
            module: self.module.as_deref(),
            function: self.function.as_deref(),
            line: self.line,
            extra: Extra::Map(&self.extra),
        }
    }

    /// Parse one JSON object into a record. `timestamp` defaults to now and `level` to INFO
    /// when absent, so that minimal producer lines are accepted. Duplicate keys are
    /// refused at any depth (serde_json would keep the last one, so a second `user_id`
    /// could replace an identity), and nesting deeper than 128 levels too.
    pub fn from_json(line: &str) -> Result<Self> {
        let mut v = crate::json::parse_strict(line)
            .map_err(|e| Error::invalid("record", format!("not valid JSON: {e}")))?;
        Self::from_value(&mut v)
    }

    /// Build a record from a parsed JSON value (consumed in place).
    pub fn from_value(v: &mut Value) -> Result<Self> {
        let obj = v
            .as_object_mut()
            .ok_or_else(|| Error::invalid("record", "expected a JSON object"))?;
        if !obj.contains_key("timestamp") {
            obj.insert(
                "timestamp".into(),
                Value::String(timestamp::format(&timestamp::now())),
            );
        }
        serde_json::from_value(Value::Object(std::mem::take(obj)))
            .map_err(|e| Error::invalid("record", e.to_string()))
    }
}

/// A value of an extra field, as the tracing layer collects it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldRef<'a> {
    /// A string, escaped when written.
    Str(&'a str),
    /// JSON text written as it is (a number or a boolean).
    Json(&'a str),
}

impl<'a> FieldRef<'a> {
    /// The value as a schema field takes it: a string as it is, anything else as its JSON
    /// text (what `Value::to_string` gives).
    pub(crate) fn text(self) -> &'a str {
        match self {
            FieldRef::Str(s) | FieldRef::Json(s) => s,
        }
    }
}

/// A record's extra fields: a JSON map, or a list the tracing layer built.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Extra<'a> {
    Map(&'a Map<String, Value>),
    Fields(&'a [(&'a str, FieldRef<'a>)]),
    /// Fields of a JSON line read in one pass: byte ranges of `.0`, each a key and a value
    /// already in the form the writer would give them (see `crate::line`).
    Raw(&'a str, &'a [crate::line::RawField]),
    /// Fields a front end wrote itself ([`RecordFields::extra_json`]), copied as they are.
    Json(&'a [u8]),
}

/// A record given by its schema fields, held by reference, and its other fields already
/// written as JSON: what a front end that maps another format (`worm serve`'s OTLP) hands
/// to [`Reservation::add_fields`](crate::pipeline::Reservation::add_fields) without
/// building an [`AuditRecord`] and its map of extra fields.
///
/// Its line is [`AuditRecord::write_json`]'s for the record with these fields and these
/// extras in this order, provided `extra_json` is what that writer gives for them.
#[derive(Debug, Clone, Copy)]
pub struct RecordFields<'a> {
    /// When it happened (written at millisecond precision).
    pub timestamp: DateTime<Utc>,
    /// Severity.
    pub level: Level,
    /// The emitting service.
    pub service_name: Option<&'a str>,
    /// Correlation id of the request.
    pub request_id: Option<&'a str>,
    /// The acting user.
    pub user_id: Option<&'a str>,
    /// What was done.
    pub action: Option<&'a str>,
    /// Human-readable message.
    pub message: Option<&'a str>,
    /// Logger that produced it.
    pub logger_name: Option<&'a str>,
    /// Source module.
    pub module: Option<&'a str>,
    /// Source function.
    pub function: Option<&'a str>,
    /// Source line.
    pub line: Option<u32>,
    /// The extra fields as the writer writes an [`AuditRecord`]'s `extra`: for each,
    /// `,` then the key as a JSON string, `:` and the value's compact JSON (serde_json's
    /// text, strings escaped by [`write_json_str`]); keys distinct and none a schema
    /// field's name. The caller vouches for this form: the bytes are copied into the
    /// line unchecked.
    pub extra_json: &'a [u8],
}

impl RecordFields<'_> {
    /// Append the JSON line (no newline) to `out`.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.view().write_json(out);
    }

    pub(crate) fn view(&self) -> RecordView<'_> {
        RecordView {
            timestamp: self.timestamp,
            level: self.level,
            service_name: self.service_name,
            request_id: self.request_id,
            user_id: self.user_id,
            action: self.action,
            message: self.message,
            logger_name: self.logger_name,
            module: self.module,
            function: self.function,
            line: self.line,
            extra: Extra::Json(self.extra_json),
        }
    }
}

/// An [`AuditRecord`] by reference: what the writer needs to serialise and queue a
/// record, without building one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RecordView<'a> {
    pub timestamp: DateTime<Utc>,
    pub level: Level,
    pub service_name: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub user_id: Option<&'a str>,
    pub action: Option<&'a str>,
    pub message: Option<&'a str>,
    pub logger_name: Option<&'a str>,
    pub module: Option<&'a str>,
    pub function: Option<&'a str>,
    pub line: Option<u32>,
    pub extra: Extra<'a>,
}

/// Whether `s` holds a byte that JSON must escape: a control character, `"` or `\\`.
/// Tested 8 bytes at a time, each word for the three kinds at once with integer
/// arithmetic (the compiler did not vectorise a byte-wise test of 16-byte blocks: ~6
/// instructions a byte, the largest single cost of writing a record's line).
fn needs_escape(s: &[u8]) -> bool {
    let (words, rest) = s.as_chunks::<8>();
    if words
        .iter()
        .any(|w| word_needs_escape(u64::from_le_bytes(*w)))
    {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    // The tail: the last 8 bytes as one more word when there are that many; a value
    // shorter than 8 bytes byte by byte.
    match s.last_chunk::<8>() {
        Some(tail) => word_needs_escape(u64::from_le_bytes(*tail)),
        None => rest.iter().fold(false, |found, &c| {
            found | (c < 0x20) | (c == b'"') | (c == b'\\')
        }),
    }
}

/// Whether one of the 8 bytes of `w` is below 0x20, `"` or `\`.
fn word_needs_escape(w: u64) -> bool {
    escape_mask(w) != 0
}

/// The high bit of each of the 8 bytes of `w` (read little-endian: the first byte in
/// memory is the lowest) that is below 0x20, `"` or `\`. Exact for the lowest byte it
/// marks, so `trailing_zeros() / 8` is the index of the first such byte: a subtraction's
/// borrow only reaches bytes above one that itself underflowed. Higher bytes may be
/// marked wrongly after a match, which a test for any match does not mind either.
pub(crate) fn escape_mask(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // A byte is zero after xor with its value: `has_zero` finds it. Bytes of 0x80 and
    // above are excluded by `!w`, so UTF-8 never matches.
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    below_space | has_zero(w ^ (ONES * u64::from(b'"'))) | has_zero(w ^ (ONES * u64::from(b'\\')))
}

/// Append `s` as a JSON string, byte for byte as serde_json writes it.
pub fn write_json_str(out: &mut Vec<u8>, s: &str) {
    write_str(out, s);
}

/// Append `s` as a JSON string.
fn write_str(out: &mut Vec<u8>, s: &str) {
    write_str_after(out, b"\"", s);
}

/// Append `prefix` (which ends in the string's opening quote) and `s` as a JSON
/// string: one copy of the prefix for keys and separators written as constants.
#[inline(always)]
fn write_str_after(out: &mut Vec<u8>, prefix: &[u8], s: &str) {
    // Most strings need no escape: copied as they are (what serde_json writes for them).
    if !needs_escape(s.as_bytes()) {
        out.reserve(prefix.len() + s.len() + 1);
        out.extend_from_slice(prefix);
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
        return;
    }
    out.extend_from_slice(&prefix[..prefix.len() - 1]);
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Append `,"key":` for a key of an extra field.
fn write_key(out: &mut Vec<u8>, key: &str) {
    if !needs_escape(key.as_bytes()) {
        out.reserve(key.len() + 4);
        out.extend_from_slice(b",\"");
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        return;
    }
    out.push(b',');
    write_str(out, key);
    out.push(b':');
}

/// Decimal text of an integer (`-` and the digits of `abs`), as serde_json writes it,
/// built at the end of `buf`.
pub(crate) fn decimal(negative: bool, mut abs: u64, buf: &mut [u8; 21]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (abs % 10) as u8;
        abs /= 10;
        if abs == 0 {
            break;
        }
    }
    if negative {
        i -= 1;
        buf[i] = b'-';
    }
    // ASCII digits: always UTF-8.
    std::str::from_utf8(&buf[i..]).unwrap_or_default()
}

impl RecordView<'_> {
    /// Append the JSON line (no newline): the schema's fields in order, absent ones
    /// omitted, then the extras, exactly as the derived `Serialize` with `flatten` does.
    pub(crate) fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp::write(&self.timestamp, out);
        out.extend_from_slice(match self.level {
            Level::Trace => b"\",\"level\":\"TRACE\"",
            Level::Debug => b"\",\"level\":\"DEBUG\"",
            Level::Info => b"\",\"level\":\"INFO\"",
            Level::Warn => b"\",\"level\":\"WARN\"",
            Level::Error => b"\",\"level\":\"ERROR\"",
        });
        // Each key with its separators is one constant.
        macro_rules! schema {
            ($($name:literal: $value:expr),*) => {$(
                if let Some(v) = $value {
                    write_str_after(out, concat!(",\"", $name, "\":\"").as_bytes(), v);
                }
            )*};
        }
        schema!(
            "service_name": self.service_name,
            "request_id": self.request_id,
            "user_id": self.user_id,
            "action": self.action,
            "message": self.message,
            "logger_name": self.logger_name,
            "module": self.module,
            "function": self.function
        );
        if let Some(line) = self.line {
            out.extend_from_slice(b",\"line\":");
            out.extend_from_slice(decimal(false, line.into(), &mut [0; 21]).as_bytes());
        }
        match self.extra {
            Extra::Map(map) => {
                for (k, v) in map {
                    write_key(out, k);
                    let _ = serde_json::to_writer(&mut *out, v);
                }
            }
            Extra::Fields(fields) => {
                for (k, v) in fields {
                    write_key(out, k);
                    match v {
                        FieldRef::Str(s) => write_str(out, s),
                        FieldRef::Json(j) => out.extend_from_slice(j.as_bytes()),
                    }
                }
            }
            Extra::Raw(line, fields) => {
                let line = line.as_bytes();
                for f in fields {
                    out.push(b',');
                    out.extend_from_slice(&line[f.key.clone()]);
                    out.push(b':');
                    out.extend_from_slice(&line[f.value.clone()]);
                }
            }
            Extra::Json(json) => out.extend_from_slice(json),
        }
        out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_escape_finds_every_escaped_byte_at_every_position() {
        // Lengths around the 16-byte blocks, the byte at each position, each kind.
        for len in [0usize, 1, 15, 16, 17, 31, 32, 33, 70] {
            let plain = "a".repeat(len);
            assert!(!needs_escape(plain.as_bytes()), "{len}");
            for at in 0..len {
                for bad in [b'"', b'\\', 0u8, 0x1f, b'\n'] {
                    let mut b = plain.clone().into_bytes();
                    b[at] = bad;
                    assert!(needs_escape(&b), "len {len} at {at} byte {bad}");
                }
            }
        }
        // Every byte value at every position of every short length (the 8-byte words
        // and the bytes after them), beside bytes that must not match.
        for len in 1usize..=17 {
            for at in 0..len {
                for c in 0..=255u8 {
                    for fill in [b'a', b' ', b'!', b'#', b'[', b']', 0x7f, 0x80, 0xff] {
                        let mut b = vec![fill; len];
                        b[at] = c;
                        let want = c < 0x20 || c == b'"' || c == b'\\';
                        assert_eq!(needs_escape(&b), want, "len {len} at {at} byte {c}");
                    }
                }
            }
        }
        // Bytes that need no escape, UTF-8 continuation bytes and DEL included.
        let ok: Vec<u8> = (0x20u8..=0xff)
            .filter(|c| *c != b'"' && *c != b'\\')
            .collect();
        assert!(!needs_escape(&ok));
    }

    /// The hand-written writer against serde's derived output.
    #[test]
    fn write_json_matches_serde() {
        let t = timestamp::parse("2025-06-12T10:30:00.123456+02:00").unwrap();
        let mut full = AuditRecord::new(
            Level::Error,
            "quote \" back \\ nl \n tab \t nul \u{0} é \u{2028} 😀",
        )
        .at(t)
        .service("svc \"x\"")
        .request_id("req/1")
        .user_id("u")
        .action("a")
        .field("n", 1)
        .field("neg", -5)
        .field("big", u64::MAX)
        .field("min", i64::MIN)
        .field("zero", 0)
        .field("neg_zero", -0.0)
        .field("conf", 0.92)
        .field("empty", "")
        .field("ctl", "\u{1}\u{1f}\u{7f}</script>")
        .field("f_false", false)
        .field("f", 0.1 + 0.2)
        .field("e", 1e300)
        .field("b", true)
        .field("null", Value::Null)
        .field("nested", serde_json::json!({"x": [1, "y", {"z": null}]}))
        .field("k\"ey\n", "v");
        full.logger_name = Some("l".into());
        full.module = Some("m::n".into());
        full.function = Some("f".into());
        full.line = Some(u32::MAX);
        let bare = AuditRecord::new(Level::Trace, "").at(t);
        let mut none = bare.clone();
        none.message = None;
        let old = AuditRecord::new(Level::Info, "x")
            .at(timestamp::parse("0001-01-01T00:00:00Z").unwrap());
        let leap =
            AuditRecord::new(Level::Info, "x").at(chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_milli_opt(23, 59, 59, 1_500)
                .unwrap()
                .and_utc());
        let far =
            AuditRecord::new(Level::Info, "x").at(chrono::NaiveDate::from_ymd_opt(12345, 1, 2)
                .unwrap()
                .and_hms_milli_opt(3, 4, 5, 6)
                .unwrap()
                .and_utc());
        let now = AuditRecord::new(Level::Warn, "now");
        let mut sub_milli = now.clone();
        sub_milli.timestamp = Utc::now();
        for r in [full, bare, none, old, leap, far, now, sub_milli] {
            let expected = serde_json::to_string(&r).unwrap();
            assert_eq!(r.to_json_line(), expected);
            let mut out = b"prefix".to_vec();
            r.write_json(&mut out);
            assert_eq!(&out[6..], expected.as_bytes());
        }
    }

    #[test]
    fn field_order_is_stable_and_absent_fields_omitted() {
        let t = timestamp::parse("2025-06-12T10:30:00.123456+02:00").unwrap();
        let mut r = AuditRecord::new(Level::Info, "Motion detected in camera cam001")
            .at(t)
            .service("camera_service")
            .request_id("req-12345-abcde")
            .user_id("user123")
            .action("motion_detected")
            .field("camera_id", "cam001")
            .field("confidence", 0.92)
            .field("detection_count", 3);
        r.logger_name = Some("camera_service".into());
        r.module = Some("motion_detector".into());
        r.function = Some("process_frame".into());
        r.line = Some(245);
        assert_eq!(
            r.to_json_line(),
            r#"{"timestamp":"2025-06-12T08:30:00.123Z","level":"INFO","service_name":"camera_service","request_id":"req-12345-abcde","user_id":"user123","action":"motion_detected","message":"Motion detected in camera cam001","logger_name":"camera_service","module":"motion_detector","function":"process_frame","line":245,"camera_id":"cam001","confidence":0.92,"detection_count":3}"#
        );
        assert_eq!(AuditRecord::from_json(&r.to_json_line()).unwrap(), r);
        let bare = AuditRecord::new(Level::Warn, "x").at(t);
        assert_eq!(
            bare.to_json_line(),
            r#"{"timestamp":"2025-06-12T08:30:00.123Z","level":"WARN","message":"x"}"#
        );
    }

    #[test]
    fn no_raw_newlines_and_levels_parse() {
        let r = AuditRecord::new(Level::Error, "a\nb\u{0}c\u{2028}");
        assert!(!r.to_json_line().contains('\n'));
        assert_eq!("warning".parse::<Level>().unwrap(), Level::Warn);
        assert_eq!("CRITICAL".parse::<Level>().unwrap(), Level::Error);
        assert!("loud".parse::<Level>().is_err());
    }

    #[test]
    fn minimal_and_bad_lines() {
        let r = AuditRecord::from_json(r#"{"message":"hi","camera_id":"c1"}"#).unwrap();
        assert_eq!(r.level, Level::Info);
        assert_eq!(r.extra["camera_id"], "c1");
        assert!(AuditRecord::from_json("[1]").is_err());
        assert!(
            AuditRecord::from_json(r#"{"timestamp":"yesterday"}"#)
                .unwrap_err()
                .to_string()
                .contains("yesterday")
        );
        assert!(AuditRecord::from_json(r#"{"line":"x"}"#).is_err());
    }
}
