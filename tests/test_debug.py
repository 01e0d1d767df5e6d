"""
Debug mode (LWSTP_DEBUG=1): slow calls named with their duration, the
watchdog's stack of a reactor thread that is still blocked, reactor calls
from the wrong thread refused; and nothing of it with debug off.  Each
reactor case runs in its own process (a process installs one reactor),
on both lwstp reactors; the pieces are also tested in process.
"""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import textwrap
import threading
import time
from typing import Any
from unittest import mock

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.task import deferLater
from twisted.logger import globalLogPublisher
from twisted.python import threadable
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from twisted_lwstp import ITaskOwner, TaskReturn, TaskStatus, ThreadPool
from twisted_lwstp._debug import ReactorWatch
from twisted_lwstp._watchdog import Watchdog, callable_name, io_handler_name
from twisted_lwstp.reactor import ConfigurationError, PoolConfig
from twisted_lwstp.testing import PoolHarness

from ._helpers import Script
from .test_reactor import run_python
from .test_reactor_unit import _ReactorCase

TRANSPORT = {"write", "writeSequence", "loseConnection"}
REACTORS = {"lwstp": "twisted_lwstp.reactor", "lwstp-asyncio": "twisted_lwstp.asyncioreactor"}

#: A program that makes, on a running reactor: a slow and a quick timed
#: call, a slow and a quick dataReceived over a loopback TCP connection, a
#: slow callFromThread call, and a callLater from a worker thread; it
#: prints the debug events and what the worker's call did, as JSON.
PROGRAM = """
import json, os, threading, time
from {module} import install
reactor = install()
from twisted.internet import protocol, threads
from twisted.logger import globalLogPublisher

events = []
globalLogPublisher.addObserver(
    lambda e: events.append({{k: e.get(k) for k in ("log_namespace", "callable", "duration")}})
    if e.get("log_namespace") == "twisted_lwstp.debug" else None)

def slow_timer():
    time.sleep(0.25)

def quick_timer():
    pass

def slow_from_thread():
    time.sleep(0.25)

class Slow(protocol.Protocol):
    def dataReceived(self, data):
        if data.startswith(b"slow"):
            time.sleep(0.25)
        if b"end" in data:
            self.transport.loseConnection()

result = {{}}
debug = os.environ.get("LWSTP_DEBUG") == "1"

def attempt(what, f, *args):
    try:
        f(*args)
        result[what] = "passed"
    except RuntimeError as e:
        result[what] = str(e)

def from_worker(client):
    attempt("worker callLater", reactor.callLater, 0, quick_timer)
    attempt("worker write", client.transport.write, b"w")
    attempt("worker writeSequence", client.transport.writeSequence, [b"s"])
    if debug:  # with debug off, these would really run from here
        attempt("worker loseConnection", client.transport.loseConnection)
        attempt("worker listenTCP", reactor.listenTCP, 0, protocol.Factory())
        attempt("worker connectTCP", reactor.connectTCP, "127.0.0.1", 9, protocol.Factory())
        for method in ("addReader", "addWriter", "removeReader", "removeWriter"):
            attempt(f"worker {{method}}", getattr(reactor, method), client.transport)

def main():
    reactor.callLater(0, slow_timer)
    reactor.callLater(0, quick_timer)
    port = reactor.listenTCP(0, protocol.Factory.forProtocol(Slow), interface="127.0.0.1")
    client = protocol.ClientCreator(reactor, protocol.Protocol)
    def connected(p):
        p.transport.write(b"slow data")
        d = threads.deferToThread(from_worker, p)
        d.addCallback(lambda _: reactor.callLater(0.5, p.transport.write, b"quick end"))
        d.addCallback(lambda _: reactor.callLater(1.5, reactor.stop))
    client.connectTCP("127.0.0.1", port.getHost().port).addCallback(connected)
    threading.Thread(target=reactor.callFromThread, args=(slow_from_thread,)).start()

reactor.callWhenRunning(main)
reactor.run()
print(json.dumps({{"events": events, **result}}))
"""


def run(reactor: str, env: dict[str, str]) -> dict[str, Any]:
    out = run_python(PROGRAM.format(module=REACTORS[reactor]), env=env)
    report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return report


