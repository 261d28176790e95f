//! Reading one stored object back into an uncompressed batch body.

use bytes::Bytes;

use crate::batch::Compression;
use crate::error::Result;

/// Default cap on a decompressed batch (a hostile object must not exhaust memory).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1 << 30;

/// How a stored body is compressed. The magic bytes decide, so that a copy whose key
/// lost or gained an extension, or whose transfer tool already decompressed it, still
/// reads; the `Content-Encoding` and the key extension ([`Compression::from_key`]) are
/// only used when the body is too short to tell.
pub fn detect(body: &[u8], content_encoding: Option<&str>, key: &str) -> Compression {
    const GZIP: &[u8] = &[0x1f, 0x8b];
    const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
    if body.starts_with(GZIP) {
        return Compression::Gzip;
    }
    if body.starts_with(ZSTD) {
        return Compression::Zstd;
    }
    if body.first() == Some(&b'{') {
        return Compression::None;
    }
    match content_encoding {
        Some("gzip") => Compression::Gzip,
        Some("zstd") => Compression::Zstd,
        _ => Compression::from_key(key),
    }
}

/// The uncompressed body of a stored object, refusing to expand past `limit` bytes.
pub fn decode(
    stored: Bytes,
    content_encoding: Option<&str>,
    key: &str,
    limit: u64,
) -> Result<Bytes> {
    match detect(&stored, content_encoding, key) {
        Compression::None => Ok(stored),
        c => c.decompress(&stored, limit).map(Bytes::from),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_win_over_the_key() {
        let plain = b"{\"worm\":{}}\n".to_vec();
        let gz = Compression::Gzip.compress(&plain).unwrap();
        let zst = Compression::Zstd.compress(&plain).unwrap();
        assert_eq!(detect(&gz, None, "a.json"), Compression::Gzip);
        assert_eq!(detect(&zst, None, "a.json.gz"), Compression::Zstd);
        assert_eq!(detect(&plain, Some("gzip"), "a.json.gz"), Compression::None);
        assert_eq!(detect(b"", None, "a.json.zst"), Compression::Zstd);
        for body in [gz, zst] {
            assert_eq!(
                decode(Bytes::from(body.clone()), None, "k", 1 << 20).unwrap(),
                plain
            );
            assert!(decode(Bytes::from(body), None, "k", 4).is_err());
        }
    }
}
