"""
One owner per piece of state (issue 24), read from the source by AST: no
module writes another object's private attributes; each field of a task
or a worker that threads share is written by its one owning module; each
locked transition exists once; each of the pool's objects says in its
docstring which lock or thread owns its state.
"""

from __future__ import annotations

import ast
import os

from twisted.trial.unittest import SynchronousTestCase

import twisted_lwstp
from twisted_lwstp import _deadlines, _owners, _reactorside, _state, _task, _workerside
from twisted_lwstp._deadlines import SyncDeadlines
from twisted_lwstp._life import PoolLife
from twisted_lwstp._owners import Owners, OwnerState
from twisted_lwstp._reactorside import ReactorSide
from twisted_lwstp._staff import Staff, Worker
from twisted_lwstp._state import PoolState
from twisted_lwstp._surface import PoolSurface
from twisted_lwstp._workerside import WorkerSide

PACKAGE = os.path.dirname(twisted_lwstp.__file__)

#: The one module (besides the class's own constructor) that may write
#: each field of another object.  Everything else a module writes through
#: a name other than C{self} must be public and not in this table.
WRITERS = {
    # A task's shared fields: the pool state's transitions, under its lock.
    "owner": "_state", "_status": "_state", "_stop": "_state", "_outlive": "_state",
    "_worker": "_state", "_sync_serial": "_state", "error": "_state", "_failure": "_state",
    "_t_state": "_state", "_t_started": "_state", "_t_ended": "_state", "_run": "_state",
    "_sync": "_state",
    # A task's reactor-thread fields: the reactor side, at delivery and reap.
    "_reaped": "_reactorside", "_sync_seen": "_reactorside", "_cleanup": "_reactorside",
    "_func": "_reactorside", "_ctx": "_reactorside",
    # What the worker running a task writes after each call.
    "_last_return": "_workerside",
    # A worker record's fields: the state's transitions; its handle, the life.
    "item": "_state", "current": "_state", "handle": "_life",
    # An owner's record: the registry that holds it.
    "paused": "_owners", "held": "_owners",
}

#: The one module that writes other libraries' private names (issue 23).
OTHER_LIBRARIES = "_internals"

#: Public fields other objects may write freely (their docstrings say why):
#: a worker's SyncWait is its own thread's; a debug cell is filled once.
#: A pool's reap_hook is public API (a property), set by metrics.
FREE = {"task", "daemon", "reap_hook"}


def sources() -> dict[str, ast.Module]:
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                found[rel] = ast.parse(open(path).read(), path)
    return found


def targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        out: list[ast.expr] = []
        for t in node.targets:
            out.extend(t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])
        return out
    if isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        return [node.target]
    if isinstance(node, ast.Delete):
        return list(node.targets)
    return []


def foreign_writes() -> list[tuple[str, str, int]]:
    """(module, attribute, line) of every write through a name not self."""
    out = []
    for module, tree in sources().items():
        for node in ast.walk(tree):
            for target in targets(node):
                if isinstance(target, ast.Subscript):
                    target = target.value  # type: ignore[assignment]
                if not isinstance(target, ast.Attribute):
                    continue
                base = target.value
                if isinstance(base, ast.Name) and base.id in ("self", "cls"):
                    continue
                out.append((module, target.attr, node.lineno))
    return out


class OwnershipTests(SynchronousTestCase):
    def test_no_module_writes_another_objects_private_attributes(self) -> None:
        wrong = [
            f"{module}:{line} writes .{attr}"
            for module, attr, line in foreign_writes()
            if attr.startswith("_") and not attr.startswith("__")
            and WRITERS.get(attr) != module and module != OTHER_LIBRARIES
        ]
        self.assertEqual(wrong, [])

    def test_each_shared_field_has_its_one_writer(self) -> None:
        wrong = [
            f"{module}:{line} writes .{attr}, which only {WRITERS[attr]} may write"
            for module, attr, line in foreign_writes()
            if attr in WRITERS and WRITERS[attr] != module
        ]
        self.assertEqual(wrong, [])

    def test_other_public_writes_are_the_known_free_ones(self) -> None:
        # A new public field written from outside its object must be owned
        # (added to WRITERS) or shown free (FREE), not slip in unnoticed.
        pool_modules = {"_state", "_staff", "_workerside", "_reactorside", "_owners",
                        "_deadlines", "_life", "_calls", "_surface", "_pool", "_task",
                        "_diagnostics", "compat", "metrics"}
        wrong = [
            f"{module}:{line} writes .{attr}"
            for module, attr, line in foreign_writes()
            if module in pool_modules and not attr.startswith("_")
            and attr not in WRITERS and attr not in FREE
        ]
        self.assertEqual(wrong, [])

    def test_the_table_names_real_fields(self) -> None:
        # The table cannot rot: every field it names is a slot of a task or
        # a worker, and each owner module writes it somewhere.
        slots = set(_task.Task.__slots__) | set(Worker.__slots__) | set(OwnerState.__slots__)
        self.assertEqual(set(WRITERS) - slots, set())
        written = {(module, attr) for module, attr, _ in foreign_writes()}
        self.assertEqual({(m, a) for a, m in WRITERS.items()} - written, set())

    def test_nothing_sets_attributes_by_name(self) -> None:
        for module in ("_state", "_staff", "_workerside", "_reactorside", "_owners",
                       "_deadlines", "_life", "_surface", "_pool"):
            tree = sources()[module]
            calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)
                     and isinstance(n.func, ast.Name) and n.func.id in ("setattr", "delattr")]
            self.assertEqual(calls, [], module)


class TransitionsOnceTests(SynchronousTestCase):
    def test_dropping_a_queued_task_is_written_once(self) -> None:
        text = open(_state.__file__).read()
        self.assertEqual(text.count("del self._backlog["), 1)
        self.assertEqual(text.count("self._queued_tasks -= 1"), 2)  # drop; take

    def test_only_the_state_takes_the_pool_lock(self) -> None:
        for module in (_workerside, _reactorside, _owners, _deadlines):
            tree = ast.parse(open(module.__file__).read())
            names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
            self.assertNotIn("_lock", names, module.__name__)
            self.assertNotIn("_mailbox", names, module.__name__)
            self.assertNotIn("_backlog", names, module.__name__)


class DocstringTests(SynchronousTestCase):
    def test_each_object_names_its_lock_or_thread(self) -> None:
        for cls in (PoolState, Staff, WorkerSide, ReactorSide, Owners, OwnerState, SyncDeadlines,
                    PoolLife, PoolSurface, Worker):
            module_doc = __import__(cls.__module__, fromlist=["_"]).__doc__ or ""
            doc = (cls.__doc__ or "") + module_doc
            self.assertRegex(doc, r"(?i)owner of|owner:|owns", cls.__name__)
            self.assertRegex(doc, r"(?i)lock|reactor thread|worker thread|any thread",
                             cls.__name__)
