//! gRPC's framing for the one unary method served (`LogsService/Export`): the
//! length-prefixed message in, the reply message and the `grpc-status` trailers out.
//! Errors go back as trailers-only responses.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Response};
use hyper::body::Frame;
use prost::Message;

use crate::body::{self, BodyError};

/// The method path.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// gRPC status codes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// Malformed request.
    InvalidArgument = 3,
    /// A token that may not write this service.
    PermissionDenied = 7,
    /// Backlog full (with RetryInfo: retry later), or a message over the limit (without).
    ResourceExhausted = 8,
    /// A compression this server does not take.
    Unimplemented = 12,
    /// Internal failure (a log could not be opened).
    Internal = 13,
    /// Shutting down.
    Unavailable = 14,
    /// No or unknown token.
    Unauthenticated = 16,
}

/// The single message of a unary request body: its 5-byte prefix checked, decompressed
/// with the `grpc-encoding` when flagged, at most `max` bytes.
pub fn unframe(headers: &HeaderMap, data: Bytes, max: usize) -> Result<Bytes, (Code, String)> {
    if data.len() < 5 {
        return Err((
            Code::InvalidArgument,
            "the gRPC message frame is cut short".into(),
        ));
    }
    let compressed = data[0];
    let len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    if data.len() - 5 != len {
        return Err((
            Code::InvalidArgument,
            format!(
                "the gRPC frame says {len} bytes but {} follow (one message expected)",
                data.len() - 5
            ),
        ));
    }
    let msg = data.slice(5..);
    match compressed {
        0 => Ok(msg),
        1 => {
            let enc = headers
                .get("grpc-encoding")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("identity");
            if enc != "gzip" {
                return Err((
                    Code::Unimplemented,
                    format!("grpc-encoding '{enc}' is not supported (gzip or identity)"),
                ));
            }
            body::gunzip(&msg, max)
                .map(Bytes::from)
                .map_err(|e| match e {
                    BodyError::TooLarge(m) => (Code::ResourceExhausted, m),
                    BodyError::Bad(m) | BodyError::Unsupported(m) => (Code::InvalidArgument, m),
                    BodyError::Timeout(_) => (Code::InvalidArgument, "timeout".into()),
                })
        }
        f => Err((
            Code::InvalidArgument,
            format!("unknown gRPC compressed flag {f}"),
        )),
    }
}

/// A response body: one chunk of data, then trailers (either may be absent: a gRPC
/// trailers-only error has neither, its status is in the headers; an HTTP reply has no
/// trailers).
#[derive(Debug, Default)]
pub struct GrpcBody {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl GrpcBody {
    /// A body of `data` and no trailers.
    pub fn full(data: impl Into<Bytes>) -> Self {
        GrpcBody {
            data: Some(data.into()),
            trailers: None,
        }
    }
}

impl hyper::body::Body for GrpcBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = match self.data.take() {
            Some(d) => Some(Frame::data(d)),
            None => self.trailers.take().map(Frame::trailers),
        };
        std::task::Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none()
    }
}

/// A successful reply carrying `msg`.
pub fn ok(msg: &impl Message) -> Response<GrpcBody> {
    let bytes = msg.encode_to_vec();
    let mut frame = BytesMut::with_capacity(5 + bytes.len());
    frame.put_u8(0);
    frame.put_u32(bytes.len() as u32);
    frame.put_slice(&bytes);
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let mut r = Response::new(GrpcBody {
        data: Some(frame.freeze()),
        trailers: Some(trailers),
    });
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    r
}

/// A trailers-only error reply; `retry_after` adds RetryInfo to `grpc-status-details-bin`.
pub fn error(code: Code, message: &str, retry_after: Option<u64>) -> Response<GrpcBody> {
    let mut r = Response::new(GrpcBody::default());
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert("grpc-status", HeaderValue::from((code as i32) as u16));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(message)) {
        h.insert("grpc-message", v);
    }
    if let Some(secs) = retry_after {
        use base64::Engine;
        let b64 = |b: Vec<u8>| {
            HeaderValue::from_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(b))
        };
        let status = crate::status::retry_status(code as i32, message, secs);
        // The RetryInfo alone too: what the OpenTelemetry exporters read.
        if let Some(info) = status.details.first()
            && let Ok(v) = b64(info.value.clone())
        {
            h.insert("google.rpc.retryinfo-bin", v);
        }
        if let Ok(v) = b64(status.encode_to_vec()) {
            h.insert("grpc-status-details-bin", v);
        }
    }
    r
}

/// `grpc-message` is percent-encoded (every byte outside printable ASCII, and `%`).
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
