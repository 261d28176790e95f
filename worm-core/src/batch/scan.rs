//! Reading a batch as a stream of bytes: the checks of [`parse`](super::parse) with
//! memory bounded by the longest line kept, not by the body.
//!
//! Bytes go in as they are decompressed ([`Scanner::feed`]); both digests are computed
//! on the way, the header is parsed as soon as its line ends, and only four lines are
//! held at any time: the first record, the last two complete lines and the one being
//! read. Whatever comes in past a [`Limits`] cap stops the scan, so a bomb costs at most
//! the cap in CPU and one line in memory.

use std::fmt;
use std::io::Read;
use std::ops::Range;

use sha2::{Digest, Sha256};

use super::{Header, HeaderLine, Seal, SealLine};
use crate::error::Error;
use crate::hash::Sha256Hex;

/// Longest header line a reader accepts by default. A writer's header holds two uuids, a
/// service name, two timestamps and a hash: well under 1 KiB.
pub const MAX_HEADER_LINE: usize = 64 << 10;

/// Caps on what one batch may hold; a scan stops at the first byte past one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest uncompressed body.
    pub max_body: u64,
    /// Longest record or seal line, newline excluded.
    pub max_line: usize,
    /// Longest header line, newline excluded.
    pub max_header: usize,
}

impl Limits {
    /// No cap at all: for bodies already in memory (trusted or already bounded).
    pub const UNLIMITED: Limits = Limits {
        max_body: u64::MAX,
        max_line: usize::MAX,
        max_header: usize::MAX,
    };

    /// Caps for bodies of at most `max_body` bytes: lines of at most a sixteenth of it
    /// (but at least 64 KiB), headers of at most [`MAX_HEADER_LINE`]. A scan then holds
    /// at most four lines, a quarter of `max_body`.
    pub fn for_body(max_body: u64) -> Self {
        let line = usize::try_from(max_body / 16).unwrap_or(usize::MAX);
        Limits {
            max_body,
            max_line: line.max(64 << 10),
            max_header: MAX_HEADER_LINE,
        }
    }
}

/// Why a scan stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A cap of [`Limits`] was passed: no writer made this object.
    TooLarge,
    /// The first line is not a batch header: not a batch at all.
    NotABatch,
    /// A batch header, but the rest is damaged (or cannot be decompressed).
    Damaged,
}

/// A scan that stopped, with what and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    /// Which kind of failure.
    pub fault: Fault,
    /// The part that failed (`batch`, `batch header`, `batch seal`, `compressed batch`).
    pub what: &'static str,
    /// What is wrong with it.
    pub message: String,
}

impl ScanError {
    /// A failure of `fault` in `what`.
    pub fn new(fault: Fault, what: &'static str, message: impl Into<String>) -> Self {
        ScanError {
            fault,
            what,
            message: message.into(),
        }
    }
}

impl fmt::Display for ScanError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.message)
    }
}

impl std::error::Error for ScanError {}

impl ScanError {
    /// The same failure as the crate's error type (invalid input in `what`).
    // Not a `From` impl: one more conversion into `Error` leaves `?` in closures of
    // dependent crates without a type to infer.
    pub fn into_error(self) -> Error {
        Error::invalid(self.what, self.message)
    }
}

/// A batch read to its end. Hashes are computed, not trusted.
#[derive(Debug, Clone)]
pub struct Scanned {
    /// The header.
    pub header: Header,
    /// The seal.
    pub seal: Seal,
    /// Number of record lines actually present.
    pub record_lines: u64,
    /// sha256 of the bytes before the seal line that the seal's `sha256` covers (all of
    /// them, but the plain record lines of a `worm-batch/3` batch), as computed.
    pub computed_sha256: Sha256Hex,
    /// sha256 of those bytes and the seal line (what the next batch's `prev` must name):
    /// the whole body but in a plain `/3` batch.
    pub chain_hash: Sha256Hex,
    /// Uncompressed size.
    pub bytes: u64,
    /// The first record line that is not empty.
    pub first_record: Option<Vec<u8>>,
    /// The last record line, unless it is empty.
    pub last_record: Option<Vec<u8>>,
    /// Byte range of the record lines within the body.
    pub records: Range<u64>,
}

