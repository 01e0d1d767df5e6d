"""
The lwstp reactor (issue 11), each case in its own process (a process has
one global reactor): the plugin, the pool it installs, on-demand workers,
coalesced wake-ups, the environment variables and install_pool.  (Twisted's
own suites under it: tests/run_twisted_suites.py.)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

from twisted.trial.unittest import SynchronousTestCase

import twisted

#: The installed Twisted's (major, minor).
TWISTED = tuple(int(part) for part in twisted.__version__.split(".")[:2])
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def run_python(code: str, env: dict[str, str] | None = None, timeout: float = 60) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
        timeout=timeout, cwd=ROOT, env=dict(os.environ, **(env or {})),
    )
    if proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


class PluginTests(SynchronousTestCase):
    """
    Both lwstp reactors' plugins: listed, and a bad variable stops twistd.
    """

    def test_twistd_and_trial_list_both_reactors(self) -> None:
        for tool in ("twistd", "trial"):
            out = subprocess.run([os.path.join(BIN, tool), "--help-reactors"],
                                 capture_output=True, text=True, timeout=60, cwd=ROOT).stdout
            self.assertRegex(out, r"\n\s+lwstp\s+epoll reactor", tool)
            self.assertRegex(out, r"\n\s+lwstp-asyncio\s+asyncio reactor", tool)

    def test_bad_variable_stops_twistd_and_trial_with_one_clear_line(self) -> None:
        for command, reactor, variable, text in [
            ("twistd", "lwstp", "LWSTP_THREADS=many", "LWSTP_THREADS='many' is not an integer"),
            ("twistd", "lwstp-asyncio", "LWSTP_MAX_QUEUE_DEPTH=-3",
             "LWSTP_MAX_QUEUE_DEPTH='-3' must be"),
            ("trial", "lwstp", "LWSTP_SYNC_TIMEOUT=0", "LWSTP_SYNC_TIMEOUT='0' must be"),
        ]:
            name, value = variable.split("=")
            argv = (["-n", f"--reactor={reactor}", "web", "--port", "tcp:0:interface=127.0.0.1"]
                    if command == "twistd" else [f"--reactor={reactor}", "tests.test_status"])
            proc = subprocess.run(
                [os.path.join(BIN, command), *argv],
                capture_output=True, text=True, timeout=60, cwd=ROOT,
                env=dict(os.environ, **{name: value}),
            )
            # One line naming the option and the variable, status 1, on
            # every Twisted: not the command's whole usage, nor its pointer
            # to --help-reactors (twisted_lwstp._commandline).
            output = proc.stdout + proc.stderr
            self.assertEqual(proc.returncode, 1, output)
            lines = output.splitlines()
            self.assertEqual(len(lines), 1, output)
            self.assertTrue(lines[0].startswith(f"--reactor={reactor}: {text}"), output)


class InstalledReactorTests(SynchronousTestCase):
    def test_the_reactor_pool_is_ours_on_demand_and_named(self) -> None:
        out = run_python(
            """
            import threading
            from twisted_lwstp import reactor as lwstp_reactor, ThreadPool
            reactor = lwstp_reactor.install()
            from twisted.internet import threads, defer

            def names():
                return sorted(t.name for t in threading.enumerate()
                              if t.name.startswith("twisted.internet.reactor"))

            @defer.inlineCallbacks
            def main():
                pool = reactor.getThreadPool()
                print("ours", isinstance(pool, ThreadPool), pool.name, pool.min, pool.max)
                yield defer.succeed(None)
                print("idle threads", names())
                got = yield defer.gatherResults([
                    threads.deferToThread(lambda: threading.current_thread().name)
                    for _ in range(20)])
                print("ran on", sorted(set(n.rsplit("-", 1)[0] for n in got)))
                print("at most", pool.diagnose().threads <= 10)
                addr = yield reactor.resolve("localhost")
                print("resolved", addr in ("127.0.0.1", "::1"))
                reactor.stop()

            reactor.callWhenRunning(main)
            reactor.run()
            print("after stop", names())
            """,
            env={"LWSTP_THREADS": "4"},
        )
        self.assertIn("ours True twisted.internet.reactor 0 4", out)
        self.assertIn("idle threads []", out)
        self.assertIn("ran on ['twisted.internet.reactor']", out)
        self.assertIn("at most True", out)
        self.assertIn("resolved True", out)
        self.assertIn("after stop []", out)

    def test_call_from_thread_wakes_once_per_batch_and_keeps_order(self) -> None:
        out = run_python(
            """
            import threading
            from twisted_lwstp import reactor as lwstp_reactor
            reactor = lwstp_reactor.install()
            seen = {i: [] for i in range(4)}
            writes = [0]

            def main():
                waker = reactor.waker
                original = waker.wakeUp
                def counted():
                    writes[0] += 1
                    original()
                waker.wakeUp = counted
                go = threading.Barrier(4)
                def producer(i):
                    go.wait()
                    for n in range(2500):
                        reactor.callFromThread(seen[i].append, n)
                    reactor.callFromThread(done)
                finished = [0]
                def done():
                    finished[0] += 1
                    if finished[0] == 4:
                        for t in ts:
                            t.join()
                        reactor.stop()
                ts = [threading.Thread(target=producer, args=(i,)) for i in range(4)]
                for t in ts:
                    t.start()

            reactor.callWhenRunning(main)
            reactor.run()
            print("ordered", all(seen[i] == list(range(2500)) for i in range(4)))
            print("writes", writes[0])
            """
        )
        self.assertIn("ordered True", out)
        writes = int(re.search(r"writes (\d+)", out).group(1))
        # 10,004 calls; one write per call would be 10,004.
        self.assertLess(writes, 10_004 // 2, out)

    def test_call_queued_while_a_batch_runs_needs_no_other_wake_up(self) -> None:
        # A callFromThread made from inside a call of the batch being run
        # must run without anyone else waking the reactor: the pending flag
        # is cleared before the batch, so this call writes the waker.  The
        # reactor has nothing else to wake it, so a lost wake-up shows as
        # the bounded wait running out, named; the caller's last call then
        # wakes the reactor so the process ends.
        out = run_python(
            """
            import threading
            from twisted_lwstp import reactor as lwstp_reactor
            reactor = lwstp_reactor.install()
            ran = threading.Event()

            def inner():
                ran.set()

            def outer():
                reactor.callFromThread(inner)

            # Set when the reactor goes to sleep with nothing queued: a call
            # made after that is run by the batch its own wake-up starts.
            idle = threading.Event()
            sleep = reactor.doIteration

            def doIteration(timeout):
                if timeout is None and not reactor._lwstp_calls:
                    idle.set()
                sleep(timeout)

            reactor.doIteration = doIteration

            def caller():
                print("reactor idle", idle.wait(10.0), flush=True)
                reactor.callFromThread(outer)
                print("inner ran on its own", ran.wait(5.0), flush=True)
                reactor.callFromThread(reactor.stop)

            def main():
                threading.Thread(target=caller, daemon=True).start()

            reactor.callWhenRunning(main)
            reactor.run()
            """,
            timeout=30,
        )
        self.assertIn("inner ran on its own True", out)

    def test_install_pool_before_and_after_thread_work(self) -> None:
        out = run_python(
            """
            from twisted.internet import reactor, threads
            from twisted_lwstp import install_pool, ThreadPool

            pool = install_pool(threads=3, name="mine")
            print("swapped", reactor.getThreadPool() is pool, isinstance(pool, ThreadPool))

            def main():
                d = threads.deferToThread(lambda: 42)
                def check(v):
                    print("result", v)
                    try:
                        install_pool()
                    except RuntimeError as e:
                        print("too late", "too late" in str(e))
                    reactor.stop()
                d.addCallback(check)

            reactor.callWhenRunning(main)
            reactor.run()
            """
        )
        self.assertIn("swapped True True", out)
        early = run_python(
            """
            from twisted.internet import reactor
            from twisted_lwstp import install_pool

            reactor.callInThread(print, "queued before the reactor runs")
            try:
                install_pool()
            except RuntimeError as e:
                print("too late", "too late" in str(e))
            """
        )
        self.assertIn("too late True", early)
        self.assertIn("result 42", out)
        self.assertIn("too late True", out)
