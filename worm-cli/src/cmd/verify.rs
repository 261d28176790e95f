//! `worm verify`: the offline verifier over a store, with a report and an exit code.

use std::sync::Arc;

use serde::Serialize;
use worm::sign::PublicKey;
use worm::verify::{Anchor, Report, Verifier};

use crate::cli::VerifyArgs;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
use crate::output;
use crate::progress;
use crate::store::{self, Access, Store};

/// The JSON form of a report: the verifier's report plus the verdict.
#[derive(Debug, Serialize)]
pub struct JsonReport<'a> {
    /// Whether no finding is an error.
    pub intact: bool,
    /// The full report.
    #[serde(flatten)]
    pub report: &'a Report,
    /// With --replica: the comparison with the replica.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replica: Option<&'a worm::replica::Comparison>,
}

/// Verify the store; exit 0 intact, 1 problems.
pub async fn run(a: VerifyArgs) -> CliResult<u8> {
    let keys = a
        .public_key
        .iter()
        .map(|p| PublicKey::from_file(p).map_err(|e| CliError::fatal(e.to_string())))
        .collect::<CliResult<Vec<_>>>()?;
    let mut anchors = read_anchors(&a.anchor)?;
    if let Some(url) = &a.anchor_store {
        anchors.extend(read_anchor_store(url, &a.s3).await?);
    }
    let store = store::open(a.store.as_deref(), Access::Read, &a.s3)?;
    let replica = match &a.replica {
        Some(url) => Some(store::open(Some(url), Access::Read, &a.s3)?),
        None => None,
    };
    let mut v = Verifier::new()
        .require_closed(a.require_closed)
        .concurrency(a.concurrency)
        .identities(crate::crypt::identities(&a.identity)?);
    for k in keys {
        v = v.public_key(k);
    }
    for an in anchors {
        v = v.anchor(an);
    }
    if let Some(d) = a.max_silence {
        v = v.max_silence(d);
    }
    let report = verify(&store, v, a.quiet || a.json).await?;
    let comparison = match &replica {
        Some(r) => Some(
            worm::replica::compare(
                store.sink.as_ref(),
                &store.list_prefix,
                r.sink.as_ref(),
                &r.list_prefix,
            )
            .await
            .map_err(|e| {
                CliError::fatal(format!(
                    "cannot compare '{}' with replica '{}': {e}",
                    store.name, r.name
                ))
            })?,
        ),
        None => None,
    };
    let identical = comparison
        .as_ref()
        .is_none_or(worm::replica::Comparison::is_identical);
    if a.json {
        output::json(&JsonReport {
            intact: report.is_intact() && identical,
            report: &report,
            replica: comparison.as_ref(),
        })?;
    } else if !a.quiet {
        print_report(&report);
        if let (Some(c), Some(r)) = (&comparison, &replica) {
            print_comparison(c, &store.name, &r.name);
        }
    } else {
        if !report.is_intact() {
            eprintln!(
                "worm: store '{}' is NOT intact: {} error(s)",
                store.name,
                report.errors().count()
            );
        }
        if !identical && let Some(r) = &replica {
            eprintln!("worm: replica '{}' differs from '{}'", r.name, store.name);
        }
    }
    Ok(if report.is_intact() && identical {
        EXIT_OK
    } else {
        EXIT_PROBLEMS
    })
}

/// The comparison with a replica, one line per finding, then the verdict.
pub fn print_comparison(c: &worm::replica::Comparison, a: &str, b: &str) {
    let mut out = format!("replica '{b}': {} object(s) the same as in '{a}'\n", c.same);
    for e in &c.only_in_a {
        out.push_str(&format!(
            "error missing_in_replica '{}': in '{a}' ({} bytes), not in '{b}'\n",
            e.key, e.size
        ));
    }
    for e in &c.only_in_b {
        out.push_str(&format!(
            "error missing_here '{}': in '{b}' ({} bytes), not in '{a}'\n",
            e.key, e.size
        ));
    }
    for d in &c.different {
        out.push_str(&format!(
            "error replica_differs '{}': sha256 {} ({} bytes) in '{a}', {} ({} bytes) in '{b}'\n",
            d.key, d.sha256_a, d.sizes.0, d.sha256_b, d.sizes.1
        ));
    }
    for n in &c.not_files {
        out.push_str(&format!("error not_a_file {n}\n"));
    }
    for n in &c.oversized {
        out.push_str(&format!("error oversized {n}\n"));
    }
    out.push_str(if c.is_identical() {
        "replica identical"
    } else {
        "replica DIFFERS"
    });
    let mut o = output::Stdout::new();
    let _ = o.line(&out);
    let _ = o.flush();
}