/// What sees each record line, with the batch's header.
pub type OnRecord<'a> = dyn FnMut(&Header, &[u8]) + 'a;

/// The streaming batch reader; see the module docs.
#[derive(Debug, Clone)]
pub struct Scanner {
    limits: Limits,
    /// Every byte so far that the seal's sha256 covers: once the header has shown a
    /// plain `/3` batch ([`hash_records`](Self::hash_records) false), the header line
    /// only.
    hasher: Sha256,
    /// Whether the record lines go into `hasher` ([`super::seal_hash_covers_records`]).
    hash_records: bool,
    /// The hasher as it was at the start of the current line, and of the last complete one.
    cur_start: Sha256,
    last_start: Sha256,
    bytes: u64,
    /// Complete lines so far.
    lines: u64,
    header: Option<Header>,
    header_end: u64,
    last_offset: u64,
    /// The first non-empty line after the header, and its index.
    first_after_header: Option<(u64, Vec<u8>)>,
    before_last: Vec<u8>,
    last: Vec<u8>,
    cur: Vec<u8>,
}

impl Scanner {
    /// A scanner that stops at `limits`.
    pub fn new(limits: Limits) -> Self {
        Scanner {
            limits,
            hasher: Sha256::new(),
            hash_records: true,
            cur_start: Sha256::new(),
            last_start: Sha256::new(),
            bytes: 0,
            lines: 0,
            header: None,
            header_end: 0,
            last_offset: 0,
            first_after_header: None,
            before_last: Vec::new(),
            last: Vec::new(),
            cur: Vec::new(),
        }
    }

    /// Take the next bytes of the body. `on_record` sees the header and each record line
    /// (newline excluded) once the line after it has ended, which proves it is not the
    /// seal.
    pub fn feed(&mut self, mut data: &[u8], on_record: &mut OnRecord<'_>) -> Result<(), ScanError> {
        if self.bytes.saturating_add(data.len() as u64) > self.limits.max_body {
            return Err(ScanError::new(
                Fault::TooLarge,
                "batch",
                format!("expands past {} bytes", self.limits.max_body),
            ));
        }
        while !data.is_empty() {
            let (seg, ends_line) = match memchr::memchr(b'\n', data) {
                Some(i) => (&data[..=i], true),
                None => (data, false),
            };
            data = &data[seg.len()..];
            if self.hash_records {
                self.hasher.update(seg);
            }
            self.bytes += seg.len() as u64;
            let content = if ends_line {
                &seg[..seg.len() - 1]
            } else {
                seg
            };
            self.push_cur(content)?;
            if ends_line {
                self.end_line(on_record)?;
            }
        }
        Ok(())
    }

    fn push_cur(&mut self, content: &[u8]) -> Result<(), ScanError> {
        let (cap, what) = if self.lines == 0 {
            (self.limits.max_header, "batch header")
        } else {
            (self.limits.max_line, "batch")
        };
        if self.cur.len().saturating_add(content.len()) > cap {
            return Err(ScanError::new(
                Fault::TooLarge,
                what,
                format!("line {} is longer than {cap} bytes", self.lines + 1),
            ));
        }
        // Grow by doubling but never past the cap, so a line at the cap holds no more
        // than the cap.
        let need = self.cur.len() + content.len();
        if need > self.cur.capacity() {
            let target = need.saturating_mul(2).min(cap).max(need);
            self.cur.reserve_exact(target - self.cur.len());
        }
        self.cur.extend_from_slice(content);
        Ok(())
    }

