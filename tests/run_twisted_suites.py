"""
Twisted's own suites under the lwstp reactors, compared test by test with
the stock reactor each is built on: every test that passes under C{epoll}
(C{asyncio}) must pass under C{lwstp} (C{lwstp-asyncio}).

 - The global-reactor modules run with C{trial --reactor=...}.
 - C{twisted.internet.test} builds a fresh reactor per test from its own
   list (C{ReactorBuilder}), so C{--reactor} alone would never build ours:
   L{tests.data.builder_suites} puts ours, or the stock one, in that list.

C{make test-debug} runs the same comparison with our reactors in debug
mode (C{LWSTP_DEBUG=1} for our runs only; C{LWSTP_SUITES_DEBUG=1} asks for
it): a test may then fail under ours only if it calls the reactor from
another thread on purpose, and L{FROM_THREADS} lists those.

C{make test} runs this file in a pytest session of its own (its name keeps
it out of the main pytest run and out of trial): plain pytest functions
cannot share a session with the trial-style tests, which pytest-twisted
drives from a greenlet once a plain test has run.  Each pair's two runs go
side by side (one per core).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIAL = os.path.join(os.path.dirname(sys.executable), "trial")

#: Modules that use the global reactor: threads, waker, signals, child
#: processes, and the transports (TCP, TLS, Unix sockets, loopback, web).
GLOBAL_SUITES = [
    "twisted.test.test_threads",
    "twisted.test.test_internet",
    "twisted.test.test_process",
    "twisted.internet.test.test_sigchld",
    "twisted.test.test_tcp",
    "twisted.test.test_ssl",
    "twisted.test.test_unix",
    "twisted.test.test_loopback",
    "twisted.web.test",
]
PAIRS = [("lwstp", "epoll"), ("lwstp-asyncio", "asyncio")]
#: Debug mode for our runs (make test-debug).
DEBUG = os.environ.get("LWSTP_SUITES_DEBUG") == "1"
#: Tests of Twisted's that call the reactor from another thread on purpose,
#: which debug mode refuses (RuntimeError), by module.Class.test, with why.
#: None so far: every test these suites pass under the stock reactors passes
#: under ours in debug mode too (make test-debug, 2026-12-02, Twisted 26.10).
FROM_THREADS: dict[str, str] = {}
#: Each run's bound; a pair's two runs go side by side.
RUN_TIMEOUT = 240
#: The reactor part of the class names ReactorBuilder makes.
_BUILT_FOR = re.compile(r"_(LwstpEPoll|EPollReactor|LwstpAsyncioReactor|AsyncioSelectorReactor)Tests$")


def outcomes(report: str) -> dict[str, str]:
    """
    Each test's outcome from trial's tree report, by C{module.Class.test},
    with the reactor a ReactorBuilder class was made for taken out of its
    name.
    """
    found: dict[str, str] = {}
    module = cls = ""
    for line in report.splitlines():
        if re.match(r"^[\w.]+$", line):
            module = line
        elif re.match(r"^  \w+$", line):
            cls = _BUILT_FOR.sub("", line.strip())
        else:
            match = re.match(r"^    (\w+) \.\.\. +\[(\w+)\]$", line)
            if match:
                found[f"{module}.{cls}.{match.group(1)}"] = match.group(2)
    return found


def assert_no_worse(ours_name: str, ours: str, stock_name: str, stock: str) -> None:
    mine, theirs = outcomes(ours), outcomes(stock)
    assert len(theirs) > 100, stock[-3000:]
    passed_there = {t for t, o in theirs.items() if o == "OK"}
    broken = sorted(t for t in passed_there if mine.get(t) != "OK"
                    and not (DEBUG and t in FROM_THREADS))
    summary = " / ".join(ours.strip().splitlines()[-1:] + stock.strip().splitlines()[-1:])
    print(f"{ours_name} vs {stock_name}: {summary}")
    assert not broken, (
        f"pass under {stock_name}, not under {ours_name}: "
        + ", ".join(f"{t} [{mine.get(t)}]" for t in broken[:20])
        + "\n" + ours[-3000:]
    )


def side_by_side(argvs: dict[str, list[str]], tmp_path: object,
                 env: dict[str, str] | None = None) -> dict[str, str]:
    """
    Run each command at once, each in its own directory (trial's
    _trial_temp), and collect what each printed.  Ours (an lwstp reactor)
    run in debug mode under C{make test-debug}.
    """
    procs = {}
    for name, argv in argvs.items():
        d = os.path.join(str(tmp_path), name)
        os.makedirs(d)
        run_env = dict(env if env is not None else os.environ)
        run_env["LWSTP_DEBUG"] = "1" if DEBUG and name.startswith("lwstp") else "0"
        procs[name] = subprocess.Popen(argv, cwd=d, env=run_env, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
    try:
        return {name: proc.communicate(timeout=RUN_TIMEOUT)[0] for name, proc in procs.items()}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)
@pytest.mark.parametrize(("ours", "stock"), PAIRS)
def test_global_reactor_suites(ours: str, stock: str, tmp_path: object) -> None:
    outs = side_by_side({name: [TRIAL, f"--reactor={name}", *GLOBAL_SUITES]
                         for name in (ours, stock)}, tmp_path)
    assert_no_worse(ours, outs[ours], stock, outs[stock])


@pytest.mark.timeout(2 * RUN_TIMEOUT + 60)
@pytest.mark.parametrize(("ours", "stock"), PAIRS)
def test_reactor_builder_suites(ours: str, stock: str, tmp_path: object) -> None:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    outs = side_by_side({name: [sys.executable, "-m", "tests.data.builder_suites", name,
                                "twisted.internet.test"]
                         for name in (ours, stock)}, tmp_path, env)
    # The builder made classes for our reactor (their names carry it).
    assert re.search(r"_(LwstpEPoll|LwstpAsyncioReactor)Tests$", outs[ours], re.M), outs[ours][-2000:]
    assert_no_worse(ours, outs[ours], stock, outs[stock])
