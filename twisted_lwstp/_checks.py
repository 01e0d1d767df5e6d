# -*- test-case-name: tests.test_arguments -*-
"""
Argument checks shared by the public API: each raises a clear C{TypeError}
or C{ValueError} before anything changes.  Pure functions; any thread.
"""

from __future__ import annotations

import math


def function_name(func: object) -> str:
    """
    A task function's C{__name__} for a default task name, or its type's
    name when it has no usable one; never raises.
    """
    try:
        name = getattr(func, "__name__", None)
    except Exception:
        name = None
    return name if isinstance(name, str) else type(func).__name__


def check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seconds(name: str, value: object) -> float:
    """A duration: a number, > 0 and finite."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be > 0 and finite, got {value}")
    return float(value)
