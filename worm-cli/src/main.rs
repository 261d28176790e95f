//! `worm`: ship NDJSON audit records into WORM storage, verify stores offline, list and
//! read them back, set up S3 buckets, and generate signing keys.
//!
//! Run `worm --help` (and `worm <command> --help`) for every command and flag.
#![deny(missing_docs)]

mod cli;
mod cmd;
mod crypt;
mod error;
mod follow;
mod output;
mod progress;
mod signals;
mod stdin;
mod store;
mod time;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::error::{CliError, CliResult, EXIT_OK};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // One line: messages from deeper layers may carry newlines.
            let msg = e.message.replace('\n', " ");
            eprintln!("worm: {msg}");
            ExitCode::from(e.code)
        }
    }
}

fn run(cli: Cli) -> CliResult<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::context("cannot start the async runtime", e))?;
    match cli.command {
        Command::Ship(a) => cmd::ship::run(&rt, a),
        #[cfg(feature = "serve")]
        Command::Serve(a) => cmd::serve::run(&rt, a),
        Command::Verify(a) => rt.block_on(cmd::verify::run(a)),
        Command::Ls(a) => rt.block_on(cmd::ls::run(a)),
        Command::Cat(a) => rt.block_on(cmd::cat::run(a)),
        Command::S3(c) => rt.block_on(cmd::s3::run(c)),
        Command::Keygen(a) => cmd::keygen::run(a).map(|()| EXIT_OK),
        Command::Demo(a) => cmd::demo::run(&rt, a),
        Command::Checkpoint(a) => rt.block_on(cmd::checkpoint::run(a)),
        Command::Prove(a) => rt.block_on(cmd::prove::run(a)),
        Command::VerifyProof(a) => cmd::prove::verify(a),
        Command::Sync(a) => rt.block_on(cmd::sync::run(a)),
    }
}
