"""
The keep-alive HTTP client of the eager-write case, as its own process:
``python -m benchmarks._http_load PORT CLIENTS COUNT``.  Each of CLIENTS
threads sends COUNT small GET requests, one at a time, over one kept-alive
connection, reading each whole response before the next; prints
``{"messages": N, "seconds": S, "closes": [1000, ...]}`` as JSON (the shape
of L{benchmarks._load}'s report, so one driver reads both).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


def client(port: int, count: int, done: list[int]) -> None:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    pending = b""
    for _ in range(count):
        sock.sendall(REQUEST)
        while True:
            head, sep, rest = pending.partition(b"\r\n\r\n")
            if sep:
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if len(rest) >= length:
                    pending = rest[length:]
                    break
            data = sock.recv(65536)
            if not data:
                raise RuntimeError("server closed the connection")
            pending += data
        done.append(1)
    sock.close()


def main() -> None:
    port, clients, count = (int(a) for a in sys.argv[1:4])
    cpu = os.environ.get("LWSTP_BENCH_CPU")
    if cpu is not None:
        os.sched_setaffinity(0, {int(cpu)})
    done: list[int] = []
    start = time.perf_counter()
    threads = [threading.Thread(target=client, args=(port, count, done)) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    print(json.dumps({"messages": len(done), "seconds": seconds, "closes": [1000] * clients}))


if __name__ == "__main__":
    main()
