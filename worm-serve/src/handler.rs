//! The endpoints, and what each reply means.
//!
//! | endpoint | success | refused |
//! |---|---|---|
//! | `POST /v1/logs` (OTLP/HTTP, protobuf or JSON, gzip) | 200 + `ExportLogsServiceResponse` (`partial_success` for records the writer refused) | 400 malformed, 401 no or unknown token, 403 a service the token may not write, 408 body too slow, 413 too large (gzip bomb included), 415 media type or encoding, 429 + `Retry-After` backlog full, 503 + `Retry-After` shutting down |
//! | `LogsService/Export` (OTLP/gRPC, gzip; tonic's codec) | OK | `INVALID_ARGUMENT` (`INTERNAL` for a broken frame), `UNAUTHENTICATED`, `PERMISSION_DENIED`, `RESOURCE_EXHAUSTED` (with RetryInfo: backlog full; without: too large), `UNIMPLEMENTED`, `UNAVAILABLE` |
//! | `POST /v1/audit` (NDJSON, gzip) | 200 + `{"accepted","invalid","empty","refused"}` | as `/v1/logs` |
//! | `GET /healthz`, `/readyz`, `/metrics` | 200 | `/readyz` 503 while shutting down |
//!
//! A request is taken whole or not at all (429 logs nothing), so a client that retries a
//! refused request does not duplicate records.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use prost::Message;
use tonic::Code;
use worm_core::input::{self, Parsed};

use crate::auth::Scope;
use crate::body::{self, BodyError};
use crate::grpc::{self, Body};
use crate::metrics::Metrics;
use crate::otlp::{json, map, proto};
use crate::streams::{Item, Refusal, Streams, valid_service};
use crate::{Ack, ServeConfig};

/// The server's shared state.
pub struct App {
    /// Settings.
    pub cfg: ServeConfig,
    /// The streams.
    pub streams: Streams,
    /// Counters.
    pub metrics: Metrics,
    /// Set when shutdown begins: `/readyz` fails, new requests get 503.
    pub closing: AtomicBool,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("cfg", &self.cfg).finish()
    }
}

/// Why a request was refused, and what the client is told.
#[derive(Debug)]
pub enum Failure {
    /// 400 / INVALID_ARGUMENT.
    Bad(String),
    /// 401 / UNAUTHENTICATED.
    Unauthenticated,
    /// 403 / PERMISSION_DENIED.
    Forbidden(String),
    /// 408 / DEADLINE_EXCEEDED-like (INVALID_ARGUMENT).
    Timeout(String),
    /// 413 / RESOURCE_EXHAUSTED without RetryInfo.
    TooLarge(String),
    /// 415 / UNIMPLEMENTED.
    Unsupported(String),
    /// 429 + Retry-After / RESOURCE_EXHAUSTED + RetryInfo.
    Full(String),
    /// 503 + Retry-After / UNAVAILABLE.
    Unavailable(String),
}

