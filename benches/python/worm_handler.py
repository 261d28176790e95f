"""The original system's WORM log handler, re-created from its design (shared/SEED.md) as
the baseline `worm ship` is compared with.

What it does, as the original did: a `logging.Handler` formats every record as one JSON
object (timestamp, level, service, request id, user, action, message, logger, module,
function, line and the record's extra fields), puts it on a queue, and one background
worker thread collects batches (`batch_size` records or `upload_interval` seconds) that a
pool of 2 threads uploads with boto3, one `PutObject` per batch with Object Lock
retention (GOVERNANCE, 7 years) and the original's metadata, under
`{prefix}/YYYY/MM/DD/{request_id}-{uuid4}.json`. Failed uploads are retried up to 3
times. `flush()` waits until every queued record is uploaded.

Run as a benchmark (prints one JSON line):

    python worm_handler.py --bucket B --records N --batch-size 3500

with `WORM_TEST_S3_ENDPOINT` and the AWS variables set (`scripts/s3-server.sh env ceph`).
"""

import argparse
import concurrent.futures
import datetime
import json
import logging
import os
import queue
import resource
import sys
import threading
import time
import uuid

import boto3
from botocore.config import Config

HANDLER_VERSION = "1.0.0"
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """The original's structured JSON: the schema's fields, then every extra field."""

    def __init__(self, service_name):
        super().__init__()
        self.service_name = service_name

    def format(self, record):
        ts = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        out = {
            "timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "service_name": self.service_name,
            "request_id": getattr(record, "request_id", None),
            "user_id": getattr(record, "user_id", None),
            "action": getattr(record, "action", None),
            "message": record.getMessage(),
            "logger_name": record.name,
            "module": record.module,
            "function": record.funcName,
            "line": record.lineno,
        }
        for k, v in vars(record).items():
            if k not in _STANDARD and k not in out:
                out[k] = v
        return json.dumps({k: v for k, v in out.items() if v is not None}, default=str)


class WORMLogHandler(logging.Handler):
    """Queue, batch, and upload each batch as one Object-Locked S3 object."""

    def __init__(self, s3_bucket, service_name, s3_prefix="audit-logs", batch_size=5,
                 upload_interval=15.0, retention_days=2557, max_retries=3, max_workers=2,
                 endpoint_url=None, queue_size=100_000):
        super().__init__()
        self.bucket = s3_bucket
        self.service_name = service_name
        self.prefix = s3_prefix
        self.batch_size = batch_size
        self.upload_interval = upload_interval
        self.retention_days = retention_days
        self.max_retries = max_retries
        self.setFormatter(JsonFormatter(service_name))
        self.s3 = boto3.client("s3", endpoint_url=endpoint_url,
                               config=Config(retries={"max_attempts": 3, "mode": "standard"},
                                             max_pool_connections=max_workers * 2))
        self.queue = queue.Queue(maxsize=queue_size)
        self.pool = concurrent.futures.ThreadPoolExecutor(max_workers=max_workers)
        self.pending = set()
        self.pending_lock = threading.Lock()
        self.failed = 0
        self.uploaded = 0
        self.stopping = threading.Event()
        self.worker = threading.Thread(target=self._run, name="worm-upload", daemon=True)
        self.worker.start()

    def emit(self, record):
        try:
            self.queue.put((self.format(record), getattr(record, "request_id", None),
                            record.levelname))
        except Exception:  # as logging.Handler does
            self.handleError(record)

    def _run(self):
        batch = []
        deadline = time.monotonic() + self.upload_interval
        while not (self.stopping.is_set() and self.queue.empty() and not batch):
            timeout = max(0.0, deadline - time.monotonic())
            try:
                item = self.queue.get(timeout=min(timeout, 0.1))
                if item is not None:
                    batch.append(item)
                self.queue.task_done()
            except queue.Empty:
                pass
            full = len(batch) >= self.batch_size
            due = time.monotonic() >= deadline or (self.stopping.is_set() and self.queue.empty())
            if batch and (full or due):
                self._submit(batch)
                batch = []
            if full or due:
                deadline = time.monotonic() + self.upload_interval

    def _submit(self, batch):
        fut = self.pool.submit(self._upload, batch)
        with self.pending_lock:
            self.pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut):
        with self.pending_lock:
            self.pending.discard(fut)

    def _upload(self, batch):
        now = datetime.datetime.now(datetime.timezone.utc)
        first_request = batch[0][1] or "no-request"
        key = f"{self.prefix}/{now:%Y/%m/%d}/{first_request}-{uuid.uuid4()}.json"
        body = "\n".join(line for line, _, _ in batch).encode()
        for attempt in range(self.max_retries + 1):
            try:
                self.s3.put_object(
                    Bucket=self.bucket, Key=key, Body=body, ContentType="application/json",
                    ObjectLockMode="GOVERNANCE",
                    ObjectLockRetainUntilDate=now + datetime.timedelta(days=self.retention_days),
                    Metadata={"service_name": self.service_name, "request_id": first_request,
                              "log_level": batch[0][2], "timestamp": now.isoformat(),
                              "worm_handler_version": HANDLER_VERSION, "records": str(len(batch))},
                )
                self.uploaded += len(batch)
                return
            except Exception:  # noqa: BLE001 - the original retried any failure
                if attempt == self.max_retries:
                    self.failed += len(batch)
                    raise
                time.sleep(0.1 * 2 ** attempt)

    def flush(self):
        """Wait until every record queued so far is uploaded."""
        self.queue.join()
        while True:
            with self.pending_lock:
                pending = list(self.pending)
            if not pending and self.queue.empty():
                return
            concurrent.futures.wait(pending)

    def close(self):
        if self.stopping.is_set():  # logging.shutdown() closes it again at exit
            return
        self.stopping.set()
        self.queue.put(None)
        self.worker.join()
        self.flush()
        self.pool.shutdown(wait=True)
        super().close()


