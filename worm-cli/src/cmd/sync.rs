//! `worm sync FROM TO`: copy the batches TO lacks, byte for byte, never overwriting.

use worm::replica::{CopyLocks, SyncReport};

use crate::cli::SyncArgs;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
use crate::output;
use crate::store::{self, Access};

/// Copy what is missing; exit 0 when TO holds everything FROM does, 1 otherwise.
pub async fn run(a: SyncArgs) -> CliResult<u8> {
    let from = store::open(Some(&a.from), Access::Read, &a.s3)?;
    let to = store::open(Some(&a.to), Access::Write { immutable: false }, &a.s3)?;
    if a.mode.is_some() && a.retention_days.is_none() {
        return Err(CliError::fatal("--mode needs --retention-days"));
    }
    // TO's URL may give it lock settings of its own (retention=, mode=, legal-hold=);
    // what it leaves out comes from --retention-days and --mode.
    let flags = a.retention_days.map(|d| {
        (
            a.mode.map_or(worm::RetentionMode::Governance, Into::into),
            d,
        )
    });
    let (retention, legal_hold) = match to.locks.resolve(flags, false) {
        Some(l) => (l.retention, l.legal_hold),
        None => (flags, false),
    };
    let locks = CopyLocks {
        retention: retention.map(|(mode, d)| worm::Retention::days_from_now(mode, d)),
        legal_hold,
    };
    let report = worm::replica::sync(
        from.sink.as_ref(),
        &from.list_prefix,
        to.sink.as_ref(),
        &to.list_prefix,
        locks,
        a.dry_run,
    )
    .await
    .map_err(|e| CliError::fatal(format!("cannot sync '{}' to '{}': {e}", a.from, a.to)))?;
    let done = if a.dry_run {
        report.before.is_identical()
    } else {
        report.is_complete() && report.before.not_files.is_empty()
    };
    if a.json {
        output::json(&report)?;
    } else {
        eprintln!("{}", describe(&report, &a.from, &a.to, a.dry_run));
    }
    Ok(if done { EXIT_OK } else { EXIT_PROBLEMS })
}

fn describe(r: &SyncReport, from: &str, to: &str, dry_run: bool) -> String {
    let b = &r.before;
    let mut out = if b.only_in_a.is_empty() {
        format!(
            "worm sync: nothing to copy: '{to}' holds every object of '{from}' ({} the same)",
            b.same
        )
    } else if dry_run {
        format!(
            "worm sync: would copy {} object(s) from '{from}' to '{to}'",
            b.only_in_a.len()
        )
    } else {
        format!(
            "worm sync: copied {} of {} missing object(s) from '{from}' to '{to}', each read back with the same sha256 ({} already the same)",
            r.copied.len(),
            b.only_in_a.len(),
            b.same
        )
    };
    if dry_run {
        for e in &b.only_in_a {
            out.push_str(&format!("\n  missing in '{to}': {}", e.key));
        }
    }
    for (k, why) in &r.failed {
        out.push_str(&format!("\n  NOT copied '{k}': {why}"));
    }
    for d in &b.different {
        out.push_str(&format!(
            "\n  differs, left alone (never overwritten) '{}': sha256 {} in '{from}', {} in '{to}'",
            d.key, d.sha256_a, d.sha256_b
        ));
    }
    for n in &b.not_files {
        out.push_str(&format!("\n  not a file, not copied: {n}"));
    }
    for n in &b.oversized {
        out.push_str(&format!("\n  oversized, never read: {n}"));
    }
    if !b.only_in_b.is_empty() {
        out.push_str(&format!(
            "\n  {} object(s) only in '{to}' (not touched)",
            b.only_in_b.len()
        ));
    }
    out
}
