"""
The private names of Twisted, pytest-twisted, pytest and asyncio that
twisted_lwstp uses: listed against their classes, checked at import and on
each transport class's first connection, and read by no module but
L{twisted_lwstp._internals}.
"""

from __future__ import annotations

import ast
import asyncio
import os
import socket

from twisted.internet import abstract, protocol, tcp, unix
from twisted.trial.unittest import SynchronousTestCase

import twisted
from twisted_lwstp import _internals
from twisted_lwstp._eager import EagerTCPServer, EagerUNIXServer
from twisted_lwstp._internals import InternalsChanged, check_class_names, check_instance

from .test_layout import PACKAGE, modules
from .test_reactor_unit import _ReactorCase

#: The names, as a reader finds them in Twisted's source: (owner, name).
CLASS_TABLE = {
    ("twisted.internet.abstract", "_dataMustBeBytes"),
    ("twisted.internet.abstract.FileDescriptor", "_writeDisconnected"),
    ("twisted.internet.abstract.FileDescriptor", "_writeDisconnecting"),
    ("twisted.internet.abstract.FileDescriptor", "_maybePauseProducer"),
    ("twisted.internet.tcp.Server", "_aborting"),
    ("twisted.internet.tcp.Client", "_aborting"),
    ("twisted.internet.unix.Server", "_aborting"),
    ("twisted.internet.unix.Client", "_aborting"),
    ("twisted.internet.tcp.Server", "_fromConnectedSocket"),
    ("twisted.internet.unix.Server", "_fromConnectedSocket"),
    ("twisted.internet.tcp.Connector", "_makeTransport"),
    ("twisted.internet.unix.Connector", "_makeTransport"),
    ("twisted.internet.tcp.Port", "_fromListeningDescriptor"),
    ("twisted.internet.unix.Port", "_fromListeningDescriptor"),
    ("twisted.internet.posixbase.PosixReactorBase", "_supportedAddressFamilies"),
    ("twisted.internet.base.ReactorBase", "_initThreadPool"),
    ("twisted.internet.base.ReactorBase", "_threadpoolStartupID"),
    ("twisted.internet.base.ReactorBase", "_stopThreadPool"),
    ("twisted.internet.asyncioreactor.AsyncioSelectorReactor", "_reschedule"),
    ("twisted.internet.epollreactor.EPollReactor", "_doReadOrWrite"),
    ("twisted.internet.asyncioreactor.AsyncioSelectorReactor", "_readOrWrite"),
    ("twisted.python.threadpool.ThreadPool", "_pool"),
    ("twisted.python.threadpool.ThreadPool", "_queue"),
}
INSTANCE_TABLE = {
    ("twisted.internet.abstract.FileDescriptor", "_tempDataBuffer"),
    ("twisted.internet.abstract.FileDescriptor", "_tempDataLen"),
    ("twisted.internet.unix.Server", "_sendmsgQueue"),
    ("twisted.internet.unix.Client", "_sendmsgQueue"),
    ("twisted.internet.asyncioreactor.AsyncioSelectorReactor", "_asyncioEventloop"),
    ("asyncio.base_events.BaseEventLoop", "_default_executor"),
    ("twisted.internet.base.ReactorBase", "_pendingTimedCalls"),
    ("asyncio.selector_events.BaseSelectorEventLoop", "_selector"),
}
#: Private names of pytest and pytest-twisted, looked up (with their
#: fallbacks) where they are used, in _internals.
OTHER_NAMES = {"_install_reactor", "_action", "_attrs"}
#: Private names of Twisted's pool that twisted_lwstp.compat defines again.
MIRRORED = {"_pool", "_queue"}


def _qualified(owner: object) -> str:
    if isinstance(owner, type):
        return f"{owner.__module__}.{owner.__qualname__}"
    return str(owner.__name__)


def _table(entries: list[tuple[object, tuple[str, ...], str]]) -> set[tuple[str, str]]:
    return {(_qualified(owner), name) for owner, names, _ in entries for name in names}


