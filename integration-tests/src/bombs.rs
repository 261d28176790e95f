//! Objects an attacker plants in a store to exhaust a reader: compression bombs that
//! start like a batch, built without ever holding their expansion.

/// What each bomb expands to: past 2 GiB.
pub const BOMB_BYTES: u64 = (2 << 30) + (1 << 20);

/// The first line of `body` (a batch), newline included: a bomb starts the way a batch
/// does, so that a reader has to decompress it to find out.
pub fn first_line(body: &[u8]) -> &[u8] {
    let end = body
        .iter()
        .position(|&b| b == b'\n')
        .map_or(body.len(), |i| i + 1);
    &body[..end]
}

/// A zstd frame written block by block: the header line as a raw block, then RLE blocks
/// of 128 KiB zeros (4 bytes each, the format's best) up to `BOMB_BYTES`. Nothing of
/// its expansion is ever held.
pub fn zstd_bomb(header: &[u8]) -> Vec<u8> {
    const BLOCK: u64 = 128 << 10;
    let mut out = vec![0x28, 0xb5, 0x2f, 0xfd];
    // Frame header: no content size, no checksum, no dictionary; window 2^(10+7) = 128 KiB.
    out.extend_from_slice(&[0x00, 0x38]);
    let block = |out: &mut Vec<u8>, last: bool, kind: u32, size: u32| {
        let v = (size << 3) | (kind << 1) | u32::from(last);
        out.extend_from_slice(&v.to_le_bytes()[..3]);
    };
    block(&mut out, false, 0, header.len() as u32);
    out.extend_from_slice(header);
    let blocks = BOMB_BYTES.div_ceil(BLOCK);
    for i in 0..blocks {
        block(&mut out, i + 1 == blocks, 1, BLOCK as u32);
        out.push(0);
    }
    out
}

/// A gzip member of the header line and `BOMB_BYTES` zeros: one deflate-compressed MiB of
/// zeros, sync-flushed so its blocks can be repeated, 2049 times. Deflate's best ratio is
/// about 1032:1, so 2 GiB of zeros cannot take less than 2 MiB; the trailer's CRC is
/// combined, not computed over the expansion.
pub fn gzip_bomb(header: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    const CHUNK: usize = 1 << 20;
    let deflate = |data: &[u8]| {
        let mut c = Compress::new(Compression::best(), false);
        let mut out = Vec::with_capacity(data.len() / 100 + 1024);
        c.compress_vec(data, &mut out, FlushCompress::Sync)
            .expect("deflating into a vector with room to spare");
        assert_eq!(c.total_in() as usize, data.len());
        out
    };
    let zeros = deflate(&vec![0u8; CHUNK]);
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    out.extend_from_slice(&deflate(header));
    let chunks = BOMB_BYTES.div_ceil(CHUNK as u64);
    let mut crc = crc32fast::Hasher::new();
    crc.update(header);
    let mut zero_crc = crc32fast::Hasher::new();
    zero_crc.update(&vec![0u8; CHUNK]);
    for _ in 0..chunks {
        out.extend_from_slice(&zeros);
        crc.combine(&zero_crc);
    }
    // A final, empty block with fixed codes, then CRC-32 and size mod 2^32.
    out.extend_from_slice(&[0x03, 0x00]);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    let total = header.len() as u64 + chunks * CHUNK as u64;
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out
}
