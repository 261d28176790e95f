//! Caller cost of one audit event: `WormLayer` into the writer's queue, against
//! `tracing_subscriber::fmt().json()` on a `tracing_appender::non_blocking` writer over
//! `io::sink()`. Same event, same span, same run; both background threads drain to
//! nothing (a null sink and `io::sink()`), and neither side may drop (`Block` and
//! `lossy(false)`), so a slow drain shows up as caller cost on both.

use criterion::{Criterion, criterion_group, criterion_main};
use worm_benches::event::{CallerSubscribers, audit_event, caller_subscribers, request_span};

fn caller(c: &mut Criterion) {
    let mut g = c.benchmark_group("caller");

    let subs = caller_subscribers(None).expect("writer starts");
    for (name, dispatch) in [
        ("worm_layer", &subs.worm),
        ("fmt_json_non_blocking", &subs.fmt),
    ] {
        tracing::dispatcher::with_default(dispatch, || {
            let span = request_span();
            let _e = span.enter();
            let mut n = 0u64;
            g.bench_function(name, |b| {
                b.iter(|| {
                    n += 1;
                    audit_event(n)
                })
            });
        });
    }
    let CallerSubscribers {
        worm_guard,
        fmt_guard,
        ..
    } = subs;
    drop(fmt_guard);
    worm_guard.close_blocking().expect("writer closes");
    g.finish();
}

criterion_group!(benches, caller);
criterion_main!(benches);