impl Failure {
    fn http(&self) -> StatusCode {
        match self {
            Failure::Bad(_) => StatusCode::BAD_REQUEST,
            Failure::Unauthenticated => StatusCode::UNAUTHORIZED,
            Failure::Forbidden(_) => StatusCode::FORBIDDEN,
            Failure::Timeout(_) => StatusCode::REQUEST_TIMEOUT,
            Failure::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Unsupported(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Failure::Full(_) => StatusCode::TOO_MANY_REQUESTS,
            Failure::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn grpc(&self) -> Code {
        match self {
            Failure::Bad(_) | Failure::Timeout(_) => Code::InvalidArgument,
            Failure::Unauthenticated => Code::Unauthenticated,
            Failure::Forbidden(_) => Code::PermissionDenied,
            Failure::TooLarge(_) | Failure::Full(_) => Code::ResourceExhausted,
            Failure::Unsupported(_) => Code::Unimplemented,
            Failure::Unavailable(_) => Code::Unavailable,
        }
    }

    /// The gRPC status: RetryInfo where a retry helps.
    fn status(&self, app: &App) -> tonic::Status {
        let retry = self.retry().then_some(app.cfg.limits.retry_after_secs);
        grpc::status(self.grpc(), &self.message(), retry)
    }

    fn message(&self) -> String {
        match self {
            Failure::Unauthenticated => {
                "a bearer token is required (Authorization: Bearer TOKEN), and this one is not known"
                    .into()
            }
            Failure::Bad(m)
            | Failure::Forbidden(m)
            | Failure::Timeout(m)
            | Failure::TooLarge(m)
            | Failure::Unsupported(m)
            | Failure::Full(m)
            | Failure::Unavailable(m) => m.clone(),
        }
    }

    fn retry(&self) -> bool {
        matches!(self, Failure::Full(_) | Failure::Unavailable(_))
    }
}

impl From<BodyError> for Failure {
    fn from(e: BodyError) -> Self {
        match e {
            BodyError::TooLarge(m) => Failure::TooLarge(m),
            BodyError::Timeout(d) => Failure::Timeout(format!(
                "the body did not arrive within {} s (--body-timeout)",
                d.as_secs_f64()
            )),
            BodyError::Bad(m) => Failure::Bad(m),
            BodyError::Unsupported(m) => Failure::Unsupported(m),
        }
    }
}

/// What an accepted request came to.
#[derive(Debug, Default)]
struct Outcome {
    accepted: u64,
    invalid: u64,
    refused: Vec<String>,
}

/// Answer one request.
pub async fn handle(app: Arc<App>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let path = req.uri().path().to_string();
    let (endpoint, resp) = match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => ("healthz", text(StatusCode::OK, "ok\n")),
        (&Method::GET, "/readyz") => (
            "readyz",
            if app.closing.load(Relaxed) {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            } else {
                text(StatusCode::OK, "ready\n")
            },
        ),
        (&Method::GET, "/metrics") => {
            let mut r = text(StatusCode::OK, &app.metrics.render(&app.streams.stats()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            ("metrics", r)
        }
        (&Method::POST, "/v1/logs") => ("otlp_http", otlp_http(&app, req).await),
        (&Method::POST, grpc::EXPORT_PATH) => ("otlp_grpc", otlp_grpc(app.clone(), req).await),
        (&Method::POST, "/v1/audit") => ("ndjson", ndjson(&app, req).await),
        (_, "/healthz" | "/readyz" | "/metrics" | "/v1/logs" | "/v1/audit" | grpc::EXPORT_PATH) => {
            (
                "other",
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n"),
            )
        }
        _ => (
            "other",
            text(
                StatusCode::NOT_FOUND,
                "not found: try POST /v1/logs, POST /v1/audit, GET /metrics\n",
            ),
        ),
    };
    app.metrics.request(endpoint, resp.status().as_u16());
    Ok(resp)
}

/// A response body of `data`.
fn full(data: impl Into<Bytes>) -> Body {
    Body::new(Full::new(data.into()))
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(full(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// The caller's scope: anything without `--tokens`, else its token's.
fn authorize(app: &App, headers: &HeaderMap) -> Result<Scope, Failure> {
    match &app.cfg.tokens {
        None => Ok(Scope::Any),
        Some(t) => t
            .check(
                headers
                    .get(header::AUTHORIZATION)
                    .map(HeaderValue::as_bytes),
            )
            .ok_or(Failure::Unauthenticated),
    }
}

/// Read and decompress the body within the limits.
async fn read_body(app: &App, req: Request<Incoming>) -> Result<(HeaderMap, Bytes), Failure> {
    let (parts, body) = req.into_parts();
    let max = app.cfg.limits.max_body_bytes;
    let data = body::read(body, max, app.cfg.limits.body_timeout).await?;
    let enc = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("(not text)"));
    let data = body::decode(enc, data, max)?;
    Ok((parts.headers, data))
}

/// Check and log a request's records; acknowledge per `--ack`.
async fn ingest(
    app: &App,
    scope: &Scope,
    items: Vec<Item>,
    protocol: &'static str,
) -> Result<Outcome, Failure> {
    let m = &app.metrics;
    m.received(protocol, items.len() as u64);
    let refuse = |f: Failure| {
        m.refused.fetch_add(items.len() as u64, Relaxed);
        Err(f)
    };
    if app.closing.load(Relaxed) {
        return refuse(Failure::Unavailable("the server is shutting down".into()));
    }
    let max = app.cfg.limits.max_records;
    if items.len() > max {
        return refuse(Failure::TooLarge(format!(
            "{} records in one request, over the limit of {max} (--max-records)",
            items.len()
        )));
    }
    let mut checked = None;
    for it in &items {
        let service = it.service();
        // Records of one service come together: each name is checked once.
        if checked == Some(service) {
            continue;
        }
        if !valid_service(service) {
            return refuse(Failure::Bad(format!(
                "service name '{}' cannot name a stream (1 to 128 of A-Z a-z 0-9 . _ -)",
                service.chars().take(200).collect::<String>()
            )));
        }
        if !scope.allows(service) {
            return refuse(Failure::Forbidden(format!(
                "this token may not write service '{service}'"
            )));
        }
        checked = Some(service);
    }
    let n = items.len() as u64;
    let logged = match app.streams.log_all(items).await {
        Ok(l) => l,
        Err(r) => {
            m.refused.fetch_add(n, Relaxed);
            return Err(match r {
                Refusal::Full { service } => Failure::Full(format!(
                    "the backlog of service '{service}' is full (the store is behind); retry later"
                )),
                Refusal::TooManyServices(max) => Failure::Unavailable(format!(
                    "{max} services already have a stream (--max-services)"
                )),
                Refusal::Open(e) => Failure::Unavailable(format!("cannot open the stream: {e}")),
                Refusal::Closing => Failure::Unavailable("the server is shutting down".into()),
            });
        }
    };
    m.accepted.fetch_add(logged.accepted, Relaxed);
    m.refused.fetch_add(logged.refused.len() as u64, Relaxed);
    m.invalid.fetch_add(logged.invalid, Relaxed);
    if app.cfg.ack == Ack::Stored {
        app.streams.flush(&logged.services).await.map_err(|e| {
            Failure::Unavailable(format!(
                "the records are in the spool but not yet stored (--ack stored): {e}"
            ))
        })?;
    }
    Ok(Outcome {
        accepted: logged.accepted,
        invalid: logged.invalid,
        refused: logged.refused,
    })
}

fn partial(o: &Outcome) -> proto::ExportLogsServiceResponse {
    proto::ExportLogsServiceResponse {
        partial_success: (!o.refused.is_empty()).then(|| proto::ExportLogsPartialSuccess {
            rejected_log_records: o.refused.len() as i64,
            error_message: summarize(&o.refused),
        }),
    }
}

/// The first refusal and how many more.
fn summarize(refused: &[String]) -> String {
    match refused {
        [] => String::new(),
        [one] => one.clone(),
        [first, rest @ ..] => format!("{first} (and {} more)", rest.len()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

async fn otlp_http(app: &App, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let enc = match ct.as_str() {
        "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
        "application/json" => Encoding::Json,
        other => {
            return http_failure(
                Encoding::Json,
                &Failure::Unsupported(format!(
                    "content type '{other}': expected application/x-protobuf or application/json"
                )),
                app,
            );
        }
    };
    let res = async {
        let scope = authorize(app, req.headers())?;
        let (_, data) = read_body(app, req).await?;
        let decoded = match enc {
            // From a slice: cheaper for prost than through `Bytes`' `Buf`.
            Encoding::Protobuf => {
                proto::ExportLogsServiceRequest::decode(&data[..]).map_err(|e| {
                    Failure::Bad(format!(
                        "not a valid OTLP protobuf ExportLogsServiceRequest: {e}"
                    ))
                })?
            }
            Encoding::Json => json::decode_request(&data).map_err(|e| {
                Failure::Bad(format!(
                    "not a valid OTLP/JSON ExportLogsServiceRequest: {e}"
                ))
            })?,
        };
        ingest(app, &scope, otlp_items(decoded), "otlp_http").await
    }
    .await;
    match res {
        Ok(o) => {
            app.metrics.ack(started.elapsed());
            let reply = partial(&o);
            let (body, ct) = match enc {
                Encoding::Protobuf => (reply.encode_to_vec(), "application/x-protobuf"),
                Encoding::Json => (partial_json(&reply).into_bytes(), "application/json"),
            };
            let mut r = Response::new(full(body));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            r
        }
        Err(f) => http_failure(enc, &f, app),
    }
}

fn otlp_items(req: proto::ExportLogsServiceRequest) -> Vec<Item> {
    map::split_request(req)
        .into_iter()
        .map(Item::Otlp)
        .collect()
}

/// The reply in OTLP/JSON. Written here rather than with opentelemetry-proto's serde,
/// which writes `"partialSuccess":null` when unset (OTLP wants it absent: `{}`) and the
/// int64 `rejectedLogRecords` as a number (the JSON mapping writes 64-bit integers as
/// strings).
fn partial_json(r: &proto::ExportLogsServiceResponse) -> String {
    match &r.partial_success {
        None => "{}".into(),
        Some(p) => serde_json::json!({"partialSuccess": {
            "rejectedLogRecords": p.rejected_log_records.to_string(),
            "errorMessage": p.error_message,
        }})
        .to_string(),
    }
}

/// An OTLP/HTTP error: the status, `Retry-After` where a retry helps, and a
/// `google.rpc.Status` body in the request's encoding.
fn http_failure(enc: Encoding, f: &Failure, app: &App) -> Response<Body> {
    let msg = f.message();
    let st = grpc::rpc_status(f.grpc(), &msg);
    let (body, ct) = match enc {
        Encoding::Protobuf => (st.encode_to_vec(), "application/x-protobuf"),
        Encoding::Json => (
            serde_json::json!({"code": st.code, "message": st.message})
                .to_string()
                .into_bytes(),
            "application/json",
        ),
    };
    let mut r = Response::new(full(body));
    *r.status_mut() = f.http();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    add_retry_after(&mut r, f, app);
    r
}

fn add_retry_after(r: &mut Response<Body>, f: &Failure, app: &App) {
    if f.retry() {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(app.cfg.limits.retry_after_secs),
        );
    }
}

async fn otlp_grpc(app: Arc<App>, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let is_grpc = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !is_grpc {
        let mut r = text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected content-type application/grpc\n",
        );
        r.headers_mut()
            .insert(header::ACCEPT, HeaderValue::from_static("application/grpc"));
        return r;
    }
    // The token, then the body within the limits (the frame's 5 bytes on top), as for
    // HTTP; tonic then takes the frame apart.
    let scope = match authorize(&app, req.headers()) {
        Ok(s) => s,
        Err(f) => return f.status(&app).into_http(),
    };
    let max = app.cfg.limits.max_body_bytes;
    let (parts, body) = req.into_parts();
    let data = match body::read(body, max + 5, app.cfg.limits.body_timeout).await {
        Ok(d) => d,
        Err(e) => return Failure::from(e).status(&app).into_http(),
    };
    grpc::unary(
        Request::from_parts(parts, data),
        max,
        move |msg| async move {
            match ingest(&app, &scope, otlp_items(msg), "otlp_grpc").await {
                Ok(o) => {
                    app.metrics.ack(started.elapsed());
                    Ok(partial(&o))
                }
                Err(f) => Err(f.status(&app)),
            }
        },
    )
    .await
}

async fn ndjson(app: &App, req: Request<Incoming>) -> Response<Body> {
    let started = Instant::now();
    let res = async {
        let scope = authorize(app, req.headers())?;
        let default = query_service(req.uri().query())
            .or_else(|| scope.only().map(str::to_string))
            .unwrap_or_else(|| map::UNKNOWN_SERVICE.to_string());
        let (_, data) = read_body(app, req).await?;
        let max_line = app.cfg.max_line_bytes;
        let mut items = Vec::new();
        let (mut invalid, mut empty) = (0u64, 0u64);
        input::parse_ndjson(&data, max_line, |line, parsed| match parsed {
            Parsed::Empty => empty += 1,
            Parsed::Record(r) => items.push(Item::Audit {
                service: r.service_name.clone().unwrap_or_else(|| default.clone()),
                record: *r,
                line: Some(line.clone()),
            }),
            Parsed::Invalid(r) => {
                invalid += 1;
                items.push(Item::Audit {
                    service: default.clone(),
                    record: *r,
                    line: None,
                })
            }
        });
        app.metrics.empty.fetch_add(empty, Relaxed);
        let mut o = ingest(app, &scope, items, "ndjson").await?;
        app.metrics.invalid.fetch_add(invalid, Relaxed);
        o.invalid += invalid;
        Ok::<_, Failure>((o, empty))
    }
    .await;
    match res {
        Ok((o, empty)) => {
            app.metrics.ack(started.elapsed());
            let body = serde_json::json!({
                "accepted": o.accepted,
                "invalid": o.invalid,
                "empty": empty,
                "refused": o.refused.len(),
                "error": summarize(&o.refused),
            });
            let mut r = Response::new(full(body.to_string().into_bytes()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Err(f) => http_failure(Encoding::Json, &f, app),
    }
}

/// `service=NAME` from a query string (no percent-decoding: service names need none).
fn query_service(q: Option<&str>) -> Option<String> {
    q?.split('&')
        .find_map(|kv| kv.strip_prefix("service="))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}
