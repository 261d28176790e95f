//! Caller cost of one audit event: `WormLayer` into the writer's queue, against
//! `tracing_subscriber::fmt().json()` on a `tracing_appender::non_blocking` writer over
//! `io::sink()`. Same event, same span, same run; both background threads drain to
//! nothing (a null sink and `io::sink()`), and neither side may drop (`Block` and
//! `lossy(false)`), so a slow drain shows up as caller cost on both.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use tracing_subscriber::prelude::*;
use worm_benches::event::{SERVICE, audit_event, request_span};
use worm_benches::sinks::NullSink;
use worm_core::integrate::WormLayer;
use worm_core::pipeline::AuditLogBuilder;

fn caller(c: &mut Criterion) {
    let mut g = c.benchmark_group("caller");

    let sink = Arc::new(NullSink::default());
    let (log, guard) = AuditLogBuilder::new(sink, SERVICE)
        .build()
        .expect("writer starts");
    let worm = tracing::Dispatch::new(tracing_subscriber::registry().with(WormLayer::new(log)));
    tracing::dispatcher::with_default(&worm, || {
        let span = request_span();
        let _e = span.enter();
        let mut n = 0u64;
        g.bench_function("worm_layer", |b| {
            b.iter(|| {
                n += 1;
                audit_event(n)
            })
        });
    });
    guard.close_blocking().expect("writer closes");

    let (writer, wguard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::sink());
    let fmt = tracing::Dispatch::new(
        tracing_subscriber::fmt()
            .json()
            .with_writer(writer)
            .finish(),
    );
    tracing::dispatcher::with_default(&fmt, || {
        let span = request_span();
        let _e = span.enter();
        let mut n = 0u64;
        g.bench_function("fmt_json_non_blocking", |b| {
            b.iter(|| {
                n += 1;
                audit_event(n)
            })
        });
    });
    drop(wguard);
    g.finish();
}

criterion_group!(benches, caller);
criterion_main!(benches);