/// Every checkpoint in an anchor store (`worm ship --anchor-to`): each object holds one or
/// more checkpoints.
async fn read_anchor_store(url: &str, s3: &crate::cli::S3Args) -> CliResult<Vec<Anchor>> {
    use futures::TryStreamExt;
    let store = store::open(Some(url), Access::Read, s3)?;
    let bad = |what: String| CliError::fatal(format!("anchor store '{url}': {what}"));
    let listed: Vec<worm::ObjectInfo> = store
        .sink
        .list(&store.list_prefix)
        .try_collect()
        .await
        .map_err(|e| bad(format!("cannot list: {e}")))?;
    let mut out = Vec::new();
    for o in listed {
        if let Some(what) = &o.not_a_file {
            return Err(bad(format!("'{}' is not a file ({what})", o.key)));
        }
        if o.size > worm::verify::MAX_ANCHOR_BYTES as u64 {
            return Err(bad(format!(
                "'{}' is larger than an anchor ({} bytes)",
                o.key, o.size
            )));
        }
        let obj = store
            .sink
            .get(&o.key)
            .await
            .map_err(|e| bad(format!("cannot read '{}': {e}", o.key)))?;
        let text = std::str::from_utf8(&obj.body)
            .map_err(|_| bad(format!("'{}' is not UTF-8 text", o.key)))?;
        let found = Anchor::parse_many(text).map_err(|e| bad(format!("'{}': {e}", o.key)))?;
        out.extend(found);
    }
    if out.is_empty() {
        return Err(bad("holds no checkpoint".into()));
    }
    Ok(out)
}

/// Every checkpoint in the anchor files.
fn read_anchors(files: &[std::path::PathBuf]) -> CliResult<Vec<Anchor>> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).map_err(|e| {
            CliError::fatal(format!("cannot read anchor file {}: {e}", f.display()))
        })?;
        let found = Anchor::parse_many(&text)
            .map_err(|e| CliError::fatal(format!("anchor file {}: {e}", f.display())))?;
        if found.is_empty() {
            return Err(CliError::fatal(format!(
                "anchor file {} holds no checkpoint",
                f.display()
            )));
        }
        out.extend(found);
    }
    Ok(out)
}

/// Run `verifier` over `store` with a progress display unless `quiet`.
pub async fn verify(store: &Store, verifier: Verifier, quiet: bool) -> CliResult<Report> {
    let verifier = match &store.versions {
        Some(v) => verifier.versions(v.clone()),
        None => verifier,
    };
    let pb = Arc::new(progress::spinner(quiet, "verifying"));
    let shown = pb.clone();
    let v = verifier
        .prefix(store.list_prefix.clone())
        .on_object(move |p| {
            progress::set(&shown, || {
                format!(
                    "verified {} objects, {}: {}",
                    p.objects_done,
                    progress::bytes(p.bytes_done),
                    p.key
                )
            })
        });
    let res = v.verify(store.sink.as_ref()).await;
    drop(v);
    if let Some(pb) = Arc::into_inner(pb) {
        progress::clear(pb);
    }
    res.map_err(|e| CliError::fatal(format!("cannot verify store '{}': {e}", store.name)))
}

/// A kind with more findings than this is shown by its first [`EXAMPLES`] and a count.
const GROUP_OVER: usize = 20;
/// Findings shown of a kind that is grouped.
const EXAMPLES: usize = 5;

