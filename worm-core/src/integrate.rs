//! Integration with `tracing` ([`WormLayer`]) and `log` ([`WormLogger`]).
//!
//! Both turn application events into [`AuditRecord`]s and hand them to an [`AuditLog`].
//! Events emitted by the writer itself (target `worm`, or anything on the writer's own
//! thread, such as HTTP client diagnostics) are never fed back into the audit stream.

use std::cell::Cell;
use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::error::Error;
use crate::pipeline::AuditLog;
use crate::record::{AuditRecord, Level, timestamp};

thread_local! {
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Mark the current thread as the writer's own: events it emits are diagnostics and are
/// never fed back into the audit stream.
pub(crate) fn mark_worker_thread() {
    IN_WORKER.with(|c| c.set(true));
}

/// Whether the current thread is a writer thread.
pub fn on_worker_thread() -> bool {
    IN_WORKER.with(Cell::get)
}

/// Whether a target belongs to worm itself.
fn is_own_target(target: &str) -> bool {
    target == "worm"
        || ["worm::", "worm_core", "worm_s3", "worm_fs", "worm_memory"]
            .iter()
            .any(|p| target.starts_with(p))
}

/// A `tracing_subscriber` layer that stores events as audit records.
///
/// Fields of the event and of its enclosing spans become record fields: `request_id`,
/// `user_id`, `action`, `service_name` and `message` fill the schema's fields, others go
/// to the record's extra fields (inner spans and the event win over outer spans).
///
/// ```
/// use tracing_subscriber::prelude::*;
/// # fn demo(log: worm_core::AuditLog) {
/// let subscriber = tracing_subscriber::registry()
///     .with(worm_core::integrate::WormLayer::new(log).min_level(worm_core::Level::Info));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("request", request_id = "req-1");
///     let _e = span.enter();
///     tracing::info!(user_id = "user123", action = "login", "user logged in");
/// });
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct WormLayer {
    log: AuditLog,
    min_level: Level,
    targets: Option<Vec<String>>,
}

impl WormLayer {
    /// Store every event (level TRACE and above) through `log`.
    pub fn new(log: AuditLog) -> Self {
        WormLayer {
            log,
            min_level: Level::Trace,
            targets: None,
        }
    }

    /// Store only events at `level` or above.
    pub fn min_level(mut self, level: Level) -> Self {
        self.min_level = level;
        self
    }

    /// Store only events whose target starts with one of `prefixes`.
    pub fn targets<I: IntoIterator<Item = S>, S: Into<String>>(mut self, prefixes: I) -> Self {
        self.targets = Some(prefixes.into_iter().map(Into::into).collect());
        self
    }

    fn wants(&self, level: Level, target: &str) -> bool {
        level >= self.min_level
            && !is_own_target(target)
            && self
                .targets
                .as_ref()
                .is_none_or(|t| t.iter().any(|p| target.starts_with(p.as_str())))
            && !on_worker_thread()
    }
}

/// Fields recorded on a span, kept in its extensions.
#[derive(Debug, Default)]
struct SpanFields(Map<String, Value>);

struct FieldVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for FieldVisitor<'_> {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.insert(f.name().into(), Value::String(v.into()));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        // JSON has no NaN or infinity: keep them as strings rather than losing them.
        let value = serde_json::Number::from_f64(v)
            .map_or_else(|| Value::String(v.to_string()), Value::Number);
        self.0.insert(f.name().into(), value);
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        self.0.insert(f.name().into(), v.into());
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.0.insert(f.name().into(), Value::String(v.to_string()));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.0
            .insert(f.name().into(), Value::String(format!("{v:?}")));
    }
}

impl<S> Layer<S> for WormLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = SpanFields::default();
        attrs.record(&mut FieldVisitor(&mut fields.0));
        span.extensions_mut().insert(fields);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanFields>() {
            Some(f) => values.record(&mut FieldVisitor(&mut f.0)),
            None => {
                let mut f = SpanFields::default();
                values.record(&mut FieldVisitor(&mut f.0));
                ext.insert(f);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let level = Level::from(*meta.level());
        if !self.wants(level, meta.target()) {
            return;
        }
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<SpanFields>() {
                    fields.extend(f.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut FieldVisitor(&mut fields));
        let mut rec = AuditRecord::new(level, String::new());
        rec.message = None;
        rec.logger_name = Some(meta.target().to_string());
        rec.module = meta.module_path().map(str::to_string);
        rec.line = meta.line();
        fill(&mut rec, fields);
        submit(&self.log, rec);
    }
}

/// Move schema fields out of `fields` into the record; the rest become extras.
fn fill(rec: &mut AuditRecord, mut fields: Map<String, Value>) {
    let mut take = |name: &str| match fields.remove(name) {
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
        None => None,
    };
    rec.message = take("message").or(rec.message.take());
    if let Some(v) = take("request_id") {
        rec.request_id = Some(v);
    }
    if let Some(v) = take("user_id") {
        rec.user_id = Some(v);
    }
    if let Some(v) = take("action") {
        rec.action = Some(v);
    }
    if let Some(v) = take("service_name") {
        rec.service_name = Some(v);
    }
    if let Some(v) = take("function") {
        rec.function = Some(v);
    }
    rec.extra = fields;
}

/// Hand a record to the writer; a record it refuses is replaced by a
/// `worm.invalid_input` record saying why, so nothing disappears without a trace.
fn submit(log: &AuditLog, rec: AuditRecord) {
    match log.log(rec.clone()) {
        Ok(()) | Err(Error::Overflow { .. }) => {}
        Err(Error::InvalidInput { what, reason }) => {
            let mut line = rec.to_json_line();
            let mut cut = 4096.min(line.len());
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            let mut stub = AuditRecord::new(rec.level, format!("{what} refused: {reason}"))
                .action("worm.invalid_input")
                .field("reason", reason)
                .field("raw_prefix", line);
            stub.timestamp = rec.timestamp;
            stub.request_id = rec.request_id;
            stub.user_id = rec.user_id;
            stub.service_name = rec.service_name;
            if let Err(e) = log.log(stub) {
                eprintln!("worm: audit record refused and could not be recorded: {e}");
            }
        }
        Err(e) => eprintln!("worm: audit record not accepted: {e}"),
    }
}

/// A `log::Log` implementation that stores `log` records as audit records.
///
/// ```
/// # fn demo(audit: worm_core::AuditLog) {
/// let logger = worm_core::integrate::WormLogger::new(audit, log::LevelFilter::Info);
/// log::set_boxed_logger(Box::new(logger)).ok();
/// log::set_max_level(log::LevelFilter::Info);
/// log::info!(target: "auth", "user logged in");
/// # }
/// ```
#[derive(Debug)]
pub struct WormLogger {
    log: AuditLog,
    level: log::LevelFilter,
}

impl WormLogger {
    /// Store records at `level` and above through `log`.
    pub fn new(log: AuditLog, level: log::LevelFilter) -> Self {
        WormLogger { log, level }
    }
}

impl log::Log for WormLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level && !is_own_target(m.target()) && !on_worker_thread()
    }

    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let mut rec = AuditRecord::new(r.level().into(), r.args().to_string());
        rec.timestamp = timestamp::now();
        rec.logger_name = Some(r.target().to_string());
        rec.module = r.module_path().map(str::to_string);
        rec.line = r.line();
        submit(&self.log, rec);
    }

    fn flush(&self) {
        if let Err(e) = self
            .log
            .flush_blocking(Some(std::time::Duration::from_secs(30)))
        {
            eprintln!("worm: flushing audit records failed: {e}");
        }
    }
}
