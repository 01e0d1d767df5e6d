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
import re
import textwrap
import time
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp._debug import Watchdog, callable_name, io_handler_name
from twisted_lwstp.reactor import ConfigurationError, PoolConfig

from .test_reactor import run_python

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
        for reactor in REACTORS:
            report = run(reactor, {"LWSTP_DEBUG": "1", "LWSTP_SLOW_CALL": "0.1"})
            slow = {e["callable"]: e["duration"] for e in report["events"]
                    if e["callable"] and e["duration"] is not None}
            self.assertEqual(
                sorted(slow),
                ["__main__.Slow.dataReceived", "__main__.slow_from_thread", "__main__.slow_timer"],
                reactor,
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
        for reactor in REACTORS:
            for env in ({}, {"LWSTP_DEBUG": "0", "LWSTP_SLOW_CALL": "0.1"}):
                report = run(reactor, env)
                self.assertEqual(report["events"], [], reactor)
                for method in ("callLater", "write", "writeSequence"):
                    self.assertEqual(report[f"worker {method}"], "passed", (reactor, method))

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
            # The stack's last frame is the blocking line (a -c program
            # has no source text to show, but its line number).
            last = watchdog[0]["stack"].rstrip().splitlines()[-1]
            self.assertEqual(last.strip(), f'File "<string>", line {blocking}, in stuck_in_here')
            # And when it returned, the slow call itself.
            self.assertEqual([e["callable"] for e in events if not e["stack"]],
                             ["__main__.stuck_in_here"])


class ConfigTests(SynchronousTestCase):
    def test_debug_and_slow_call_from_the_environment(self) -> None:
        config = PoolConfig.from_environ({"LWSTP_DEBUG": "1", "LWSTP_SLOW_CALL": "0.5"})
        self.assertEqual((config.debug, config.slow_call), (True, 0.5))
        self.assertEqual((PoolConfig.from_environ({}).debug, PoolConfig().slow_call), (False, 0.1))
        self.assertFalse(PoolConfig.from_environ({"LWSTP_DEBUG": " 0 "}).debug)
        for env, message in [({"LWSTP_DEBUG": "yes"}, "LWSTP_DEBUG='yes' must be 0 or 1"),
                             ({"LWSTP_SLOW_CALL": "0"}, "LWSTP_SLOW_CALL='0' must be a number > 0")]:
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


class WatchdogTests(SynchronousTestCase):
    def test_reports_a_call_once_past_its_threshold(self) -> None:
        class Reactor:
            _lwstp_in_call: Any = None

        reactor = Reactor()
        dog = Watchdog(reactor, threshold=1.0, tick=0.1)  # type: ignore[arg-type]
        self.assertFalse(dog.check(now=100.0))  # nothing in progress
        reactor._lwstp_in_call = (time.sleep, None, 100.0, 7)
        self.assertFalse(dog.check(now=100.9))
        self.assertTrue(dog.check(now=101.0))
        self.assertFalse(dog.check(now=105.0))  # once per call
        reactor._lwstp_in_call = (time.sleep, None, 200.0, 8)
        self.assertTrue(dog.check(now=201.5))  # the next call is new
