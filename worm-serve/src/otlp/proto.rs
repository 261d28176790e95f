//! The OTLP logs messages (opentelemetry-proto v1: `collector/logs/v1`, `logs/v1`,
//! `common/v1`, `resource/v1`): the `opentelemetry-proto` crate's prost messages, with its
//! serde derives for OTLP/JSON ([`super::json`]).

pub use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
pub use opentelemetry_proto::tonic::common::v1::any_value::Value;
pub use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
pub use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
pub use opentelemetry_proto::tonic::resource::v1::Resource;
