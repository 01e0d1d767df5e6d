"""
Running ``python -m MODULE ARGS`` as a child process from inside a reactor,
with the checkout on its path, and collecting what it prints.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _Collect(ProcessProtocol):
    def __init__(self) -> None:
        self.out = b""
        self.err = b""
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.out += data

    def errReceived(self, data: bytes) -> None:
        self.err += data

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(None)


#: How long a child may run before it is killed: far beyond any healthy
#: child of the benchmarks or the soak, short enough that a hang costs
#: minutes, not a CI run.
CHILD_TIMEOUT = 240.0


async def run_module(reactor: Any, module: str, *args: str,
                     timeout: float = CHILD_TIMEOUT) -> bytes:
    """
    Run C{python -m module args} to its end; its standard output.

    @param timeout: Seconds before the child is killed (a hang then fails
        the caller, naming the module, instead of stalling it).
    @raise RuntimeError: it printed nothing, or it ran past C{timeout};
        the message holds its stderr.
    """
    proto = _Collect()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [sys.executable, "-m", module, *args]
    process = reactor.spawnProcess(proto, sys.executable, argv, env=env, path=ROOT)
    expired: list[bool] = []

    def kill() -> None:
        expired.append(True)
        process.signalProcess("KILL")

    timer = reactor.callLater(timeout, kill)
    try:
        await proto.ended
    finally:
        if timer.active():
            timer.cancel()
    if expired:
        raise RuntimeError(
            f"{module} {' '.join(args)} ran past {timeout:g} s and was killed: "
            f"{proto.err.decode(errors='replace')}"
        )
    if not proto.out.strip():
        raise RuntimeError(f"{module} failed: {proto.err.decode(errors='replace')}")
    return proto.out
