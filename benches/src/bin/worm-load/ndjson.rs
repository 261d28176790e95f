//! The input of the `worm ship` benchmarks: the pipeline benchmark's records as NDJSON
//! lines, without the service name (ship stamps it from `--service`), so that ship stores
//! byte for byte the records `worm-load pipeline` logs.

use std::io::{BufWriter, Write};

use worm_benches::event::audit_record;
use worm_core::Level;

use crate::args::Args;

pub fn run(args: &Args) -> Result<(), String> {
    let records: u64 = args.num("records", 200_000)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
    let mut line = Vec::with_capacity(512);
    for n in 0..records {
        line.clear();
        audit_record(n, Level::Info).write_json(&mut line);
        line.push(b'\n');
        out.write_all(&line).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}
