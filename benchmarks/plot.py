"""
``python -m benchmarks.plot RESULTS.json [MORE.json ...] --out DIR``

Plots cases 1 and 2 against thread count (one line per run, e.g. pinned and
unpinned) as PNGs, and writes every run's table as results.md, for the docs.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(meta: dict[str, Any]) -> str:
    pin = meta.get("pinned_cpu")
    return "pinned to one CPU" if pin is not None else "unpinned"


def plot(runs: list[dict[str, Any]], case: str, ylabel: str, title: str, path: str) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for run in runs:
        rows = sorted((c for c in run["cases"] if c["case"] == case), key=lambda c: c["threads"])
        if not rows:
            continue
        threads = [c["threads"] for c in rows]
        name = label(run["meta"])
        left.plot(threads, [c["ours"] for c in rows], "o-", label=f"twisted_lwstp, {name}")
        left.plot(threads, [c["peer"] for c in rows], "s--", label=f"Twisted, {name}")
        right.plot(threads, [c["ratio"] for c in rows], "o-", label=name)
        target = rows[0]["target"]
    left.set_xlabel("threads")
    left.set_ylabel(ylabel)
    left.set_title(title)
    left.legend(fontsize=8)
    right.axhline(target, color="grey", linestyle=":", label=f"target {target:.2f}")
    right.set_xlabel("threads")
    right.set_ylabel("speed-up (above 1: ours is better)")
    right.set_title("ratio within each repetition (median)")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.set_xticks(sorted({c["threads"] for r in runs for c in r["cases"] if c["case"] == case}))
        axis.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def markdown(run: dict[str, Any]) -> str:
    """One run's results as a Markdown table, with its conditions."""
    meta = run["meta"]
    lines = [
        f"*{label(meta)}; Python {meta['python']}, Twisted {meta['twisted']}, "
        f"{meta['cpu_count']} CPUs, load average {meta['loadavg'][0]:.2f}, {meta['date']}*",
        "",
        "| case | threads | unit | ours | peer | speed-up | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in run["cases"]:
        peer = "-" if c["peer"] is None else f"{c['peer']:.4g}"
        ratio = "-" if c["ratio"] is None else f"{c['ratio']:.2f}"
        if c["target"] is None:
            target = "-"
        elif c["ratio"] is not None:
            target = f">= {c['target']:.2f}"
        else:
            target = f"<= {c['target']:g}" if not c["higher_is_better"] else f">= {c['target']:g}"
        met = "-" if c["met"] is None else ("yes" if c["met"] else "**no**")
        threads = "-" if c["threads"] is None else c["threads"]
        lines.append(f"| {c['case']} | {threads} | {c['unit']} | {c['ours']:.4g} | {peer} "
                     f"| {ratio} | {target} | {met} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.plot", description=__doc__)
    parser.add_argument("results", nargs="+", help="JSON files written by python -m benchmarks")
    parser.add_argument("--out", required=True, help="directory for the PNGs")
    args = parser.parse_args(argv)
    runs = []
    for path in args.results:
        with open(path) as f:
            runs.append(json.load(f))
    os.makedirs(args.out, exist_ok=True)
    plot(runs, "throughput", "tasks per second", "Case 1: throughput",
         os.path.join(args.out, "throughput.png"))
    plot(runs, "sync round trip", "microseconds per round trip", "Case 2: sync round trip",
         os.path.join(args.out, "sync.png"))
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write("\n".join(markdown(run) for run in runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