    fn end_line(&mut self, on_record: &mut OnRecord<'_>) -> Result<(), ScanError> {
        let index = self.lines;
        if index == 0 {
            let header = parse_header(&self.cur)?;
            self.hash_records = super::seal_hash_covers_records(&header);
            self.header = Some(header);
            self.header_end = self.bytes - 1;
        } else {
            if let (true, Some(h)) = (index >= 2, &self.header) {
                on_record(h, &self.last);
            }
            if self.first_after_header.is_none() && !self.cur.is_empty() {
                self.first_after_header = Some((index, self.cur.clone()));
            }
        }
        // Rotate the buffers rather than allocate: before_last <- last <- cur.
        std::mem::swap(&mut self.before_last, &mut self.last);
        std::mem::swap(&mut self.last, &mut self.cur);
        self.cur.clear();
        if self.hash_records {
            // Where the seal's hash stops, should this line be the seal (a `/3` seal
            // hashes the header line only, all `hasher` holds).
            self.last_start = std::mem::replace(&mut self.cur_start, self.hasher.clone());
        }
        self.last_offset = self.bytes - self.last.len() as u64 - 1;
        self.lines += 1;
        Ok(())
    }

    /// The body has ended: check that it was a whole batch and return what it holds.
    pub fn finish(self) -> Result<Scanned, ScanError> {
        let Some(header) = self.header else {
            return Err(ScanError::new(Fault::NotABatch, "batch", "no header line"));
        };
        let damaged = |what, msg: &str| Err(ScanError::new(Fault::Damaged, what, msg));
        if !self.cur.is_empty() {
            return damaged("batch", "does not end with a newline (truncated?)");
        }
        if self.lines < 2 {
            return damaged("batch", "no seal line");
        }
        let seal: SealLine = serde_json::from_slice(&self.last)
            .map_err(|e| ScanError::new(Fault::Damaged, "batch seal", e.to_string()))?;
        let seal_index = self.lines - 1;
        let first_record = self
            .first_after_header
            .filter(|(i, _)| *i < seal_index)
            .map(|(_, l)| l);
        let (computed_sha256, chain_hash) = if self.hash_records {
            (self.last_start.finalize(), self.hasher.finalize())
        } else {
            // `hasher` holds the header line; the seal line ends the chain.
            let computed = self.hasher.clone().finalize();
            let mut chain = self.hasher;
            chain.update(&self.last);
            chain.update(b"\n");
            (computed, chain.finalize())
        };
        let last_record =
            (self.lines >= 3 && !self.before_last.is_empty()).then_some(self.before_last);
        Ok(Scanned {
            header,
            seal: seal.worm_seal,
            record_lines: self.lines - 2,
            computed_sha256: Sha256Hex(computed_sha256.into()),
            chain_hash: Sha256Hex(chain_hash.into()),
            bytes: self.bytes,
            first_record,
            last_record,
            records: self.header_end + 1..self.last_offset,
        })
    }
}

fn parse_header(line: &[u8]) -> Result<Header, ScanError> {
    match serde_json::from_slice::<HeaderLine>(line) {
        Ok(h) => Ok(h.worm),
        Err(e) => {
            // Only a line that starts the way a writer starts it is a damaged batch; any
            // other first line belongs to an object no writer made.
            let fault = if line.starts_with(b"{\"worm\":") {
                Fault::Damaged
            } else {
                Fault::NotABatch
            };
            Err(ScanError::new(fault, "batch header", e.to_string()))
        }
    }
}

/// How much [`scan_reader`] reads, and [`scan_slice`] feeds, at a time.
const CHUNK: usize = 64 << 10;

/// Scan everything `reader` yields, reading 64 KiB at a time: memory stays at one
/// buffer plus what the scanner holds, however much the reader could yield.
pub fn scan_reader(
    reader: &mut dyn Read,
    limits: Limits,
    on_record: &mut OnRecord<'_>,
) -> Result<Scanned, ScanError> {
    let mut scanner = Scanner::new(limits);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ScanError::new(
                    Fault::Damaged,
                    "compressed batch",
                    e.to_string(),
                ));
            }
        };
        scanner.feed(&buf[..n], on_record)?;
    }
    scanner.finish()
}

/// Scan an uncompressed body already in memory: what [`scan_reader`] does over
/// `&mut body`, the same 64 KiB steps and so the same caps, errors and `on_record` calls,
/// without copying each step into a buffer first.
pub(crate) fn scan_slice(
    body: &[u8],
    limits: Limits,
    on_record: &mut OnRecord<'_>,
) -> Result<Scanned, ScanError> {
    let mut scanner = Scanner::new(limits);
    for step in body.chunks(CHUNK) {
        scanner.feed(step, on_record)?;
    }
    scanner.finish()
}

