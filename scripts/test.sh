#!/usr/bin/env bash
# The project's test command (README): unit tests, the conformance suite on memory and fs,
# and the integration suites against real S3 servers with Object Lock on 127.0.0.1
# (Ceph RADOS Gateway and SeaweedFS), which this script installs and starts if needed.
#
#   scripts/test.sh            everything (servers are required: a missing server fails)
#   WORM_TEST_NO_S3=1 scripts/test.sh   only what needs no S3 server
set -euo pipefail
cd "$(dirname "$0")/.."

# The hostile store (integration-tests/tests/hostile_store.rs) against the release binary:
# its time and memory bounds are about what ships, not about an unoptimised build.
hostile_store() {
  cargo build --release -p worm-cli --no-default-features --bin worm
  WORM_BIN="$PWD/target/release/worm" cargo test -p integration-tests --test hostile_store -- --ignored
}

if [ "${WORM_TEST_NO_S3:-0}" = 1 ]; then
  cargo test --workspace
  hostile_store
  exit 0
fi

servers=(ceph seaweedfs)
for s in "${servers[@]}"; do scripts/s3-server.sh start "$s"; done

# 1. Everything, with the S3 suites pointed at Ceph RGW.
(
  eval "$(scripts/s3-server.sh env ceph)"
  export WORM_TEST_REQUIRE_S3=1 WORM_TEST_S3_SERVER=ceph
  cargo test --workspace --no-fail-fast
)
# 2. The S3 suites again against SeaweedFS, a second implementation.
(
  eval "$(scripts/s3-server.sh env seaweedfs)"
  export WORM_TEST_REQUIRE_S3=1 WORM_TEST_S3_SERVER=seaweedfs
  cargo test -p worm-s3 --lib
  cargo test -p integration-tests --test 's3_*'
  cargo test -p worm-cli --test s3
)
# 3. The hostile store, release binary.
hostile_store