class NameTableTests(SynchronousTestCase):
    def test_class_names_listed_and_present(self) -> None:
        self.assertEqual(_table(_internals.CLASS_NAMES), CLASS_TABLE)
        for owner, names, _ in _internals.CLASS_NAMES:
            for name in names:
                self.assertTrue(hasattr(owner, name), f"{_qualified(owner)}.{name}")

    def test_instance_names_listed(self) -> None:
        self.assertEqual(_table(_internals.INSTANCE_NAMES), INSTANCE_TABLE)  # type: ignore[arg-type]

    def test_aborting_is_a_class_attribute_so_it_is_checked_at_import(self) -> None:
        # The eager path reads it with no default: a rename fails the import.
        for cls in (tcp.Server, tcp.Client, unix.Server, unix.Client):
            self.assertIs(cls._aborting, False)


class MissingNameTests(SynchronousTestCase):
    def test_missing_class_attribute_names_it_and_the_version(self) -> None:
        class Renamed(abstract.FileDescriptor):
            pass

        with self.assertRaises(InternalsChanged) as caught:
            check_class_names([(Renamed, ("_writeDisconnected", "_gone"), "twisted")])
        message = str(caught.exception)
        self.assertIn(f"{Renamed.__module__}.{Renamed.__qualname__}._gone", message)
        self.assertIn(f"twisted {twisted.__version__}", message)
        self.assertIn("does not have; see docs/supported.md for the versions", message)
        self.assertNotIn("_writeDisconnected", message)

    def test_missing_module_function_names_the_module(self) -> None:
        with self.assertRaises(InternalsChanged) as caught:
            check_class_names([(abstract, ("_nonesuch",), "twisted")])
        self.assertIn("twisted.internet.abstract._nonesuch", str(caught.exception))

    def test_missing_instance_attribute_names_it_and_the_version(self) -> None:
        class Bare:
            pass

        with self.assertRaises(InternalsChanged) as caught:
            check_instance(Bare(), [(Bare, ("_tempDataLen",), "twisted")])
        self.assertIn("Bare._tempDataLen", str(caught.exception))
        self.assertIn(f"twisted {twisted.__version__}", str(caught.exception))
        self.assertNotIn(Bare, _internals._checked)

    def test_each_class_checked_once(self) -> None:
        class Once:
            _x = 1

        names = [(Once, ("_x",), "twisted")]
        obj = Once()
        check_instance(obj, names)
        self.assertIn(Once, _internals._checked)
        del Once._x  # a second instance is not looked at again
        check_instance(Once(), names)
        _internals._checked.discard(Once)

    def test_missing_pytest_twisted_hook_names_it(self) -> None:
        import pytest_twisted

        saved = pytest_twisted._install_reactor
        del pytest_twisted._install_reactor
        try:
            with self.assertRaises(InternalsChanged) as caught:
                _internals.pytest_twisted_install(lambda: None, object)
        finally:
            pytest_twisted._install_reactor = saved
        self.assertIn("pytest_twisted._install_reactor", str(caught.exception))
        self.assertIn("pytest-twisted ", str(caught.exception))


