//! `worm serve`'s OTLP decoders, on what any client can send: the protobuf
//! `ExportLogsServiceRequest` (HTTP and gRPC bodies) and its OTLP/JSON form, each mapped
//! to audit record lines that must read back as records. (The gRPC frame and its gzip
//! cap are tonic's.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use prost::Message;
use worm_core::AuditRecord;
use worm_serve::otlp::{json, map, proto};

fn lines(req: proto::ExportLogsServiceRequest) {
    let records = map::split_request(req);
    let mut mapper = map::Mapper::new();
    for r in &records {
        let mut line = Vec::new();
        mapper.fields(r).write_json(&mut line);
        let line = String::from_utf8(line).expect("a line is UTF-8");
        AuditRecord::from_json(&line).expect("a line reads back as a record");
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = proto::ExportLogsServiceRequest::decode(data) {
        lines(req);
    }
    if let Ok(req) = json::decode_request(data) {
        lines(req);
    }
});
