# -*- test-case-name: tests.test_lag -*-
"""
Reactor lag: how late a reactor's turns run.

A reactor's turn begins by running the timed calls that are due.  If the
earliest of them was due before the turn began, the turn is late by the
difference: the time the reactor thread spent elsewhere (a slow handler,
a blocking call, a long earlier turn) while that timer waited.  A turn
woken before its earliest timer, by I/O or a call from a thread, is not
late and is not counted; an idle reactor's turns are late by how much its
poll overshot, a fraction of a millisecond.

The meter runs inside the reactor loop itself: it wraps the reactor's own
C{runUntilCurrent} (on the instance, so any reactor will do), so it adds
no timer, never wakes an idle reactor, and leaves nothing for trial's
janitor to find.  (Node's event-loop lag uses a repeating timer instead.)
C{/diag} shows it, and with metrics it is the histogram
C{lwstp_reactor_lag_seconds} (L{twisted_lwstp.metrics.watch_reactor}).

Runs in: the reactor thread, which owns every attribute of L{ReactorLag}.
"""

from __future__ import annotations

import weakref
from typing import Any

from . import _internals

__all__ = ["LAG_BUCKETS", "ReactorLag", "reactor_lag"]

#: Upper bounds of the lag histogram's buckets, in seconds.
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ReactorLag:
    """
    The lag meter of one reactor; make it with L{reactor_lag}.

    @ivar counts: Per bucket of L{LAG_BUCKETS}, and one past the last, the
        late turns whose lag fell there (not cumulative).
    """

    def __init__(self, reactor: Any) -> None:
        # Weak: the meter is kept by the reactor (its wrapped turn), never
        # the other way round.
        self._reactor = weakref.ref(reactor)
        self.counts = [0] * (len(LAG_BUCKETS) + 1)
        # The late turns' lag added up, and the largest, in seconds.
        self._stats = [0.0, 0.0]
        self._measuring = False

    @property
    def late_turns(self) -> int:
        """How many turns ran late."""
        return sum(self.counts)

    @property
    def total(self) -> float:
        """The late turns' lag added up, in seconds."""
        return self._stats[0]

    @property
    def most(self) -> float:
        """The largest lag seen, in seconds."""
        return self._stats[1]

    def start(self) -> None:
        """Measure from now on (idempotent)."""
        reactor = self._reactor()
        if self._measuring or reactor is None:
            return
        _internals.check_instance(reactor)
        reactor.runUntilCurrent = _internals.measured_turns(
            reactor, self.counts, LAG_BUCKETS, self._stats)
        self._measuring = True

    def stop(self) -> None:
        """Stop measuring: the reactor's own C{runUntilCurrent} again."""
        reactor = self._reactor()
        if self._measuring and reactor is not None:
            del reactor.runUntilCurrent
        self._measuring = False

    def summary(self) -> dict[str, float]:
        """For C{/diag}: late turns, their mean and largest lag in ms."""
        late = self.late_turns
        return {
            "late_turns": late,
            "mean_ms": round(1000.0 * self.total / late, 3) if late else 0.0,
            "max_ms": round(1000.0 * self.most, 3),
        }


#: Each reactor's meter (reactor thread).
_meters: weakref.WeakKeyDictionary[Any, ReactorLag] = weakref.WeakKeyDictionary()


def reactor_lag(reactor: Any) -> ReactorLag:
    """
    The lag meter of C{reactor}, started: one per reactor, however many
    sites ask for it.  Call it in the reactor thread (or before it runs).
    """
    meter = _meters.get(reactor)
    if meter is None:
        meter = _meters[reactor] = ReactorLag(reactor)
    meter.start()
    return meter
