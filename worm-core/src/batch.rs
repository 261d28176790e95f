//! The `worm-batch/1` object format: a header line, one line per record, a seal line.
//!
//! ```text
//! {"worm":{"v":1,"stream":"…","batch":"…","service":"…","seq":42,"prev":"<hex>|null","records":5,"first_ts":"…","last_ts":"…"}}
//! { record }
//! {"worm_seal":{"sha256":"<hex of all bytes above>","sig":"<base64>","key_id":"…","final":false}}
//! ```
//! The hash that the next batch's `prev` names is the sha256 of the whole uncompressed
//! body, seal line included. The signature covers the seal's sha256 *and* its `final`
//! flag (see [`signed_message`]), so a truncated stream cannot be re-marked as closed
//! without the key.

use std::io::{Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::hash::Sha256Hex;
use crate::sign::Signer;

mod scan;
pub use scan::{
    Fault, Limits, MAX_HEADER_LINE, OnRecord, ScanError, Scanned, Scanner, scan_reader,
};

/// Largest zstd window a reader accepts, as a power of two (8 MiB). A frame may ask for
/// up to 2 GiB of window, which the decoder would allocate up front; writers compress
/// at level 3 (2 MiB windows at most) and `zstd -19` stays within 8 MiB.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Format version written in every header.
pub const VERSION: u32 = 1;

/// MIME type of a batch object.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// The first line of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Format version (1).
    pub v: u32,
    /// The writer's stream id.
    pub stream: Uuid,
    /// This batch's id; every key contains it.
    pub batch: Uuid,
    /// Service name.
    pub service: String,
    /// Position in the stream, from 0, without gaps.
    pub seq: u64,
    /// Hash of the previous batch of the stream (`None` for seq 0).
    pub prev: Option<Sha256Hex>,
    /// Number of record lines.
    pub records: u64,
    /// First record's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_ts: Option<String>,
    /// Last record's timestamp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_ts: Option<String>,
}

/// The last line of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seal {
    /// sha256 of every byte before the seal line.
    pub sha256: Sha256Hex,
    /// Ed25519 signature (base64) of [`signed_message`], when a key is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<String>,
    /// Id of the signing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Whether this is the stream's last batch (written by `close`).
    #[serde(rename = "final")]
    pub is_final: bool,
}

#[derive(Serialize, Deserialize)]
struct HeaderLine {
    worm: Header,
}

#[derive(Serialize, Deserialize)]
struct SealLine {
    worm_seal: Seal,
}

/// What a signature covers: the domain, the body hash and the `final` flag.
pub fn signed_message(sha256: &Sha256Hex, is_final: bool) -> Vec<u8> {
    format!("worm-batch/1 sha256={} final={is_final}", sha256.to_hex()).into_bytes()
}

/// Whole-object compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Compression {
    /// Plain NDJSON, `.json`.
    #[default]
    None,
    /// gzip, `.json.gz`, `Content-Encoding: gzip`.
    Gzip,
    /// zstd, `.json.zst`, `Content-Encoding: zstd`.
    Zstd,
}

impl Compression {
    /// Key extension.
    pub fn ext(self) -> &'static str {
        match self {
            Compression::None => ".json",
            Compression::Gzip => ".json.gz",
            Compression::Zstd => ".json.zst",
        }
    }

    /// `Content-Encoding` value.
    pub fn content_encoding(self) -> Option<&'static str> {
        match self {
            Compression::None => None,
            Compression::Gzip => Some("gzip"),
            Compression::Zstd => Some("zstd"),
        }
    }

    /// Guess from a key's extension (used by readers of plain copies).
    pub fn from_key(key: &str) -> Self {
        if key.ends_with(".gz") {
            Compression::Gzip
        } else if key.ends_with(".zst") {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// Compress a body.
    pub fn compress(self, body: &[u8]) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::io("compressing batch", e);
        match self {
            Compression::None => Ok(body.to_vec()),
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(
                    Vec::with_capacity(body.len() / 4),
                    flate2::Compression::fast(),
                );
                enc.write_all(body).map_err(err)?;
                enc.finish().map_err(err)
            }
            Compression::Zstd => zstd::bulk::compress(body, 3).map_err(err),
        }
    }

    /// A reader of the uncompressed bytes of `body`, decompressing as it is read; the
    /// zstd window is capped at [`ZSTD_WINDOW_LOG_MAX`].
    pub fn reader(self, body: &[u8]) -> std::io::Result<Box<dyn Read + Send + '_>> {
        Ok(match self {
            Compression::None => Box::new(body),
            Compression::Gzip => Box::new(flate2::read::GzDecoder::new(body)),
            Compression::Zstd => {
                let mut d = zstd::stream::read::Decoder::with_buffer(body)?;
                d.window_log_max(ZSTD_WINDOW_LOG_MAX)?;
                Box::new(d)
            }
        })
    }

    /// Decompress a body, refusing to expand past `limit` bytes (a hostile object must not
    /// exhaust memory).
    pub fn decompress(self, body: &[u8], limit: u64) -> Result<Vec<u8>> {
        let err = |e: std::io::Error| Error::invalid("compressed batch", e.to_string());
        let mut out = Vec::new();
        self.reader(body)
            .map_err(err)?
            .take(limit.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(err)?;
        if out.len() as u64 > limit {
            return Err(Error::invalid(
                "compressed batch",
                format!("expands past {limit} bytes"),
            ));
        }
        Ok(out)
    }
}

