"""Request bodies for scripts/bench-serve.sh: the same N audit records as NDJSON (for
`worm ship` and POST /v1/audit), as an OTLP ExportLogsServiceRequest in protobuf (POST
/v1/logs) and as a gRPC frame of it (LogsService/Export). Uses the opentelemetry-proto
package the OTLP exporters install.

    payloads.py OUT_DIR RECORDS_PER_REQUEST
"""

import json
import os
import struct
import sys

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

out, n = sys.argv[1], int(sys.argv[2])
t0 = 1_764_000_000_000_000_000
lines, recs = [], []
for i in range(n):
    fields = {"request_id": f"req-{i}", "user_id": f"user{i % 97}", "action": "motion_detected",
              "camera_id": f"cam{i % 13:03d}", "confidence": 0.92, "detection_count": 3}
    lines.append(json.dumps({"timestamp": "2025-11-24T16:00:00.000Z", "level": "INFO",
                             "service_name": "camera_service",
                             "message": f"Motion detected in camera cam{i % 13:03d}", **fields}))
    attrs = [KeyValue(key=k, value=AnyValue(string_value=v) if isinstance(v, str)
                      else AnyValue(double_value=v) if isinstance(v, float) else AnyValue(int_value=v))
             for k, v in fields.items()]
    recs.append(LogRecord(time_unix_nano=t0 + i, severity_number=9, severity_text="INFO",
                          body=AnyValue(string_value=f"Motion detected in camera cam{i % 13:03d}"),
                          attributes=attrs))
req = ExportLogsServiceRequest(resource_logs=[ResourceLogs(
    resource=Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="camera_service"))]),
    scope_logs=[ScopeLogs(scope=InstrumentationScope(name="audit"), log_records=recs)])])
pb = req.SerializeToString()
os.makedirs(out, exist_ok=True)
open(os.path.join(out, "req.ndjson"), "w").write("\n".join(lines) + "\n")
open(os.path.join(out, "req.pb"), "wb").write(pb)
open(os.path.join(out, "req.grpc"), "wb").write(b"\x00" + struct.pack(">I", len(pb)) + pb)
