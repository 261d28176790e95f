//! Audit records given as JSON lines (`worm ship`'s NDJSON), read in one pass.
//!
//! A producer's line is usually already in the form the writer stores: compact values,
//! serde_json's escapes and number forms. [`LineReader`] checks such a line byte by byte
//! (JSON syntax, duplicate keys at any depth, the schema's field types) and hands the
//! pipeline the record as slices of the line, so no JSON tree is built and no value is
//! re-encoded. Every other line, whether wrong or merely written another way (`1e3`, `\/`,
//! spaces inside a nested value, an escaped message), is left to the full parser,
//! [`AuditRecord::from_json`](crate::AuditRecord::from_json), which also says what is
//! wrong. The two agree byte for byte on the stored line wherever the one-pass reader
//! answers (`tests` below).

use std::ops::Range;

use chrono::{DateTime, Utc};

use crate::error::Result;
use crate::pipeline::AuditLog;
use crate::record::{Extra, Level, RecordView, escape_mask, timestamp};

/// Nesting the one-pass reader follows (serde_json's limit is 128; deeper values go to
/// the full parser, which refuses them).
const MAX_DEPTH: usize = 64;

/// Top-level keys the one-pass reader checks for duplicates by comparing each with the
/// others; a line with more goes to the full parser.
const MAX_KEYS: usize = 128;

/// One extra field of a line: the byte ranges of its key and its value, both in stored
/// form (quotes included for the key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawField {
    pub key: Range<usize>,
    pub value: Range<usize>,
}

/// Reads audit record lines in one pass; keeps its buffers from line to line.
///
/// ```
/// use worm_core::line::LineReader;
/// let mut reader = LineReader::new();
/// let line = r#"{"timestamp":"2025-06-12T10:30:00.123Z","user_id":"u1","action":"login","n":3}"#;
/// assert_eq!(
///     reader.to_json(line, "auth").unwrap(),
///     br#"{"timestamp":"2025-06-12T10:30:00.123Z","level":"INFO","service_name":"auth","user_id":"u1","action":"login","n":3}"#,
/// );
/// // Valid, but not in stored form: for the full parser.
/// assert!(reader.to_json(r#"{"n":1e3}"#, "auth").is_none());
/// ```
#[derive(Debug, Default)]
pub struct LineReader {
    fields: Vec<RawField>,
    keys: Vec<(u32, Range<usize>)>,
    nested: Vec<Range<usize>>,
    scratch: Vec<u8>,
}

/// The schema's fields of one line, as found.
#[derive(Default)]
struct Schema<'a> {
    timestamp: Option<DateTime<Utc>>,
    level: Option<Level>,
    /// service_name, request_id, user_id, action, message, logger_name, module, function.
    strings: [Option<&'a str>; 8],
    line: Option<u32>,
}

/// A cheap fingerprint of a key (its length and first and last bytes): keys are compared
/// byte for byte only when their fingerprints match.
fn fingerprint(k: &[u8]) -> u32 {
    let first = k.first().copied().unwrap_or(0);
    let last = k.last().copied().unwrap_or(0);
    (k.len() as u32) << 16 | u32::from(first) << 8 | u32::from(last)
}

impl LineReader {
    /// A reader with empty buffers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Log `line` (one JSON object, without its newline) as [`AuditLog::log`] would log
    /// [`AuditRecord::from_json`](crate::AuditRecord::from_json)'s record, when the line
    /// is in the form this reader takes. `None` when it is not: nothing was logged, and
    /// the line is for the full parser, which takes or refuses it and says why.
    pub fn log(&mut self, log: &AuditLog, line: &str) -> Option<Result<()>> {
        let schema = self.read(line)?;
        Some(log.log_view(&self.view(line, &schema)))
    }

    /// The stored line (without newline) of the record `line` holds, with `service` where
    /// the line names none, when the line is in the form this reader takes.
    pub fn to_json(&mut self, line: &str, service: &str) -> Option<Vec<u8>> {
        let schema = self.read(line)?;
        let mut view = self.view(line, &schema);
        view.service_name.get_or_insert(service);
        let mut out = Vec::with_capacity(line.len() + 64);
        view.write_json(&mut out);
        Some(out)
    }

