//! `worm cat`: matching records as NDJSON on stdout.

use futures::StreamExt;
use worm::query::{Filter, Query};

use crate::cli::CatArgs;
use crate::error::{CliError, CliResult, EXIT_OK, EXIT_PROBLEMS};
use crate::output::{Stdout, Written};
use crate::progress;
use crate::store::{self, Access};
use crate::time;

/// The record filter the flags describe (shared with `worm prove`).
pub fn filter(a: &CatArgs) -> CliResult<Filter> {
    let (since, until) = time::range(&a.time)?;
    let min_level = a
        .level
        .as_deref()
        .map(|l| {
            l.parse()
                .map_err(|e| CliError::fatal(format!("--level: {e}")))
        })
        .transpose()?;
    Ok(Filter {
        since,
        until,
        service: a.service.clone(),
        request_id: a.request_id.clone(),
        user_id: a.user_id.clone(),
        min_level,
        action: a.action.clone(),
    })
}

/// Print every matching record.
pub async fn run(a: CatArgs) -> CliResult<u8> {
    let filter = filter(&a)?;
    let store = store::open(a.store.as_deref(), Access::Read, &a.s3)?;
    let ids = crate::crypt::reader_identities(&a.identities)?;
    let query = Query::new(filter)
        .prefix(store.list_prefix.clone())
        .identities(ids);
    let pb = progress::spinner(a.quiet, "reading");
    let mut hits = query.records(store.sink.as_ref());
    let mut out = Stdout::new();
    let (mut printed, mut skipped) = (0u64, 0u64);
    while let Some(hit) = hits.next().await {
        match hit {
            Ok(h) => {
                if out.line(&h.raw)? == Written::Closed {
                    progress::clear(pb);
                    return Ok(EXIT_OK);
                }
                printed += 1;
                if printed % 256 == 0 {
                    progress::set(&pb, || format!("{printed} records"));
                }
            }
            // An encrypted batch no identity opens: one line naming its recipients, exit 2.
            Err(e @ worm::Error::NoIdentity { .. }) => {
                progress::clear(pb);
                let _ = out.flush();
                return Err(CliError::fatal(e.to_string()));
            }
            // A batch that is damaged or vanished is skipped; anything else (listing, access)
            // means the store cannot be read.
            Err(e @ (worm::Error::InvalidInput { .. } | worm::Error::NotFound { .. })) => {
                skipped += 1;
                let msg = format!("worm: skipped {e}");
                match &pb {
                    Some(pb) => pb.suspend(|| eprintln!("{msg}")),
                    None => eprintln!("{msg}"),
                }
            }
            Err(e) => {
                progress::clear(pb);
                return Err(CliError::fatal(format!(
                    "cannot read store '{}': {e}",
                    store.name
                )));
            }
        }
    }
    let flushed = out.flush()?;
    progress::clear(pb);
    if skipped > 0 {
        if flushed == Written::Ok {
            eprintln!(
                "worm: {skipped} batch(es) or record(s) skipped; run `worm verify {}` for details",
                store.name
            );
        }
        return Ok(EXIT_PROBLEMS);
    }
    Ok(EXIT_OK)
}
