//! Reading the age recipients and identities the flags name.

use worm::crypt::{Identities, Recipients};

use crate::cli::{EncryptArgs, IdentityArgs};
use crate::error::{CliError, CliResult};

/// The identities of every `--identity FILE` (none: empty).
pub fn identities(files: &[std::path::PathBuf]) -> CliResult<Identities> {
    let mut all = Identities::default();
    for f in files {
        let ids = Identities::from_file(f).map_err(|e| CliError::fatal(e.to_string()))?;
        all = all.merged(&ids);
    }
    Ok(all)
}

/// The identities of a reader's flags.
pub fn reader_identities(a: &IdentityArgs) -> CliResult<Identities> {
    identities(&a.identity)
}

/// The recipients `--encrypt-to` and `--encrypt-to-file` name (`None` when neither is
/// given).
pub fn recipients(a: &EncryptArgs) -> CliResult<Option<Recipients>> {
    let mut list = a.encrypt_to.clone();
    for f in &a.encrypt_to_file {
        list.extend(Recipients::read_file(f).map_err(|e| CliError::fatal(e.to_string()))?);
    }
    if list.is_empty() {
        return Ok(None);
    }
    Recipients::parse(&list)
        .map(Some)
        .map_err(|e| CliError::fatal(format!("--encrypt-to: {e}")))
}

/// A batch none of the identities opens: the one-line error (exit 2) naming its
/// recipients.
pub fn no_identity(e: &worm::Error) -> Option<CliError> {
    matches!(e, worm::Error::NoIdentity { .. }).then(|| CliError::fatal(e.to_string()))
}
