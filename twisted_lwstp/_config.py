# -*- test-case-name: tests.test_reactor_unit,tests.test_debug -*-
"""
Settings read from C{LWSTP_*} environment variables, and the one error a
bad value raises.  Pure functions and frozen values; any thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


class ConfigurationError(ValueError):
    """
    An C{LWSTP_*} variable, or an argument of L{install_pool}, is invalid.
    """


# Its public home, where users import it from (and the docs list it).
ConfigurationError.__module__ = "twisted_lwstp.reactor"


def read_number(env: Mapping[str, str], name: str, kind: Callable[[str], Any], low: float,
                default: Any) -> Any:
    """
    C{env[name]} as an int (C{>= low}) or a finite float (C{> low}); unset
    or blank, C{default}.

    @raise ConfigurationError: naming the variable and its value.
    """
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    what = "an integer" if kind is int else "a number"
    try:
        value = kind(raw.strip())
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not {what}") from None
    if kind is float and not (value > low and value < float("inf")):
        raise ConfigurationError(f"{name}={raw!r} must be {what} > {low:g}")
    if kind is int and value < low:
        raise ConfigurationError(f"{name}={raw!r} must be {what} >= {low:g}")
    return value


def read_flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """
    C{env[name]} as 0 or 1; unset or blank, C{default}.

    @raise ConfigurationError: naming the variable and its value.
    """
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    if raw.strip() not in ("0", "1"):
        raise ConfigurationError(f"{name}={raw!r} must be 0 or 1")
    return raw.strip() == "1"


@dataclass(frozen=True)
class DebugConfig:
    """
    Debug mode's settings (L{twisted_lwstp._debug}).
    """

    enabled: bool = False
    #: Seconds after which a call of the reactor thread is logged as slow.
    slow_call: float = 0.1
    #: Seconds a task's call may run before it is reported as stuck.
    stuck_task: float = 1.0

    @classmethod
    def from_environ(cls, env: Mapping[str, str]) -> DebugConfig:
        """
        Read C{LWSTP_DEBUG}, C{LWSTP_SLOW_CALL} and C{LWSTP_STUCK_TASK}.

        @raise ConfigurationError: a value is not valid.
        """
        default = cls()
        return cls(
            enabled=read_flag(env, "LWSTP_DEBUG", default.enabled),
            slow_call=read_number(env, "LWSTP_SLOW_CALL", float, 0, default.slow_call),
            stuck_task=read_number(env, "LWSTP_STUCK_TASK", float, 0, default.stuck_task),
        )
