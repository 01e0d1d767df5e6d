"""
Case 8: eager writes (issue 20).  Each server runs in its own process
pinned to CPU 0 (L{benchmarks.eager_server}), its WebSocket clients in
another pinned to CPU 1 (L{benchmarks._load}); runs alternate between the
reactors compared.  Reported: server CPU per message (the client can be the
limit of messages per second), messages per second, and, in a separate run
under strace, C{epoll_ctl} calls per message.

    python -m benchmarks.eager [--count N] [--clients C] [--reps R] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOUND = 240

#: (row, ours, peer, target of the CPU-per-message ratio peer/ours).
ROWS = [
    ("plain WebSocket server, no threads", ("lwstp", "plain"), ("epoll", "plain"), 1.4),
    ("demo, SYNC every message", ("lwstp", "demo"), ("epoll", "demo"), 1.25),
    ("demo on lwstp vs plain server on epoll", ("lwstp", "demo"), ("epoll", "plain"), None),
    ("twisted.web small responses, keep-alive", ("lwstp", "web"), ("epoll", "web"), None),
    # The reactor's lag meter (issue 27), on against off, on the same server.
    ("twisted.web keep-alive, lag meter on vs off", ("lwstp+lag", "web"), ("lwstp", "web"), 0.95),
]


def _env(cpu: int) -> dict[str, str]:
    return dict(os.environ, LWSTP_BENCH_CPU=str(cpu),
                PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def run_once(reactor: str, kind: str, count: int, clients: int,
             strace_to: str | None = None) -> dict[str, float]:
    argv = [sys.executable, "-m", "benchmarks.eager_server", reactor, kind, str(count),
            str(clients)]
    if strace_to is not None:
        argv = ["strace", "-f", "-qq", "-c", "-e", "trace=epoll_ctl", "-o", strace_to, *argv]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(0), cwd=ROOT)
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"server said {line!r}: {server.stderr.read() if server.stderr else ''}")
        port = int(line.split()[1])
        client = (["benchmarks._http_load", str(port), str(clients), str(count)] if kind == "web"
                  else ["benchmarks._load", str(port), str(clients)])
        load = subprocess.run([sys.executable, "-m", *client],
                              capture_output=True, text=True, env=_env(1), cwd=ROOT,
                              timeout=BOUND, check=True)
        report = json.loads(load.stdout)
        out, _ = server.communicate(timeout=BOUND)
    finally:
        if server.poll() is None:
            server.kill()
    # A WebSocket client also gets the closing "finished" message, and the
    # demo's client its task's "pos 0" when a thread takes it.
    expected = clients * {"web": count, "plain": count + 1, "demo": count + 2}[kind]
    if report["messages"] != expected:
        raise RuntimeError(f"expected {expected} messages, got {report}")
    cpu = json.loads(out.strip().splitlines()[-1])["cpu"]
    result = {"cpu_us_per_msg": 1e6 * cpu / report["messages"],
              "msgs_per_s": report["messages"] / report["seconds"]}
    if strace_to is not None:
        with open(strace_to) as f:
            match = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?epoll_ctl$", f.read(), re.M)
        result["epoll_ctl_per_msg"] = (int(match.group(1)) if match else 0) / report["messages"]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    configs = sorted({c for _, a, b, _ in ROWS for c in (a, b)})
    for rep in range(args.reps):
        for config in configs if rep % 2 == 0 else list(reversed(configs)):
            runs.setdefault(config, []).append(run_once(*config, args.count, args.clients))
    straced: dict[tuple[str, str], float] = {}
    if shutil.which("strace"):
        with tempfile.TemporaryDirectory() as tmp:
            for config in configs:
                path = os.path.join(tmp, "-".join(config))
                straced[config] = run_once(*config, args.count, args.clients,
                                           strace_to=path)["epoll_ctl_per_msg"]
    rows: list[dict[str, Any]] = []
    print(f"{'case':42} {'server CPU us/msg ours/peer':>28} {'ratio':>6} {'target':>7} "
          f"{'msgs/s ours/peer':>22} {'epoll_ctl/msg ours/peer':>24}")
    for name, ours, peer, target in ROWS:
        cpu_o = statistics.median(r["cpu_us_per_msg"] for r in runs[ours])
        cpu_p = statistics.median(r["cpu_us_per_msg"] for r in runs[peer])
        rate_o = statistics.median(r["msgs_per_s"] for r in runs[ours])
        rate_p = statistics.median(r["msgs_per_s"] for r in runs[peer])
        ratios = [p["cpu_us_per_msg"] / o["cpu_us_per_msg"]
                  for o, p in zip(runs[ours], runs[peer], strict=True)]
        ratio = statistics.median(ratios)
        row = {"case": name, "ours": ours, "peer": peer, "cpu_us_per_msg": [cpu_o, cpu_p],
               "ratio": ratio, "target": target, "msgs_per_s": [rate_o, rate_p],
               "epoll_ctl_per_msg": [straced.get(ours), straced.get(peer)],
               "met": None if target is None else ratio >= target, "runs": [runs[ours], runs[peer]]}
        rows.append(row)
        ctl = "/".join("-" if v is None else f"{v:.3f}" for v in row["epoll_ctl_per_msg"])
        print(f"{name:42} {cpu_o:13.2f}/{cpu_p:<13.2f} {ratio:6.2f} "
              f"{'-' if target is None else f'>={target:.2f}':>7} {rate_o:10.0f}/{rate_p:<11.0f} {ctl:>24}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"count": args.count, "clients": args.clients, "reps": args.reps,
                       "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
