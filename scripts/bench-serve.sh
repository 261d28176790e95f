#!/usr/bin/env bash
# `worm serve` against `worm ship` on the same records into the same kind of store (fs, on
# local disk, with a spool), side by side in one run: acknowledged records/s, per-request
# acknowledgement latency p50/p99 with 8 concurrent clients (curl, keep-alive, one request
# after another on each connection), and the server's peak RSS. BENCHMARKS.md has figures.
#
#   scripts/bench-serve.sh [WORM_BIN]     (default: target/release/worm)
set -euo pipefail
cd "$(dirname "$0")/.."
worm="${1:-${CARGO_TARGET_DIR:-target}/release/worm}"
py="$(scripts/otel-venv.sh)"
clients=8 per_client=${PER_CLIENT:-40} batch=200
d="$(mktemp -d)"
trap 'kill "${srv:-}" 2>/dev/null && wait "${srv:-}" 2>/dev/null; rm -rf "$d"' EXIT
"$py" benches/serve/payloads.py "$d" "$batch"
total=$((clients * per_client * batch))
flags=(--batch-size 1000 --interval 1 --heartbeat 0)

# ship: the same records as one NDJSON stream on stdin.
for _ in $(seq $((clients * per_client))); do cat "$d/req.ndjson"; done > "$d/all.ndjson"
s=$(date +%s.%N)
"$worm" ship --to "$d/ship" --spool "$d/ship-spool" --service camera_service "${flags[@]}" -q < "$d/all.ndjson"
e=$(date +%s.%N)
printf '%-10s %8d records  %8.0f records/s\n' ship "$total" "$(echo "$total / ($e - $s)" | bc -l)"

"$worm" serve --to "$d/serve" --spool "$d/serve-spool" "${flags[@]}" \
  --listen 127.0.0.1:0 --grpc-listen off 2> "$d/serve.log" &
srv=$!
for _ in $(seq 50); do grep -q listening "$d/serve.log" 2>/dev/null && break; sleep 0.1; done
addr=$(grep -o 'http=[0-9.:]*' "$d/serve.log" | cut -d= -f2)

run() { # name, curl args...
  local name=$1; shift
  local urls=()
  # -o per URL: curl applies one -o to one URL.
  for _ in $(seq "$per_client"); do urls+=(-o /dev/null "$url"); done
  local s e
  s=$(date +%s.%N)
  local pids=()
  for c in $(seq "$clients"); do
    curl -s -w '%{http_code} %{time_total}\n' "$@" "${urls[@]}" > "$d/lat.$c" || true &
    pids+=($!)
  done
  wait "${pids[@]}"
  e=$(date +%s.%N)
  report "$name" "$s" "$e"
}
report() { # name, start, end: the figures from $d/lat.*
  local name=$1 s=$2 e=$3 ok
  ok=$(cat "$d"/lat.* | grep -c '^200 ' || true)
  sort -n -k2 <(cat "$d"/lat.*) | awk -v n="$name" -v ok="$ok" -v secs="$(echo "$e - $s" | bc -l)" -v b="$batch" '
    { t[NR] = $2 } END {
      printf "%-10s %8d records  %8.0f records/s  ack p50 %6.1f ms  p99 %6.1f ms  (%d/%d requests 200)\n",
        n, ok * b, ok * b / secs, t[int(NR * 0.5)] * 1000, t[int(NR * 0.99)] * 1000, ok, NR }'
  rm -f "$d"/lat.*
}
url="http://$addr/v1/audit?service=camera_service"
run ndjson --data-binary "@$d/req.ndjson"
url="http://$addr/v1/logs"
run otlp-http -H 'content-type: application/x-protobuf' --data-binary "@$d/req.pb"
# gRPC through grpcio (curl does not reuse an HTTP/2 connection for a second gRPC call).
s=$(date +%s.%N)
"$py" benches/serve/grpc_load.py "$addr" "$d/req.pb" "$clients" "$per_client" > "$d/lat.grpc"
e=$(date +%s.%N)
report otlp-grpc "$s" "$e"
echo "serve peak RSS: $(grep VmHWM /proc/$srv/status | awk '{print $2}') KiB"
kill -TERM "$srv"; wait "$srv" 2>/dev/null || true
"$worm" verify "$d/serve" -q && echo "serve store intact"
