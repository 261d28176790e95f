#!/usr/bin/env bash
# `worm serve` against `worm ship` on the same records into the same kind of store (fs, on
# local disk, with a spool), side by side in one run: acknowledged records/s, per-request
# acknowledgement latency p50/p99 with 8 concurrent clients (curl, keep-alive, one request
# after another on each connection), and the server's RSS. Then each protocol again at
# half the rate it just reached: the same 8 clients paced (curl --rate, grpc_load.py's
# RATE), p50/p99 acknowledgement latency and RSS. RUNS runs (default 3), each with fresh
# stores. BENCHMARKS.md has figures.
#
#   scripts/bench-serve.sh [WORM_BIN]     (default: target/release/worm)
#   RUNS=3 PER_CLIENT=40 GRPC_CLIENTS=processes|threads scripts/bench-serve.sh
#
# With h2load on the PATH (Debian: nghttp2-client), gRPC is also measured from h2load, a C
# client like the curl of the other protocols: at grpcio's half rate (the client's own
# share of the tail), then at full load and at half of h2load's own peak.
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

for _ in $(seq $((clients * per_client))); do cat "$d/req.ndjson"; done > "$d/all.ndjson"

run() { # name, curl args...: every client sends per_client requests, as fast as answered
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
report() { # name, start, end: the figures from $d/lat.*; the rate goes to $d/rate.NAME
  # Latency percentiles are over the acknowledged (200) requests; other answers (429 when
  # the backlog is full) are counted by status.
  local name=$1 s=$2 e=$3 ok others
  ok=$(cat "$d"/lat.* | grep -c '^200 ' || true)
  others=$(cat "$d"/lat.* | { grep -v '^200 ' || true; } | cut -d' ' -f1 | sort | uniq -c | awk '{printf ", %d x %s", $1, $2}')
  echo "$ok * $batch / ($e - $s)" | bc -l > "$d/rate.$name"
  sort -n -k2 <(grep -h '^200 ' "$d"/lat.*) | awk -v n="$name" -v ok="$ok" -v all="$(cat "$d"/lat.* | wc -l)" -v o="$others" -v secs="$(echo "$e - $s" | bc -l)" -v b="$batch" -v rss="$(rss VmRSS)" '
    { t[NR] = $2 } END {
      printf "%-16s %8d records  %8.0f records/s  ack p50 %6.1f ms  p99 %6.1f ms  RSS %4.0f MiB  (%d/%d requests 200%s)\n",
        n, ok * b, ok * b / secs, t[int(NR * 0.5)] * 1000, t[int(NR * 0.99)] * 1000, rss / 1024, ok, all, o }'
  rm -f "$d"/lat.*
  drain
}
drain() { # wait (up to 60 s) until what serve acknowledged is stored: phases start alike
  for _ in $(seq 600); do
    local m
    m=$(curl -s "http://$addr/metrics" || true)
    grep -q '^worm_records_pending{service="camera_service"} 0$' <<< "$m" && return
    sleep 0.1
  done
}
rss() { grep "$1" "/proc/$srv/status" | awk '{print $2}'; }
half() { # name: requests/s for one client at half of the rate NAME reached (at least 1/min)
  echo "r = $(cat "$d/rate.$1") / 2 / $batch / $clients * 60; scale=0; if (r < 1) 1 else r / 1" | bc -l
}

for r in $(seq "${RUNS:-3}"); do
  echo "== run $r of ${RUNS:-3} ($(date -u +%H:%M:%S) UTC, load $(cut -d' ' -f1-3 /proc/loadavg))"
  rm -rf "$d/ship" "$d/ship-spool" "$d/serve" "$d/serve-spool"
  # ship: the same records as one NDJSON stream on stdin.
  s=$(date +%s.%N)
  /usr/bin/time -f '%M' -o "$d/ship.rss" \
    "$worm" ship --to "$d/ship" --spool "$d/ship-spool" --service camera_service "${flags[@]}" -q < "$d/all.ndjson"
  e=$(date +%s.%N)
  printf '%-16s %8d records  %8.0f records/s  peak RSS %4.0f MiB\n' ship "$total" \
    "$(echo "$total / ($e - $s)" | bc -l)" "$(echo "$(cat "$d/ship.rss") / 1024" | bc -l)"

  "$worm" serve --to "$d/serve" --spool "$d/serve-spool" "${flags[@]}" \
    --listen 127.0.0.1:0 --grpc-listen off 2> "$d/serve.log" &
  srv=$!
  for _ in $(seq 50); do grep -q listening "$d/serve.log" 2>/dev/null && break; sleep 0.1; done
  addr=$(grep -o 'http=[0-9.:]*' "$d/serve.log" | cut -d= -f2)
  ndjson=("http://$addr/v1/audit?service=camera_service" --data-binary "@$d/req.ndjson")
  otlp=("http://$addr/v1/logs" -H 'content-type: application/x-protobuf' --data-binary "@$d/req.pb")
  grpc() { # name, rate per client (requests/min; 0: as fast as answered)
    # GRPC_CLIENTS=processes (default): one process per client, as curl (threads of one
    # Python process share its interpreter lock, which capped the full-load rate); each
    # imports grpc and connects, then all start at s. GRPC_CLIENTS=threads: the 8 clients
    # as threads of one process (less client CPU competing with serve for the 2 cores).
    local s e i gp=()
    s=$(echo "$(date +%s.%N) + 2" | bc -l)
    if [ "${GRPC_CLIENTS:-processes}" = threads ]; then
      "$py" benches/serve/grpc_load.py "$addr" "$d/req.pb" "$clients" "$per_client" "$2" "$s" > "$d/lat.grpc.1"
    else
      for i in $(seq "$clients"); do
        "$py" benches/serve/grpc_load.py "$addr" "$d/req.pb" 1 "$per_client" "$2" "$s" > "$d/lat.grpc.$i" &
        gp+=($!)
      done
      wait "${gp[@]}"
    fi
    e=$(cat "$d"/lat.grpc.* | awk '/^# end / { if ($3 > m) m = $3 } END { printf "%.6f", m }')
    sed -i '/^# end /d' "$d"/lat.grpc.*
    report "$1" "$s" "$e"
  }
  grpc_ok() { # gRPC calls serve answered OK so far
    curl -s "http://$addr/metrics" |
      awk '/^worm_serve_requests_total\{endpoint="otlp_grpc",status="200"\}/ { n = $2 } END { print n + 0 }'
  }
  h2load_grpc() { # name, rate per client (requests/min; 0: as fast as answered): the same calls from h2load
    # One C process (nghttp2's h2load) in place of 8 Python ones: the same 8 connections,
    # request bodies and pacing. Its status is HTTP's (200 whatever the gRPC status), so
    # the OK calls are counted from serve's metrics.
    local s e before after
    before=$(grpc_ok)
    rm -f "$d/h2load.log" # h2load appends: each run's latencies only
    s=$(date +%s.%N)
    local pace=()
    [ "$2" = 0 ] || pace=(--rps "$(echo "scale=3; $2 / 60" | bc -l)")
    h2load -c "$clients" -m 1 -n $((clients * per_client)) "${pace[@]}" \
      -d "$d/req.grpc" -H 'content-type: application/grpc' -H 'te: trailers' \
      --log-file "$d/h2load.log" "http://$addr/opentelemetry.proto.collector.logs.v1.LogsService/Export" > /dev/null
    e=$(date +%s.%N)
    after=$(grpc_ok)
    awk '{ printf "%s %.6f\n", $2, $3 / 1e6 }' "$d/h2load.log" > "$d/lat.h2load"
    [ $((after - before)) -eq "$(wc -l < "$d/lat.h2load")" ] ||
      echo "($1: serve answered $((after - before)) of $(wc -l < "$d/lat.h2load") calls OK)"
    report "$1" "$s" "$e"
  }
  # Full load: each client sends its next request as soon as the last is answered.
  url=${ndjson[0]}; run ndjson "${ndjson[@]:1}"
  url=${otlp[0]}; run otlp-http "${otlp[@]:1}"
  # gRPC through grpcio (curl does not reuse an HTTP/2 connection for a second gRPC call).
  grpc otlp-grpc 0
  # Half of each protocol's rate, paced: the acknowledgement latency a client sees when the
  # server is not saturated.
  url=${ndjson[0]}; run ndjson-half --rate "$(half ndjson)/m" "${ndjson[@]:1}"
  url=${otlp[0]}; run otlp-http-half --rate "$(half otlp-http)/m" "${otlp[@]:1}"
  grpc otlp-grpc-half "$(half otlp-grpc)"
  # Where h2load is installed (Debian: nghttp2-client), gRPC from a C client as light as
  # the curl that measures the other two protocols: at the same half rate as grpcio's (how
  # much of the line above is grpcio's own latency), then at full load and at half of
  # that rate, h2load's own peak.
  if command -v h2load > /dev/null; then
    h2load_grpc otlp-grpc-half-h2load "$(half otlp-grpc)"
    h2load_grpc otlp-grpc-h2load 0
    h2load_grpc otlp-grpc-h2load-half "$(half otlp-grpc-h2load)"
  fi
  echo "serve peak RSS: $(( $(rss VmHWM) / 1024 )) MiB"
  kill -TERM "$srv"; wait "$srv" 2>/dev/null || true
  "$worm" verify "$d/serve" -q && echo "serve store intact"
done
