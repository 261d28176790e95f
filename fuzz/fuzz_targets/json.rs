//! The strict JSON reader (through `AuditRecord::from_json`, its public entry) and
//! `worm ship`'s input path: the line splitter with its cap,
//! then each line classified as a record, an empty line or an invalid line
//! (`worm_core::input`, which `worm ship` and `worm serve`'s `/v1/audit` share).
#![no_main]

use libfuzzer_sys::fuzz_target;
use worm_core::input;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(r) = worm_core::AuditRecord::from_json(text) {
            let _ = r.to_json_line();
        }
    }
    const MAX: usize = 4096;
    let mut split = input::LineSplitter::new(MAX);
    let mut lines = Vec::new();
    // Two pushes, so that a line split across reads is exercised.
    let cut = data.len() / 2;
    split.push(&data[..cut], &mut |l| lines.push(l));
    split.push(&data[cut..], &mut |l| lines.push(l));
    lines.extend(split.finish());
    for line in &lines {
        assert!(line.bytes.len() <= MAX);
        match input::parse_line(line, MAX) {
            input::Parsed::Invalid(r) => {
                // The stand-in record keeps a bounded prefix of the line.
                assert!(r.to_json_line().len() < 64 << 10);
            }
            input::Parsed::Record(r) => {
                let _ = r.to_json_line();
            }
            input::Parsed::Empty => {}
        }
    }
});
