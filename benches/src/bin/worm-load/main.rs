//! `worm-load`: whole-process measurements for BENCHMARKS.md. Each command prints one
//! JSON object per result line on stdout.
//!
//! ```text
//! worm-load caller   [--calls N] [--rounds R] [--only worm|fmt] [--queue-mib N]
//! worm-load pipeline [--records N] [--mode plain|zstd|gzip|signed] [--sink fs|null] [--dir D]
//!                    [--format v1|v3] [--encrypt on|off]
//! worm-load cost     [--records N]
//! worm-load latency  [--rate R] [--secs S]
//! worm-load memory   [--records N] [--queue N] [--pending-mib M] [--overflow drop|block]
//! worm-load generate --dir D [--mib M] [--format v1|v3] [--encrypt on|off]
//! worm-load verify   --dir D [--concurrency N]   (objects read and checked at once, default 8)
//! worm-load ndjson   [--records N]          (the `worm ship` benchmarks' input, on stdout)
//! worm-load s3       [--objects N] [--size BYTES] [--concurrency C] [--rounds R] [--retention off]
//!                    [--only raw|sink|upload|worm] [--sides raw,worm,...] [--sink-meta off] [--label L]
//! worm-load hashes   [--records N] [--rounds R]   (SHA-256 per record: body, leaf, node)
//! worm-load replicate [--records N] [--rounds R] [--batch N] [--stores s3|s3-fs|fs] [--endpoint-b URL]
//! ```

mod args;
mod caller;
mod cost;
mod hashes;
mod memory;
mod ndjson;
mod pipeline;
mod replicate;
mod s3;
mod verify;

use args::Args;

fn main() {
    let mut argv = std::env::args().skip(1);
    let what = argv.next().unwrap_or_default();
    let args = Args::parse(argv);
    let res = match what.as_str() {
        "caller" => caller::run(&args),
        "pipeline" => pipeline::run(&args),
        "cost" => cost::run(&args),
        "latency" => cost::latency(&args),
        "memory" => memory::run(&args),
        "verify" => verify::run(&args),
        "generate" => verify::generate(&args),
        "s3" => s3::run(&args),
        "ndjson" => ndjson::run(&args),
        "replicate" => replicate::run(&args),
        "hashes" => hashes::run(&args),
        _ => Err(format!(
            "unknown command '{what}'; see the docs at the top of main.rs"
        )),
    };
    if let Err(e) = res {
        eprintln!("worm-load {what}: {e}");
        std::process::exit(1);
    }
}

/// Print one result line.
pub fn emit(v: serde_json::Value) {
    println!("{v}");
}
