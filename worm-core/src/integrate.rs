//! Integration with `tracing` ([`WormLayer`]) and `log` ([`WormLogger`]).
//!
//! Both turn application events into [`AuditRecord`]s and hand them to an [`AuditLog`].
//! Events emitted by the writer itself (target `worm`, or anything on the writer's own
//! thread, such as HTTP client diagnostics) are never fed back into the audit stream.

use std::cell::Cell;
use std::fmt;

use smallvec::SmallVec;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use crate::error::Error;
use crate::pipeline::AuditLog;
use crate::record::{AuditRecord, Extra, FieldRef, Level, RecordView, decimal, timestamp};

thread_local! {
    static IN_WORKER: Cell<bool> = const { Cell::new(false) };
}

/// Mark the current thread as the writer's own: events it emits are diagnostics and are
/// never fed back into the audit stream.
pub(crate) fn mark_worker_thread() {
    IN_WORKER.with(|c| c.set(true));
}

/// Whether the current thread is a writer thread.
pub(crate) fn on_worker_thread() -> bool {
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

/// A field value as recorded on a span.
#[derive(Debug, Clone, PartialEq)]
enum OwnedField {
    Str(String),
    Json(String),
}

impl OwnedField {
    fn as_ref(&self) -> FieldRef<'_> {
        match self {
            OwnedField::Str(s) => FieldRef::Str(s),
            OwnedField::Json(s) => FieldRef::Json(s),
        }
    }
}

/// Put `value` under `name`: a name already present keeps its place and takes the new
/// value, as inserting into a JSON map does (inner spans and the event win).
fn set<'a, V>(fields: &mut Vec<(&'a str, V)>, name: &'a str, value: V) {
    match fields.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = value,
        None => fields.push((name, value)),
    }
}

/// Which of the fields the record's schema takes out of an event's `name` is, numbered
/// in the order they are taken.
fn schema_slot(name: &str) -> Option<usize> {
    match name {
        "message" => Some(0),
        "request_id" => Some(1),
        "user_id" => Some(2),
        "action" => Some(3),
        "service_name" => Some(4),
        "function" => Some(5),
        _ => None,
    }
}

/// An event's fields and its spans', on the stack, with where the schema's fields sit
/// so that taking them out needs no search.
#[derive(Default)]
struct FieldList<'a> {
    fields: SmallVec<[(&'a str, FieldRef<'a>); 16]>,
    schema: [Option<usize>; 6],
}

impl<'a> FieldList<'a> {
    /// [`set`]: a name already present keeps its place and takes the new value.
    fn set(&mut self, name: &'a str, value: FieldRef<'a>) {
        let at = match schema_slot(name) {
            Some(k) => &mut self.schema[k],
            None => {
                match self.fields.iter_mut().find(|(n, _)| *n == name) {
                    Some(slot) => slot.1 = value,
                    None => self.fields.push((name, value)),
                }
                return;
            }
        };
        match *at {
            Some(i) => self.fields[i].1 = value,
            None => {
                *at = Some(self.fields.len());
                self.fields.push((name, value));
            }
        }
    }

    /// Take the schema's fields out, in [`schema_slot`]'s order, each by `swap_remove` as
    /// `serde_json::Map::remove` does with `preserve_order`: the extras keep the order
    /// records have always had.
    /// Returns the schema's fields; the extras stay in `fields`.
    fn take_schema(&mut self) -> [Option<&'a str>; 6] {
        let mut out = [None; 6];
        for (k, taken) in out.iter_mut().enumerate() {
            let Some(i) = self.schema[k].take() else {
                continue;
            };
            let last = self.fields.len() - 1;
            *taken = Some(self.fields.swap_remove(i).1.text());
            // The last field moved into the hole: if it is a schema field, follow it.
            if let Some(moved) = self.schema.iter_mut().find(|p| **p == Some(last)) {
                *moved = Some(i);
            }
        }
        out
    }
}

