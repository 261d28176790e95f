#!/usr/bin/env bash
# The cost of completeness (issue 12), measured side by side in one run on one build:
#   1. pipeline throughput writing worm-batch/2 (Merkle tree + signed checkpoint per batch)
#      against the same build writing worm-batch/1 (`worm-load --format v1`), signed, to a
#      null sink and to fs; 3 interleaved rounds;
#   2. verify throughput of a /2 store against a /1 store of the same records (and, when
#      OLD_WORM_LOAD names a worm-load built from the commit before the tree, the verifier
#      of that version on its own store); 3 interleaved rounds;
#   3. `worm prove` for one record of a 1,000,000-record stream, the proof's size, and
#      `worm verify-proof` per bundle.
# Prints one JSON object per result on stdout.
#
#   scripts/bench-tree.sh [WORK_DIR]     (WORM and WORM_LOAD may name prebuilt binaries)
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
if [ -z "${WORM:-}" ] || [ -z "${WORM_LOAD:-}" ]; then
  cargo build --release -q -p worm-benches --bin worm-load -p worm-cli --bin worm
fi
worm=${WORM:-$target/release/worm}
load=${WORM_LOAD:-$target/release/worm-load}
records=${BENCH_RECORDS:-1000000}
mib=${BENCH_VERIFY_MIB:-512}
work=$(mktemp -d -p "${1:-${TMPDIR:-/tmp}}")
trap 'rm -rf "$work"' EXIT

# 1. pipeline
for round in 1 2 3; do
  for sink in null fs; do
    for f in v1 v3; do
      "$load" pipeline --records "$records" --mode signed --sink "$sink" --dir "$work" --format "$f"
    done
  done
done
# 2. verify
"$load" generate --dir "$work/v1" --mib "$mib" --format v1
"$load" generate --dir "$work/v3" --mib "$mib" --format v3
[ -n "${OLD_WORM_LOAD:-}" ] && "$OLD_WORM_LOAD" generate --dir "$work/old" --mib "$mib"
for round in 1 2 3; do
  "$load" verify --dir "$work/v1"
  "$load" verify --dir "$work/v3"
  [ -n "${OLD_WORM_LOAD:-}" ] && "$OLD_WORM_LOAD" verify --dir "$work/old"
done
rm -rf "$work/v1" "$work/v3" "$work/old"
# 3. prove and verify-proof in a stream of $records records
"$worm" keygen --out "$work/key" >/dev/null 2>&1
python3 - "$records" > "$work/in.ndjson" <<'PY'
import json, sys
n = int(sys.argv[1])
out = sys.stdout
for i in range(n):
    out.write(json.dumps({"timestamp": "2026-12-01T10:00:00.000Z", "level": "INFO",
        "message": "camera export", "request_id": f"req-{i:07d}", "user_id": f"u{i % 977}",
        "action": "export", "camera": f"cam-{i % 64}"}) + "\n")
PY
"$worm" ship --quiet --to "$work/store" --sign-key "$work/key" --heartbeat 0 --batch-size 3500 \
  --service camera_service < "$work/in.ndjson"
rm "$work/in.ndjson"
target_id=req-$(printf '%07d' $((records * 3 / 4)))
for round in 1 2 3; do
  /usr/bin/time -f '%e %M' -o "$work/time" "$worm" prove --quiet --request-id "$target_id" "$work/store" > "$work/proof.json"
  read -r secs rss < "$work/time"
  bytes=$(wc -c < "$work/proof.json")
  rec=$(python3 -c 'import json,sys; print(len(json.dumps(json.loads(open(sys.argv[1]).readline())["record"], separators=(",", ":"))))' "$work/proof.json" 2>/dev/null || echo 0)
  echo "{\"bench\":\"prove\",\"records\":$records,\"secs\":$secs,\"peak_rss_kib\":$rss,\"proof_bytes\":$bytes,\"record_bytes\":$rec}"
done
# verify-proof: 1 bundle, and 1,000 bundles in one file (per-bundle cost without start-up)
for i in $(seq 1000); do cat "$work/proof.json"; done > "$work/proofs.jsonl"
for round in 1 2 3; do
  /usr/bin/time -f '%e' -o "$work/t1" "$worm" verify-proof --public-key "$work/key.vkey" "$work/proof.json" >/dev/null 2>&1
  /usr/bin/time -f '%e' -o "$work/tn" "$worm" verify-proof --public-key "$work/key.vkey" "$work/proofs.jsonl" >/dev/null 2>&1
  echo "{\"bench\":\"verify-proof\",\"one_bundle_secs\":$(cat "$work/t1"),\"bundles\":1000,\"secs\":$(cat "$work/tn")}"
done