/// What sees the leaf hashes of a group of record lines, in order, with the header.
pub(crate) type OnLeaves<'a> = dyn FnMut(&Header, &[crate::tlog::Hash]) + 'a;

/// Record lines hashed and handed to `on_leaves` at a time by [`scan_slice_or_leaves`]:
/// what it holds besides the body stays at this many line ends and leaf hashes (40 KiB),
/// however many lines a body has.
const LEAF_GROUP: usize = 1024;

/// [`scan_slice`] for a verifier of the tree: a plain `worm-batch/2` or `/3` body that is
/// whole and within `limits` is scanned without copying a line, and the RFC 6962 leaf of
/// every record line is hashed in the lanes of [`crate::tlog::lanes`] (in `/2` side by
/// side with the body hash, [`crate::tlog::lanes::Midstate::update_with_leaves`]).
/// `on_leaves` sees the leaves,
/// [`LEAF_GROUP`] lines at a time, and `on_record` nothing; the result is
/// `(scanned, true)`.
///
/// Any other body (an older or encrypted batch, no seal, not ending in a newline, a
/// header that does not parse) goes through [`scan_slice`] unchanged: the same errors,
/// and `on_record` for every record line, `(scanned, false)`. So does a body past a cap of
/// `limits`, found on the way: `on_leaves` may have seen the groups before the line past
/// the cap, and the scan then fails as [`scan_slice`] fails there.
pub(crate) fn scan_slice_or_leaves(
    body: &[u8],
    limits: Limits,
    on_record: &mut OnRecord<'_>,
    on_leaves: &mut OnLeaves<'_>,
) -> Result<(Scanned, bool), ScanError> {
    match whole_v2(body, limits, on_leaves)? {
        Some(s) => Ok((s, true)),
        None => scan_slice(body, limits, on_record).map(|s| (s, false)),
    }
}

