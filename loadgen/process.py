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


async def run_module(reactor: Any, module: str, *args: str) -> bytes:
    """
    Run C{python -m module args} to its end; its standard output.

    @raise RuntimeError: it printed nothing; the message holds its stderr.
    """
    proto = _Collect()
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    argv = [sys.executable, "-m", module, *args]
    reactor.spawnProcess(proto, sys.executable, argv, env=env, path=ROOT)
    await proto.ended
    if not proto.out.strip():
        raise RuntimeError(f"{module} failed: {proto.err.decode(errors='replace')}")
    return proto.out