class DebugReactorTests(SynchronousTestCase):
    def test_slow_calls_named_with_their_duration_and_wrong_thread_refused(self) -> None:
        for name in REACTORS:
            report = run(name, {"LWSTP_DEBUG": "1", "LWSTP_SLOW_CALL": "0.1"})
            slow = {e["callable"]: e["duration"] for e in report["events"]
                    if e["callable"] and e["duration"] is not None}
            self.assertEqual(
                sorted(slow),
                ["__main__.Slow.dataReceived", "__main__.slow_from_thread", "__main__.slow_timer"],
                name,
            )
            for name, duration in slow.items():
                self.assertGreaterEqual(duration, 0.25, name)
                self.assertLess(duration, 5, name)
            for method in ("callLater", "write", "writeSequence", "loseConnection", "listenTCP",
                           "connectTCP", "addReader", "addWriter", "removeReader",
                           "removeWriter"):
                name = f"transport.{method}" if method in TRANSPORT else method
                self.assertRegex(
                    report[f"worker {method}"],
                    rf"^{re.escape(name)}\(\) called from thread 'twisted\.internet\.reactor-0'; "
                    r"while the reactor runs, only the reactor's own thread may call it",
                )

    def test_nothing_reported_or_refused_with_debug_off(self) -> None:
        for name in REACTORS:
            for env in ({}, {"LWSTP_DEBUG": "0", "LWSTP_SLOW_CALL": "0.1"}):
                report = run(name, env)
                self.assertEqual(report["events"], [], name)
                for method in ("callLater", "write", "writeSequence"):
                    self.assertEqual(report[f"worker {method}"], "passed", (name, method))

    def test_the_watchdog_shows_the_blocking_line_while_it_blocks(self) -> None:
        for module in REACTORS.values():
            script = textwrap.dedent(
                f"""
                import json, time
                from {module} import install
                reactor = install(debug=True)
                from twisted.logger import globalLogPublisher

                events = []
                def watch(e):
                    if e.get("log_namespace") == "twisted_lwstp.debug":
                        events.append({{k: e.get(k) for k in ("callable", "duration", "stack")}})
                globalLogPublisher.addObserver(watch)

                def stuck_in_here():
                    deadline = time.monotonic() + 10
                    while not events and time.monotonic() < deadline:
                        time.sleep(0.01)   # the blocking line

                reactor.callLater(0, stuck_in_here)
                reactor.callLater(0.1, reactor.stop)
                reactor.run()
                print(json.dumps(events))
                """)
            blocking = script.splitlines().index(
                "        time.sleep(0.01)   # the blocking line") + 1
            out = run_python(script, env={"LWSTP_SLOW_CALL": "0.05"})
            events = json.loads(out.strip().splitlines()[-1])
            watchdog = [e for e in events if e["stack"]]
            self.assertEqual(len(watchdog), 1, events)  # once per call
            self.assertEqual(watchdog[0]["callable"], "__main__.stuck_in_here")
            self.assertGreaterEqual(watchdog[0]["duration"], 0.5)
            # The stack's last frame is the blocking line: its line number,
            # and, from Python 3.13 on (which keeps a -c program's source),
            # its text under it.
            lines = [line.strip() for line in watchdog[0]["stack"].rstrip().splitlines()]
            frame = f'File "<string>", line {blocking}, in stuck_in_here'
            if sys.version_info >= (3, 13):
                self.assertEqual(lines[-2:], [frame, "time.sleep(0.01)   # the blocking line"])
            else:
                self.assertEqual(lines[-1], frame)
            # And when it returned, the slow call itself.
            self.assertEqual([e["callable"] for e in events if not e["stack"]],
                             ["__main__.stuck_in_here"])


class ConfigTests(SynchronousTestCase):
    def test_debug_and_slow_call_from_the_environment(self) -> None:
        config = PoolConfig.from_environ({"LWSTP_DEBUG": "1", "LWSTP_SLOW_CALL": "0.5"})
        self.assertEqual((config.debug, config.slow_call), (True, 0.5))
        self.assertEqual((PoolConfig.from_environ({}).debug, PoolConfig().slow_call), (False, 0.1))
        self.assertFalse(PoolConfig.from_environ({"LWSTP_DEBUG": " 0 "}).debug)
        # Blank is unset; LWSTP_STUCK_TASK is read too.
        blank = PoolConfig.from_environ({"LWSTP_DEBUG": " ", "LWSTP_SLOW_CALL": "  ",
                                         "LWSTP_STUCK_TASK": "2.5"})
        self.assertEqual((blank.debug, blank.slow_call, blank.stuck_task), (False, 0.1, 2.5))
        for env, message in [({"LWSTP_DEBUG": "yes"}, "LWSTP_DEBUG='yes' must be 0 or 1"),
                             ({"LWSTP_SLOW_CALL": "0"}, "LWSTP_SLOW_CALL='0' must be a number > 0"),
                             ({"LWSTP_STUCK_TASK": "inf"},
                              "LWSTP_STUCK_TASK='inf' must be a number > 0")]:
            with self.assertRaises(ConfigurationError) as caught:
                PoolConfig.from_environ(env)
            self.assertEqual(str(caught.exception), message)

    def test_install_picks_the_debug_class_only_when_asked(self) -> None:
        from twisted_lwstp.asyncioreactor import LwstpAsyncioDebugReactor, LwstpAsyncioReactor
        from twisted_lwstp.reactor import LwstpDebugReactor, LwstpReactor, _with_debug

        self.assertTrue(issubclass(LwstpDebugReactor, LwstpReactor))
        self.assertTrue(issubclass(LwstpAsyncioDebugReactor, LwstpAsyncioReactor))
        # Free when off: the plain classes have none of debug mode's code.
        for plain in (LwstpReactor, LwstpAsyncioReactor):
            self.assertFalse(hasattr(plain, "io_dispatch"))
            self.assertFalse(hasattr(plain, "_lwstp_check_thread"))
        self.assertTrue(_with_debug(PoolConfig(), True).debug)
        self.assertFalse(_with_debug(PoolConfig(debug=True), False).debug)
        self.assertTrue(_with_debug(PoolConfig(debug=True), None).debug)


