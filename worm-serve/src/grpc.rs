//! OTLP/gRPC through tonic: the one unary method served (`LogsService/Export`) runs on
//! tonic's server codec (`tonic::server::Grpc`) inside our own hyper connections, so TLS,
//! tokens, limits and the connection cap are those of the HTTP endpoints. tonic frames the
//! messages, takes gzip (decompressed at most to the message limit: RESOURCE_EXHAUSTED
//! past it), refuses other encodings (UNIMPLEMENTED), and writes the status trailers; a
//! broken frame gets INTERNAL, as gRPC specifies.

use std::future::Future;
use std::pin::Pin;

use bytes::{Buf, Bytes};
use http::{Request, Response};
use http_body_util::Full;
use prost::Message;
use tonic::codec::{CompressionEncoding, DecodeBuf, Decoder};
use tonic::{Code, Status};

use crate::otlp::proto::{ExportLogsServiceRequest, ExportLogsServiceResponse};

/// The method path.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";

/// The response body of every endpoint (tonic's, so gRPC replies need no conversion).
pub type Body = tonic::body::Body;

/// The codec: prost's encoder for the reply, and [`RequestDecoder`] for the request.
#[derive(Debug, Default, Clone, Copy)]
pub struct OtlpCodec;

impl tonic::codec::Codec for OtlpCodec {
    type Encode = ExportLogsServiceResponse;
    type Decode = ExportLogsServiceRequest;
    type Encoder = tonic_prost::ProstEncoder<ExportLogsServiceResponse>;
    type Decoder = RequestDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder
    }
}

/// prost's decoding of the request, with a malformed message answered INVALID_ARGUMENT
/// (tonic-prost answers INTERNAL, which says the server failed, not the request).
#[derive(Debug, Default, Clone, Copy)]
pub struct RequestDecoder;

impl Decoder for RequestDecoder {
    type Item = ExportLogsServiceRequest;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<Self::Item>, Status> {
        // From the message's bytes as one slice when they are (tonic buffers a message
        // whole): prost reads a slice several times faster than through the `Buf` of a
        // `BytesMut` (each varint and field advances it), and decoding was half of a
        // request's CPU.
        let n = buf.remaining();
        let res = if buf.chunk().len() == n {
            let res = ExportLogsServiceRequest::decode(buf.chunk());
            buf.advance(n);
            res
        } else {
            ExportLogsServiceRequest::decode(buf)
        };
        res.map(Some).map_err(|e| {
            Status::invalid_argument(format!("not a valid OTLP ExportLogsServiceRequest: {e}"))
        })
    }
}

type Reply = Pin<
    Box<dyn Future<Output = Result<tonic::Response<ExportLogsServiceResponse>, Status>> + Send>,
>;

/// The method: `export` called once with the decoded message.
struct Export<F>(Option<F>);

impl<F, Fut> tonic::server::UnaryService<ExportLogsServiceRequest> for Export<F>
where
    F: FnOnce(ExportLogsServiceRequest) -> Fut + Send,
    Fut: Future<Output = Result<ExportLogsServiceResponse, Status>> + Send + 'static,
{
    type Response = ExportLogsServiceResponse;
    type Future = Reply;

    fn call(&mut self, request: tonic::Request<ExportLogsServiceRequest>) -> Reply {
        match self.0.take() {
            Some(export) => {
                let reply = export(request.into_inner());
                Box::pin(async move { reply.await.map(tonic::Response::new) })
            }
            None => Box::pin(async { Err(Status::internal("the method was called twice")) }),
        }
    }
}

/// Answer one `Export` call whose body has been read (`body`, at most the body limit on
/// the wire): tonic takes the frame apart (messages over `max_message` bytes, compressed
/// or not, are refused), `export` gets the message, and its reply or status goes back.
pub async fn unary<F, Fut>(req: Request<Bytes>, max_message: usize, export: F) -> Response<Body>
where
    F: FnOnce(ExportLogsServiceRequest) -> Fut + Send,
    Fut: Future<Output = Result<ExportLogsServiceResponse, Status>> + Send + 'static,
{
    let mut grpc = tonic::server::Grpc::new(OtlpCodec)
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(max_message);
    grpc.unary(Export(Some(export)), req.map(Full::new)).await
}

/// A status for `code`; with `retry_after` (seconds), a RetryInfo in its details and,
/// alone, in `google.rpc.retryinfo-bin` (what the OpenTelemetry exporters read).
pub fn status(code: Code, message: &str, retry_after: Option<u64>) -> Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let Some(secs) = retry_after else {
        return Status::new(code, message);
    };
    let mut st = Status::with_error_details(
        code,
        message,
        ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(secs))),
    );
    if let Ok(rpc) = tonic_types::pb::Status::decode(st.details())
        && let Some(info) = rpc.details.first()
    {
        st.metadata_mut().insert_bin(
            "google.rpc.retryinfo-bin",
            tonic::metadata::MetadataValue::from_bytes(&info.value),
        );
    }
    st
}

/// A `google.rpc.Status` without details: the body of an OTLP/HTTP error.
pub fn rpc_status(code: Code, message: &str) -> tonic_types::pb::Status {
    tonic_types::pb::Status {
        code: code as i32,
        message: message.to_string(),
        details: Vec::new(),
    }
}
