//! The layer's records against the JSON map based implementation it replaced (kept here
//! as the reference): same events, same lines, byte for byte.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use serde_json::{Map, Value};
use tracing_subscriber::prelude::*;

use super::*;
use crate::error::Result;
use crate::hash::Sha256Hex;
use crate::pipeline::AuditLogBuilder;
use crate::sink::{Capabilities, ObjectInfo, PutOptions, PutReceipt, StoredObject, WormSink};

/// Keeps every body put, in order.
#[derive(Debug, Default)]
struct Bodies(Mutex<Vec<Bytes>>);

#[async_trait]
impl WormSink for Bodies {
    async fn put(&self, key: &str, body: Bytes, _: &PutOptions) -> Result<PutReceipt> {
        let size = body.len() as u64;
        self.0.lock().unwrap().push(body);
        Ok(PutReceipt {
            key: key.into(),
            version_id: None,
            sha256: Sha256Hex([0; 32]),
            size,
        })
    }
    async fn get(&self, key: &str) -> Result<StoredObject> {
        Err(Error::NotFound {
            key: key.into(),
            target: "bodies:".into(),
        })
    }
    fn list<'a>(&'a self, _: &'a str) -> BoxStream<'a, Result<ObjectInfo>> {
        Box::pin(futures::stream::empty())
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::NONE
    }
    fn describe(&self) -> String {
        "bodies:".into()
    }
}

/// The previous implementation: fields into a JSON map, an `AuditRecord`, serde.
struct Reference {
    service: String,
    lines: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct RefSpanFields(Map<String, Value>);

struct RefVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for RefVisitor<'_> {
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

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Reference {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let span = ctx.span(id).unwrap();
        let mut fields = RefSpanFields::default();
        attrs.record(&mut RefVisitor(&mut fields.0));
        span.extensions_mut().insert(fields);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        ctx: Context<'_, S>,
    ) {
        let span = ctx.span(id).unwrap();
        let mut ext = span.extensions_mut();
        let f = ext.get_mut::<RefSpanFields>().unwrap();
        values.record(&mut RefVisitor(&mut f.0));
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(f) = span.extensions().get::<RefSpanFields>() {
                    fields.extend(f.0.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
            }
        }
        event.record(&mut RefVisitor(&mut fields));
        let mut rec = AuditRecord::new(Level::from(*meta.level()), String::new());
        rec.message = None;
        rec.logger_name = Some(meta.target().to_string());
        rec.module = meta.module_path().map(str::to_string);
        rec.line = meta.line();
        let mut take = |name: &str| match fields.remove(name) {
            Some(Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        rec.message = take("message").or(rec.message.take());
        rec.request_id = take("request_id");
        rec.user_id = take("user_id");
        rec.action = take("action");
        rec.service_name = take("service_name").or(Some(self.service.clone()));
        rec.function = take("function");
        rec.extra = fields;
        self.lines
            .lock()
            .unwrap()
            .push(serde_json::to_string(&rec).unwrap());
    }
}

#[derive(Debug)]
struct Oops;
impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oops \"quoted\"")
    }
}
impl std::error::Error for Oops {}

fn events() {
    let outer = tracing::info_span!(
        "request",
        request_id = "req-1",
        camera_id = "cam001",
        zone = 7u64,
        pending = tracing::field::Empty
    );
    let _o = outer.enter();
    outer.record("pending", true);
    outer.record("zone", 8u64);
    tracing::info!(
        target: "app",
        user_id = "user123",
        action = "motion_detected",
        confidence = 0.92,
        detection_count = 3u64,
        n = 1,
        "Motion detected in camera cam001"
    );
    let inner = tracing::warn_span!("inner", camera_id = "cam002", user_id = 42i64);
    let _i = inner.enter();
    tracing::warn!(
        target: "app",
        a = 1,
        b = -2i64,
        c = f64::NAN,
        d = f64::INFINITY,
        e = 1e300,
        f = false,
        g = ?vec![1, 2],
        h = %"display \u{0}\n",
        err = &Oops as &(dyn std::error::Error + 'static),
        function = "process_frame",
        service_name = "other_service",
        level = "quirk: stays an extra",
        "with {} args",
        "format"
    );
    tracing::error!(
        target: "app",
        action = 5u64,
        request_id = true,
        "schema fields from non-strings"
    );
    // Schema fields between extras, one of them last: the extras' order after each
    // schema field leaves the list is the map's.
    tracing::info!(
        target: "app",
        x = 1u64,
        action = "a",
        y = 2u64,
        user_id = "u",
        z = 3u64,
        function = "f",
        w = 4u64,
        service_name = "s",
        "m"
    );
    tracing::info!(target: "app", camera_id = "cam003");
    tracing::info!(target: "app", message = "explicit message field", zone = 9u64);
    tracing::debug!(target: "app", u = u64::MAX, i = i64::MIN, "édge 😀 \u{2028}");
}

#[test]
fn lines_match_the_map_based_layer() {
    let sink = Arc::new(Bodies::default());
    let (log, guard) = AuditLogBuilder::new(sink.clone(), "svc").build().unwrap();
    let expected = Arc::new(Mutex::new(Vec::new()));
    let subscriber = tracing_subscriber::registry()
        .with(WormLayer::new(log))
        .with(Reference {
            service: "svc".into(),
            lines: expected.clone(),
        });
    tracing::subscriber::with_default(subscriber, events);
    guard.close_blocking().unwrap();

    let bodies = sink.0.lock().unwrap();
    let got: Vec<String> = bodies
        .iter()
        .flat_map(|b| {
            let text = std::str::from_utf8(b).unwrap().to_string();
            let lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines[1..lines.len() - 1].to_vec()
        })
        .collect();
    let expected = expected.lock().unwrap();
    assert_eq!(got.len(), 7, "{got:#?}\n{expected:#?}");
    assert_eq!(got.len(), expected.len());
    // The two layers stamp their own time: compare what follows the timestamp.
    let rest = |l: &str| l[l.find("\",\"level\"").unwrap()..].to_string();
    for (g, e) in got.iter().zip(expected.iter()) {
        assert_eq!(rest(g), rest(e));
        assert_eq!(g.find("\",\"level\""), e.find("\",\"level\""));
    }
    assert!(got[1].contains(r#""level":"WARN""#), "{}", got[1]);
}
