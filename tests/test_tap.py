"""
C{twistd lwstp}: its options, its usage errors and its shutdown, the last
two on a real twistd process.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase, TestCase

from loadgen.wsclient import connect
from twisted_lwstp.demo import DemoService
from twisted_lwstp.tap import Options, makeService

from ._helpers import temp_dir
from ._twistd import spawn_twistd, twistd_path


class OptionsTests(SynchronousTestCase):
    def test_defaults_are_the_lws_examples(self) -> None:
        options = Options()
        options.parseOptions([])
        self.assertEqual(
            {k: options[k] for k in ("listen", "threads", "max-queue-depth", "count",
                                     "checkin-every", "sync-every", "pause-ms", "window")},
            {"listen": "tcp:7681:interface=127.0.0.1", "threads": 3, "max-queue-depth": 8,
             "count": 10_000_000, "checkin-every": 100_000, "sync-every": 1_000_000,
             "pause-ms": 100.0, "window": 0},
        )

    def test_bad_values_name_the_option(self) -> None:
        cases = [
            (["--threads", "0"], "--threads must be a whole number >= 1, got '0'"),
            (["--threads", "-4"], "--threads must be a whole number >= 1"),
            (["--threads", "three"], "--threads must be a whole number >= 1, got 'three'"),
            (["--max-queue-depth", "-1"], "--max-queue-depth must be a whole number >= 0"),
            (["--count", "-5"], "--count must be a whole number >= 0"),
            (["--checkin-every", "0"], "--checkin-every must be a whole number >= 1"),
            (["--sync-every", "2.5"], "--sync-every must be a whole number >= 1"),
            (["--pause-ms", "-1"], "--pause-ms must be a number >= 0"),
            (["--pause-ms", "inf"], "--pause-ms must be a number >= 0"),
            (["--pause-ms", "nan"], "--pause-ms must be a number >= 0"),
            (["--window", "-1"], "--window must be a whole number >= 0"),
            (["--listen", "bogus:1"], "--listen 'bogus:1' is not an endpoint"),
            (["--listen", "tcp:notaport"], "--listen 'tcp:notaport' is not an endpoint"),
        ]
        for argv, message in cases:
            with self.assertRaises(usage.UsageError, msg=argv) as caught:
                Options().parseOptions(argv)
            self.assertIn(message, str(caught.exception))

    def test_make_service(self) -> None:
        options = Options()
        options.parseOptions(["--threads", "2", "--max-queue-depth", "0", "--count", "5"])
        service = makeService(options)
        self.assertIsInstance(service, DemoService)
        self.assertEqual((service.pool.threads, service.pool.max_queue_depth), (2, 0))
        self.assertEqual(service.shape.count, 5)
        self.assertEqual(service.shape.window, 0)
        options = Options()
        options.parseOptions(["--window", "64"])
        self.assertEqual(makeService(options).shape.window, 64)


class ModeTests(SynchronousTestCase):
    """
    Two modes, the demo and C{--wsgi}: an option of the demo given with
    C{--wsgi} is refused, naming it, rather than silently ignored.
    """

    WSGI = ["--wsgi", "tests.data.wsgi_apps.hello"]

    def test_every_option_belongs_to_one_group(self) -> None:
        from twisted_lwstp.tap import BOTH_MODES, DEMO_MODE, WSGI_MODE

        grouped = [*BOTH_MODES, *DEMO_MODE, *WSGI_MODE, "help", "version"]
        self.assertEqual(len(grouped), len(set(grouped)))
        declared = {name.rstrip("=") for name in Options().longOpt}
        self.assertEqual(set(grouped), declared)

    def test_demo_options_with_wsgi_are_refused_by_name(self) -> None:
        cases = [
            (["--count", "5"], "--count: an option of the demo, not of --wsgi mode"),
            # Abbreviated, as getopt allows: still the demo's --count.
            (["--cou", "5"], "--count: an option of the demo"),
            (["--count", "5", "--pause-ms", "3", "--allow-origin", "http://x"],
             "--count, --pause-ms, --allow-origin: options of the demo, not of --wsgi mode"),
            (["--sync-every", "10000000", "--checkin-every", "1", "--max-message-size", "9"],
             "--checkin-every, --sync-every, --max-message-size: options of the demo"),
            (["--window", "8"], "--window: an option of the demo, not of --wsgi mode"),
        ]
        for argv, message in cases:
            for order in (self.WSGI + argv, argv + self.WSGI):
                with self.assertRaises(usage.UsageError, msg=order) as caught:
                    Options().parseOptions(order)
                self.assertIn(message, str(caught.exception))

    def test_options_of_both_modes_pass_with_wsgi(self) -> None:
        options = Options()
        options.parseOptions([*self.WSGI, "-t", "2", "--max-queue-depth", "0",
                              "--sync-timeout", "5", "--max-tasks-per-client", "3",
                              "--admin", "tcp:0:interface=127.0.0.1",
                              "--haproxy-agent", "tcp:0:interface=127.0.0.1"])
        self.assertEqual(options.given, {"wsgi", "threads", "max-queue-depth", "sync-timeout",
                                         "max-tasks-per-client", "admin", "haproxy-agent"})
        self.assertIsNotNone(options["application"])

    def test_demo_options_pass_without_wsgi(self) -> None:
        options = Options()
        options.parseOptions(["--count", "5", "--pause-ms", "3", "--allow-origin", "http://x"])
        self.assertEqual(options["count"], 5)

    def test_help_lists_each_mode_apart(self) -> None:
        text = str(Options())
        titles = ["Options for both modes:", "The demo (the default mode):", "WSGI mode:", "Help:"]
        at = [text.index(title) for title in titles]
        self.assertEqual(at, sorted(at))
        ends = [*at[1:], len(text)]
        sections = {title: text[a:b] for title, a, b in zip(titles, at, ends, strict=True)}
        self.assertEqual(re.findall(r"--([\w-]+)", sections["WSGI mode:"]), ["wsgi"])
        demo = sections["The demo (the default mode):"]
        for option in ("--count=", "--checkin-every=", "--sync-every=", "--pause-ms=",
                       "--max-message-size=", "--allow-origin="):
            self.assertIn(option, demo)
        both = sections["Options for both modes:"]
        for option in ("--listen=", "--threads=", "--metrics", "--admin="):
            self.assertIn(option, both)
        self.assertNotIn("--count", both)
        # Twisted's own formatting is kept: defaults and coercion notes.
        self.assertIn("[default: 10000000]. A whole number, at least 0.",
                      " ".join(demo.split()))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: What reads badly in a help line: a run of spaces inside the text, or
#: two punctuation marks in a row ("given.. A", "x. . y").
_GLITCH = re.compile(r"\S {2,}\S|[.,;:!?]\s*[.,;:!?]")


def help_entries(text: str) -> dict[str, str]:
    """
    Each option of a Twisted usage text, with its description as one line
    (continuation lines joined by one space).
    """
    entries: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        match = re.match(r"^\s{2,}(?:-\w, )?\s*(--[\w-]+=?)\s{2,}(.*)$", line)
        if match:
            current = match.group(1)
            entries[current] = match.group(2).strip()
        elif current is not None and line.startswith(" " * 20) and line.strip():
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


class HelpTextTests(SynchronousTestCase):
    def assert_clean(self, entries: dict[str, str]) -> None:
        self.assertTrue(entries)
        for option, text in entries.items():
            self.assertIsNone(_GLITCH.search(text), f"{option}: {text!r}")

    def test_every_option_of_twistd_lwstp_reads_cleanly(self) -> None:
        entries = help_entries(str(Options()))
        self.assertGreaterEqual(len(entries), 15)
        self.assertIn("may open the demo's WebSocket", entries["--allow-origin="])
        self.assertIn("off unless given. A whole number", entries["--max-tasks-per-client="])
        self.assert_clean(entries)

    def test_the_reactor_plugins_describe_themselves_cleanly(self) -> None:
        out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "twistd"),
                              "--help-reactors"], capture_output=True, text=True, timeout=60).stdout
        ours = {name: text for name, text in re.findall(r"^\s+(lwstp\S*)\s+(.*)$", out, re.M)}
        self.assertEqual(sorted(ours), ["lwstp", "lwstp-asyncio"])
        for name, text in ours.items():
            self.assertIsNone(_GLITCH.search(text), f"{name}: {text!r}")

    def test_the_detector_finds_the_old_glitches(self) -> None:
        self.assertIsNotNone(_GLITCH.search("may open the demo's         WebSocket"))
        self.assertIsNotNone(_GLITCH.search("off unless given.. A whole number"))


class TwistdUsageErrorTests(SynchronousTestCase):
    def test_bad_values_exit_1_with_one_line_and_nothing_listens(self) -> None:
        cwd = temp_dir(self)
        port = free_port()
        for argv in (["--threads", "0"], ["--max-queue-depth", "x"], ["--listen", "nope:1"],
                     ["--wsgi", "no_such_module.app"], ["--wsgi", "tests.data.wsgi_apps.nope"],
                     ["--wsgi", "tests.data.wsgi_apps.not_callable"], ["--admin", "nope:1"],
                     ["--wsgi", "tests.data.wsgi_apps.hello", "--count", "5"]):
            proc = subprocess.run(
                [twistd_path(), "-n", "--pidfile=", "lwstp",
                 "--listen", f"tcp:{port}:interface=127.0.0.1", *argv],
                capture_output=True, text=True, timeout=120, cwd=cwd,
            )
            output = proc.stdout + proc.stderr
            self.assertEqual(proc.returncode, 1, output)
            self.assertNotIn("Traceback", output)
            lines = [line for line in output.splitlines() if line.strip()]
            self.assertEqual(len(lines), 1, output)  # not the whole usage
            self.assertTrue(lines[0].startswith("twistd lwstp: "), lines[0])
            self.assertIn(argv[-2], lines[0])
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0)


class TwistdShutdownTests(TestCase):
    timeout = 120

    @inlineCallbacks
    def test_sigterm_tells_every_client_and_exits(self):
        cwd = temp_dir(self)
        proc = spawn_twistd(
            ["--listen", "tcp:0:interface=127.0.0.1", "--threads", "2", "--max-queue-depth", "2",
             "--count", "1000000000", "--checkin-every", "1000", "--pause-ms", "20"],
            cwd,
        )
        port = yield proc.listening
        clients = yield gatherResults([connect(port) for _ in range(3)])
        started = reactor.seconds()
        os.kill(proc.transport.pid, signal.SIGTERM)
        yield gatherResults([c.closed for c in clients])
        reason = yield proc.ended
        self.assertLess(reactor.seconds() - started, 10)
        for client in clients:
            # "pos 0" if a thread took the task before the stop, then "stopped".
            *before, last = client.messages
            self.assertIn(before, ([], ["pos 0"]), client.messages)
            self.assertRegex(last, r"^stopped \d+$")
            self.assertEqual(client.close_code, 1000)
        # twistd re-raises the terminating signal after a clean stop.
        self.assertIsInstance(reason, (ProcessTerminated, ProcessDone))
        if isinstance(reason, ProcessTerminated):
            self.assertEqual(reason.signal, signal.SIGTERM)
        self.assertIn(b"Server Shut Down.", proc.output)
        self.assertNotIn(b"Traceback", proc.output)


class TwistdWSGITests(TestCase):
    timeout = 120

    @inlineCallbacks
    def test_wsgi_app_admin_diag_and_metrics_under_the_lwstp_reactor_then_sigterm(self):
        import json
        import re

        from twisted.internet.protocol import ProcessProtocol
        from twisted.web.client import Agent, readBody

        listening = re.compile(rb"lwstp (wsgi|admin) listening on http://127\.0\.0\.1:(\d+)/")

        class Proc(ProcessProtocol):
            def __init__(self) -> None:
                self.output = b""
                self.ports: dict[bytes, int] = {}
                self.ready = Deferred()
                self.ended = Deferred()

            def outReceived(self, data: bytes) -> None:
                self.output += data
                for kind, port in listening.findall(self.output):
                    self.ports[kind] = int(port)
                if len(self.ports) == 2 and not self.ready.called:
                    self.ready.callback(None)

            errReceived = outReceived

            def processEnded(self, reason) -> None:
                if not self.ready.called:
                    self.ready.errback(RuntimeError(self.output.decode(errors="replace")))
                self.ended.callback(reason.value)

        from twisted.internet.defer import Deferred

        proto = Proc()
        exe = twistd_path()
        argv = [exe, "-n", "--pidfile=", "--reactor=lwstp", "lwstp",
                "--listen", "tcp:0:interface=127.0.0.1",
                "--admin", "tcp:0:interface=127.0.0.1", "--threads", "2", "--metrics",
                "--wsgi", "tests.data.wsgi_apps.hello"]
        process = reactor.spawnProcess(proto, exe, argv, env=os.environ.copy(), path=temp_dir(self))
        self.addCleanup(lambda: proto.ended.called or process.signalProcess("KILL"))
        yield proto.ready
        agent = Agent(reactor)
        response = yield agent.request(b"GET", f"http://127.0.0.1:{proto.ports[b'wsgi']}/".encode())
        body = yield readBody(response)
        self.assertEqual(response.code, 200)
        self.assertRegex(body.decode(), r"^hello from lwstp-\d+$")
        response = yield agent.request(b"GET", f"http://127.0.0.1:{proto.ports[b'wsgi']}/diag".encode())
        body = yield readBody(response)
        self.assertIn(b"hello from", body)  # /diag is the application's URL space here
        response = yield agent.request(
            b"GET", f"http://127.0.0.1:{proto.ports[b'admin']}/diag".encode())
        diag = json.loads((yield readBody(response)))
        self.assertEqual((diag["name"], diag["threads"]), ("lwstp", 2))
        # The reactor's lag, measured since the admin site serves /diag.
        self.assertEqual(set(diag["reactor_lag"]), {"late_turns", "mean_ms", "max_ms"})
        response = yield agent.request(
            b"GET", f"http://127.0.0.1:{proto.ports[b'admin']}/metrics".encode())
        metrics = (yield readBody(response)).decode()
        self.assertEqual(response.code, 200)
        self.assertIn('lwstp_tasks_enqueued_total{pool="lwstp"} 2.0', metrics)
        # The lwstp reactor's own pool is exported too.
        self.assertIn('lwstp_threads{pool="twisted.internet.reactor"}', metrics)
        self.assertIn("# TYPE lwstp_reactor_lag_seconds histogram", metrics)
        self.assertIn('lwstp_reactor_lag_seconds_bucket{le="+Inf"}', metrics)
        process.signalProcess("TERM")
        yield proto.ended
        self.assertIn(b"Main loop terminated.", proto.output)
        self.assertNotIn(b"Traceback", proto.output)
