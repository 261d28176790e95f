//! `worm checkpoint`: the latest signed checkpoint of every stream, as an anchor file.

use std::io::Write;

use worm::sign::PublicKey;
use worm::verify::Verifier;

use crate::cli::CheckpointArgs;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
use crate::store::{self, Access};

/// Print (or write) the checkpoints; exit 1 when some stream has no signed checkpoint.
pub async fn run(a: CheckpointArgs) -> CliResult<u8> {
    let keys = a
        .public_key
        .iter()
        .map(|p| PublicKey::from_file(p).map_err(|e| CliError::fatal(e.to_string())))
        .collect::<CliResult<Vec<_>>>()?;
    let store = store::open(a.store.as_deref(), Access::Read, &a.s3)?;
    let mut v = Verifier::new();
    for k in keys {
        v = v.public_key(k);
    }
    let report = super::verify::verify(&store, v, true).await?;
    let mut out = String::new();
    let mut unsigned = 0usize;
    for s in &report.streams {
        match &s.checkpoint {
            Some(c) => {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(c);
            }
            None => {
                unsigned += 1;
                eprintln!(
                    "worm: stream {} ({}) has no signed checkpoint (unsigned, or a worm-batch/1 stream): not anchored",
                    s.stream, s.service
                );
            }
        }
    }
    for p in report.errors() {
        eprintln!("worm: warning: {p}");
    }
    match &a.out {
        Some(path) => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| CliError::fatal(format!("cannot create {}: {e}", path.display())))?;
            f.write_all(out.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| CliError::fatal(format!("writing {}: {e}", path.display())))?;
        }
        None => {
            let mut o = crate::output::Stdout::new();
            let _ = o.line(out.trim_end_matches('\n'));
            let _ = o.flush();
        }
    }
    Ok(if unsigned == 0 && report.is_intact() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
