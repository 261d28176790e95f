//! `worm prove` and `worm verify-proof`: standalone record proofs, made and checked.

use std::io::Write;
use std::path::Path;

use worm::prove::Prover;
use worm::sign::PublicKey;
use worm::tlog::proof::ProofBundle;

use crate::cli::{ProveArgs, VerifyProofArgs};
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
use crate::output::{Stdout, Written};
use crate::store::{self, Access};

/// Write a proof for every matching record.
pub async fn run(a: ProveArgs) -> CliResult<u8> {
    let filter = super::cat::filter(&a.cat)?;
    let store = store::open(a.cat.store.as_deref(), Access::Read, &a.cat.s3)?;
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)
            .map_err(|e| CliError::fatal(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut out = Stdout::new();
    let mut closed = false;
    let prover = Prover::new(filter)
        .prefix(store.list_prefix.clone())
        .identities(crate::crypt::reader_identities(&a.cat.identities)?);
    let summary = prover
        .prove(store.sink.as_ref(), |b| {
            match &a.out {
                Some(dir) => write_file(dir, &b)?,
                None if !closed => {
                    let written = out.line(&b.to_json()).map_err(|e| {
                        worm::Error::io("writing to stdout", std::io::Error::other(e.to_string()))
                    })?;
                    closed = written == Written::Closed;
                }
                None => {}
            }
            Ok(())
        })
        .await
        .map_err(|e| {
            crate::crypt::no_identity(&e).unwrap_or_else(|| {
                CliError::fatal(format!("cannot prove from store '{}': {e}", store.name))
            })
        })?;
    let _ = out.flush();
    for r in &summary.refused {
        eprintln!("worm: no proof: {r}");
    }
    eprintln!(
        "worm: {} proof(s){}",
        summary.proofs,
        match &a.out {
            Some(d) => format!(" written to {}", d.display()),
            None => String::new(),
        }
    );
    Ok(if summary.refused.is_empty() {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

fn write_file(dir: &Path, b: &ProofBundle) -> worm::Result<()> {
    let path = dir.join(format!("{}-{}.json", b.stream, b.index));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| worm::Error::io(format!("creating {}", path.display()), e))?;
    f.write_all(b.to_json().as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| worm::Error::io(format!("writing {}", path.display()), e))
}

/// Check proof files; exit 0 all valid, 1 any invalid.
pub fn verify(a: VerifyProofArgs) -> CliResult<u8> {
    let keys = a
        .public_key
        .iter()
        .map(|p| PublicKey::from_file(p).map_err(|e| CliError::fatal(e.to_string())))
        .collect::<CliResult<Vec<_>>>()?;
    let (mut valid, mut invalid) = (0u64, 0u64);
    for f in &a.files {
        let meta = std::fs::metadata(f)
            .map_err(|e| CliError::fatal(format!("cannot read {}: {e}", f.display())))?;
        if meta.len() > 64 << 20 {
            return Err(CliError::fatal(format!(
                "{}: {} bytes is not a proof file",
                f.display(),
                meta.len()
            )));
        }
        let text = std::fs::read(f)
            .map_err(|e| CliError::fatal(format!("cannot read {}: {e}", f.display())))?;
        for (i, line) in text.split(|&b| b == b'\n').enumerate() {
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let r = ProofBundle::parse(line).and_then(|b| b.verify(&keys).map(|c| (b, c)));
            match r {
                Ok((b, c)) => {
                    valid += 1;
                    println!(
                        "valid {}:{}: record {} of stream {} in the tree of size {} signed by the given key ({})",
                        f.display(),
                        i + 1,
                        b.index,
                        b.stream,
                        c.size,
                        c.origin
                    );
                }
                Err(e) => {
                    invalid += 1;
                    eprintln!("INVALID {}:{}: {e}", f.display(), i + 1);
                }
            }
        }
    }
    eprintln!("worm: {valid} valid, {invalid} invalid");
    Ok(if invalid == 0 && valid > 0 {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}
