"""
``python -m benchmarks [--quick] [--pin CPU] [--json PATH] [--case NAME ...]``

Runs every case, ours beside its peer in the same process, prints a table
and optionally writes JSON (see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
from typing import Any

from twisted.internet import defer, task

import twisted

from . import cases, e2e, reactor_cases, wsgi_cases
from ._runner import CaseResult, table

FULL = {
    "throughput": {"n": 20_000, "reps": 5, "threads": (1, 3, 8)},
    "sync": {"k": 3_000, "reps": 5, "threads": (1, 3, 8)},
    "stop": {"samples": 200},
    "scale": {"n": 10_000, "small": 100, "reps": 3},
    "e2e": {"threads": 3, "clients": 8, "count": 2_000, "reps": 3},
    "reactor": {"threads": (1, 3, 10), "to_thread": (1, 3), "n": 20_000, "calls": 200_000,
                "turns": 100_000, "reps": 5},
    "wsgi": {"seconds": 10.0, "reps": 1},
}
QUICK = {
    "throughput": {"n": 2_000, "reps": 2, "threads": (1, 3, 8)},
    "sync": {"k": 300, "reps": 2, "threads": (1, 3, 8)},
    "stop": {"samples": 20},
    "scale": {"n": 2_000, "small": 100, "reps": 1},
    "e2e": {"threads": 3, "clients": 8, "count": 200, "reps": 1},
    "reactor": {"threads": (1, 3, 10), "to_thread": (1, 3), "n": 2_000, "calls": 20_000,
                "turns": 10_000, "reps": 1},
    "wsgi": {"seconds": 2.0, "reps": 1},
}
CASES = ("throughput", "sync", "stop", "scale", "e2e", "reactor", "wsgi")


async def run(reactor: Any, names: list[str], plan: dict[str, Any]) -> list[CaseResult]:
    results: list[CaseResult] = []
    for name in names:
        p = plan[name]
        if name == "throughput":
            for threads in p["threads"]:
                results.append(await cases.throughput(reactor, threads, p["n"], p["reps"]))
            # Two close figures need more repetitions for a steady median.
            results.append(await cases.metrics_overhead(reactor, 3, p["n"], 2 * p["reps"] + 1))
        elif name == "sync":
            for threads in p["threads"]:
                results.append(await cases.sync_round_trip(reactor, threads, p["k"], p["reps"]))
            results.append(await cases.sync_floor(reactor, p["k"], p["reps"]))
        elif name == "stop":
            results.extend(await cases.stop_latency(reactor, p["samples"]))
        elif name == "scale":
            results.extend(await cases.scale(reactor, p["n"], p["small"], p["reps"]))
        elif name == "reactor":
            for ours, peer, suffix in reactor_cases.PAIRS:
                for threads in p["threads"]:
                    results.append(await reactor_cases.defer_throughput(
                        reactor, threads, p["n"], p["reps"], ours, peer, suffix))
                results.extend(await reactor_cases.call_from_thread(
                    reactor, p["calls"], p["reps"], ours, peer, suffix))
                results.append(await reactor_cases.lag_overhead(
                    reactor, p["turns"], 2 * p["reps"] + 1, ours, suffix))
            for threads in p["to_thread"]:
                results.append(await reactor_cases.to_thread(reactor, threads, p["n"], p["reps"]))
            results.append(await reactor_cases.future_floor(reactor, p["n"], p["reps"]))
        elif name == "wsgi":
            results.extend(await wsgi_cases.wsgi_overload(reactor, p["seconds"], p["reps"]))
        elif name == "e2e":
            results.append(await e2e.end_to_end(reactor, p["threads"], p["clients"], p["count"], p["reps"]))
        print(table(results[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    return results


def meta(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "cpu_count": os.cpu_count(),
        "loadavg": list(os.getloadavg()),
        "pinned_cpu": args.pin,
        "quick": args.quick,
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run under a minute")
    parser.add_argument("--pin", type=int, metavar="CPU", help="pin the process to one CPU")
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON here")
    parser.add_argument("--case", action="append", choices=CASES, help="run only these cases")
    args = parser.parse_args(argv)
    if args.pin is not None:
        if args.pin not in os.sched_getaffinity(0):
            parser.error(f"--pin {args.pin}: no such CPU here (have {sorted(os.sched_getaffinity(0))})")
        os.sched_setaffinity(0, {args.pin})
    plan = QUICK if args.quick else FULL
    names = args.case or list(CASES)
    outcome: dict[str, Any] = {}

    async def go(reactor: Any) -> None:
        outcome["results"] = await run(reactor, names, plan)

    try:
        task.react(lambda reactor: defer.ensureDeferred(go(reactor)))
    except SystemExit as e:
        if e.code:
            raise
    results: list[CaseResult] = outcome["results"]
    print(table(results))
    if args.json:
        directory = os.path.dirname(os.path.abspath(args.json))
        os.makedirs(directory, exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"meta": meta(args), "cases": [r.as_json() for r in results]}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
