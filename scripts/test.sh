#!/usr/bin/env bash
# The project's test command (README): unit tests, the conformance suite on memory and fs,
# and the integration suites against real S3 servers with Object Lock on 127.0.0.1
# (Ceph RADOS Gateway and SeaweedFS as local processes, which this script installs and starts
# if needed, and SeaweedFS in a container that testcontainers starts from the local image
# scripts/s3-image.sh builds), plus the Docker fault drills.
#
#   scripts/test.sh            everything (servers and a Docker engine are required: missing fails)
#   WORM_TEST_NO_S3=1 scripts/test.sh      only what needs no S3 server
#   WORM_TEST_NO_DOCKER=1 scripts/test.sh  everything but the Docker suite
set -euo pipefail
cd "$(dirname "$0")/.."

# The hostile store (integration-tests/tests/hostile_store.rs) against the release binary:
# its time and memory bounds are about what ships, not about an unoptimised build.
hostile_store() {
  cargo build --release -p worm-cli --no-default-features --bin worm
  WORM_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/worm" \
    cargo test --workspace "${features[@]}" --lib --test hostile_store -- --ignored
}

# The OpenTelemetry Python SDK (pinned, from PyPI) that the `worm serve` tests send through:
# installed once here, so a missing SDK fails loudly before the tests start.
scripts/otel-venv.sh >/dev/null
# curl and openssl: the `worm serve` tests' HTTP clients and their TLS certificates.
for t in curl openssl; do
  command -v "$t" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$t" >/dev/null; }
done

# The tamper and completeness suites again on encrypted stores (records sealed to an age
# recipient): every tamper kind must be found by a verifier that holds no identity.
encrypted_suites() {
  WORM_TEST_ENCRYPT=1 cargo test --workspace "${features[@]}" --lib --test tamper --test completeness
}

# One build for every step: each `cargo test` below selects the whole workspace with the
# same features, and names its test targets together with `--lib` (so that every
# package's dev-dependencies take part in feature resolution as in the full run). A `-p`
# selection, or targets without `--lib`, resolves features differently and recompiles
# much of the tree (measured: the Docker steps alone rebuilt ~45 crates).
features=()
step() { echo "test.sh: $1 ($(($(date +%s) - t0)) s so far)" >&2; }
t0=$(date +%s)

if [ "${WORM_TEST_NO_S3:-0}" = 1 ]; then
  cargo test --workspace
  encrypted_suites
  hostile_store
  exit 0
fi

docker_suite=1
[ "${WORM_TEST_NO_DOCKER:-0}" = 1 ] && docker_suite=0
if [ "$docker_suite" = 1 ] && ! docker info >/dev/null 2>&1; then
  echo "test.sh: no Docker engine (docker info failed); the Docker suite requires one" \
    "(WORM_TEST_NO_DOCKER=1 skips it)" >&2
  exit 1
fi
# The Docker fault drills (tests named drill_*) run in step 4 only, with their figures.
[ "$docker_suite" = 1 ] && features=(--features worm-cli/docker)

servers=(ceph seaweedfs)
for s in "${servers[@]}"; do scripts/s3-server.sh start "$s"; done

# 1. Everything, with the S3 suites pointed at Ceph RGW.
(
  eval "$(scripts/s3-server.sh env ceph)"
  export WORM_TEST_REQUIRE_S3=1 WORM_TEST_S3_SERVER=ceph
  step "1. everything, S3 suites on Ceph RGW"
  cargo test --workspace "${features[@]}" --no-fail-fast -- --skip drill_
)
# 2. The S3 suites again against SeaweedFS, a second implementation.
(
  eval "$(scripts/s3-server.sh env seaweedfs)"
  export WORM_TEST_REQUIRE_S3=1 WORM_TEST_S3_SERVER=seaweedfs
  step "2. the S3 suites on SeaweedFS"
  cargo test --workspace "${features[@]}" --lib --test 's3_*' --test s3
)
# 3. The hostile store, release binary; the tamper suites on encrypted stores.
step "3. hostile store (release binary), encrypted tamper suites"
hostile_store
encrypted_suites
# 4. The S3 suites against SeaweedFS in a container that testcontainers starts from the local
#    image (one per test binary, on 127.0.0.1), and the Docker fault drills.
if [ "$docker_suite" = 1 ]; then
  scripts/s3-image.sh >/dev/null
  (
    unset WORM_TEST_S3_ENDPOINT WORM_TEST_S3_SERVER
    export WORM_TEST_REQUIRE_S3=1 WORM_TEST_REQUIRE_DOCKER=1 WORM_TEST_DOCKER_S3=seaweedfs
    start=$(date +%s)
    step "4. the S3 suites on SeaweedFS in a container, the Docker fault drills"
    # worm-s3's one server test reads WORM_TEST_S3_ENDPOINT itself (no container); it ran
    # against both servers in steps 1 and 2.
    cargo test --workspace "${features[@]}" --lib --test 's3_*' --test s3 \
      -- --skip server_refuses_a_body_that_does_not_match_the_sha256_sent
    # --nocapture: each drill prints its figures (sent, stored, duplicates, peak RSS).
    cargo test --workspace "${features[@]}" --lib --test docker_faults -- --nocapture drill_
    echo "test.sh: Docker suite took $(($(date +%s) - start)) s" >&2
  )
  # The replication outage drill: fs, Ceph (the shared server) and SeaweedFS in its own
  # container, which is paused for 30 s mid-run (the shared servers are never stopped).
  (
    eval "$(scripts/s3-server.sh env ceph)"
    export WORM_TEST_REQUIRE_S3=1 WORM_TEST_S3_SERVER=ceph WORM_TEST_REQUIRE_DOCKER=1
    cargo test --workspace "${features[@]}" --lib --test replication_outage -- --nocapture drill_
  )
fi
step "done"