/// Where [`FieldVisitor`] puts the values it converts.
trait Fields {
    fn put(&mut self, name: &'static str, value: FieldRef<'_>);
    fn put_debug(&mut self, name: &'static str, value: &dyn fmt::Debug);
}

/// Fields recorded on a span, kept in its extensions, already converted to what the
/// record will hold: an event only borrows them, it does not copy them.
#[derive(Debug, Default)]
struct SpanFields(Vec<(&'static str, OwnedField)>);

impl Fields for SpanFields {
    fn put(&mut self, name: &'static str, value: FieldRef<'_>) {
        let owned = match value {
            FieldRef::Str(s) => OwnedField::Str(s.into()),
            FieldRef::Json(s) => OwnedField::Json(s.into()),
        };
        set(&mut self.0, name, owned);
    }
    fn put_debug(&mut self, name: &'static str, value: &dyn fmt::Debug) {
        set(&mut self.0, name, OwnedField::Str(format!("{value:?}")));
    }
}

thread_local! {
    /// The last event's field buffers, reused by the next event on this thread.
    static OWN: std::cell::Cell<EventFields> = std::cell::Cell::new(EventFields::default());
}

/// An event's own fields: values in one text buffer, so that formatting the message and
/// the other `Debug` values costs no allocation of its own.
#[derive(Debug, Default)]
struct EventFields {
    text: String,
    fields: Vec<(&'static str, std::ops::Range<usize>, bool)>,
}

impl EventFields {
    fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, FieldRef<'_>)> {
        self.fields.iter().map(|(name, range, json)| {
            let v = &self.text[range.clone()];
            (
                *name,
                if *json {
                    FieldRef::Json(v)
                } else {
                    FieldRef::Str(v)
                },
            )
        })
    }
}

impl Fields for EventFields {
    fn put(&mut self, name: &'static str, value: FieldRef<'_>) {
        let start = self.text.len();
        self.text.push_str(value.text());
        let json = matches!(value, FieldRef::Json(_));
        self.fields.push((name, start..self.text.len(), json));
    }
    fn put_debug(&mut self, name: &'static str, value: &dyn fmt::Debug) {
        use std::fmt::Write;
        let start = self.text.len();
        // Writing into a String only fails if `value`'s Debug does; keep what it wrote.
        let _ = write!(self.text, "{value:?}");
        self.fields.push((name, start..self.text.len(), false));
    }
}

/// Converts tracing values the way the record stores them: strings as strings, numbers and
/// booleans as JSON, non-finite floats, errors and `Debug` values as strings.
struct FieldVisitor<'a, F>(&'a mut F);

/// JSON text of a float, on the stack.
fn with_json<T: serde::Serialize>(v: &T, f: impl FnOnce(&str)) {
    let mut buf = [0u8; 40];
    let mut cur = std::io::Cursor::new(&mut buf[..]);
    // i64, u64 and finite f64 need at most 24 bytes: this cannot fail.
    if serde_json::to_writer(&mut cur, v).is_ok() {
        let n = cur.position() as usize;
        if let Ok(s) = std::str::from_utf8(&buf[..n]) {
            f(s);
        }
    }
}

impl<F: Fields> Visit for FieldVisitor<'_, F> {
    fn record_str(&mut self, f: &Field, v: &str) {
        self.0.put(f.name(), FieldRef::Str(v));
    }
    fn record_i64(&mut self, f: &Field, v: i64) {
        let mut buf = [0; 21];
        let text = decimal(v < 0, v.unsigned_abs(), &mut buf);
        self.0.put(f.name(), FieldRef::Json(text));
    }
    fn record_u64(&mut self, f: &Field, v: u64) {
        let mut buf = [0; 21];
        let text = decimal(false, v, &mut buf);
        self.0.put(f.name(), FieldRef::Json(text));
    }
    fn record_f64(&mut self, f: &Field, v: f64) {
        // JSON has no NaN or infinity: keep them as strings rather than losing them.
        if v.is_finite() {
            with_json(&v, |s| self.0.put(f.name(), FieldRef::Json(s)));
        } else {
            self.0.put(f.name(), FieldRef::Str(&v.to_string()));
        }
    }
    fn record_bool(&mut self, f: &Field, v: bool) {
        let s = if v { "true" } else { "false" };
        self.0.put(f.name(), FieldRef::Json(s));
    }
    fn record_error(&mut self, f: &Field, v: &(dyn std::error::Error + 'static)) {
        self.0.put(f.name(), FieldRef::Str(&v.to_string()));
    }
    fn record_debug(&mut self, f: &Field, v: &dyn fmt::Debug) {
        self.0.put_debug(f.name(), v);
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
        attrs.record(&mut FieldVisitor(&mut fields));
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
            Some(f) => values.record(&mut FieldVisitor(f)),
            None => {
                let mut f = SpanFields::default();
                values.record(&mut FieldVisitor(&mut f));
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
        let timestamp = timestamp::now();
        // The event's own fields go into this thread's reused buffers, and the lists
        // below live on the stack: a call allocates nothing but the queued line.
        let mut own = OWN.take();
        own.clear();
        event.record(&mut FieldVisitor(&mut own));
        // The spans' fields are borrowed in place: every span's extensions stay
        // read-locked until the record is serialised. The scope runs from the leaf.
        let mut spans: SmallVec<[_; 4]> = SmallVec::new();
        if let Some(scope) = ctx.event_scope(event) {
            spans.extend(scope);
        }
        let extensions: SmallVec<[_; 4]> = spans.iter().rev().map(|s| s.extensions()).collect();
        let mut list = FieldList::default();
        for ext in &extensions {
            if let Some(f) = ext.get::<SpanFields>() {
                for (name, value) in &f.0 {
                    list.set(name, value.as_ref());
                }
            }
        }
        for (name, value) in own.iter() {
            list.set(name, value);
        }
        let [message, request_id, user_id, action, service_name, function] = list.take_schema();
        let view = RecordView {
            timestamp,
            level,
            service_name,
            request_id,
            user_id,
            action,
            message,
            logger_name: Some(meta.target()),
            module: meta.module_path(),
            function,
            line: meta.line(),
            extra: Extra::Fields(&list.fields),
        };
        submit(&self.log, &view);
        drop(list);
        OWN.set(own);
    }
}

/// Hand a record to the writer; a record it refuses is replaced by a
/// `worm.invalid_input` record saying why, so nothing disappears without a trace.
fn submit(log: &AuditLog, rec: &RecordView<'_>) {
    match log.log_view(rec) {
        Ok(()) | Err(Error::Overflow { .. }) => {}
        Err(Error::InvalidInput { what, reason }) => {
            let mut raw = Vec::new();
            rec.write_json(&mut raw);
            let mut line = String::from_utf8_lossy(&raw).into_owned();
            // Keep the stub well inside the record limit that refused the original.
            let room = log.config().max_record_bytes.saturating_sub(1024) / 2;
            let mut cut = room.min(4096).min(line.len());
            while !line.is_char_boundary(cut) {
                cut -= 1;
            }
            line.truncate(cut);
            let mut stub = AuditRecord::new(rec.level, format!("{what} refused: {reason}"))
                .action("worm.invalid_input")
                .field("reason", reason)
                .field("raw_prefix", line);
            stub.timestamp = rec.timestamp;
            stub.request_id = rec.request_id.map(Into::into);
            stub.user_id = rec.user_id.map(Into::into);
            stub.service_name = rec.service_name.map(Into::into);
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
        submit(&self.log, &rec.view());
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

#[cfg(test)]
mod tests;
