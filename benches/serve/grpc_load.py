"""gRPC load for scripts/bench-serve.sh: CLIENTS threads, each on its own channel, send the
serialized ExportLogsServiceRequest FILE N times, one call after another; prints
"<status> <seconds>" per call (200 for OK, else the gRPC status name), like curl's -w in the HTTP runs.
With RATE (calls per minute per client, as curl --rate N/m; 0 or absent: no pause), a
client starts a call at most every 60/RATE s. With START_AT (seconds since the epoch), the
first call waits until then, so that several processes (one client each: no shared
interpreter lock, as separate curl processes) start together once their imports are
done; the last line is then "# end <seconds since the epoch>".

    grpc_load.py ADDR FILE CLIENTS N [RATE [START_AT]]
"""

import sys
import threading
import time

import grpc

addr, path, clients, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rate = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
gap = 60.0 / rate if rate > 0 else 0.0
start_at = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
body = open(path, "rb").read()
out = []
lock = threading.Lock()


def run():
    ch = grpc.insecure_channel(addr)
    call = ch.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
    mine = []
    start = time.perf_counter()
    for i in range(n):
        if gap:
            time.sleep(max(0.0, start + i * gap - time.perf_counter()))
        s = time.perf_counter()
        try:
            call(body, timeout=30)
            code = 200
        except grpc.RpcError as e:
            code = e.code().name
        mine.append(f"{code} {time.perf_counter() - s:.6f}")
    with lock:
        out.extend(mine)


if start_at:
    time.sleep(max(0.0, start_at - time.time()))
ts = [threading.Thread(target=run) for _ in range(clients)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("\n".join(out))
if start_at:
    print(f"# end {time.time():.6f}")
