"""
``python -m soak [--seconds 60] [--clients 200] [--json PATH]``

The chaos soak: the demo server with small tasks, in this process, and a
load generator in its own process keeping CLIENTS WebSocket clients busy
for SECONDS (see soak/_clients.py).  At the end it checks, from the
server's own counters: tasks enqueued = cleanups run = completion Deferreds
fired; refusals = 503 answers seen by clients; nothing left in the pool
once the clients are gone; its threads back to the configured count; RSS
growth after warm-up under 10%.  Prints the numbers; exits 1 if a check
fails.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from twisted.internet import defer, task
from twisted.internet.endpoints import serverFromString

from loadgen.process import CHILD_TIMEOUT, run_module
from twisted_lwstp import Diagnosis, ThreadPool
from twisted_lwstp._worker import live_worker_threads
from twisted_lwstp.demo import DemoService, TaskShape


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def soak(reactor: Any, args: argparse.Namespace) -> dict[str, Any]:
    pool = ThreadPool(args.threads, args.max_queue_depth, "soak", reactor=reactor, sync_timeout=30)
    shape = TaskShape(count=400, checkin_every=20, sync_every=10, pause_ms=2)
    service = DemoService(serverFromString(reactor, "tcp:0:interface=127.0.0.1"), pool, shape,
                          reactor=reactor)
    service.startService()
    port = service.port.getHost().port

    samples: dict[str, int] = {}
    reactor.callLater(args.seconds / 3, lambda: samples.setdefault("warm", rss_bytes()))

    started = time.monotonic()
    out = await run_module(reactor, "soak._clients", str(port), str(args.clients),
                           str(args.seconds), str(args.seed),
                           timeout=args.seconds + CHILD_TIMEOUT)
    clients = json.loads(out)

    # The clients are gone; let the server notice every close and the pool
    # reap every task (detached tasks stop within a check-in).
    factory = service.factory
    closed = factory.when_all_closed()
    closed.addTimeout(30, reactor)
    await closed
    idle = Diagnosis(0, args.threads, 0, 0)
    for _ in range(3000):
        if pool.diagnose() == idle:
            break
        await task.deferLater(reactor, 0.01, lambda: None)
    diagnosis = pool.diagnose()
    threads_alive = len(live_worker_threads())
    samples.setdefault("warm", rss_bytes())
    final_rss = rss_bytes()
    stats = factory.stats
    await service.stopService()
    result = {
        "seconds": round(time.monotonic() - started, 1),
        "clients": args.clients,
        "server": vars(stats).copy(),
        "load": clients,
        "diagnose_after": diagnosis._asdict(),
        "threads_configured": args.threads,
        "threads_alive_after": threads_alive,
        "threads_alive_after_stop": len(live_worker_threads()),
        "rss_warm_mb": round(samples["warm"] / 2**20, 1),
        "rss_final_mb": round(final_rss / 2**20, 1),
        "rss_growth_pct": round(100.0 * (final_rss - samples["warm"]) / samples["warm"], 2),
    }
    checks = {
        "enqueued = cleanups = completions": stats.enqueued == stats.cleanups == stats.completed,
        "refusals = 503 answers seen by clients": stats.refused == clients.get("refused 503", 0),
        "nothing left in the pool": diagnosis == idle,
        "threads back to the configured count": threads_alive == args.threads
        and diagnosis.threads == args.threads,
        "no worker thread after stop": result["threads_alive_after_stop"] == 0,
        "RSS growth after warm-up under 10%": result["rss_growth_pct"] < 10.0,
        "every behaviour happened": all(
            clients.get(f"behaviour {b}", 0) > 0
            for b in ("read_all", "close_mid_task", "close_in_sync", "never_read")
        ),
    }
    result["checks"] = checks
    result["ok"] = all(checks.values())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--threads", type=int, default=3)
    parser.add_argument("--max-queue-depth", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="also write the report here")
    args = parser.parse_args(argv)
    outcome: dict[str, Any] = {}

    async def go(reactor: Any) -> None:
        outcome["result"] = await soak(reactor, args)

    try:
        task.react(lambda reactor: defer.ensureDeferred(go(reactor)))
    except SystemExit as e:
        if e.code:
            raise
    result = outcome["result"]
    s, c = result["server"], result["load"]
    print(f"soak: {result['seconds']} s, {result['clients']} clients, "
          f"{c.get('connections', 0)} connections, {c.get('messages', 0)} messages")
    print(f"  enqueued {s['enqueued']}, cleanups {s['cleanups']}, completions {s['completed']}")
    print(f"  refused {s['refused']}, 503 answers seen by clients {c.get('refused 503', 0)}")
    print(f"  after: {result['diagnose_after']}, threads alive {result['threads_alive_after']}"
          f" of {result['threads_configured']}, after stop {result['threads_alive_after_stop']}")
    print(f"  RSS {result['rss_warm_mb']} MB after warm-up, {result['rss_final_mb']} MB at the end"
          f" ({result['rss_growth_pct']:+.2f}%)")
    for name, ok in result["checks"].items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    print("SOAK-JSON " + json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
