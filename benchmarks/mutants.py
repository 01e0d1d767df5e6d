"""
The report of the last mutation run (``make mutants``): the score, the
count of each verdict per module, and every surviving mutant with its
diff, read from mutmut's own results in ``mutants/``.

Run from the checkout's top folder, after ``mutmut run``::

    python -m benchmarks.mutants > docs/benchmarks/mutants.txt
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import UTC, datetime

MUTMUT = os.path.join(os.path.dirname(sys.executable), "mutmut")
#: mutmut's verdicts, as ``mutmut results`` names them.  A timeout is
#: neither a kill nor a survivor: the mutant made a test hang, which may be
#: the mutant's doing or the bound's, so it is reported apart and left out
#: of the score.
KILLED = "killed"
SURVIVED = "survived"


def score(counts: Counter[str]) -> str:
    """killed / (killed + survived), as a percentage, or '-' if neither."""
    judged = counts[KILLED] + counts[SURVIVED]
    return f"{100 * counts[KILLED] / judged:.1f}%" if judged else "-"


def results() -> list[tuple[str, str]]:
    """(mutant name, verdict) for every mutant of the last run."""
    out = subprocess.run([MUTMUT, "results", "--all", "true"], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    found = []
    for line in out.splitlines():
        name, sep, verdict = line.strip().rpartition(": ")
        if sep:
            found.append((name, verdict))
    return found


def module_of(name: str) -> str:
    """The module a mutant name is in (the part before the mangled function)."""
    head = name.split(".x\u01c1", 1)[0] if ".x\u01c1" in name else name
    parts = head.split(".")
    while parts and ("__mutmut_" in parts[-1] or parts[-1].startswith("x_")):
        parts.pop()
    return ".".join(parts)


def diff(name: str, verdict: str) -> str:
    """
    The mutant's diff, as ``mutmut show`` prints it: through mutmut's own
    function in this process (a process per mutant takes minutes for a few
    hundred), else through ``mutmut show``.
    """
    try:
        from mutmut.mutation.diff_apply import get_diff_for_mutant
    except ImportError:  # another mutmut than the one pinned in pyproject.toml
        return subprocess.run([MUTMUT, "show", name], capture_output=True, text=True,
                              timeout=120).stdout.strip()
    return f"# {name}: {verdict}\n{get_diff_for_mutant(name)}"


def main() -> None:
    found = results()
    if not found:
        sys.exit("no mutation results: run `mutmut run` (make mutants) first")
    verdicts = Counter(v for _, v in found)
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for name, verdict in found:
        by_module[module_of(name)][verdict] += 1
    print(f"mutmut report, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"mutants: {len(found)}; " + ", ".join(f"{v}: {n}" for v, n in sorted(verdicts.items())))
    print(f"score (killed / (killed + survived); timeouts apart): "
          f"{verdicts[KILLED]}/{verdicts[KILLED] + verdicts[SURVIVED]} = {score(verdicts)}")
    print()
    width = max(len(m) for m in by_module)
    print(f"{'module':<{width}}  " + "  ".join(f"{v:>9}" for v in sorted(verdicts))
          + f"  {'score':>7}")
    for module in sorted(by_module):
        row = by_module[module]
        print(f"{module:<{width}}  " + "  ".join(f"{row[v]:>9}" for v in sorted(verdicts))
              + f"  {score(row):>7}")
    print()
    for verdict in ("survived", "no tests"):
        names = [n for n, v in found if v == verdict]
        if not names:
            continue
        print(f"=== {verdict}: {len(names)} ===")
        for name in names:
            print()
            print(diff(name, verdict))
        print()


if __name__ == "__main__":
    main()