def empty_bucket(s3, bucket):
    """Remove every version (the bench's objects are under GOVERNANCE retention, which
    the bucket owner may bypass), so that runs do not fill a shared test server."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for i in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[i:i + 1000]},
                              BypassGovernanceRetention=True)


def ensure_bucket(s3, bucket):
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:  # noqa: BLE001 - absent: create it with Object Lock
        s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bucket", required=True)
    p.add_argument("--empty", action="store_true",
                   help="only remove every object version from the bucket (bypassing GOVERNANCE)")
    p.add_argument("--records", type=int, default=200_000)
    p.add_argument("--batch-size", type=int, default=3500)
    p.add_argument("--service", default="camera_service")
    p.add_argument("--retention-days", type=int, default=2557)
    a = p.parse_args()
    endpoint = os.environ.get("WORM_TEST_S3_ENDPOINT")
    if a.empty:
        empty_bucket(boto3.client("s3", endpoint_url=endpoint), a.bucket)
        return
    handler = WORMLogHandler(a.bucket, a.service, batch_size=a.batch_size,
                             upload_interval=15.0, endpoint_url=endpoint,
                             retention_days=a.retention_days)
    ensure_bucket(handler.s3, a.bucket)
    log = logging.getLogger(a.service)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    for n in range(a.records):
        log.info("Motion detected in camera cam001", extra={
            "request_id": "req-12345-abcde", "user_id": "user123",
            "action": "motion_detected", "camera_id": "cam001", "confidence": 0.92,
            "detection_count": 3, "n": n})
    handler.close()
    secs = time.monotonic() - started
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if handler.uploaded != a.records or handler.failed:
        sys.exit(f"uploaded {handler.uploaded} of {a.records} records ({handler.failed} failed)")
    print(json.dumps({"bench": "python_handler", "records": a.records,
                      "batch_size": a.batch_size, "secs": secs,
                      "records_per_s": a.records / secs,
                      "cpu_us_per_record": cpu * 1e6 / a.records}))


if __name__ == "__main__":
    main()
