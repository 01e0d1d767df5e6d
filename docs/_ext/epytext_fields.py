"""
A Sphinx extension that reads our docstrings' epytext (Twisted's
convention: C{code}, L{link}, I{italic}, @param/@ivar/@return/@raise) as
reStructuredText for autodoc.
"""

from __future__ import annotations

import re
from typing import Any

_MARKUP = [
    (re.compile(r"[CL]\{([^{}]*)\}"), r"``\1``"),
    (re.compile(r"I\{([^{}]*)\}"), r"*\1*"),
    (re.compile(r"B\{([^{}]*)\}"), r"**\1**"),
]
_FIELDS = [
    (re.compile(r"^(\s*)@param (\w+):"), r"\1:param \2:"),
    (re.compile(r"^(\s*)@ivar (\w+):"), r"\1:ivar \2:"),
    (re.compile(r"^(\s*)@type (\w+):"), r"\1:type \2:"),
    (re.compile(r"^(\s*)@raise ([\w.]+):"), r"\1:raises \2:"),
    (re.compile(r"^(\s*)@return:"), r"\1:return:"),
    (re.compile(r"^(\s*)@rtype:"), r"\1:rtype:"),
    (re.compile(r"^(\s*)@note:"), r"\1.. note::"),
]


def convert(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        for pattern, repl in _MARKUP:
            line = pattern.sub(repl, line)
        for pattern, repl in _FIELDS:
            line = pattern.sub(repl, line)
        # A field list must start after a blank line.
        previous = out[-1] if out else ""
        if (line.lstrip().startswith(":") and previous.strip()
                and not previous.lstrip().startswith(":") and not previous.startswith(" ")):
            out.append("")
        out.append(line)
    return out


def process(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = convert(lines)


def setup(app: Any) -> dict[str, Any]:
    app.connect("autodoc-process-docstring", process)
    return {"parallel_read_safe": True}