class NameTests(SynchronousTestCase):
    def test_callable_names(self) -> None:
        class Thing:
            def method(self) -> None:
                pass

            def __call__(self) -> None:
                pass

        here = f"{__name__}.NameTests.test_callable_names.<locals>"
        self.assertEqual(callable_name(Thing().method), f"{here}.Thing.method")
        self.assertEqual(callable_name(Thing()), f"{here}.Thing")
        self.assertEqual(callable_name(functools.partial(functools.partial(time.sleep, 1))),
                         "time.sleep")
        self.assertEqual(callable_name(run), f"{__name__}.run")

    def test_io_handler_names_the_innermost_protocol_on_reads(self) -> None:
        class App:
            pass

        class Wrapper:
            wrappedProtocol = App()

        class Conn:
            protocol = Wrapper()

        class Port:
            pass

        here = f"{__name__}.NameTests.test_io_handler_names_the_innermost_protocol_on_reads.<locals>"
        self.assertEqual(io_handler_name(Conn(), True), f"{here}.App.dataReceived")
        self.assertEqual(io_handler_name(Conn(), False), f"{here}.Conn.doWrite")
        self.assertEqual(io_handler_name(Port(), True), f"{here}.Port.doRead")


class Captured:
    """The events of twisted_lwstp.debug, while a test runs."""

    def __init__(self, case: SynchronousTestCase) -> None:
        self.events: list[dict[str, Any]] = []
        self.arrived = threading.Condition()
        globalLogPublisher.addObserver(self)
        case.addCleanup(globalLogPublisher.removeObserver, self)

    def __call__(self, event: dict[str, Any]) -> None:
        if event.get("log_namespace") == "twisted_lwstp.debug":
            with self.arrived:
                self.events.append(event)
                self.arrived.notify_all()

    def wait_for(self, n: int, bound: float = 30.0) -> list[dict[str, Any]]:
        with self.arrived:
            if not self.arrived.wait_for(lambda: len(self.events) >= n, bound):
                raise AssertionError(f"{len(self.events)} debug events, never {n}")
            return list(self.events)


class WatchTests(SynchronousTestCase):
    def test_the_reactor_watch_reports_a_call_once_past_its_threshold(self) -> None:
        captured = Captured(self)

        class Reactor:
            _lwstp_in_call: Any = None

        reactor = Reactor()
        watch = ReactorWatch(reactor, threshold=1.0, tick=0.1)  # type: ignore[arg-type]
        watch._reactor_thread = threading.get_ident()
        self.assertTrue(watch.check(100.0))  # nothing in progress
        reactor._lwstp_in_call = (time.sleep, None, 100.0, 7)
        watch.check(100.9)
        self.assertEqual(captured.events, [])
        watch.check(101.0)
        watch.check(105.0)  # once per call
        reactor._lwstp_in_call = (time.sleep, None, 200.0, 8)
        watch.check(201.5)  # the next call is new
        self.assertEqual([(e["callable"], e["duration"]) for e in captured.events],
                         [("time.sleep", 1.0), ("time.sleep", 1.5)])
        self.assertIn("test_the_reactor_watch_reports_a_call_once", captured.events[0]["stack"])

    def test_the_watchdog_thread_runs_checks_until_they_end_then_exits(self) -> None:
        dog = Watchdog()
        seen = threading.Semaphore(0)
        rounds = [0]

        def check(now: float) -> bool:
            rounds[0] += 1
            seen.release()
            return rounds[0] < 3  # gone after three rounds

        dog.add("key", check, 0.01)
        thread = dog._thread
        assert thread is not None
        for _ in range(3):
            self.assertTrue(seen.acquire(timeout=30))
        thread.join(30)
        self.assertFalse(thread.is_alive())
        self.assertIsNone(dog._thread)
        self.assertEqual(rounds[0], 3)