/// The fast path of [`scan_slice_or_leaves`]; `None` where it does not apply.
fn whole_v2(
    body: &[u8],
    limits: Limits,
    on_leaves: &mut OnLeaves<'_>,
) -> Result<Option<Scanned>, ScanError> {
    if body.len() as u64 > limits.max_body || body.last() != Some(&b'\n') {
        return Ok(None);
    }
    let Some(header_end) = memchr::memchr(b'\n', body) else {
        return Ok(None);
    };
    if header_end > limits.max_header {
        return Ok(None);
    }
    let Ok(header) = parse_header(&body[..header_end]) else {
        return Ok(None);
    };
    if !super::has_tree(header.v) || header.enc.is_some() {
        return Ok(None);
    }
    // `/2`: the seal's hash covers the records too; `/3`: the header line only.
    let body_hash = super::seal_hash_covers_records(&header);
    // The seal is the last line; at least one line (the seal) follows the header.
    let seal_start = match memchr::memrchr(b'\n', &body[..body.len() - 1]) {
        Some(i) if i >= header_end => i + 1,
        _ => return Ok(None),
    };
    if body.len() - 1 - seal_start > limits.max_line {
        return Ok(None);
    }
    let records_at = header_end + 1;
    let records = &body[records_at..seal_start];
    let mut mid = crate::tlog::lanes::Midstate::new();
    let (mut fed, mut from, mut count) = (0, 0, 0u64);
    let mut first_record: Option<&[u8]> = None;
    let mut last_record: &[u8] = &[];
    let mut ends = Vec::with_capacity(LEAF_GROUP);
    let mut leaves = Vec::with_capacity(LEAF_GROUP);
    let mut newlines = memchr::memchr_iter(b'\n', records);
    loop {
        ends.clear();
        let group_at = from;
        for end in newlines.by_ref() {
            if end - from > limits.max_line {
                return Ok(None);
            }
            ends.push(end);
            from = end + 1;
            if ends.len() == LEAF_GROUP {
                break;
            }
        }
        if ends.is_empty() {
            break;
        }
        let mut at = group_at;
        let lines = ends.iter().map(|&end| {
            let line = &records[at..end];
            at = end + 1;
            line
        });
        leaves.clear();
        if body_hash {
            let upto = records_at + from;
            mid.update_with_leaves(&body[fed..upto], lines, &mut leaves);
            fed = upto;
        } else {
            crate::tlog::lanes::leaf_hashes(lines, &mut leaves);
        }
        on_leaves(&header, &leaves);
        count += ends.len() as u64;
        let mut at = group_at;
        for &end in &ends {
            let line = &records[at..end];
            if first_record.is_none() && !line.is_empty() {
                first_record = Some(line);
            }
            last_record = line;
            at = end + 1;
        }
    }
    if body_hash {
        // The header, when no record line came with it.
        mid.update_with_leaves(&body[fed..seal_start], [], &mut leaves);
    } else {
        mid = crate::tlog::lanes::Midstate::of(&body[..records_at]);
    }
    let seal_line = &body[seal_start..body.len() - 1];
    let seal: SealLine = serde_json::from_slice(seal_line)
        .map_err(|e| ScanError::new(Fault::Damaged, "batch seal", e.to_string()))?;
    Ok(Some(Scanned {
        header,
        seal: seal.worm_seal,
        record_lines: count,
        computed_sha256: Sha256Hex(mid.finish(b"")),
        chain_hash: Sha256Hex(mid.finish(&body[seal_start..])),
        bytes: body.len() as u64,
        first_record: first_record.map(<[u8]>::to_vec),
        last_record: (!last_record.is_empty()).then(|| last_record.to_vec()),
        records: records_at as u64..seal_start as u64,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::super::{Compression, encode, parse, tests::header};
    use super::*;

    fn scan_bytes(body: &[u8], limits: Limits) -> Result<Scanned, ScanError> {
        scan_reader(&mut &body[..], limits, &mut |_, _| {})
    }

    #[test]
    fn agrees_with_parse_fed_byte_by_byte() {
        let recs = b"{\"a\":1}\n\n{\"b\":2}\n";
        let (body, chain) = encode(&header(0, 3), recs, false, None);
        let mut s = Scanner::new(Limits::for_body(1 << 20));
        let mut seen = Vec::new();
        for b in &body {
            s.feed(std::slice::from_ref(b), &mut |_, l| seen.push(l.to_vec()))
                .unwrap();
        }
        let s = s.finish().unwrap();
        let p = parse(&body).unwrap();
        assert_eq!(s.chain_hash, chain);
        assert_eq!(s.computed_sha256, p.computed_sha256);
        assert_eq!(s.computed_sha256, s.seal.sha256);
        assert_eq!(s.record_lines, 3);
        assert_eq!(p.records, s.records.start as usize..s.records.end as usize);
        assert_eq!(&body[p.records.clone()], recs);
        assert_eq!(s.first_record.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(s.last_record.as_deref(), Some(&b"{\"b\":2}"[..]));
        assert_eq!(
            seen,
            vec![b"{\"a\":1}".to_vec(), vec![], b"{\"b\":2}".to_vec()]
        );
    }

    #[test]
    fn a_batch_without_records_has_none() {
        let (body, _) = encode(&header(0, 0), b"", true, None);
        let s = scan_bytes(&body, Limits::UNLIMITED).unwrap();
        assert_eq!(
            (s.record_lines, s.first_record, s.last_record),
            (0, None, None)
        );
    }

    #[test]
    fn stops_at_each_cap_and_tells_the_faults_apart() {
        let (body, _) = encode(&header(0, 1), b"{\"a\":1}\n", false, None);
        let fault = |b: &[u8], l: Limits| scan_bytes(b, l).unwrap_err().fault;
        let small = Limits {
            max_body: body.len() as u64 - 1,
            ..Limits::UNLIMITED
        };
        assert_eq!(fault(&body, small), Fault::TooLarge);
        let short_lines = Limits {
            max_line: 3,
            ..Limits::UNLIMITED
        };
        assert_eq!(fault(&body, short_lines), Fault::TooLarge);
        let short_header = Limits {
            max_header: 10,
            ..Limits::UNLIMITED
        };
        let e = scan_bytes(&body, short_header).unwrap_err();
        assert_eq!((e.fault, e.what), (Fault::TooLarge, "batch header"));
        assert_eq!(fault(b"hello\n{}\n", Limits::UNLIMITED), Fault::NotABatch);
        assert_eq!(fault(b"", Limits::UNLIMITED), Fault::NotABatch);
        assert_eq!(fault(b"{\"worm\":1}\n", Limits::UNLIMITED), Fault::Damaged);
        assert_eq!(
            fault(&body[..body.len() - 1], Limits::UNLIMITED),
            Fault::Damaged
        );
        let first_line = body.iter().position(|&b| b == b'\n').unwrap() + 1;
        assert_eq!(
            fault(&body[..first_line], Limits::UNLIMITED),
            Fault::Damaged
        );
    }

    /// The in-memory scan gives what the reader's scan gives: the same result, the same
    /// lines seen, the same fault at each cap, for a body of many 64 KiB steps.
    #[test]
    fn scan_slice_agrees_with_scan_reader() {
        let mut recs = Vec::new();
        for i in 0..5_000 {
            recs.extend_from_slice(
                format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 97)).as_bytes(),
            );
        }
        let (body, _) = encode(&header(0, 5_000), &recs, true, None);
        assert!(body.len() > 4 * CHUNK);
        let run = |b: &[u8], limits: Limits, slice: bool| {
            let mut seen = Vec::new();
            let mut on = |_: &Header, l: &[u8]| seen.push(l.to_vec());
            let r = if slice {
                scan_slice(b, limits, &mut on)
            } else {
                scan_reader(&mut &b[..], limits, &mut on)
            };
            (
                r.map(|s| {
                    (
                        s.computed_sha256,
                        s.chain_hash,
                        s.record_lines,
                        s.records,
                        s.first_record,
                        s.last_record,
                    )
                }),
                seen,
            )
        };
        let tight = |max_body: u64| Limits {
            max_body,
            ..Limits::UNLIMITED
        };
        for (b, limits) in [
            (&body[..], Limits::UNLIMITED),
            (&body[..], Limits::for_body(1 << 20)),
            (&body[..], tight(body.len() as u64 - 1)),
            (&body[..], tight(CHUNK as u64 + 17)),
            (
                &body[..],
                Limits {
                    max_line: 100,
                    ..Limits::UNLIMITED
                },
            ),
            (&body[..body.len() - 1], Limits::UNLIMITED),
            (&body[..3 * CHUNK], Limits::UNLIMITED),
        ] {
            let (a, seen_a) = run(b, limits, true);
            let (r, seen_r) = run(b, limits, false);
            assert_eq!(a, r);
            assert_eq!(seen_a, seen_r);
        }
        let (ok, seen) = run(&body, Limits::UNLIMITED, true);
        assert_eq!(ok.unwrap().2, 5_000);
        assert_eq!(seen.len(), 5_000);
    }

    /// The whole-body path of a verifier of the tree gives what the line-by-line scan
    /// gives (the same result or the same error), with the leaves of the lines that scan
    /// hands to `on_record`; on anything but a whole plain `/2` or `/3` body it is that scan.
    #[test]
    fn scan_slice_or_leaves_agrees_with_scan_slice() {
        use crate::tlog::{Frontier, leaf_hash};
        let mut recs = Vec::new();
        for i in 0..3_000 {
            let line = match i % 500 {
                7 => String::new(),
                _ => format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 211)),
            };
            recs.extend_from_slice(line.as_bytes());
            recs.push(b'\n');
        }
        let v2 = |recs: &[u8], n: u64| {
            super::super::encode_v2(&header(0, n), recs, false, &mut Frontier::new(), None).0
        };
        let body = v2(&recs, 3_000);
        let mut h2 = header(0, 3_000);
        h2.v = super::super::VERSION_2;
        let (old_v2, _) = super::super::encode_v2(&h2, &recs, false, &mut Frontier::new(), None);
        let one = v2(b"{\"a\":1}\n", 1);
        let none = v2(b"", 0);
        let (v1, _) = encode(&header(0, 3_000), &recs, true, None);
        let long_line = body.iter().position(|&b| b == b'\n').unwrap_or(0) + 1;
        let limits = [
            Limits::UNLIMITED,
            Limits::for_body(1 << 20),
            Limits {
                max_body: body.len() as u64 - 1,
                ..Limits::UNLIMITED
            },
            Limits {
                max_body: body.len() as u64,
                ..Limits::UNLIMITED
            },
            Limits {
                max_line: 200,
                ..Limits::UNLIMITED
            },
            Limits {
                max_header: long_line - 2,
                ..Limits::UNLIMITED
            },
            Limits {
                max_header: long_line - 1,
                ..Limits::UNLIMITED
            },
        ];
        let seal_at = body[..body.len() - 1]
            .iter()
            .rposition(|&b| b == b'\n')
            .unwrap_or(0);
        let mut bad_seal = body.clone();
        bad_seal[seal_at + 3] = b'#';
        let mut bodies: Vec<(&str, &[u8])> = vec![
            ("whole", &body),
            ("whole /2", &old_v2),
            ("one record", &one),
            ("no record", &none),
            ("v1", &v1),
            ("no newline at the end", &body[..body.len() - 1]),
            ("cut in a record", &body[..body.len() / 2]),
            ("header only", &body[..long_line]),
            ("empty", b""),
            ("seal damaged", &bad_seal),
        ];
        let tail = [&body[..seal_at + 1], b"{\"x\":1}\n", &body[seal_at + 1..]].concat();
        bodies.push(("a line after the records", &tail));
        let shape = |s: &Scanned| format!("{s:?}");
        for (what, b) in bodies {
            for limits in limits {
                let mut seen = Vec::new();
                let want = scan_slice(b, limits, &mut |_, l| seen.push(leaf_hash(l)));
                let mut calls = Vec::new();
                let mut leaves = Vec::new();
                let got = scan_slice_or_leaves(
                    b,
                    limits,
                    &mut |_, l| calls.push(leaf_hash(l)),
                    &mut |_, group| {
                        assert!(group.len() <= LEAF_GROUP);
                        leaves.extend_from_slice(group)
                    },
                );
                match (want, got) {
                    (Ok(w), Ok((g, as_leaves))) => {
                        assert_eq!(shape(&w), shape(&g), "{what}, {limits:?}");
                        let got_leaves = if as_leaves { &leaves } else { &calls };
                        assert_eq!(&seen, got_leaves, "{what}, {limits:?}");
                        assert!(!as_leaves || calls.is_empty(), "{what}: both");
                        let plain_v2 = super::super::has_tree(w.header.v);
                        assert_eq!(as_leaves, plain_v2, "{what}, {limits:?}");
                    }
                    (Err(w), Err(g)) => assert_eq!(w, g, "{what}, {limits:?}"),
                    (w, g) => panic!("{what}, {limits:?}: {w:?} against {g:?}"),
                }
            }
        }
    }

    /// A header line, then zeros without end: the scan stops at the line cap having
    /// read little more than the cap, whatever the object would expand to.
    #[test]
    fn a_bomb_stops_at_the_line_cap() {
        let (body, _) = encode(&header(0, 0), b"", true, None);
        let first_line = body.iter().position(|&b| b == b'\n').unwrap() + 1;
        let mut bomb = std::io::Read::chain(&body[..first_line], std::io::repeat(0));
        let limits = Limits::for_body(1 << 20);
        let e = scan_reader(&mut bomb, limits, &mut |_, _| {}).unwrap_err();
        assert_eq!(e.fault, Fault::TooLarge, "{e}");
        assert!(
            e.message.contains("line 2 is longer than 65536 bytes"),
            "{e}"
        );
        let z = Compression::Zstd.compress(&body).unwrap();
        let mut r = Compression::Zstd.reader(&z).unwrap();
        assert!(scan_reader(&mut r, limits, &mut |_, _| {}).is_ok());
    }
}
