# -*- test-case-name: tests.test_pytest_plugin -*-
"""
pytest fixtures for testing code that uses twisted_lwstp, registered
through the C{pytest11} entry point.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .testing import PoolHarness


@pytest.fixture
def lwstp_harness() -> Iterator[PoolHarness]:
    """
    A started L{PoolHarness} with one stepped worker and room for 8 queued
    tasks; its pool is destroyed at the end of the test.
    """
    harness = PoolHarness(threads=1, max_queue_depth=8)
    harness.pool.start()
    yield harness
    harness.pool.stop()