class PoolDebugTests(TestCase):
    """
    Debug mode for a pool (LWSTP_DEBUG=1 when it is built), on real threads.
    """

    timeout = 60

    def make(self, threads: int = 1, **env: str) -> ThreadPool:
        with mock.patch.dict(os.environ, {"LWSTP_DEBUG": "1", "LWSTP_SLOW_CALL": "0.05",
                                          "LWSTP_STUCK_TASK": "0.2", **env}):
            pool = ThreadPool(threads, 4, "dbg", reactor=reactor)
        pool.start()
        self.addCleanup(pool.destroy)
        return pool

    @inlineCallbacks
    def test_a_stuck_task_is_reported_once_with_its_workers_stack(self):
        captured = Captured(self)
        pool = self.make()
        release = threading.Event()
        self.addCleanup(release.set)

        def stuck_task_body(user: object, status: TaskStatus) -> TaskReturn:
            release.wait(30)  # the line that blocks
            return TaskReturn.FINISHED

        task = pool.enqueue(None, stuck_task_body, name="the stuck one")
        (event,) = captured.wait_for(1)
        self.assertEqual(event["task"], "the stuck one")
        self.assertGreaterEqual(event["duration"], 0.2)
        self.assertIn("in stuck_task_body", event["stack"])
        self.assertIn("release.wait(30)", event["stack"])
        release.set()
        yield task.when_done()
        self.assertEqual(len(captured.events), 1)  # once

    @inlineCallbacks
    def test_sync_waits_and_quick_check_ins_are_not_stuck_and_a_slow_writable_is_slow(self):
        captured = Captured(self)
        pool = self.make()
        steps = [0]

        def chatty(user: object, status: TaskStatus) -> TaskReturn:
            steps[0] += 1
            return TaskReturn.FINISHED if steps[0] == 40 else (
                TaskReturn.SYNC if steps[0] == 1 else TaskReturn.CHECKING_IN)

        @implementer(ITaskOwner)
        class SlowOwner:
            def writable(self, task: Any) -> None:
                if task.status is TaskStatus.SYNCING:
                    # Blocked in SYNC far past LWSTP_STUCK_TASK: not stuck.
                    reactor.callLater(0.6, pool.task_sync, task)
                else:
                    time.sleep(0.1)  # a slow writable()
                    pool.task_status(task)

        task = pool.enqueue(SlowOwner(), chatty, name="chatty")
        yield task.when_done()
        # when_done() fires inside task_status(), inside the writable() being
        # timed: its report comes once that returns, before the next turn.
        yield deferLater(reactor, 0, lambda: None)
        (event,) = captured.events
        self.assertEqual(event["callable"], f"{__name__}.{SlowOwner.__qualname__}.writable")
        self.assertGreaterEqual(event["duration"], 0.1)

    def test_with_debug_off_a_pool_has_no_wrappers(self) -> None:
        with mock.patch.dict(os.environ, {"LWSTP_DEBUG": "0"}):
            pool = ThreadPool(1, 1, "plain", reactor=reactor)
        self.assertNotIn("enqueue", vars(pool))
        plain_caller = pool._reactor_side.hand_over._writable
        self.assertEqual(plain_caller, pool._reactor_side.hand_over._call_writable)
        debug = self.make()
        self.assertIn("enqueue", vars(debug))
        # The debug pool's writable() calls go through debug mode's timer.
        self.assertNotEqual(debug._reactor_side.hand_over._writable,
                            debug._reactor_side.hand_over._call_writable)

    @inlineCallbacks
    def test_defer_to_thread_calls_are_not_watched(self):
        captured = Captured(self)
        pool = self.make()
        result = yield pool.defer_to_thread(time.sleep, 0.4)
        self.assertIsNone(result)
        self.assertEqual(captured.events, [])


