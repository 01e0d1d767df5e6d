"""
The engine's layout keeps its promises (issue 10): no import cycle between
the package's modules, type-checking imports included; every module names
its tests on its first line and says in its docstring which thread runs
its code; none grows past about 350 lines.
"""

from __future__ import annotations

import ast
import os

from twisted.trial.unittest import SynchronousTestCase

import twisted_lwstp

PACKAGE = os.path.dirname(twisted_lwstp.__file__)
ROOMS = ["_state", "_staff", "_workerside", "_reactorside", "_owners", "_deadlines",
         "_diagnostics", "_life", "_calls", "_surface", "_pool", "_handover", "_window"]


def modules() -> dict[str, str]:
    """Module name (relative to the package) -> path, for every .py file."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                rel = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                found[rel.removesuffix(".__init__") if rel != "__init__" else ""] = path
    return found


def imports_of(name: str, path: str, known: set[str]) -> set[str]:
    """Every package module C{name} imports, at any depth of the file."""
    tree = ast.parse(open(path).read())
    package = name.rsplit(".", 1)[0] if "." in name else ""
    if path.endswith("__init__.py"):
        package = name
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            parts = package.split(".") if package else []
            base = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
            target = ".".join(base + ([node.module] if node.module else []))
            candidates = [target] + [f"{target}.{a.name}".lstrip(".") for a in node.names]
            out.update(c for c in candidates if c in known)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("twisted_lwstp"):
            target = node.module.removeprefix("twisted_lwstp").lstrip(".")
            if target in known:
                out.add(target)
    out.discard(name)
    return out


class LayoutTests(SynchronousTestCase):
    def test_no_import_cycle(self) -> None:
        found = modules()
        graph = {name: imports_of(name, path, set(found)) for name, path in found.items()}
        graph.pop("", None)  # the package's __init__ re-exports everything
        for deps in graph.values():
            deps.discard("")
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            for dep in sorted(graph.get(node, ())):
                if state.get(dep) == 1:
                    self.fail("import cycle: " + " -> ".join(trail + [node, dep]))
                if dep not in state:
                    visit(dep, trail + [node])
            state[node] = 2

        for node in sorted(graph):
            if node not in state:
                visit(node, [])

    def test_each_room_names_its_tests_and_its_thread(self) -> None:
        for room in ROOMS:
            path = os.path.join(PACKAGE, room + ".py")
            text = open(path).read()
            self.assertTrue(text.startswith("# -*- test-case-name: tests."), room)
            doc = ast.get_docstring(ast.parse(text)) or ""
            self.assertRegex(doc, r"(?i)runs in|thread", room)

    def test_no_module_past_about_350_lines(self) -> None:
        sizes = {name: sum(1 for _ in open(path)) for name, path in modules().items()}
        # _internals holds every private name of other libraries, whatever
        # idea uses it: one place to look after an upgrade is worth more
        # than its size.  It may grow to 420 (issue 25 added asyncio's
        # selector, where a loop waits, for the end of a turn).  _state holds the pool lock
        # and every transition made under it, each once (issue 24): one
        # object a reader audits in one sitting beats the same lines split
        # where a transition could hide.  It may grow to 520.
        limits = {"_internals": 420, "_state": 520}
        self.assertEqual({n: s for n, s in sizes.items() if s > limits.get(n, 360)}, {})
