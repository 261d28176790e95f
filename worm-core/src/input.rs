//! NDJSON input into audit records, with `worm ship`'s rules for bad lines: line splitting
//! with a size cap, and the `worm.invalid_input` record for every line that is not a valid
//! record. `worm ship` (stdin) and `worm serve` (`POST /v1/audit`) both read through here.
//!
//! ```
//! use worm_core::input::{self, Parsed};
//! let mut out = Vec::new();
//! input::parse_ndjson(b"{\"message\":\"hi\"}\n\nnot json\n", 1 << 20, |_line, p| out.push(p));
//! assert!(matches!(out[0], Parsed::Record(_)));
//! assert!(matches!(out[1], Parsed::Empty));
//! assert!(matches!(&out[2], Parsed::Invalid(r) if r.action.as_deref() == Some(input::INVALID_ACTION)));
//! ```

use serde_json::Value;

use crate::{AuditRecord, Level};

/// Action of the record that stands in for an input line that is not a valid record.
pub const INVALID_ACTION: &str = "worm.invalid_input";

/// At most this many bytes of an invalid line are kept in its record (lossy UTF-8).
pub const RAW_KEEP: usize = 8 << 10;

/// At most this many characters of a reason are kept.
const REASON_KEEP: usize = 1024;

/// One input line, without its newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// 1-based line number in the input.
    pub number: u64,
    /// The line's bytes, at most the size limit of them.
    pub bytes: Vec<u8>,
    /// The line's full length; more than `bytes.len()` when it was over the limit.
    pub len: u64,
}

impl RawLine {
    /// Whether the line was longer than the limit (and `bytes` holds only its start).
    pub fn is_over_limit(&self) -> bool {
        self.len > self.bytes.len() as u64
    }

    /// The line by reference.
    pub fn as_ref(&self) -> LineRef<'_> {
        LineRef {
            number: self.number,
            bytes: &self.bytes,
            len: self.len,
        }
    }
}

/// One input line by reference, without its newline (see [`LineSplitter::push_lines`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRef<'a> {
    /// 1-based line number in the input.
    pub number: u64,
    /// The line's bytes, at most the size limit of them.
    pub bytes: &'a [u8],
    /// The line's full length; more than `bytes.len()` when it was over the limit.
    pub len: u64,
}

impl LineRef<'_> {
    /// Whether the line was longer than the limit (and `bytes` holds only its start).
    pub fn is_over_limit(&self) -> bool {
        self.len > self.bytes.len() as u64
    }

    /// The line as an owned [`RawLine`].
    pub fn to_owned(&self) -> RawLine {
        RawLine {
            number: self.number,
            bytes: self.bytes.to_vec(),
            len: self.len,
        }
    }
}

/// Splits a byte stream into lines, holding at most `max` bytes of any line in memory:
/// the rest of a longer line is counted and skipped up to its newline.
#[derive(Debug)]
pub struct LineSplitter {
    max: usize,
    buf: Vec<u8>,
    len: u64,
    number: u64,
}

impl LineSplitter {
    /// A splitter for lines of at most `max` bytes.
    pub fn new(max: usize) -> Self {
        LineSplitter {
            max,
            buf: Vec::new(),
            len: 0,
            number: 0,
        }
    }

    /// Feed bytes; `emit` gets every line completed by them.
    pub fn push(&mut self, data: &[u8], emit: &mut impl FnMut(RawLine)) {
        self.push_lines(data, &mut |l| emit(l.to_owned()));
    }

