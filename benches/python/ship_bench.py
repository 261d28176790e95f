"""`worm ship` side by side with its comparisons, in alternating rounds of one run, one
JSON line per side and round on stdout (read by scripts/bench_report.py).

    ship_bench.py memory --worm BIN --load BIN [--records N] [--rounds R] [--batch-size B]
        worm ship --to memory: against worm-load pipeline --sink null (the pipeline with
        prebuilt records) on the same records
    ship_bench.py s3 --worm BIN --load BIN --python VENV_PYTHON [--records N] ...
        worm ship into the local Ceph gateway against the original handler re-created in
        Python (worm_handler.py), same records, same batch size; needs
        WORM_TEST_S3_ENDPOINT and the AWS variables (scripts/s3-server.sh env ceph)

Every object either side stores has 1 day of GOVERNANCE retention and is removed
(bypassing it) after each round, so runs do not fill a shared test server.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = "camera_service"
# Longest any one step may take: a side that hangs (the handler once waited forever on a
# socket the gateway had closed) ends the run with its command named, not never.
STEP_TIMEOUT = 600


def timed(cmd, stdin=None):
    """Run `cmd`; its stdout and wall seconds."""
    started = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=stdin, stdout=subprocess.PIPE, check=False,
                           timeout=STEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        sys.exit(f"{' '.join(cmd)}: no answer in {STEP_TIMEOUT} s (killed)")
    secs = time.monotonic() - started
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)}: exit {p.returncode}")
    return p.stdout.decode(), secs


def run_cpu(cmd, stdin=None):
    """Run `cmd` and return (stdout, wall seconds, CPU seconds of the child)."""
    before = os.times()
    out, secs = timed(cmd, stdin)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system)
    return out, secs, cpu


def batch_bytes(a):
    """`--batch-bytes` for s3 rounds when this `worm` has it: its default byte budget
    (1 MiB) would cut each batch at ~3,200 of the handler's 3,500 records, so ship would
    store 31 objects where the handler stores 29, and the gateway's cost is mostly per
    request. With it, both sides store the same batches."""
    help_text = subprocess.run([a.worm, "ship", "--help"], stdout=subprocess.PIPE,
                               check=True, timeout=STEP_TIMEOUT).stdout.decode()
    return ["--batch-bytes", str(4 << 20)] if "--batch-bytes" in help_text else []


def ship(a, to, extra, input_path):
    cmd = [a.worm, "ship", "--to", to, "--service", SERVICE, "--batch-size",
           str(a.batch_size), "--json"] + extra
    with open(input_path, "rb") as f:
        out, secs, cpu = run_cpu(cmd, stdin=f)
    s = json.loads(out)
    if s["stored"] != a.records or not s["all_stored"]:
        sys.exit(f"worm ship stored {s['stored']} of {a.records}: {s}")
    return {"records_per_s": a.records / secs, "secs": secs,
            "cpu_us_per_record": cpu * 1e6 / a.records, "batches": s["batches"]}


def memory(a, input_path):
    for r in range(a.rounds):
        out, _, _ = run_cpu([a.load, "pipeline", "--records", str(a.records), "--sink", "null"])
        pipe = json.loads(out.strip().splitlines()[-1])
        s = ship(a, "memory:", [], input_path)
        line = {"bench": "ship_memory", "round": r + 1, "records": a.records,
                "batch_size": a.batch_size, "pipeline_null": {
                    "records_per_s": pipe["records_per_s"], "secs": pipe["secs"],
                    "cpu_us_per_record": pipe["cpu_us_per_record"]},
                "ship_memory": s, "ratio": s["records_per_s"] / pipe["records_per_s"]}
        print(json.dumps(line), flush=True)


def s3(a, input_path):
    endpoint = os.environ["WORM_TEST_S3_ENDPOINT"]
    bucket = f"worm-ship-bench-{os.getpid()}"
    handler = [a.python, os.path.join(HERE, "worm_handler.py"), "--bucket", bucket]
    # The handler's bench creates the bucket with Object Lock; one tiny run does it.
    subprocess.run(handler + ["--records", "1", "--retention-days", "1"], check=True,
                   timeout=STEP_TIMEOUT, stdout=subprocess.DEVNULL)
    subprocess.run(handler + ["--empty"], check=True, timeout=STEP_TIMEOUT)
    same_batches = batch_bytes(a)
    for r in range(a.rounds):
        out, secs, cpu = run_cpu(handler + ["--records", str(a.records), "--batch-size",
                                            str(a.batch_size), "--retention-days", "1"])
        py = json.loads(out)
        subprocess.run(handler + ["--empty"], check=True, timeout=STEP_TIMEOUT)
        s = ship(a, f"s3://{bucket}/ship", ["--endpoint", endpoint, "--retention-days", "1",
                                             "--mode", "governance"] + same_batches,
                 input_path)
        subprocess.run(handler + ["--empty"], check=True, timeout=STEP_TIMEOUT)
        line = {"bench": "ship_s3", "round": r + 1, "records": a.records,
                "batch_size": a.batch_size,
                # `secs` is the handler's own clock (logging and uploads, after the
                # interpreter, boto3 and the client are set up); `process_secs` is the
                # whole process, as ship's time is.
                "python_handler": {"records_per_s": py["records_per_s"],
                                   "secs": py["secs"], "process_secs": secs,
                                   "cpu_us_per_record": cpu * 1e6 / a.records},
                "ship_s3": s, "ratio": s["records_per_s"] / py["records_per_s"]}
        if a.zstd:
            # The same ship with `--compress zstd`, in the same round.
            z = ship(a, f"s3://{bucket}/shipz", ["--endpoint", endpoint, "--retention-days",
                                                  "1", "--mode", "governance", "--compress",
                                                  "zstd"] + same_batches, input_path)
            subprocess.run(handler + ["--empty"], check=True, timeout=STEP_TIMEOUT)
            line["ship_s3_zstd"] = z
            line["ratio_zstd"] = z["records_per_s"] / py["records_per_s"]
        print(json.dumps(line), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["memory", "s3"])
    p.add_argument("--worm", required=True)
    p.add_argument("--load", required=True)
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=3500)
    p.add_argument("--zstd", action="store_true",
                   help="s3: also run worm ship --compress zstd in every round")
    a = p.parse_args()
    with tempfile.NamedTemporaryFile(prefix="ship-input-", suffix=".ndjson") as f:
        subprocess.run([a.load, "ndjson", "--records", str(a.records)], stdout=f, check=True,
                       timeout=STEP_TIMEOUT)
        f.flush()
        (memory if a.what == "memory" else s3)(a, f.name)


if __name__ == "__main__":
    main()
