//! `worm serve`: the network front end (worm-serve) over the same store and writer
//! settings as `worm ship`.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Runtime;
use worm_serve::streams::Streams;
use worm_serve::{Ack, Limits, ServeConfig, TlsFiles};

use crate::cli::{AckArg, ServeArgs};
use crate::cmd::ship::{Targets, configure, describe_targets};
use crate::error::{CliError, CliResult, EXIT_OK};
use crate::signals::Stop;

/// Serve until SIGTERM or SIGINT, then drain and close every stream.
pub fn run(rt: &Runtime, a: ServeArgs) -> CliResult<u8> {
    let stop = Stop::install(rt)?;
    let w = a.write;
    let spool = w.spool.clone().ok_or_else(|| {
        CliError::fatal(
            "worm serve needs --spool DIR: a request is acknowledged once its records are in \
             the spool's write-ahead log",
        )
    })?;
    let targets = Targets::open(rt, &w, "worm serve")?;
    let store = targets.first();
    let max_line = usize::try_from(w.max_line_bytes)
        .map_err(|_| CliError::fatal("--max-line-bytes is too large"))?;
    let secs = |flag: &str, v: f64| {
        Duration::try_from_secs_f64(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::fatal(format!("{flag} {v}: expected a positive number of seconds"))
            })
    };
    let grpc = match a.grpc_listen.as_str() {
        "off" | "none" | "" => None,
        s => Some(s.parse().map_err(|e| {
            CliError::fatal(format!(
                "--grpc-listen '{s}': expected HOST:PORT or off ({e})"
            ))
        })?),
    };
    let tokens = a
        .tokens
        .as_deref()
        .map(worm_serve::auth::Tokens::load)
        .transpose()
        .map_err(CliError::fatal)?;
    let cfg = ServeConfig {
        http: Some(a.listen),
        grpc,
        tls: a.tls_cert.zip(a.tls_key).map(|(cert, key)| TlsFiles {
            cert,
            key,
            client_ca: a.client_ca,
        }),
        insecure_plaintext: a.insecure_plaintext,
        tokens,
        ack: match a.ack {
            AckArg::Spool => Ack::Spool,
            AckArg::Stored => Ack::Stored,
        },
        limits: Limits {
            header_timeout: secs("--header-timeout", a.header_timeout)?,
            body_timeout: secs("--body-timeout", a.body_timeout)?,
            idle_timeout: secs("--idle-timeout", a.idle_timeout)?,
            max_connections: a.max_connections.max(1),
            max_body_bytes: a.max_body_bytes.max(1),
            max_records: a.max_records.max(1).min(a.max_backlog_records.max(1)),
            max_services: a.max_services.max(1),
            ..Limits::default()
        },
        max_line_bytes: max_line,
    };
    cfg.check().map_err(CliError::fatal)?;
    // Checked once here; each service's writer skips it.
    configure(
        targets.builder("worm-serve"),
        &w,
        &store.write_prefix,
        max_line,
    )?;
    let prefix = store.write_prefix.clone();
    let name = targets.names().join(",");
    let store_name = store.name.clone();
    let targets = Arc::new(targets);
    let (backlog, spool_bytes) = (a.max_backlog_records.max(1), a.max_spool_bytes.max(1));
    let backlog_bytes = a.max_backlog_bytes.max(1);
    let w = Arc::new(w);
    let open = move |service: &str| {
        let mut b = configure(targets.builder(service), &w, &prefix, max_line)
            .map_err(|e| e.message)?
            .skip_preflight()
            .queue_capacity(backlog)
            // A request that finds either bound full is refused whole with 429.
            .max_queue_bytes(backlog_bytes)
            .max_spool_bytes(spool_bytes);
        if let Some(id) = &w.writer_id {
            // One identity per service: successions are followed per stream.
            b = b.writer_id(format!("{service}@{id}"));
        }
        b.build()
            .map_err(|e| format!("cannot open the stream of service '{service}': {e}"))
    };
    let streams = Streams::new(Box::new(open), cfg.limits.max_services, Some(spool.clone()));
    let recovered = streams.recover().map_err(CliError::fatal)?;
    if !recovered.is_empty() && !a.quiet {
        eprintln!(
            "worm serve: reopened the spooled streams of {} service(s): {}",
            recovered.len(),
            recovered.join(", ")
        );
    }
    let quiet = a.quiet;
    let shutdown = async move {
        while stop.requested().is_none() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let summary = rt
        .block_on(worm_serve::serve(cfg, streams, shutdown, |b| {
            let show =
                |a: Option<std::net::SocketAddr>| a.map_or("off".to_string(), |a| a.to_string());
            // Tests and supervisors read this line for the bound ports.
            eprintln!(
                "worm serve: listening http={} grpc={} store={name}",
                show(b.http),
                show(b.grpc)
            );
        }))
        .map_err(CliError::fatal)?;
    let mut problems = Vec::new();
    for (service, res) in &summary.closed {
        match res {
            Ok(r) => {
                if !quiet {
                    let stats = summary.stats.iter().find(|(s, _)| s == service);
                    let stores = stats.map_or_else(String::new, |(_, st)| {
                        let several = if st.targets.len() > 1 {
                            st.targets.as_slice()
                        } else {
                            &[]
                        };
                        describe_targets(several, st.anchor.as_ref())
                    });
                    eprintln!(
                        "worm serve: service {service}: closed, {} record(s) stored in this \
                         run{stores}",
                        r.records_stored
                    );
                }
            }
            Err(e) => problems.push(format!("service {service}: {e}")),
        }
    }
    if problems.is_empty() {
        Ok(EXIT_OK)
    } else {
        Err(CliError::problems(format!(
            "not every record was stored in '{}': {}",
            store_name,
            problems.join("; ")
        )))
    }
}
