//! The batch decoder as every store reader uses it: compression by magic bytes,
//! streaming decompression, the line scanner with its caps; beside it `batch::parse` and
//! the bounded whole-body decompression. Checks, besides "no panic, no hang, no
//! unbounded allocation" (run with -rss_limit_mb and -malloc_limit_mb):
//! - the scanner gives the same result however the bytes are split into chunks;
//! - on plain bytes, the streaming reader and `parse` agree, except that the reader may
//!   stop at a cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use worm_core::batch::{self, Compression, Fault, Limits, ScanError, Scanned, Scanner};

fn summary(r: &Result<Scanned, ScanError>) -> String {
    match r {
        Ok(s) => format!(
            "{:?} {:?} {} {} {} {} {:?} {:?} {:?}",
            s.header,
            s.seal,
            s.record_lines,
            s.computed_sha256,
            s.chain_hash,
            s.bytes,
            s.first_record,
            s.last_record,
            s.records
        ),
        Err(e) => format!("{e:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits::for_body(1 << 20);
    let mut lines = Vec::new();
    let streamed = worm_core::verify::scan(data, None, "k.json", limits, &mut |_, l| {
        lines.push(l.len())
    });

    if data.first() == Some(&b'{') {
        // Chunked feeding gives the same result as one read.
        let step = usize::from(data.get(1).copied().unwrap_or(1)).max(1);
        let mut s = Scanner::new(limits);
        let mut chunked_lines = Vec::new();
        let fed = data
            .chunks(step)
            .try_for_each(|c| s.feed(c, &mut |_, l| chunked_lines.push(l.len())));
        let chunked = fed.and_then(|()| s.finish());
        assert_eq!(summary(&streamed), summary(&chunked));
        assert_eq!(lines, chunked_lines);

        // `parse` (no caps) agrees with the capped reader wherever the caps did not stop it.
        match (&streamed, batch::parse(data)) {
            (Ok(s), Ok(p)) => {
                assert_eq!((&s.header, &s.seal), (&p.header, &p.seal));
                assert_eq!(s.computed_sha256, p.computed_sha256);
                assert_eq!(s.chain_hash, p.chain_hash);
                assert_eq!(s.record_lines, p.record_lines);
                assert_eq!(s.records.start as usize..s.records.end as usize, p.records);
                assert_eq!(s.record_lines as usize, lines.len());
            }
            (Ok(_), Err(e)) => panic!("the reader accepted what parse refuses: {e}"),
            (Err(e), Ok(_)) => assert_eq!(e.fault, Fault::TooLarge, "{e}"),
            (Err(_), Err(_)) => {}
        }
    }

    for c in [Compression::Gzip, Compression::Zstd] {
        if let Ok(body) = c.decompress(data, 1 << 20) {
            assert!(body.len() <= 1 << 20);
        }
    }
});