class InProcessReactorTests(_ReactorCase):
    """
    A debug lwstp reactor instance, never installed or run, driven in this
    process: its timing, its watch of the call in progress, its checks.
    """

    def build(self) -> Any:  # type: ignore[override]
        from twisted_lwstp.reactor import LwstpDebugReactor

        return super().build(PoolConfig(slow_call=0.02), LwstpDebugReactor)

    def test_timed_calls_and_calls_from_threads_are_timed_and_named(self) -> None:
        captured = Captured(self)
        reactor = self.build()
        seen: list[Any] = []

        def slow_timer(x: int) -> None:
            seen.append(reactor._lwstp_in_call)
            time.sleep(0.05)

        def quick(x: int) -> None:
            seen.append(x)

        call = reactor.callLater(0, slow_timer, 1)
        self.assertEqual(repr(call.func), repr(slow_timer))  # reads as the function
        reactor.callLater(0, quick, 2)
        reactor.callFromThread(time.sleep, 0.05)
        reactor.callFromThread(quick, 3)
        reactor.runUntilCurrent()
        # The calls from threads run first, then the timed calls.
        self.assertEqual(seen[0], 3)
        named, read, start, serial = seen[1]
        self.assertIs(named, slow_timer)
        self.assertIsNone(read)
        self.assertGreater(serial, 0)
        self.assertEqual(seen[2], 2)
        self.assertIsNone(reactor._lwstp_in_call)  # nothing in progress after
        self.assertEqual([e["callable"] for e in captured.events],
                         ["time.sleep", f"{__name__}.{slow_timer.__qualname__}"])
        for event in captured.events:
            self.assertGreaterEqual(event["duration"], 0.05)
            self.assertLess(event["duration"], 5)

    def test_a_call_from_a_thread_that_raises_is_logged_and_the_batch_goes_on(self) -> None:
        reactor = self.build()
        ran: list[int] = []
        reactor.callFromThread(lambda: 1 / 0)
        reactor.callFromThread(ran.append, 1)
        reactor.runUntilCurrent()
        self.assertEqual(ran, [1])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertFalse(reactor._lwstp_wake_pending)

    def test_io_events_are_timed_and_named_by_the_protocol_on_reads(self) -> None:
        import select

        captured = Captured(self)
        reactor = self.build()

        class App:
            pass

        class Conn:
            protocol = App()

        def dispatch(selectable: object, *args: Any) -> str:
            time.sleep(0.05)
            return "dispatched"

        self.assertEqual(reactor.io_dispatch(dispatch, Conn(), 7, select.POLLIN), "dispatched")
        self.assertEqual(reactor.io_dispatch(dispatch, Conn(), 7, select.POLLOUT), "dispatched")
        self.assertEqual(reactor.io_dispatch(dispatch, Conn(), True), "dispatched")  # asyncio's
        self.assertEqual(reactor.io_dispatch(dispatch, Conn(), False), "dispatched")
        here = f"{__name__}.{App.__qualname__}"
        conn = f"{__name__}.{Conn.__qualname__}"
        self.assertEqual([e["callable"] for e in captured.events],
                         [f"{here}.dataReceived", f"{conn}.doWrite",
                          f"{here}.dataReceived", f"{conn}.doWrite"])

    def test_quick_calls_are_not_logged_and_nesting_restores_the_outer_call(self) -> None:
        captured = Captured(self)
        reactor = self.build()
        inner: list[Any] = []

        def outer() -> None:
            reactor._lwstp_timed(len, lambda: inner.append(reactor._lwstp_in_call), (), {})
            inner.append(reactor._lwstp_in_call)

        reactor._lwstp_timed(outer, outer, (), {})
        self.assertIs(inner[0][0], len)
        self.assertIs(inner[1][0], outer)
        self.assertEqual(inner[1][3] + 1, inner[0][3])  # serials count up
        self.assertEqual(captured.events, [])

    def test_the_wrong_thread_is_refused_only_while_running(self) -> None:
        reactor = self.build()
        outcomes: list[str] = []

        def from_a_thread() -> None:
            for method, args in [("callLater", (0, print)), ("listenTCP", (0, None)),
                                 ("connectTCP", ("127.0.0.1", 9, None)),
                                 ("listenUNIX", ("/nonexistent/x", None)),
                                 ("connectUNIX", ("/nonexistent/x", None)),
                                 ("addReader", (None,)), ("addWriter", (None,)),
                                 ("removeReader", (None,)), ("removeWriter", (None,))]:
                try:
                    getattr(reactor, method)(*args)
                    outcomes.append((method, "passed"))
                except RuntimeError as e:
                    outcomes.append((method, str(e)))
                except Exception as e:  # not refused: it reached the reactor
                    outcomes.append((method, f"reached the reactor: {type(e).__name__}"))

        # This thread is the reactor's (its I/O thread), whoever ran before.
        self.patch(threadable, "ioThread", threadable.getThreadID())
        reactor.running = True
        thread = threading.Thread(target=from_a_thread, name="a worker")
        thread.start()
        thread.join(30)
        self.assertEqual(len(outcomes), 9)
        for method, outcome in outcomes:
            self.assertEqual(outcome, f"{method}() called from thread 'a worker'; while the reactor "
                                      "runs, only the reactor's own thread may call it (use "
                                      "reactor.callFromThread; LWSTP_DEBUG)")
        # From the reactor's own thread (this one, the I/O thread here), or
        # before it runs, nothing is refused.
        reactor.callLater(0, print).cancel()
        reactor.running = False
        outcomes.clear()
        thread = threading.Thread(target=from_a_thread)
        thread.start()
        thread.join(30)
        self.assertTrue(all("called from thread" not in o for _, o in outcomes), outcomes)

    def test_each_checked_method_passes_its_arguments_on(self) -> None:
        from twisted_lwstp._debug import DebugReactor

        calls: list[Any] = []

        class Recorder:
            running = True
            _lwstp_config = PoolConfig(slow_call=1.0)

            def addSystemEventTrigger(self, *args: Any) -> None:
                pass

        def recorder(name: str) -> Any:
            def record(self: Any, *args: Any, **kwargs: Any) -> str:
                calls.append((name, args, kwargs))
                return f"{name} done"
            return record

        for name in ("listenTCP", "connectTCP", "listenUNIX", "connectUNIX", "addReader",
                     "addWriter", "removeReader", "removeWriter", "callLater"):
            setattr(Recorder, name, recorder(name))

        class Probe(DebugReactor, Recorder):
            def _lwstp_check_thread(self, method: str) -> None:
                calls.append(("checked", method))

        probe = Probe()
        for method in ("listenTCP", "connectTCP", "listenUNIX", "connectUNIX"):
            calls.clear()
            self.assertEqual(getattr(probe, method)(1, "two", three=3), f"{method} done")
            self.assertEqual(calls, [("checked", method), (method, (1, "two"), {"three": 3})])
        for method in ("addReader", "addWriter", "removeReader", "removeWriter"):
            calls.clear()
            self.assertEqual(getattr(probe, method)("fd"), f"{method} done")
            self.assertEqual(calls, [("checked", method), (method, ("fd",), {})])
        calls.clear()
        self.assertEqual(probe.callLater(5, print, "x", sep="-"), "callLater done")
        (checked, (name, (delay, timed, *rest), kwargs)) = calls
        self.assertEqual((checked, name, delay, rest, kwargs),
                         (("checked", "callLater"), "callLater", 5, ["x"], {"sep": "-"}))
        self.assertIs(timed.func, print)

    def test_debug_connections_check_the_thread_then_do_their_work(self) -> None:
        from twisted_lwstp._debug import (
            DebugReactor,
            DebugTCPClient,
            DebugTCPConnector,
            DebugTCPPort,
            DebugTCPServer,
            DebugUNIXClient,
            DebugUNIXConnector,
            DebugUNIXPort,
            DebugUNIXServer,
            _CheckedTransport,
        )

        self.assertIs(DebugTCPPort.transport, DebugTCPServer)
        self.assertIs(DebugUNIXPort.transport, DebugUNIXServer)
        self.assertIs(DebugReactor._lwstp_tcp_connector, DebugTCPConnector)
        self.assertIs(DebugReactor._lwstp_unix_connector, DebugUNIXConnector)
        self.assertIs(DebugReactor._lwstp_tcp_server, DebugTCPServer)
        self.assertIs(DebugReactor._lwstp_unix_server, DebugUNIXServer)
        for cls in (DebugTCPServer, DebugTCPClient, DebugUNIXServer, DebugUNIXClient):
            self.assertTrue(issubclass(cls, _CheckedTransport))

        done: list[Any] = []

        class Base:
            def write(self, data: bytes) -> None:
                done.append(("write", data))

            def writeSequence(self, iovec: Any) -> None:
                done.append(("writeSequence", iovec))

            def loseConnection(self, *args: Any) -> str:
                done.append(("loseConnection", args))
                return "lost"

        class Checks:
            def _lwstp_check_thread(self, method: str) -> None:
                done.append(("checked", method))

        class Conn(_CheckedTransport, Base):
            reactor = Checks()

        conn = Conn()
        conn.write(b"a")
        conn.writeSequence([b"b"])
        self.assertEqual(conn.loseConnection("why"), "lost")
        self.assertEqual(done, [
            ("checked", "transport.write"), ("write", b"a"),
            ("checked", "transport.writeSequence"), ("writeSequence", [b"b"]),
            ("checked", "transport.loseConnection"), ("loseConnection", ("why",)),
        ])

    def test_the_watch_starts_and_stops_with_the_reactor(self) -> None:
        reactor = self.build()
        watch = reactor._lwstp_watch
        self.assertEqual((watch.threshold, watch.tick), (0.02 * 10, 0.02))
        reactor.fireSystemEvent("startup")
        self.addCleanup(watch.stop)
        self.assertEqual(watch._reactor_thread, threading.get_ident())
        from twisted_lwstp._watchdog import watchdog

        self.assertIn(watch, watchdog._checks)
        reactor.fireSystemEvent("shutdown")
        self.assertNotIn(watch, watchdog._checks)


