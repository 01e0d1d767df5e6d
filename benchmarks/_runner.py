"""
Running a case: ours and its peer alternately, several repetitions, medians
and the ratio taken within each repetition.
"""

from __future__ import annotations

import statistics
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Measure = Callable[[], Awaitable[float]]


@dataclass
class CaseResult:
    """
    One case at one thread count.  C{ratio} is the speed-up (above 1: ours
    is better): ours / peer for rates, peer / ours for times; C{target} is
    in the same terms.  A case without a peer gives its own figure in
    C{ours} and its bound in C{target}.
    """

    case: str
    threads: int | None
    unit: str
    ours: float
    peer: float | None
    ratio: float | None
    target: float | None
    met: bool | None
    higher_is_better: bool = True
    reps: int = 0
    samples: dict[str, list[float]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("ours", "peer", "ratio"):
            values = self.samples.get(key)
            if values:
                out[f"{key}_min"] = min(values)
                out[f"{key}_max"] = max(values)
        return out


async def compare(
    case: str,
    threads: int | None,
    unit: str,
    ours: Measure,
    peer: Measure,
    reps: int,
    target: float,
    higher_is_better: bool,
) -> CaseResult:
    """
    Run ours and the peer alternately (the order flips each repetition, so
    neither always runs on a warmer machine) and compare them.
    """
    mine: list[float] = []
    theirs: list[float] = []
    ratios: list[float] = []
    for rep in range(reps):
        if rep % 2 == 0:
            a = await ours()
            b = await peer()
        else:
            b = await peer()
            a = await ours()
        mine.append(a)
        theirs.append(b)
        ratios.append(a / b if higher_is_better else b / a)
    ratio = statistics.median(ratios)
    return CaseResult(
        case, threads, unit, statistics.median(mine), statistics.median(theirs), ratio,
        target, ratio >= target, higher_is_better, reps,
        {"ours": mine, "peer": theirs, "ratio": ratios},
    )


def table(results: list[CaseResult]) -> str:
    """
    The results as a fixed-width text table.
    """
    head = f"{'case':<26}{'threads':>8}{'unit':>14}{'ours':>12}{'peer':>12}{'ratio':>8}{'target':>9}  met"
    lines = [head, "-" * len(head)]
    for r in results:
        peer = f"{r.peer:>12.4g}" if r.peer is not None else f"{'-':>12}"
        ratio = f"{r.ratio:>8.2f}" if r.ratio is not None else f"{'-':>8}"
        if r.target is None:
            target = "-"
        elif r.ratio is not None:
            target = f">={r.target:.2f}"
        else:
            target = f"<={r.target:g}" if not r.higher_is_better else f">={r.target:g}"
        met = "-" if r.met is None else ("yes" if r.met else "NO")
        threads = "-" if r.threads is None else str(r.threads)
        lines.append(
            f"{r.case:<26}{threads:>8}{r.unit:>14}{r.ours:>12.4g}{peer}{ratio}{target:>9}  "
            f"{met}"
        )
    return "\n".join(lines)