class FirstConnectionTests(_ReactorCase):
    """
    A real connection's transport class is checked when the connection is
    made (here adopted from a socket, on an lwstp reactor never run).
    """

    def adopt(self, family: socket.AddressFamily) -> abstract.FileDescriptor:
        if family == socket.AF_UNIX:
            ours, theirs = socket.socketpair()
        else:
            listener = socket.create_server(("127.0.0.1", 0))
            self.addCleanup(listener.close)
            theirs = socket.create_connection(listener.getsockname())
            ours, _ = listener.accept()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        reactor = self.build()
        transport = reactor.adoptStreamConnection(
            ours.fileno(), family, protocol.Factory.forProtocol(protocol.Protocol))
        self.addCleanup(transport.socket.close)
        self.addCleanup(transport.stopReading)
        return transport

    def test_tcp_and_unix_transports_checked_on_first_connection(self) -> None:
        for family, cls in [(socket.AF_INET, EagerTCPServer), (socket.AF_UNIX, EagerUNIXServer)]:
            _internals._checked.discard(cls)
            transport = self.adopt(family)
            self.assertIs(type(transport), cls)
            self.assertIn(cls, _internals._checked)

    def test_a_missing_instance_attribute_fails_the_first_connection(self) -> None:
        original = abstract.FileDescriptor.__init__

        def without_temp_length(fd: abstract.FileDescriptor, *args: object,
                                **kwargs: object) -> None:
            original(fd, *args, **kwargs)  # type: ignore[arg-type]
            del fd._tempDataLen

        self.patch(abstract.FileDescriptor, "__init__", without_temp_length)
        _internals._checked.discard(EagerUNIXServer)
        self.addCleanup(_internals._checked.add, EagerUNIXServer)
        with self.assertRaises(InternalsChanged) as caught:
            self.adopt(socket.AF_UNIX)
        self.assertIn("FileDescriptor._tempDataLen", str(caught.exception))
        self.assertNotIn(EagerUNIXServer, _internals._checked)

    def test_unix_transports_need_the_sendmsg_queue(self) -> None:
        original = unix._SendmsgMixin.__init__

        def without_queue(fd: object) -> None:
            original(fd)  # type: ignore[arg-type]
            del fd._sendmsgQueue  # type: ignore[attr-defined]

        self.patch(unix._SendmsgMixin, "__init__", without_queue)
        _internals._checked.discard(EagerUNIXServer)
        self.addCleanup(_internals._checked.add, EagerUNIXServer)
        with self.assertRaises(InternalsChanged) as caught:
            self.adopt(socket.AF_UNIX)
        self.assertIn("unix.Server._sendmsgQueue", str(caught.exception))
        # TCP connections have no such queue, legitimately.
        _internals._checked.discard(EagerTCPServer)
        self.adopt(socket.AF_INET)
        self.assertIn(EagerTCPServer, _internals._checked)


class OneModuleTests(SynchronousTestCase):
    """
    No module but _internals names a private name of another library.
    """

    def test_no_other_module_uses_the_names(self) -> None:
        names = {name for _, name in CLASS_TABLE | INSTANCE_TABLE} | OTHER_NAMES
        # Twisted's pool names that compat.ThreadPool provides, mirrored
        # (and our own objects' _pool is another thing): not read from it.
        names -= MIRRORED
        offenders = []
        for module, path in modules().items():
            if module == "_internals":
                continue
            tree = ast.parse(open(path).read())
            for node in ast.walk(tree):
                used = None
                if isinstance(node, ast.Attribute) and node.attr in names:
                    used = node.attr
                elif isinstance(node, ast.Constant) and node.value in names:
                    used = node.value
                elif isinstance(node, ast.ImportFrom) and not node.level:
                    private = [a.name for a in node.names if a.name.startswith("_")]
                    if private and (node.module or "").split(".")[0] in (
                            "twisted", "pytest_twisted", "asyncio", "pytest", "_pytest"):
                        used = ", ".join(private)
                elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in names:
                    used = node.name
                if used:
                    rel = os.path.relpath(path, PACKAGE)
                    offenders.append(f"{rel}:{node.lineno}: {used}")
        self.assertEqual(offenders, [])


class _Transport:
    """Every attribute write_idle reads, all saying 'nothing pending'."""

    _tempDataLen = 0
    dataBuffer = b""
    disconnecting = 0
    _writeDisconnecting = False
    _writeDisconnected = False
    _aborting = False


