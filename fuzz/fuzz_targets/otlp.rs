//! `worm serve`'s OTLP decoders, on what any client can send: the protobuf
//! `ExportLogsServiceRequest` (HTTP and gRPC bodies) and its OTLP/JSON form, each mapped
//! to audit records that must serialise. (The gRPC frame and its gzip cap are tonic's.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use worm_serve::otlp::{json, map, proto};

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = proto::ExportLogsServiceRequest::decode(data) {
        for m in map::map_request(req) {
            let _ = m.record.to_json_line();
        }
    }
    if let Ok(req) = json::decode_request(data) {
        for m in map::map_request(req) {
            let _ = m.record.to_json_line();
        }
    }
});
