"""
The demo page in a real browser: Debian's chromium, headless, driven over
the DevTools protocol.  It loads C{/} from a server with small task values,
waits until all eight bars show finished and the panel counts them, and
saves a screenshot in the test's temporary directory; with tasks that never
end, it sees the rows of queued tasks waiting and those of taken tasks
running.

Skipped only where chromium is missing and CI is not set; C{.ci/run}
installs it, so in CI it always runs.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import SkipTest, TestCase

from loadgen.wsclient import WSClient, connect
from twisted_lwstp import ThreadPool
from twisted_lwstp.demo import DemoService, TaskShape

from ._helpers import temp_dir

CHROMIUM = shutil.which("chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1100,800",
]
DEVTOOLS = re.compile(rb"DevTools listening on ws://127\.0\.0\.1:(\d+)(/devtools/browser/[\w-]+)")


class Chromium(ProcessProtocol):
    def __init__(self) -> None:
        self.output = b""
        self.devtools: Deferred[tuple[int, str]] = Deferred()
        self.ended: Deferred[None] = Deferred()

    def errReceived(self, data: bytes) -> None:
        self.output += data
        match = DEVTOOLS.search(self.output)
        if match and not self.devtools.called:
            self.devtools.callback((int(match.group(1)), match.group(2).decode()))

    outReceived = errReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.devtools.called:
            self.devtools.errback(Failure(RuntimeError(self.output.decode(errors="replace"))))
        self.ended.callback(None)


class DevTools:
    """
    Commands over the browser's DevTools WebSocket, answered by id.
    """

    def __init__(self, client: WSClient) -> None:
        self.client = client
        self.pending: dict[int, Deferred[Any]] = {}
        self.next_id = 0
        client.on_message = self._message

    def _message(self, client: WSClient, text: str) -> None:
        message = json.loads(text)
        d = self.pending.pop(message.get("id", -1), None)
        if d is None:
            return
        if "error" in message:
            d.errback(Failure(RuntimeError(message["error"])))
        else:
            d.callback(message.get("result", {}))

    def send(self, method: str, session: str | None = None, **params: Any) -> Deferred[Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        d: Deferred[Any] = Deferred()
        self.pending[self.next_id] = d
        self.client.send_text(json.dumps(message))
        return d


class BrowserTests(TestCase):
    timeout = 180

    def setUp(self) -> None:
        if CHROMIUM is None:
            if os.environ.get("CI"):
                self.fail("chromium is missing in CI: .ci/run should have installed it")
            raise SkipTest("chromium is not installed (apt-get install chromium)")

    @inlineCallbacks
    def open_page(self, shape: TaskShape):
        """
        A demo server of 3 threads and a queue of 8 running C{shape}, and a
        headless browser on its page; an C{evaluate(expression)} that
        answers with the expression's value in the page.
        """
        pool = ThreadPool(3, 8, "browser", reactor=reactor, sync_timeout=60)
        service = DemoService(
            serverFromString(reactor, "tcp:0:interface=127.0.0.1"),
            pool,
            shape,
            reactor=reactor,
        )
        service.startService()
        self.addCleanup(service.stopService)
        port = service.port.getHost().port

        profile = tempfile.mkdtemp(prefix="lwstp-chromium-")
        self.addCleanup(shutil.rmtree, profile, True)
        browser = Chromium()
        process = reactor.spawnProcess(
            browser, CHROMIUM, [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            env=os.environ.copy(),
        )

        @inlineCallbacks
        def close_browser():
            if process.pid is not None:
                process.signalProcess("TERM")
            yield browser.ended

        self.addCleanup(close_browser)
        devtools_port, path = yield browser.devtools
        client = yield connect(devtools_port, path=path)
        tools = DevTools(client)
        target = yield tools.send("Target.createTarget", url=f"http://127.0.0.1:{port}/")
        attached = yield tools.send("Target.attachToTarget", targetId=target["targetId"], flatten=True)
        session = attached["sessionId"]

        @inlineCallbacks
        def evaluate(expression: str):
            result = yield tools.send("Runtime.evaluate", session, expression=expression,
                                      returnByValue=True)
            return result["result"].get("value")

        return tools, session, evaluate

    @inlineCallbacks
    def until_page_shows(self, evaluate, expression: str, expected: Any, what: str):
        """
        Poll C{expression} every 100 ms until it is C{expected} (up to
        120 s), then assert it.
        """
        value: Any = None
        for _ in range(1200):
            value = yield evaluate(expression)
            if value == expected:
                break
            yield deferLater(reactor, 0.1, lambda: None)
        self.assertEqual(value, expected, what)

    @inlineCallbacks
    def test_page_shows_eight_finished_bars(self):
        tools, session, evaluate = yield self.open_page(
            TaskShape(count=3000, checkin_every=100, sync_every=300, pause_ms=5))
        yield self.until_page_shows(
            evaluate, STATES, ["finished"] * 8, "every row finished")
        positions = yield evaluate(
            "Array.from(document.querySelectorAll('#conns td.pos')).map(c => c.textContent)"
        )
        self.assertEqual(positions, ["3,000"] * 8)
        # The panel, filled from /diag, counts what the rows show.
        yield self.until_page_shows(
            evaluate, PANEL,
            {"running": "0", "waiting": "0", "finished": "8", "stopped": "0", "refused": "0",
             "threads": "3"},
            "the panel after eight finished tasks")

        shot = yield tools.send("Page.captureScreenshot", session, format="png")
        png = base64.b64decode(shot["data"])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        path_out = os.path.join(temp_dir(self, keep=True), "demo-page.png")
        with open(path_out, "wb") as f:
            f.write(png)
        self.screenshot = path_out

    @inlineCallbacks
    def test_rows_of_queued_tasks_wait_and_rows_of_taken_tasks_run(self):
        # Tasks that never end: three take the threads, five stay queued.
        tools, session, evaluate = yield self.open_page(
            TaskShape(count=10**12, checkin_every=1, sync_every=10**12, pause_ms=20))
        yield self.until_page_shows(
            evaluate, f"{STATES}.sort()", ["running"] * 3 + ["waiting"] * 5,
            "three rows running, five waiting")
        yield self.until_page_shows(
            evaluate, PANEL,
            {"running": "3", "waiting": "5", "finished": "0", "stopped": "0", "refused": "0",
             "threads": "3"},
            "the panel with three tasks running and five waiting")


#: The state of each row of the demo page, in order.
STATES = "Array.from(document.querySelectorAll('#conns tr')).map(r => r.dataset.state)"
#: The counts of the demo page's panel.
PANEL = ("Object.fromEntries(Array.from(document.querySelectorAll('#diag b'))"
         ".map(b => [b.id.slice(2), b.textContent]))")
