"""
Running C{twistd lwstp} as a real process, for the tests.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

LISTENING = re.compile(rb"lwstp demo listening on http://127\.0\.0\.1:(\d+)/")


def twistd_path(python: str = sys.executable) -> str:
    return os.path.join(os.path.dirname(python), "twistd")


class TwistdProcess(ProcessProtocol):
    """
    Collects a twistd process's output.

    @ivar listening: Fires with the port once the demo listens.
    @ivar ended: Fires with the C{processEnded} reason's exception.
    """

    def __init__(self, listening: re.Pattern[bytes] = LISTENING) -> None:
        self.output = b""
        self.pattern = listening  # its first group is the port
        self.listening: Deferred[int] = Deferred()
        self.ended: Deferred[BaseException] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if not self.listening.called:
            match = self.pattern.search(self.output)
            if match:
                self.listening.callback(int(match.group(1)))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.listening.called:
            self.listening.errback(Failure(RuntimeError(self.output.decode(errors="replace"))))
        self.ended.callback(reason.value)


def spawn_twistd(args: list[str], cwd: str, twistd: str | None = None, env: Any = None) -> TwistdProcess:
    """
    Start C{twistd -n --pidfile= lwstp ARGS} in C{cwd}.
    """
    proto = TwistdProcess()
    exe = twistd or twistd_path()
    argv = [exe, "-n", "--pidfile=", "lwstp", *args]
    reactor.spawnProcess(proto, exe, argv, env=env if env is not None else os.environ.copy(), path=cwd)
    return proto