class SteppedDebugPoolTests(SynchronousTestCase):
    """
    A debug pool's wrappers, with stepped workers: what enqueue passes on,
    and how writable() is timed on a plain and on a debug reactor.
    """

    def harness(self) -> PoolHarness:
        with mock.patch.dict(os.environ, {"LWSTP_DEBUG": "1", "LWSTP_STUCK_TASK": "5"}):
            h = PoolHarness(1, 2)
        h.pool.start()
        self.addCleanup(lambda: (h.pool.destroy(), h.run()))
        return h

    def test_enqueue_passes_owner_user_cleanup_and_name_on(self) -> None:
        h = self.harness()
        pool = h.pool
        self.assertIn("enqueue", vars(pool))
        seen: list[Any] = []

        @implementer(ITaskOwner)
        class Owner:
            def writable(self, task: Any) -> None:
                seen.append(("writable", task.status))
                pool.task_status(task)

        owner = Owner()
        cleaned: list[Any] = []
        task = pool.enqueue(owner, Script(), user={"u": 1},
                            cleanup=lambda o, u: cleaned.append((o, u)), name="named")
        self.assertEqual((task.owner, task.user, task.name), (owner, {"u": 1}, "named"))
        h.run()
        self.assertEqual(seen, [("writable", TaskStatus.FINISHED)])
        self.assertEqual(cleaned, [(owner, {"u": 1})])
        # Without a name, the task is named after its function, not the wrapper.
        def ok_task(user: object, status: TaskStatus) -> TaskReturn:
            return TaskReturn.FINISHED

        unnamed = pool.enqueue(None, ok_task)
        self.assertRegex(unnamed.name, r"^ok_task#\d+$")
        h.run()
        # The wrapped function is called with the task's user and status.
        told: list[Any] = []

        def telling(user: object, status: TaskStatus) -> TaskReturn:
            told.append((user, status))
            return TaskReturn.FINISHED

        pool.enqueue(None, telling, user="mine")
        h.run()
        self.assertEqual(told, [("mine", TaskStatus.RUNNING)])
        # defer_to_thread's calls go through unwrapped, arguments, name and all.
        d = pool.defer_to_thread(pow, 2, 5)
        self.assertEqual([info.name for info in pool.dump_tasks()], ["defer_to_thread pow"])
        h.run()
        self.assertEqual(self.successResultOf(d), 32)
        # A bad task function is refused as without debug mode.
        with self.assertRaises(TypeError):
            pool.enqueue(None, 42)  # type: ignore[arg-type]

    def test_writable_is_timed_through_a_debug_reactor_with_its_arguments(self) -> None:
        from twisted_lwstp._config import DebugConfig
        from twisted_lwstp._debugpool import TaskCalls, debug_pool
        from twisted_lwstp._watchdog import watchdog
        from twisted_lwstp.reactor import LwstpDebugReactor

        reactor = LwstpDebugReactor(PoolConfig(slow_call=5.0))
        reactor.wakeUp = lambda: None
        self.addCleanup(reactor._poller.close)
        calls: list[Any] = []

        class FakePool:
            def __init__(self, reactor: Any) -> None:
                self.reactor = reactor

            def enqueue(self, *args: Any, **kwargs: Any) -> str:
                return "task"

        def call_writable(owner: Any, kind: int, task: Any) -> str:
            calls.append((owner, kind, task, reactor._lwstp_in_call))
            return "called"

        class Owner:
            def writable(self, task: Any) -> None:
                pass

        owner = Owner()
        for on in (reactor, None):
            calls.clear()
            fake = FakePool(on)
            _, wrap_writable = debug_pool(fake, DebugConfig(True, 5.0, 2.0))
            timed_writable = wrap_writable(call_writable)
            self.assertEqual(timed_writable(owner, 7, "the task"), "called")
            (got,) = calls
            self.assertEqual(got[:3], (owner, 7, "the task"))
            if on is reactor:  # the reactor's watch sees owner.writable in progress
                self.assertEqual(got[3][0], owner.writable)
            else:
                self.assertIsNone(got[3])
            registered = [key for key in list(watchdog._checks) if isinstance(key, TaskCalls)
                          and key._pool() is fake]
            self.assertEqual(len(registered), 1)
            self.assertEqual(watchdog._checks[registered[0]][1], 2.0 / 10)
            watchdog.remove(registered[0])


