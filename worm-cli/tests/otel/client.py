"""A Python service sending audit events through the real OpenTelemetry SDK.

Standard `logging` with the SDK's LoggingHandler and an OTLP exporter (HTTP protobuf or
gRPC), as a service replacing the original handler would. Each exported batch's result is
recorded; the script prints one JSON line (the trace and span ids it logged under, and the
export results) and exits 0 only if every export succeeded.

    client.py http|grpc ENDPOINT SERVICE COUNT [--token T] [--gzip] [--prefix P] [--threads N]
"""

import argparse
import json
import logging
import sys
import threading

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, LogRecordExportResult
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("protocol", choices=["http", "grpc"])
    ap.add_argument("endpoint")
    ap.add_argument("service")
    ap.add_argument("count", type=int)
    ap.add_argument("--token")
    ap.add_argument("--gzip", action="store_true")
    ap.add_argument("--prefix", default="req")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=10)
    ap.add_argument("--ids", action="store_true", help="print the request ids of acknowledged records")
    a = ap.parse_args()

    headers = {"authorization": f"Bearer {a.token}"} if a.token else None
    if a.protocol == "http":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(
            endpoint=a.endpoint + "/v1/logs",
            headers=headers,
            timeout=a.timeout,
            compression=Compression.Gzip if a.gzip else Compression.NoCompression,
        )
    else:
        from grpc import Compression
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter

        exporter = OTLPLogExporter(
            endpoint=a.endpoint,
            insecure=True,
            headers=headers,
            timeout=a.timeout,
            compression=Compression.Gzip if a.gzip else Compression.NoCompression,
        )

    results = []
    lock = threading.Lock()
    export = exporter.export

    acked = []

    failed = []

    def recording_export(batch):
        # After a failed export (the server stopped, or refused us) the rest fail at once
        # instead of each waiting out the exporter's retries.
        r = LogRecordExportResult.FAILURE if failed else export(batch)
        if r != LogRecordExportResult.SUCCESS:
            failed.append(1)
        with lock:
            results.append((len(batch), r == LogRecordExportResult.SUCCESS))
            if r == LogRecordExportResult.SUCCESS:
                acked.extend(rec.log_record.attributes["request_id"] for rec in batch)
        return r

    exporter.export = recording_export

    provider = LoggerProvider(resource=Resource.create({"service.name": a.service, "host.name": "test-host"}))
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter, max_export_batch_size=64, schedule_delay_millis=50))
    log = logging.getLogger("app.audit")
    log.setLevel(logging.DEBUG)
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=provider))

    tracer = TracerProvider().get_tracer("client")
    ids = {}

    def send(t):
        for i in range(t, a.count, a.threads):
            with tracer.start_as_current_span("charge") as span:
                ctx = span.get_span_context()
                if i == 0:
                    ids["trace_id"] = format(ctx.trace_id, "032x")
                    ids["span_id"] = format(ctx.span_id, "016x")
                level = logging.WARNING if i % 2 == 0 else logging.INFO
                log.log(
                    level,
                    "card charged %d",
                    i,
                    extra={
                        "request_id": f"{a.prefix}-{i}",
                        "user_id": f"user{i % 7}",
                        "action": "charge",
                        "amount": i * 10,
                        "currency": "EUR",
                    },
                )

    threads = [threading.Thread(target=send, args=(t,)) for t in range(a.threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    provider.force_flush()
    provider.shutdown()
    ok = all(r for _, r in results) and sum(n for n, _ in results) == a.count
    out = {**ids, "exports": len(results), "exported": sum(n for n, r in results if r), "ok": ok}
    if a.ids:
        out["acked"] = acked
    print(json.dumps(out))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