/// Every finding on a line of its own, except that a kind with more than [`GROUP_OVER`]
/// findings (100,000 foreign objects, say) shows a few examples and how many more there
/// are: `--json` lists every one.
fn grouped_problems(problems: &[worm::verify::Problem]) -> String {
    let mut per_kind: std::collections::BTreeMap<worm::verify::Kind, usize> = Default::default();
    for p in problems {
        *per_kind.entry(p.kind).or_default() += 1;
    }
    let mut shown: std::collections::BTreeMap<worm::verify::Kind, usize> = Default::default();
    let mut out = String::new();
    for p in problems {
        let n = shown.entry(p.kind).or_default();
        *n += 1;
        if per_kind[&p.kind] <= GROUP_OVER || *n <= EXAMPLES {
            out.push_str(&format!("{p}\n"));
        }
    }
    for (kind, n) in per_kind.into_iter().filter(|(_, n)| *n > GROUP_OVER) {
        out.push_str(&format!(
            "... and {} more {kind} finding(s), {n} in all (`worm verify --json` lists every one)\n",
            n - EXAMPLES
        ));
    }
    out
}

/// The human report: totals, one line per stream, every problem, the verdict.
pub fn print_report(r: &Report) {
    let mut out = String::new();
    out.push_str(&format!(
        "{}{}: {} objects, {}, {} batches, {} records in {} stream(s){}\n",
        r.store,
        if r.prefix.is_empty() {
            String::new()
        } else {
            format!(" ({})", r.prefix)
        },
        r.objects,
        progress::bytes(r.bytes),
        r.batches,
        r.records,
        r.streams.len(),
        match (r.signatures_checked, r.versions_checked) {
            (true, true) => ", signatures and object versions checked",
            (true, false) => ", signatures checked",
            (false, true) => ", object versions checked",
            (false, false) => "",
        },
    ));
    for s in &r.streams {
        out.push_str(&format!(
            "  stream {} ({}): seq {}..={}, {} batches, {} records, {}, signed: {}{}\n",
            s.stream,
            s.service,
            s.first_seq,
            s.last_seq,
            s.batches,
            s.records,
            if s.closed { "closed" } else { "open" },
            match s.signed {
                worm::verify::Signed::All => "all",
                worm::verify::Signed::Partly => "partly",
                worm::verify::Signed::None => "no",
            },
            if s.key_ids.is_empty() {
                String::new()
            } else {
                format!(" (key {})", s.key_ids.join(", "))
            }
        ));
    }
    out.push_str(&grouped_problems(&r.problems));
    let errors = r.errors().count();
    if errors == 0 {
        out.push_str("intact");
    } else {
        out.push_str(&format!("NOT intact: {errors} error(s)"));
    }
    // A report that cannot be written (closed stdout) has nothing better to do.
    let mut o = output::Stdout::new();
    let _ = o.line(&out);
    let _ = o.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use worm::verify::{Kind, Problem, Severity};

    fn problem(kind: Kind, key: String) -> Problem {
        Problem {
            kind,
            severity: Severity::Error,
            key,
            stream: None,
            seq: None,
            version_ids: Vec::new(),
            message: "m".into(),
        }
    }

    #[test]
    fn many_findings_of_a_kind_are_grouped_few_are_not() {
        let mut ps: Vec<Problem> = (0..1000)
            .map(|i| problem(Kind::Inserted, format!("junk/{i:04}")))
            .collect();
        ps.extend((0..3).map(|i| problem(Kind::NotAFile, format!("link{i}"))));
        let text = grouped_problems(&ps);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), EXAMPLES + 3 + 1, "{text}");
        assert!(lines.contains(&"error inserted 'junk/0000': m"), "{text}");
        assert!(lines.contains(&"error not_a_file 'link2': m"), "{text}");
        assert_eq!(
            lines.last().copied(),
            Some(
                "... and 995 more inserted finding(s), 1000 in all (`worm verify --json` lists every one)"
            )
        );
    }
}
