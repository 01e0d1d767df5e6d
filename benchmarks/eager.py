"""
Case 8: gathered writes and streaming from tasks (issues 20 and 25).  Each
server runs in its own process pinned to CPU 0 (L{benchmarks.eager_server}),
its clients in another pinned to CPU 1 (L{benchmarks._load} for WebSockets,
L{benchmarks._http_load} or C{wrk} for HTTP); runs alternate between the
configurations compared.  Reported: server CPU per message (the client can
be the limit of messages per second), messages per second, and, in a
separate run under strace, C{epoll_ctl} calls per message, and the server's
context switches per message (on one CPU, each hand-off between threads
is at least one).  Every row is
run at each number of connections given (C{--clients 1,3}).

A floor row, not ours: CPU per bare round trip between a thread and the
reactor thread (C{callFromThread}, then a lock the reactor releases), on a
thread scheduled as the pool's workers are, the least a hand-off per
message costs in CPython.  The SYNC-every-message row
cannot beat C{plain on epoll / (plain on lwstp + floor)}, printed as its
bound.

    python -m benchmarks.eager [--count N] [--clients 1,3] [--reps R] [--json FILE] [--plot PNG]
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
    # Streaming from a task against the no-thread server (issue 25).
    ("demo SYNC every msg (lwstp) vs plain (epoll)", ("lwstp", "demo"), ("epoll", "plain"), 0.6),
    ("demo --window 64 (lwstp) vs plain (epoll)", ("lwstp", "demo-w64"), ("epoll", "plain"), 0.9),
    ("demo SYNC every msg vs plain, both lwstp", ("lwstp", "demo"), ("lwstp", "plain"), None),
    ("demo --window 64 vs plain, both lwstp", ("lwstp", "demo-w64"), ("lwstp", "plain"), None),
    # twisted.web small responses over kept-alive connections, from wrk.
    ("twisted.web static file, wrk", ("lwstp", "static"), ("epoll", "static"), 1.1),
    ("twisted.web dynamic resource, wrk", ("lwstp", "dynamic"), ("epoll", "dynamic"), 1.1),
    # The reactor's lag meter (issue 27), on against off, on the same server.
    ("twisted.web keep-alive, lag meter on vs off", ("lwstp+lag", "web"), ("lwstp", "web"), 0.95),
]
#: The floor, not ours (see the module docstring).
FLOOR = ("lwstp", "floor")
#: Seconds wrk runs for.
WRK_SECONDS = 2


def _env(cpu: int) -> dict[str, str]:
    return dict(os.environ, LWSTP_BENCH_CPU=str(cpu),
                PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


def _wrk(port: int, clients: int) -> dict[str, Any]:
    """wrk's report for C{clients} kept-alive connections to C{port}, as L{benchmarks._load}'s."""
    argv = ["wrk", "-t1", f"-c{clients}", f"-d{WRK_SECONDS}s", f"http://127.0.0.1:{port}/"]
    if shutil.which("taskset"):
        argv = ["taskset", "-c", "1", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=BOUND, check=True).stdout
    match = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if match is None or "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk said: {out}")
    seconds = float(match.group(2)) / (1000 if match.group(3) == "ms" else 1)
    return {"messages": int(match.group(1)), "seconds": seconds}


def run_once(reactor: str, kind: str, count: int, clients: int,
             strace_to: str | None = None) -> dict[str, float]:
    # wrk connects once first, to try the address: one more connection.
    served = clients + 1 if kind in ("static", "dynamic") else clients
    argv = [sys.executable, "-m", "benchmarks.eager_server", reactor, kind, str(count),
            str(served)]
    if strace_to is not None:
        argv = ["strace", "-f", "-qq", "-c", "-e", "trace=epoll_ctl", "-o", strace_to, *argv]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=_env(0), cwd=ROOT)
    try:
        assert server.stdout is not None
        if kind == "floor":
            report: dict[str, Any] = {}
        else:
            line = server.stdout.readline()
            if not line.startswith("PORT "):
                raise RuntimeError(
                    f"server said {line!r}: {server.stderr.read() if server.stderr else ''}")
            port = int(line.split()[1])
            if kind in ("static", "dynamic"):
                report = _wrk(port, clients)
            else:
                client = (["benchmarks._http_load", str(port), str(clients), str(count)]
                          if kind == "web" else ["benchmarks._load", str(port), str(clients)])
                load = subprocess.run([sys.executable, "-m", *client],
                                      capture_output=True, text=True, env=_env(1), cwd=ROOT,
                                      timeout=BOUND, check=True)
                report = json.loads(load.stdout)
        out, _ = server.communicate(timeout=BOUND)
    finally:
        if server.poll() is None:
            server.kill()
    last = json.loads(out.strip().splitlines()[-1])
    if kind == "floor":
        # The trips take as long as the CPU they use: one pinned process.
        report = {"messages": last["messages"], "seconds": last["cpu"]}
    elif kind not in ("static", "dynamic"):
        # A WebSocket client also gets the closing "finished" message, and
        # the demo's client its task's "pos 0" when a thread takes it.
        expected = clients * (count if kind == "web" else
                              count + 1 if kind == "plain" else count + 2)
        if report["messages"] != expected or report.get("out_of_order", 0):
            raise RuntimeError(f"expected {expected} messages in order, got {report}")
    cpu = last["cpu"]
    result = {"cpu_us_per_msg": 1e6 * cpu / report["messages"],
              "msgs_per_s": report["messages"] / report["seconds"],
              "switches_per_msg": last["switches"] / report["messages"]}
    if strace_to is not None:
        with open(strace_to) as f:
            match = re.search(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?epoll_ctl$", f.read(), re.M)
        result["epoll_ctl_per_msg"] = (int(match.group(1)) if match else 0) / report["messages"]
    return result


def _row(name: str, ours: tuple[str, str], peer: tuple[str, str], target: float | None,
         runs: dict[tuple[str, str], list[dict[str, float]]],
         straced: dict[tuple[str, str], float]) -> dict[str, Any]:
    cpu_o = statistics.median(r["cpu_us_per_msg"] for r in runs[ours])
    cpu_p = statistics.median(r["cpu_us_per_msg"] for r in runs[peer])
    ratios = [p["cpu_us_per_msg"] / o["cpu_us_per_msg"]
              for o, p in zip(runs[ours], runs[peer], strict=True)]
    ratio = statistics.median(ratios)
    return {"case": name, "ours": ours, "peer": peer, "cpu_us_per_msg": [cpu_o, cpu_p],
            "ratio": ratio, "target": target,
            "msgs_per_s": [statistics.median(r["msgs_per_s"] for r in runs[ours]),
                           statistics.median(r["msgs_per_s"] for r in runs[peer])],
            "epoll_ctl_per_msg": [straced.get(ours), straced.get(peer)],
            "switches_per_msg": [statistics.median(r["switches_per_msg"] for r in runs[ours]),
                                 statistics.median(r["switches_per_msg"] for r in runs[peer])],
            "met": None if target is None else ratio >= target, "runs": [runs[ours], runs[peer]]}


def run_clients(count: int, clients: int, reps: int) -> dict[str, Any]:
    """Every row at C{clients} connections: runs alternate, then one strace run each."""
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    configs = sorted({c for _, a, b, _ in ROWS for c in (a, b)} | {FLOOR})
    for rep in range(reps):
        for config in configs if rep % 2 == 0 else list(reversed(configs)):
            runs.setdefault(config, []).append(run_once(*config, count, clients))
    straced: dict[tuple[str, str], float] = {}
    if shutil.which("strace"):
        with tempfile.TemporaryDirectory() as tmp:
            for config in configs:
                if config != FLOOR:
                    path = os.path.join(tmp, "-".join(config))
                    straced[config] = run_once(*config, count, clients,
                                               strace_to=path)["epoll_ctl_per_msg"]
    rows = [_row(name, ours, peer, target, runs, straced) for name, ours, peer, target in ROWS]
    floor = statistics.median(r["cpu_us_per_msg"] for r in runs[FLOOR])
    plain_epoll = statistics.median(r["cpu_us_per_msg"] for r in runs[("epoll", "plain")])
    plain_lwstp = statistics.median(r["cpu_us_per_msg"] for r in runs[("lwstp", "plain")])
    return {"clients": clients, "rows": rows, "floor_us_per_trip": floor,
            "floor_runs": runs[FLOOR],
            "sync_bound": plain_epoll / (plain_lwstp + floor)}


def report(result: dict[str, Any]) -> None:
    print(f"\n{result['clients']} connection(s)")
    print(f"{'case':46} {'server CPU us/msg ours/peer':>28} {'ratio':>6} {'target':>7} "
          f"{'msgs/s ours/peer':>22} {'epoll_ctl/msg ours/peer':>24} "
          f"{'switches/msg ours/peer':>23}")
    for row in result["rows"]:
        cpu_o, cpu_p = row["cpu_us_per_msg"]
        rate_o, rate_p = row["msgs_per_s"]
        target = row["target"]
        ctl = "/".join("-" if v is None else f"{v:.3f}" for v in row["epoll_ctl_per_msg"])
        switches = "/".join(f"{v:.2f}" for v in row["switches_per_msg"])
        print(f"{row['case']:46} {cpu_o:13.2f}/{cpu_p:<13.2f} {row['ratio']:6.2f} "
              f"{'-' if target is None else f'>={target:.2f}':>7} {rate_o:10.0f}/{rate_p:<11.0f} "
              f"{ctl:>24} {switches:>23}")
    floor_switches = statistics.median(r["switches_per_msg"] for r in result["floor_runs"])
    print(f"{'floor: bare thread round trip (not ours)':46} {result['floor_us_per_trip']:13.2f} "
          f"us/trip, {floor_switches:.2f} switches/trip; bound of the SYNC row: "
          f"{result['sync_bound']:.2f}")


def plot(results: list[dict[str, Any]], path: str) -> None:
    """Server CPU per message of each configuration, per connection count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = {("epoll", "plain"): "plain WS, epoll", ("lwstp", "plain"): "plain WS, lwstp",
             ("lwstp", "demo"): "demo SYNC, lwstp", ("lwstp", "demo-w64"): "demo window 64, lwstp",
             ("epoll", "dynamic"): "web dynamic, epoll", ("lwstp", "dynamic"): "web dynamic, lwstp",
             ("epoll", "static"): "web static, epoll", ("lwstp", "static"): "web static, lwstp"}
    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    for axis, result in zip(axes[0], results, strict=True):
        cpu: dict[tuple[str, str], float] = {}
        for row in result["rows"]:
            for config, value in zip((row["ours"], row["peer"]), row["cpu_us_per_msg"],
                                     strict=True):
                cpu[tuple(config)] = value  # type: ignore[index]
        shown = [c for c in names if c in cpu]
        axis.barh([names[c] for c in shown], [cpu[c] for c in shown])
        axis.axvline(result["floor_us_per_trip"], linestyle="--", color="grey",
                     label="floor: a bare thread round trip")
        axis.set_xlabel("server CPU per message or request (us)")
        axis.set_title(f"{result['clients']} connection(s)")
        axis.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--clients", default="1,3")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--json")
    parser.add_argument("--plot")
    args = parser.parse_args(argv)
    results = []
    for clients in (int(c) for c in args.clients.split(",")):
        result = run_clients(args.count, clients, args.reps)
        report(result)
        results.append(result)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"count": args.count, "reps": args.reps, "results": results}, f, indent=1)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