    /// [`push`](Self::push) without a copy per line: a line that lies whole in `data` is
    /// passed as a slice of it, only a line split across calls is gathered (up to the limit).
    pub fn push_lines(&mut self, mut data: &[u8], emit: &mut impl FnMut(LineRef<'_>)) {
        while let Some(i) = memchr::memchr(b'\n', data) {
            let chunk = &data[..i];
            data = &data[i + 1..];
            self.number += 1;
            if self.len == 0 {
                let keep = chunk.len().min(self.max);
                emit(LineRef {
                    number: self.number,
                    bytes: &chunk[..keep],
                    len: chunk.len() as u64,
                });
            } else {
                self.gather(chunk);
                emit(LineRef {
                    number: self.number,
                    bytes: &self.buf,
                    len: self.len,
                });
                self.buf.clear();
                self.len = 0;
            }
        }
        self.gather(data);
    }

    /// Keep `chunk` of the pending line, up to the limit, and count all of it.
    fn gather(&mut self, chunk: &[u8]) {
        let room = self.max.saturating_sub(self.buf.len());
        self.buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        self.len += chunk.len() as u64;
    }

    /// End of input: the last line, if it had no newline.
    pub fn finish(&mut self) -> Option<RawLine> {
        (self.len > 0).then(|| {
            self.number += 1;
            let line = RawLine {
                number: self.number,
                bytes: std::mem::take(&mut self.buf),
                len: self.len,
            };
            self.len = 0;
            line
        })
    }
}

/// Split a whole input (`data`, complete: its last line needs no newline) into lines of at
/// most `max_line` bytes and classify each one, in order.
pub fn parse_ndjson(data: &[u8], max_line: usize, mut f: impl FnMut(&RawLine, Parsed)) {
    let mut split = LineSplitter::new(max_line);
    let mut each = |line: RawLine| {
        let parsed = parse_line(&line, max_line);
        f(&line, parsed);
    };
    split.push(data, &mut each);
    if let Some(last) = split.finish() {
        each(last);
    }
}

/// What an input line is.
#[derive(Debug)]
pub enum Parsed {
    /// Blank (only whitespace): skipped and counted.
    Empty,
    /// A valid audit record.
    Record(Box<AuditRecord>),
    /// Anything else, already turned into its `worm.invalid_input` record.
    Invalid(Box<AuditRecord>),
}

/// Classify one line. `limit` is the size limit the line was read with (for the reason).
pub fn parse_line(line: &RawLine, limit: usize) -> Parsed {
    if line.is_over_limit() {
        return Parsed::Invalid(Box::new(invalid_record(
            line,
            &format!(
                "line is {} bytes, over the limit of {limit} (--max-line-bytes)",
                line.len
            ),
        )));
    }
    let text = match std::str::from_utf8(&line.bytes) {
        Ok(t) => t,
        Err(e) => {
            return Parsed::Invalid(Box::new(invalid_record(
                line,
                &format!("not valid UTF-8: {e}"),
            )));
        }
    };
    if text.trim().is_empty() {
        return Parsed::Empty;
    }
    // serde_json refuses NaN/Infinity, raw control characters (NUL included) and nesting
    // past its recursion limit (128), each with a message that names the column; the
    // strict reader also refuses a duplicate key at any depth (serde_json would keep the
    // last, so a second `user_id` could replace an identity).
    let mut value: Value = match crate::json::from_str_strict(text) {
        Ok(v) => v,
        Err(e) => {
            return Parsed::Invalid(Box::new(invalid_record(
                line,
                &format!("not valid JSON: {e}"),
            )));
        }
    };
    if !value.is_object() {
        let found = match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        return Parsed::Invalid(Box::new(invalid_record(
            line,
            &format!("expected a JSON object, found {found}"),
        )));
    }
    match AuditRecord::from_value(&mut value) {
        Ok(r) => Parsed::Record(Box::new(r)),
        Err(e) => Parsed::Invalid(Box::new(invalid_record(
            line,
            &format!("not an audit record: {e}"),
        ))),
    }
}

/// The record stored in place of an input line that is not a valid record.
pub fn invalid_record(line: &RawLine, reason: &str) -> AuditRecord {
    // Reasons may quote the input (a pipeline refusal names the request id): cap them too.
    let reason = match reason.char_indices().nth(REASON_KEEP) {
        Some((i, _)) => format!("{}…", &reason[..i]),
        None => reason.to_string(),
    };
    let reason = reason.as_str();
    let keep = &line.bytes[..line.bytes.len().min(RAW_KEEP)];
    AuditRecord::new(
        Level::Warn,
        format!("invalid input line {}: {reason}", line.number),
    )
    .action(INVALID_ACTION)
    .field("reason", reason)
    .field("input_line", line.number)
    .field("raw", String::from_utf8_lossy(keep).into_owned())
    .field("raw_bytes", line.len)
    .field("raw_truncated", line.len > keep.len() as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn split(max: usize, chunks: &[&[u8]]) -> Vec<RawLine> {
        let mut s = LineSplitter::new(max);
        let mut out = Vec::new();
        for c in chunks {
            s.push(c, &mut |l| out.push(l));
        }
        out.extend(s.finish());
        out
    }

    #[test]
    fn splits_across_chunks_and_caps_long_lines() {
        let lines = split(4, &[b"ab", b"c\n\nabcdefgh", b"ij\nxy"]);
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.number, l.bytes.as_slice(), l.len))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, &b"abc"[..], 3),
                (2, &b""[..], 0),
                (3, &b"abcd"[..], 10),
                (4, &b"xy"[..], 2)
            ]
        );
        assert!(lines[2].is_over_limit() && !lines[0].is_over_limit());
        assert!(split(4, &[b"a\n"]).len() == 1);
        // A long line whole in one chunk is capped too (passed as a slice of it).
        let whole = split(4, &[b"abcdefgh\nxy\n"]);
        assert_eq!((whole[0].bytes.as_slice(), whole[0].len), (&b"abcd"[..], 8));
        assert_eq!(
            (whole[1].number, whole[1].bytes.as_slice()),
            (2, &b"xy"[..])
        );
    }

    fn parse(bytes: &[u8]) -> Parsed {
        let l = RawLine {
            number: 7,
            bytes: bytes.to_vec(),
            len: bytes.len() as u64,
        };
        parse_line(&l, 1 << 20)
    }

    fn reason(p: Parsed) -> String {
        match p {
            Parsed::Invalid(r) => {
                assert_eq!(r.action.as_deref(), Some(INVALID_ACTION));
                assert_eq!(r.extra["input_line"], 7);
                r.extra["reason"].as_str().unwrap().to_string()
            }
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn classifies_lines() {
        assert!(matches!(parse(b"  \r"), Parsed::Empty));
        match parse(br#"{"message":"hi","camera_id":"c1"}"#) {
            Parsed::Record(r) => assert_eq!(r.extra["camera_id"], "c1"),
            other => panic!("{other:?}"),
        }
        assert!(reason(parse(b"{nope")).starts_with("not valid JSON"));
        assert!(reason(parse(b"\xff\xfe{}")).starts_with("not valid UTF-8"));
        assert!(reason(parse(b"{\"a\":\"x\0y\"}")).contains("control character"));
        assert!(reason(parse(b"{\"a\":NaN}")).starts_with("not valid JSON"));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(reason(parse(deep.as_bytes())).contains("recursion limit"));
        assert!(reason(parse(b"[1,2]")).contains("found an array"));
        let dup = reason(parse(br#"{"user_id":"alice","user_id":"mallory"}"#));
        assert!(
            dup.starts_with("not valid JSON: duplicate key 'user_id'"),
            "{dup}"
        );
        let nested = reason(parse(br#"{"a":[{"b":1,"b":2}]}"#));
        assert!(nested.contains("duplicate key 'b'"), "{nested}");
        assert!(reason(parse(br#"{"timestamp":"yesterday"}"#)).contains("yesterday"));
    }

    #[test]
    fn parse_ndjson_numbers_lines_and_takes_an_unterminated_last_line() {
        let mut got = Vec::new();
        parse_ndjson(
            b"{\"message\":\"a\"}\n \n[1]\n{\"message\":\"b\"}",
            64,
            |l, p| got.push((l.number, p)),
        );
        assert_eq!(got.len(), 4);
        assert!(matches!(got[0], (1, Parsed::Record(_))));
        assert!(matches!(got[1], (2, Parsed::Empty)));
        assert!(matches!(got[2], (3, Parsed::Invalid(_))));
        assert!(matches!(got[3], (4, Parsed::Record(_))));
    }

    #[test]
    fn invalid_record_keeps_a_capped_lossy_prefix() {
        let l = RawLine {
            number: 3,
            bytes: vec![0xff; RAW_KEEP + 10],
            len: 50 << 20,
        };
        let r = invalid_record(&l, "too long");
        assert_eq!(r.extra["raw_bytes"], 50u64 << 20);
        assert_eq!(r.extra["raw_truncated"], true);
        assert_eq!(r.extra["raw"].as_str().unwrap().chars().count(), RAW_KEEP);
        assert_eq!(r.level, Level::Warn);
    }
}