class ReportTextTests(SynchronousTestCase):
    """The words of debug mode's reports, and the names and stacks in them."""

    def test_the_slow_call_warning_reads_as_documented(self) -> None:
        from twisted.logger import formatEvent

        from twisted_lwstp._watchdog import log_slow

        captured = Captured(self)
        log_slow(time.sleep, None, 0.1234)

        class Conn:
            protocol = None

        log_slow(Conn(), False, 2.0)
        first, second = captured.events
        self.assertEqual(formatEvent(first),
                         "Slow call: time.sleep held the reactor thread for 0.123 s")
        self.assertEqual((first["callable"], first["duration"], first["log_level"].name),
                         ("time.sleep", 0.1234, "warn"))
        self.assertEqual(second["callable"], f"{__name__}.{Conn.__qualname__}.doWrite")

    def test_stacks_of_a_thread_and_of_none(self) -> None:
        from twisted_lwstp._watchdog import stack_of

        mine = stack_of(threading.get_ident())
        self.assertTrue(mine.startswith('  File "'), mine[:40])
        self.assertIn("in test_stacks_of_a_thread_and_of_none\n", mine)
        self.assertEqual(stack_of(None), "(no stack)\n")
        self.assertEqual(stack_of(-1), "(no stack)\n")

    def test_names_of_oddities(self) -> None:
        def anonymous() -> None:
            pass

        anonymous.__module__ = None  # type: ignore[assignment]
        # No module of its own: its type's (a function's is builtins).
        self.assertEqual(callable_name(anonymous), f"builtins.{anonymous.__qualname__}")
        # Wrapping protocols are unwrapped, 16 deep at the most.
        chain = [type(f"P{n}", (), {})() for n in range(20)]
        for outer, inner in zip(chain, chain[1:], strict=False):
            outer.wrappedProtocol = inner  # type: ignore[attr-defined]

        class Conn:
            protocol = chain[0]

        self.assertEqual(io_handler_name(Conn(), True).rsplit(".", 2)[-2], "P16")

    def test_the_watchdog_thread_is_a_named_daemon(self) -> None:
        dog = Watchdog()
        stop = threading.Event()
        dog.add("key", lambda now: not stop.is_set(), 0.01)
        thread = dog._thread
        assert thread is not None
        self.assertEqual((thread.name, thread.daemon), ("lwstp-debug-watchdog", True))
        dog.remove("key")
        self.assertEqual(dog._checks, {})
        dog.remove("key")  # twice is harmless
        thread.join(30)
        self.assertFalse(thread.is_alive())


