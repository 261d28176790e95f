"""gRPC load for scripts/bench-serve.sh: CLIENTS threads, each on its own channel, send the
serialized ExportLogsServiceRequest FILE N times, one call after another; prints
"<status> <seconds>" per call (status 200 for OK), like curl's -w in the HTTP runs.

    grpc_load.py ADDR FILE CLIENTS N
"""

import sys
import threading
import time

import grpc

addr, path, clients, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
body = open(path, "rb").read()
out = []
lock = threading.Lock()


def run():
    ch = grpc.insecure_channel(addr)
    call = ch.unary_unary("/opentelemetry.proto.collector.logs.v1.LogsService/Export")
    mine = []
    for _ in range(n):
        s = time.perf_counter()
        try:
            call(body, timeout=30)
            code = 200
        except grpc.RpcError as e:
            code = e.code().value[0]
        mine.append(f"{code} {time.perf_counter() - s:.6f}")
    with lock:
        out.extend(mine)


ts = [threading.Thread(target=run) for _ in range(clients)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print("\n".join(out))
