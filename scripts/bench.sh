#!/usr/bin/env bash
# Runs the benchmark set and rewrites BENCHMARKS.md with the commands, the machine and
# the figures. Ratios are measured side by side in one run (this machine is shared and
# noisy); absolute figures are for orientation.
#
#   scripts/bench.sh                  everything (starts the local Ceph gateway for §3)
#   BENCH_QUICK=1 scripts/bench.sh    smaller runs
#   BENCH_NO_S3=1 scripts/bench.sh    skip S3
# Work files go under $BENCH_DIR (default target/bench) and are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=${BENCH_QUICK:-0}
records=1000000; verify_mib=1024; calls=100000; s3_objects=200; s3_rounds=4
if [ "$quick" = 1 ]; then records=200000; verify_mib=128; calls=20000; s3_objects=30; s3_rounds=2; fi

target=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release -q -p worm-benches --bin worm-load
load=$target/release/worm-load
mkdir -p "${BENCH_DIR:-$target/bench}"
work=$(mktemp -d -p "${BENCH_DIR:-$target/bench}")
out=$work/results.jsonl
trap 'rm -rf "$work"' EXIT

run() { echo "+ worm-load $*" >&2; "$load" "$@" | tee -a "$out"; }
printf '{"bench":"meta","date":"%s","commit":"%s","load":"%s"}\n' \
  "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(git rev-parse --short HEAD)" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out"

# 1. caller cost (and criterion's view of the same two paths)
run caller --calls "$calls" --rounds 10
cargo bench -q -p worm-benches --bench caller -- --warm-up-time 1 --measurement-time 5 >&2
# 2. pipeline throughput
# (three interleaved runs of each; the report takes the median)
for round in 1 2 3; do
  for mode in plain zstd signed; do run pipeline --records "$records" --mode "$mode" --dir "$work"; done
  run pipeline --records "$records" --mode plain --sink null
done
cargo bench -q -p worm-benches --bench pipeline -- --warm-up-time 1 >&2 || echo "criterion pipeline bench failed" >&2
# 4. cost and latency
run cost --records "$records"
run latency --rate 1000 --secs 5
# 5. memory: the default queue with DropNewest, and a queue that holds all 1,000,000
run memory --records 1000000 --queue 100000 --pending-mib 64 --overflow drop
run memory --records 1000000 --queue 1000000 --pending-mib 64 --overflow block
# 6. verify: a small and a ~1 GiB store, each checked in its own process
run generate --dir "$work/verify-small" --mib 128 >/dev/null
run verify --dir "$work/verify-small"
rm -rf "$work/verify-small"
run generate --dir "$work/verify" --mib "$verify_mib" >/dev/null
run verify --dir "$work/verify"
rm -rf "$work/verify"
# 7. worm ship into memory: against the pipeline's prebuilt records (null sink)
cargo build --release -q -p worm-cli --bin worm
python3 benches/python/ship_bench.py memory --worm "$target/release/worm" --load "$load" \
  --records "$records" --rounds 3 | tee -a "$out"
# 3. S3 against the local Ceph gateway
if [ "${BENCH_NO_S3:-0}" != 1 ]; then
  # A memstore OSD keeps every object in memory and refuses writes when full; give the
  # locked (undeletable) benchmark objects room. Used only if this starts the gateway.
  if OSD_MEM=${BENCH_OSD_MEM:-8589934592} scripts/s3-server.sh start ceph >&2; then
    ( eval "$(scripts/s3-server.sh env ceph)"
      # Client and server sharing both cores, as they do here by default...
      run s3 --objects "$s3_objects" --size 262144 --concurrency 2 --rounds "$s3_rounds" --label shared
      # 7. worm ship into Ceph against the original handler re-created in Python (boto3,
      # pinned, in a venv of its own)
      venv=${BENCH_DIR:-$target/bench}/pyvenv
      [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
      "$venv/bin/pip" install -q -r benches/python/requirements.txt >&2
      python3 benches/python/ship_bench.py s3 --worm "$target/release/worm" --load "$load" \
        --python "$venv/bin/python" --records "$((records / 10))" --rounds 3 | tee -a "$out"
      # ...and each on a core of its own (the gateway's processes pinned to CPU 1, worm-load
      # to CPU 0), as when S3 is another machine; affinity is restored afterwards.
      if [ "$(nproc)" -ge 2 ]; then
        d=${WORM_S3_DIR:-${TMPDIR:-/tmp}/worm-s3}/ceph
        pids=$(cat "$d"/mon.pid "$d"/osd.pid "$d"/rgw.pid 2>/dev/null || true)
        for p in $pids; do taskset -a -p 0x2 "$p" >/dev/null; done
        run_pinned() { echo "+ taskset 0x1 worm-load $*" >&2; taskset 0x1 "$load" "$@" | tee -a "$out"; }
        run_pinned s3 --objects "$s3_objects" --size 262144 --concurrency 2 --rounds "$s3_rounds" --label pinned || true
        for p in $pids; do taskset -a -p "$(printf '%x' $(( (1 << $(nproc)) - 1 )))" "$p" >/dev/null; done
      fi ) \
      || echo "S3 run failed; BENCHMARKS.md says so" >&2
  else
    echo "Ceph did not start; BENCHMARKS.md says so" >&2
  fi
fi

cp "$out" "${BENCH_DIR:-$target/bench}/last-results.jsonl"
python3 scripts/bench_report.py "$out" "$target/criterion" > BENCHMARKS.md
echo "BENCHMARKS.md rewritten" >&2