class PoolDebugUnitTests(SynchronousTestCase):
    def test_a_pool_follows_its_lwstp_reactors_debug_mode_over_the_environment(self) -> None:
        from twisted_lwstp._config import DebugConfig
        from twisted_lwstp._debugpool import pool_debug

        class Lwstp:
            def __init__(self, config: PoolConfig) -> None:
                self._lwstp_config = config

        with mock.patch.dict(os.environ, {"LWSTP_DEBUG": "1", "LWSTP_STUCK_TASK": "9"}):
            self.assertIsNone(pool_debug(Lwstp(PoolConfig(debug=False))))
            self.assertEqual(pool_debug(Lwstp(PoolConfig(debug=True, slow_call=0.3,
                                                         stuck_task=4.0))),
                             DebugConfig(True, 0.3, 4.0))
            self.assertEqual(pool_debug(object()), DebugConfig(True, 0.1, 9.0))
        with mock.patch.dict(os.environ, {"LWSTP_DEBUG": "0"}):
            self.assertIsNone(pool_debug(object()))

    def test_the_stuck_check_reports_each_call_once_and_ends_with_its_pool(self) -> None:
        from twisted.logger import formatEvent

        from twisted_lwstp._debugpool import TaskCalls, _Cell

        captured = Captured(self)

        class Pool:
            pass

        class Named:
            name = "the task"

        pool = Pool()
        calls = TaskCalls(pool, stuck=1.0)
        cell = _Cell()
        cell.task = Named()
        me = threading.get_ident()
        calls._calls[me] = (cell, 100.0, 1)
        calls._calls[-5] = (_Cell(), 100.0, 2)  # a thread gone, its task not known yet
        self.assertTrue(calls.check(100.999))
        self.assertEqual(captured.events, [])
        self.assertTrue(calls.check(101.0))  # exactly the threshold: stuck
        self.assertTrue(calls.check(102.0))  # once per call
        first, second = captured.events
        text = formatEvent(first)
        self.assertTrue(text.startswith(
            "Task the task has run 1.00 s without returning to the pool (a task should check "
            "in about every 100 ms); its worker's stack:\n"), text)
        self.assertIn("in test_the_stuck_check_reports_each_call_once", first["stack"])
        self.assertEqual((second["task"], second["stack"]), ("?", "(no stack)\n"))
        calls._calls[me] = (cell, 200.0, 3)  # the next call of that worker
        calls.check(201.0)
        self.assertEqual(len(captured.events), 3)
        del pool
        self.assertFalse(calls.check(300.0))  # its pool is gone: the check ends
