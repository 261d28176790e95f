//! Reading a request body within the limits: its size on the wire, its size once
//! decompressed (a gzip bomb stops at the cap, never inflated in full), and the time it may
//! take to arrive.

use std::io::Read;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Over the size limit (on the wire or decompressed): 413.
    TooLarge(String),
    /// Did not arrive in time: 408.
    Timeout(Duration),
    /// Not valid gzip, an unknown encoding, or the connection failed: 400 / 415.
    Bad(String),
    /// A content encoding this server does not take: 415.
    Unsupported(String),
}

/// Read the whole body: at most `max` bytes, within `timeout`.
pub async fn read(body: Incoming, max: usize, timeout: Duration) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(timeout, Limited::new(body, max).collect()).await {
        Err(_) => Err(BodyError::Timeout(timeout)),
        Ok(Ok(c)) => Ok(c.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge(
            format!("the body is over the limit of {max} bytes (--max-body-bytes)"),
        )),
        Ok(Err(e)) => Err(BodyError::Bad(format!("reading the body failed: {e}"))),
    }
}

/// Undo a `Content-Encoding` (`gzip`, or none), keeping at most `max` decompressed bytes.
pub fn decode(encoding: Option<&str>, data: Bytes, max: usize) -> Result<Bytes, BodyError> {
    match encoding.map(|e| e.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("identity") => Ok(data),
        Some("gzip") | Some("x-gzip") => gunzip(&data, max).map(Bytes::from),
        Some("deflate") => inflate(flate2::read::ZlibDecoder::new(&data[..]), max).map(Bytes::from),
        Some(other) => Err(BodyError::Unsupported(format!(
            "content encoding '{other}' is not supported (gzip, deflate or none)"
        ))),
    }
}

/// Inflate gzip (all members), refusing once the output passes `max` bytes.
pub fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, BodyError> {
    inflate(flate2::read::MultiGzDecoder::new(data), max)
}

/// Read a decoder to its end, refusing once the output passes `max` bytes.
fn inflate(dec: impl Read, max: usize) -> Result<Vec<u8>, BodyError> {
    let mut out = Vec::new();
    dec.take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| BodyError::Bad(format!("not valid compressed data: {e}")))?;
    if out.len() > max {
        return Err(BodyError::TooLarge(format!(
            "the body decompresses to more than the limit of {max} bytes (--max-body-bytes)"
        )));
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn gzip_is_capped() {
        let bomb = gz(&vec![0u8; 50 << 20]);
        assert!(bomb.len() < 100 << 10);
        assert!(matches!(
            gunzip(&bomb, 1 << 20),
            Err(BodyError::TooLarge(_))
        ));
        assert_eq!(gunzip(&gz(b"hello"), 5).unwrap(), b"hello");
        assert!(matches!(gunzip(b"nope", 5), Err(BodyError::Bad(_))));
        assert!(matches!(
            decode(Some("br"), Bytes::new(), 5),
            Err(BodyError::Unsupported(_))
        ));
    }
}