    fn view<'a>(&'a self, line: &'a str, s: &Schema<'a>) -> RecordView<'a> {
        let [
            service_name,
            request_id,
            user_id,
            action,
            message,
            logger_name,
            module,
            function,
        ] = s.strings;
        RecordView {
            timestamp: s.timestamp.unwrap_or_else(timestamp::now),
            level: s.level.unwrap_or_default(),
            service_name,
            request_id,
            user_id,
            action,
            message,
            logger_name,
            module,
            function,
            line: s.line,
            extra: Extra::Raw(line, &self.fields),
        }
    }

    /// Check the whole line; `None` at the first thing the one-pass reader does not take.
    fn read<'a>(&mut self, line: &'a str) -> Option<Schema<'a>> {
        self.fields.clear();
        self.keys.clear();
        self.nested.clear();
        let mut cur = Cursor {
            b: line.as_bytes(),
            i: 0,
        };
        let mut schema = Schema::default();
        cur.skip_ws();
        cur.eat(b'{')?;
        cur.skip_ws();
        if cur.peek()? == b'}' {
            cur.i += 1;
        } else {
            loop {
                let (key, escaped) = cur.string()?;
                let name = &line[key.start + 1..key.end - 1];
                let print = fingerprint(name.as_bytes());
                if self.keys.len() >= MAX_KEYS
                    || self
                        .keys
                        .iter()
                        .any(|(p, k)| *p == print && line[k.clone()] == line[key.clone()])
                {
                    return None;
                }
                self.keys.push((print, key.clone()));
                cur.skip_ws();
                cur.eat(b':')?;
                cur.skip_ws();
                // A key with an escape is no schema field's name.
                let field = if escaped { "" } else { name };
                let string_at = match field {
                    "service_name" => Some(0),
                    "request_id" => Some(1),
                    "user_id" => Some(2),
                    "action" => Some(3),
                    "message" => Some(4),
                    "logger_name" => Some(5),
                    "module" => Some(6),
                    "function" => Some(7),
                    _ => None,
                };
                match (field, string_at) {
                    (_, Some(at)) => schema.strings[at] = Some(cur.plain_string(line)?),
                    ("timestamp", _) => {
                        schema.timestamp = Some(timestamp::parse(cur.plain_string(line)?).ok()?);
                    }
                    ("level", _) => schema.level = Some(level(cur.plain_string(line)?)?),
                    ("line", _) => schema.line = Some(cur.plain_u32()?),
                    _ => {
                        let value = self.value(&mut cur, 1)?;
                        self.fields.push(RawField { key, value });
                    }
                }
                cur.skip_ws();
                match cur.next()? {
                    b',' => cur.skip_ws(),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        cur.skip_ws();
        (cur.i == cur.b.len()).then_some(schema)
    }

    /// One compact value in stored form; its range.
    fn value(&mut self, cur: &mut Cursor<'_>, depth: usize) -> Option<Range<usize>> {
        let start = cur.i;
        match cur.peek()? {
            b'"' => return cur.string().map(|(r, _)| r),
            b'-' | b'0'..=b'9' => return cur.number(&mut self.scratch),
            b't' => cur.word(b"true")?,
            b'f' => cur.word(b"false")?,
            b'n' => cur.word(b"null")?,
            b'[' if depth < MAX_DEPTH => {
                cur.i += 1;
                if cur.peek()? == b']' {
                    cur.i += 1;
                } else {
                    loop {
                        self.value(cur, depth + 1)?;
                        match cur.next()? {
                            b',' => {}
                            b']' => break,
                            _ => return None,
                        }
                    }
                }
            }
            b'{' if depth < MAX_DEPTH => {
                cur.i += 1;
                let mark = self.nested.len();
                if cur.peek()? == b'}' {
                    cur.i += 1;
                } else {
                    loop {
                        let (key, _) = cur.string()?;
                        // Stored-form strings are equal exactly when their texts are.
                        let b = cur.b;
                        if self.nested[mark..]
                            .iter()
                            .any(|k| b[k.clone()] == b[key.clone()])
                        {
                            return None;
                        }
                        self.nested.push(key);
                        cur.eat(b':')?;
                        self.value(cur, depth + 1)?;
                        match cur.next()? {
                            b',' => {}
                            b'}' => break,
                            _ => return None,
                        }
                    }
                }
                self.nested.truncate(mark);
            }
            _ => return None,
        }
        Some(start..cur.i)
    }
}

/// A level name as [`Level`]'s parser takes it.
fn level(s: &str) -> Option<Level> {
    match s {
        "INFO" => Some(Level::Info),
        "WARN" => Some(Level::Warn),
        "ERROR" => Some(Level::Error),
        "DEBUG" => Some(Level::Debug),
        "TRACE" => Some(Level::Trace),
        _ => s.parse().ok(),
    }
}

/// Bytes that end a run of plain string text: the quote, the backslash and the control
/// characters.
static STRING_STOP: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 0x20 {
        t[c] = true;
        c += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// How many bytes at the start of `s` are plain string text, i.e. where the first byte
/// that ends such a run (`"`, `\\`, a control character) is; `None` when there is none.
/// The input is UTF-8 already, and no byte of a multi-byte character ends a run. Eight
/// bytes are tested at a time ([`escape_mask`]), the last few byte by byte: strings are
/// most of a line's bytes, and this was the reading thread's largest cost.
fn plain_run(s: &[u8]) -> Option<usize> {
    let (words, rest) = s.as_chunks::<8>();
    for (n, w) in words.iter().enumerate() {
        let stops = escape_mask(u64::from_le_bytes(*w));
        if stops != 0 {
            return Some(n * 8 + (stops.trailing_zeros() / 8) as usize);
        }
    }
    let done = s.len() - rest.len();
    rest.iter()
        .position(|&c| STRING_STOP[usize::from(c)])
        .map(|n| done + n)
}

/// serde_json's two-character escapes, by the escaped byte.
fn short_escape(c: u8) -> bool {
    matches!(c, b'"' | b'\\' | b'b' | b'f' | b'n' | b'r' | b't')
}

fn lower_hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

/// Whether a float's text (`-`, digits, `.`, digits; no exponent) is the one serde_json
/// writes back for the number it reads, without reading it: at most 15 significant digits,
/// the last of them after the point and not 0, no leading zero, and at least 0.1 and
/// below 10^15 in magnitude (`0.92`, `-12.5`; not `3.0`, `0.05` or `0.920`, which take
/// the slow path). Such a decimal is the only one of at most 15 digits that rounds to its
/// double (15 digits always survive the round trip), so the shortest text that reads back
/// as that double, which serde_json writes, has these digits, and in this range it is
/// written without an exponent.
fn plain_decimal(text: &[u8]) -> bool {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let Some(point) = digits.iter().position(|&c| c == b'.') else {
        return false;
    };
    let (int, frac) = (&digits[..point], &digits[point + 1..]);
    let int_ok = match int {
        [b'0'] => frac.first().is_some_and(|&c| c != b'0'),
        [b'1'..=b'9', ..] => true,
        _ => false,
    };
    let significant = if int == b"0" { 0 } else { int.len() } + frac.len();
    int_ok
        && significant <= 15
        && int.iter().chain(frac).all(u8::is_ascii_digit)
        && frac.last().is_some_and(|&c| c != b'0')
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.next()? == c).then_some(())
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        let end = self.i + w.len();
        (self.b.get(self.i..end)? == w).then(|| self.i = end)
    }

    /// A string in stored form (serde_json's escapes only: `\"`, `\\`, `\b`, `\f`, `\n`,
    /// `\r`, `\t`, and `\u00xx` for the other control characters); its range, quotes
    /// included, and whether it holds an escape.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        let start = self.i;
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.i += plain_run(&self.b[self.i..])?;
            match self.b[self.i] {
                b'"' => {
                    self.i += 1;
                    return Some((start..self.i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    let e = *self.b.get(self.i + 1)?;
                    if short_escape(e) {
                        self.i += 2;
                    } else if e == b'u' {
                        let h = self.b.get(self.i + 2..self.i + 6)?;
                        let v = lower_hex(h[2])? << 4 | lower_hex(h[3])?;
                        if h[..2] != *b"00" || v >= 0x20 || matches!(v, 8 | 9 | 10 | 12 | 13) {
                            return None;
                        }
                        self.i += 6;
                    } else {
                        return None;
                    }
                }
                // A raw control character: not JSON.
                _ => return None,
            }
        }
    }

    /// A string without escapes; its text.
    fn plain_string<'a>(&mut self, line: &'a str) -> Option<&'a str> {
        match self.string()? {
            (r, false) => Some(&line[r.start + 1..r.end - 1]),
            _ => None,
        }
    }

    /// A number in the form serde_json writes it back: an integer of `i64`/`u64` range
    /// without leading zeros (not `-0`), or a float exactly as its shortest round-trip
    /// text (`0.92`, `3.0`, not `1e3` or `0.920`).
    fn number(&mut self, scratch: &mut Vec<u8>) -> Option<Range<usize>> {
        let start = self.i;
        let digits = |c: &mut Self| {
            let n = c.b[c.i..].iter().take_while(|d| d.is_ascii_digit()).count();
            c.i += n;
            n
        };
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let int_start = self.i;
        let int_digits = digits(self);
        if int_digits == 0 || (int_digits > 1 && self.b[int_start] == b'0') {
            return None;
        }
        let mut float = false;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if digits(self) == 0 {
                return None;
            }
            float = true;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if digits(self) == 0 {
                return None;
            }
            float = true;
        }
        let text = &self.b[start..self.i];
        if !float {
            let negative = start != int_start;
            if int_digits <= 18 {
                return (!(negative && text == b"-0")).then_some(start..self.i);
            }
            // Beyond i64/u64, serde_json keeps an f64 and writes it back differently.
            let s = std::str::from_utf8(text).ok()?;
            let fits = if negative {
                s.parse::<i64>().is_ok()
            } else {
                s.parse::<u64>().is_ok()
            };
            return fits.then_some(start..self.i);
        }
        if plain_decimal(text) {
            return Some(start..self.i);
        }
        // The float serde_json reads from this text, written back as serde_json does.
        let f: f64 = serde_json::from_slice(text).ok()?;
        scratch.clear();
        serde_json::to_writer(&mut *scratch, &f).ok()?;
        (scratch.as_slice() == text).then_some(start..self.i)
    }

    /// A plain unsigned integer of `u32` range (the schema's `line`).
    fn plain_u32(&mut self) -> Option<u32> {
        let start = self.i;
        let n = self.b[self.i..]
            .iter()
            .take_while(|d| d.is_ascii_digit())
            .count();
        self.i += n;
        let text = std::str::from_utf8(&self.b[start..self.i]).ok()?;
        if n == 0 || (n > 1 && text.starts_with('0')) {
            return None;
        }
        match self.peek() {
            Some(b'.' | b'e' | b'E') => None,
            _ => text.parse().ok(),
        }
    }
}

#[cfg(test)]
mod tests;
