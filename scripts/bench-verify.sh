#!/usr/bin/env bash
# `worm verify` speed of a worm-batch/2 store against a /1 store of the same records, this
# build against an older one (OLD_WORM), and --concurrency 1 against the default, side by
# side: 3 interleaved rounds, wall and CPU seconds per run, one JSON object per run.
#
#   WORM=path/to/worm OLD_WORM=path/to/old/worm scripts/bench-verify.sh V1_STORE V2_STORE
#
# The stores are any STORE `worm verify` takes (a directory, s3://bucket/prefix), e.g. two
# written by `worm-load generate --dir D --mib 256 --format v1|v3`.
set -euo pipefail
worm=${WORM:?set WORM to the worm binary of this build}
old=${OLD_WORM:-}
v1=$1 v2=$2
t=$(mktemp)
trap 'rm -f "$t"' EXIT
run() {
  local label=$1 bin=$2 store=$3
  shift 3
  /usr/bin/time -f '%e %U %S' -o "$t" "$bin" verify -q "$store" "$@"
  read -r wall user sys < "$t"
  echo "{\"bench\":\"verify\",\"run\":\"$label\",\"store\":\"$store\",\"wall_s\":$wall,\"user_s\":$user,\"sys_s\":$sys,\"load\":\"$(cut -d' ' -f1 /proc/loadavg)\"}"
}
for round in 1 2 3; do
  [ -n "$old" ] && run old-v1 "$old" "$v1"
  run new-v1 "$worm" "$v1"
  run new-v2 "$worm" "$v2"
  run new-v2-c1 "$worm" "$v2" --concurrency 1
  [ -n "$old" ] && run old-v2 "$old" "$v2"
done