class AccessorTests(SynchronousTestCase):
    """The small functions the package reads the names through."""

    def test_write_idle_is_false_for_each_thing_pending(self) -> None:
        self.assertTrue(_internals.write_idle(_Transport()))
        for name, value in [("_tempDataLen", 1), ("dataBuffer", b"x"), ("disconnecting", 1),
                            ("_writeDisconnecting", True), ("_writeDisconnected", True),
                            ("_aborting", True), ("_sendmsgQueue", [7])]:
            transport = _Transport()
            setattr(transport, name, value)
            self.assertFalse(_internals.write_idle(transport), name)
        empty_queue = _Transport()
        empty_queue._sendmsgQueue = []  # type: ignore[attr-defined]
        self.assertTrue(_internals.write_idle(empty_queue))

    def test_buffer_unsent_appends_counts_and_may_pause(self) -> None:
        paused: list[bool] = []
        transport = _Transport()
        transport._tempDataBuffer = [b"a"]  # type: ignore[attr-defined]
        transport._tempDataLen = 1
        transport._maybePauseProducer = lambda: paused.append(True)  # type: ignore[attr-defined]
        _internals.buffer_unsent(transport, [b"bc", b"def"])
        self.assertEqual(transport._tempDataBuffer, [b"a", b"bc", b"def"])  # type: ignore[attr-defined]
        self.assertEqual(transport._tempDataLen, 6)
        self.assertEqual(paused, [True])

    def test_buffer_ahead_puts_earlier_writes_first(self) -> None:
        paused: list[bool] = []
        transport = _Transport()
        transport._tempDataBuffer = [b"later"]  # type: ignore[attr-defined]
        transport._tempDataLen = 5
        transport._maybePauseProducer = lambda: paused.append(True)  # type: ignore[attr-defined]
        _internals.buffer_ahead(transport, [b"ea", b"rly"], 5)
        self.assertEqual(transport._tempDataBuffer, [b"ea", b"rly", b"later"])  # type: ignore[attr-defined]
        self.assertEqual(transport._tempDataLen, 10)
        self.assertEqual(paused, [True])

    def test_before_select_runs_the_hook_and_may_make_the_wait_not_block(self) -> None:
        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        answers = [True, False]
        timeouts: list[object] = []
        selector = loop._selector  # type: ignore[attr-defined]
        real = selector.select

        def seen(timeout: object = None) -> object:
            timeouts.append(timeout)
            return real(timeout)

        selector.select = seen
        self.assertTrue(_internals.before_select(loop, lambda: answers.pop(0)))
        loop.call_later(0.05, loop.stop)
        # Two waits: the first, though a timer is 50 ms away, does not block
        # (the hook said so); the second waits for the timer.
        loop.run_forever()
        self.assertEqual(len(timeouts), 2, timeouts)
        self.assertEqual(timeouts[0], 0)
        self.assertGreater(timeouts[1], 0)

    def test_before_select_leaves_other_loops_alone(self) -> None:
        self.assertFalse(_internals.before_select(object(), lambda: True))  # type: ignore[arg-type]

    def test_class_decorators_wire_twisteds_hooks(self) -> None:
        @_internals.makes_transport
        class Connector:
            def make_transport(self) -> str:
                return "made"

        @_internals.inits_thread_pool
        class Reactor:
            def init_thread_pool(self) -> str:
                return "pooled"

        self.assertEqual(Connector()._makeTransport(), "made")  # type: ignore[attr-defined]
        self.assertEqual(Reactor()._initThreadPool(), "pooled")  # type: ignore[attr-defined]

    def test_attach_and_detach_pool(self) -> None:
        calls: list[tuple[object, ...]] = []

        class Reactor:
            _threadpoolStartupID = None
            threadpoolShutdownID = None
            threadpool = None

            def _stopThreadPool(self) -> None:
                pass

            def callWhenRunning(self, f: object) -> str:
                calls.append(("running", f))
                return "started-id"

            def addSystemEventTrigger(self, *args: object) -> str:
                calls.append(("trigger", *args))
                return "stop-id"

            def removeSystemEventTrigger(self, trigger: str) -> None:
                calls.append(("removed", trigger))
                if trigger == "stop-id":
                    raise ValueError("fired already")

        class Pool:
            def start(self) -> None:
                pass

        reactor, pool = Reactor(), Pool()
        _internals.attach_pool(reactor, pool)
        self.assertIs(reactor.threadpool, pool)
        self.assertEqual(reactor._threadpoolStartupID, "started-id")
        self.assertEqual(reactor.threadpoolShutdownID, "stop-id")
        self.assertEqual(calls, [("running", pool.start),
                                 ("trigger", "during", "shutdown", reactor._stopThreadPool)])
        del calls[:]
        _internals.detach_pool(reactor)
        self.assertEqual(calls, [("removed", "started-id"), ("removed", "stop-id")])
        self.assertIsNone(reactor.threadpool)
        self.assertIsNone(reactor._threadpoolStartupID)
        self.assertIsNone(reactor.threadpoolShutdownID)

    def test_default_executor_reads_the_loops_and_names_python_when_missing(self) -> None:
        import asyncio
        import sys
        from concurrent.futures import ThreadPoolExecutor

        loop = asyncio.new_event_loop()
        self.addCleanup(loop.close)
        self.assertIsNone(_internals.default_executor(loop))
        mine = ThreadPoolExecutor(1)
        self.addCleanup(mine.shutdown)
        loop.set_default_executor(mine)
        self.assertIs(_internals.default_executor(loop), mine)

        class Renamed(asyncio.SelectorEventLoop):
            def __init__(self) -> None:
                super().__init__()
                del self._default_executor

        renamed = Renamed()
        self.addCleanup(renamed.close)
        self.addCleanup(setattr, renamed, "_default_executor", None)  # for close()
        with self.assertRaises(InternalsChanged) as caught:
            _internals.default_executor(renamed)
        message = str(caught.exception)
        self.assertIn("asyncio.base_events.BaseEventLoop._default_executor", message)
        self.assertIn(f"Python {sys.version.split()[0]} does not have", message)

    def test_asyncio_loop_checks_the_reactor(self) -> None:
        from twisted.internet.asyncioreactor import AsyncioSelectorReactor

        class Unbuilt(AsyncioSelectorReactor):  # type: ignore[misc]
            pass

        with self.assertRaises(InternalsChanged) as caught:
            _internals.asyncio_loop(Unbuilt.__new__(Unbuilt))
        self.assertIn("_asyncioEventloop", str(caught.exception))

    def test_testing_team_calls_the_hook_with_both_arguments(self) -> None:
        def limit() -> int:
            return 1

        def factory() -> None:
            pass

        class Hooked:
            @staticmethod
            def _pool(current_limit: object, thread_factory: object) -> object:
                return ("team", current_limit, thread_factory)

        class Plain:
            _pool = None

        self.assertEqual(_internals.testing_team(Hooked(), limit, factory),
                         ("team", limit, factory))
        self.assertIsNone(_internals.testing_team(Plain(), limit, factory))

    def test_pytest_twisted_install_forwards_both_arguments(self) -> None:
        import pytest_twisted

        seen: list[tuple[object, object]] = []

        def installer() -> None:
            pass

        self.patch(pytest_twisted, "_install_reactor",
                   lambda reactor_installer, reactor_type: seen.append(
                       (reactor_installer, reactor_type)))
        _internals.pytest_twisted_install(installer, int)
        self.assertEqual(seen, [(installer, int)])

    def test_versions_name_the_distribution(self) -> None:
        self.assertEqual(_internals._version("twisted"), f"twisted {twisted.__version__}")

    def test_a_missing_name_on_an_instance_names_its_repr(self) -> None:
        class Thing:
            __slots__ = ()

            def __repr__(self) -> str:
                return "<the thing>"

        with self.assertRaises(InternalsChanged) as caught:
            check_class_names([(Thing(), ("_gone",), "twisted")])
        self.assertIn(f"{__name__}.<the thing>._gone", str(caught.exception))