/// Build an uncompressed batch body. `records` holds the record lines, each ending in
/// `\n`. Returns the body and its chain hash (sha256 of the whole body).
pub fn encode(
    header: &Header,
    records: &[u8],
    is_final: bool,
    signer: Option<&Signer>,
) -> (Vec<u8>, Sha256Hex) {
    let mut body = Vec::with_capacity(records.len() + 512);
    // Serialising a struct of strings, numbers and uuids cannot fail.
    let _ = serde_json::to_writer(
        &mut body,
        &HeaderLine {
            worm: header.clone(),
        },
    );
    body.push(b'\n');
    body.extend_from_slice(records);
    // One pass over the body gives both digests: the seal's is a prefix of the chain's.
    let mut hasher = Sha256::new();
    hasher.update(&body);
    let sha256 = Sha256Hex(hasher.clone().finalize().into());
    let seal_start = body.len();
    let (sig, key_id) = match signer {
        Some(s) => {
            let (sig, id) = s.sign(&signed_message(&sha256, is_final));
            (Some(sig), Some(id))
        }
        None => (None, None),
    };
    let seal = SealLine {
        worm_seal: Seal {
            sha256,
            sig,
            key_id,
            is_final,
        },
    };
    let _ = serde_json::to_writer(&mut body, &seal);
    body.push(b'\n');
    hasher.update(&body[seal_start..]);
    let chain = Sha256Hex(hasher.finalize().into());
    (body, chain)
}

/// A batch read back and split into its parts. Hashes are computed, not trusted.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The header.
    pub header: Header,
    /// The seal.
    pub seal: Seal,
    /// Byte range of the record lines within the body.
    pub records: std::ops::Range<usize>,
    /// Number of record lines actually present.
    pub record_lines: u64,
    /// sha256 of the bytes before the seal line, as computed.
    pub computed_sha256: Sha256Hex,
    /// sha256 of the whole body (what the next batch's `prev` must name).
    pub chain_hash: Sha256Hex,
}

/// Split an uncompressed body into header, records and seal (a [`Scanner`] over the
/// whole body, so that the rules live in one place).
pub fn parse(body: &[u8]) -> Result<Parsed> {
    let mut scanner = Scanner::new(Limits::UNLIMITED);
    scanner
        .feed(body, &mut |_, _| {})
        .map_err(ScanError::into_error)?;
    let s = scanner.finish().map_err(ScanError::into_error)?;
    // The offsets are within `body`, which is in memory, so they fit a usize.
    let records = s.records.start as usize..s.records.end as usize;
    Ok(Parsed {
        header: s.header,
        seal: s.seal,
        records,
        record_lines: s.record_lines,
        computed_sha256: s.computed_sha256,
        chain_hash: s.chain_hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn header(seq: u64, n: u64) -> Header {
        Header {
            v: VERSION,
            stream: Uuid::now_v7(),
            batch: Uuid::now_v7(),
            service: "svc".into(),
            seq,
            prev: None,
            records: n,
            first_ts: None,
            last_ts: None,
        }
    }

    #[test]
    fn encode_parse_round_trip() {
        let recs = b"{\"a\":1}\n{\"b\":2}\n";
        let (body, chain) = encode(&header(0, 2), recs, true, None);
        let p = parse(&body).unwrap();
        assert_eq!(p.record_lines, 2);
        assert_eq!(&body[p.records.clone()], recs);
        assert_eq!(p.seal.sha256, p.computed_sha256);
        assert!(p.seal.is_final);
        assert_eq!(p.chain_hash, chain);
        assert_eq!(Sha256Hex::of(&body), chain);
        let text = String::from_utf8(body).unwrap();
        assert!(text.starts_with("{\"worm\":{\"v\":1,\"stream\":"));
        assert!(text.contains("\"prev\":null"));
        assert!(
            text.lines()
                .last()
                .unwrap()
                .starts_with("{\"worm_seal\":{\"sha256\":")
        );
    }

    #[test]
    fn empty_final_batch_and_compression() {
        let (body, _) = encode(&header(3, 0), b"", true, None);
        assert_eq!(parse(&body).unwrap().record_lines, 0);
        for c in [Compression::Gzip, Compression::Zstd] {
            let z = c.compress(&body).unwrap();
            assert_eq!(c.decompress(&z, 1 << 20).unwrap(), body);
            assert!(c.decompress(&z, 10).is_err());
        }
        assert!(parse(b"{\"worm\":{}}\n").is_err());
        assert!(parse(&body[..body.len() - 1]).is_err());
    }
}
