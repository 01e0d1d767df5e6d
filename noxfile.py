"""
The version matrix (issue 23): ``make matrix`` runs the pytest suite on
Python 3.11, 3.12 and 3.13, each with the lowest Twisted that
pyproject.toml admits and with the latest.  Not part of ``make test``.

Each leg is a fresh virtual environment of nox's; the Makefile puts
pyenv's interpreters on PATH.  ``nox -s tests-3.12`` runs one Python's
two legs; arguments after ``--`` go to pytest.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.error_on_missing_interpreters = True

PYTHONS = ["3.11", "3.12", "3.13"]
EXTRAS = "websocket,test,tls"


def _lowest_twisted() -> str:
    """The version in pyproject.toml's ``twisted[...]>=X``: the pin tested."""
    project = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text())
    for requirement in project["project"]["dependencies"]:
        match = re.fullmatch(r"twisted(\[[^\]]*\])?>=([\d.]+)", requirement.replace(" ", ""))
        if match:
            return match.group(2)
    raise RuntimeError("pyproject.toml names no 'twisted>=' requirement")


TWISTED = {"lowest": f"twisted[{EXTRAS}]=={_lowest_twisted()}",
           "latest": f"twisted[{EXTRAS}]"}


@nox.session(python=PYTHONS)
@nox.parametrize("twisted", list(TWISTED))
def tests(session: nox.Session, twisted: str) -> None:
    """The pytest suite on one Python with one Twisted."""
    # One resolution, so that the Twisted asked for is the one installed;
    # compat mode puts the checkout on sys.path, for Twisted's plugin scan.
    session.install("-e", ".[test,bench]", TWISTED[twisted], "--config-settings",
                    "editable_mode=compat")
    session.run("python", "-c", "import sys, twisted; print('Python', sys.version.split()[0],"
                " 'Twisted', twisted.__version__)")
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs)
