//! `worm keygen`: an Ed25519 key pair in three files.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use worm::sign::Signer;

use crate::cli::KeygenArgs;
use crate::error::{CliError, CliResult};

/// Write the secret key to `--out` (0600, in the signed-note form that keeps the key
/// name), the public key to `--out`.pub (worm's first form, which every worm reads) and
/// the C2SP verifier key to `--out`.vkey (what other transparency tools read); all 0644
/// but the secret.
pub fn run(a: KeygenArgs) -> CliResult {
    if a.age {
        return age(&a.out);
    }
    let secret = a.out;
    let sibling = |ext: &str| {
        let mut p = secret.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    let (public, vkey) = (sibling(".pub"), sibling(".vkey"));
    for p in [&secret, &public, &vkey] {
        if p.symlink_metadata().is_ok() {
            return Err(CliError::fatal(format!(
                "{} already exists; keygen never overwrites a key (choose another --out)",
                p.display()
            )));
        }
    }
    let signer = Signer::generate().map_err(|e| CliError::context("cannot generate a key", e))?;
    write_new(&secret, 0o600, &signer.to_note_secret_text())?;
    let pk = signer.public_key();
    for (path, text) in [
        (&public, pk.to_file_text()),
        (&vkey, format!("{}\n", pk.to_vkey())),
    ] {
        if let Err(e) = write_new(path, 0o644, &text) {
            // Without its public halves the secret key is still usable (verify takes a
            // secret key file too), so it stays; say what exists.
            return Err(CliError::fatal(format!(
                "{e} (the secret key {} was written)",
                secret.display()
            )));
        }
    }
    eprintln!(
        "worm: wrote secret key {} (keep it with the writer only), public key {} and \
         verifier key {} (key id {}, note key {})",
        secret.display(),
        public.display(),
        vkey.display(),
        signer.key_id(),
        pk.vkey_prefix()
    );
    Ok(())
}

/// An age X25519 identity: the identity to `out` (0600, with its recipient in a comment,
/// as age-keygen writes it), the recipient to `out`.pub.
fn age(out: &Path) -> CliResult {
    let mut p = out.to_path_buf().into_os_string();
    p.push(".pub");
    let public = PathBuf::from(p);
    for p in [out, public.as_path()] {
        if p.symlink_metadata().is_ok() {
            return Err(CliError::fatal(format!(
                "{} already exists; keygen never overwrites a key (choose another --out)",
                p.display()
            )));
        }
    }
    let (secret, recipient) = worm::crypt::generate();
    let created = worm::record::timestamp::format(&worm::record::timestamp::now());
    write_new(
        out,
        0o600,
        &format!("# created: {created}\n# public key: {recipient}\n{secret}\n"),
    )?;
    write_new(&public, 0o644, &format!("{recipient}\n")).map_err(|e| {
        CliError::fatal(format!("{e} (the identity {} was written)", out.display()))
    })?;
    eprintln!(
        "worm: wrote age identity {} (keep it with the readers only) and its recipient {} ({recipient})",
        out.display(),
        public.display()
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
