//! `worm keygen`: an Ed25519 key pair in two files.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use worm::sign::Signer;

use crate::cli::KeygenArgs;
use crate::error::{CliError, CliResult};

/// Write the secret key to `--out` (0600) and the public key to `--out`.pub (0644).
pub fn run(a: KeygenArgs) -> CliResult {
    let secret = a.out;
    let mut public = secret.clone().into_os_string();
    public.push(".pub");
    let public = PathBuf::from(public);
    for p in [&secret, &public] {
        if p.symlink_metadata().is_ok() {
            return Err(CliError::fatal(format!(
                "{} already exists; keygen never overwrites a key (choose another --out)",
                p.display()
            )));
        }
    }
    let signer = Signer::generate().map_err(|e| CliError::context("cannot generate a key", e))?;
    write_new(&secret, 0o600, &signer.to_file_text())?;
    if let Err(e) = write_new(&public, 0o644, &signer.public_key().to_file_text()) {
        // Without its public half the secret key is still usable (verify takes a secret
        // key file too), so it stays; say what exists.
        return Err(CliError::fatal(format!(
            "{e} (the secret key {} was written)",
            secret.display()
        )));
    }
    eprintln!(
        "worm: wrote secret key {} (keep it with the writer only) and public key {} (key id {})",
        secret.display(),
        public.display(),
        signer.key_id()
    );
    Ok(())
}

/// Create `path` (failing if it exists) with `mode`, write `text` and fsync it.
fn write_new(path: &Path, mode: u32, text: &str) -> CliResult {
    let err = |e: std::io::Error| CliError::context(format!("cannot write {}", path.display()), e);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(err)?;
    f.write_all(text.as_bytes()).map_err(err)?;
    f.sync_all().map_err(err)
}
