"""
Reactor lag: how late a reactor's turns run, measured inside its loop.
In process on a fake reactor, then on real reactors (each in a process of
its own), through C{/diag}'s summary and the Prometheus histogram.
"""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp._lag import LAG_BUCKETS, ReactorLag, reactor_lag
from twisted_lwstp.metrics import watch_reactor

from .test_reactor import run_python


class Due:
    def __init__(self, time: float, cancelled: bool = False) -> None:
        self.time = time
        self.cancelled = cancelled


class FakeReactor:
    """
    A reactor's clock, its runUntilCurrent, and its heap of timed calls,
    whose head is the earliest.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.turns = 0
        self._pendingTimedCalls: list[Due] = []

    def seconds(self) -> float:
        return self.now

    def runUntilCurrent(self) -> None:
        self.turns += 1

    def turn(self, now: float, *heap: Due) -> None:
        self.now = now
        self._pendingTimedCalls = list(heap)
        self.runUntilCurrent()


class MeterTests(SynchronousTestCase):
    def test_a_turn_later_than_its_earliest_timer_counts_its_lag_and_others_nothing(self) -> None:
        reactor = FakeReactor()
        meter = ReactorLag(reactor)
        meter.start()
        reactor.turn(0.0)  # no timed call: not late
        reactor.turn(1.3, Due(1.0), Due(1.2))  # the earliest waited 0.3 s
        reactor.turn(50.0, Due(52.0))  # woken early, by I/O: not late
        reactor.turn(53.002, Due(53.0))  # 2 ms late
        reactor.turn(60.0, Due(59.9, cancelled=True))  # nothing waited for it
        reactor.turn(61.0, Due(60.902))  # 98 ms late
        self.assertEqual(reactor.turns, 6)  # every turn still ran
        self.assertEqual(meter.late_turns, 3)
        self.assertAlmostEqual(meter.total, 0.4)
        self.assertAlmostEqual(meter.most, 0.3)
        self.assertEqual(meter.counts[LAG_BUCKETS.index(0.5)], 1)  # 0.3 in (0.25, 0.5]
        self.assertEqual(meter.counts[LAG_BUCKETS.index(0.1)], 1)
        self.assertEqual(meter.counts[LAG_BUCKETS.index(0.0025)], 1)
        self.assertEqual(meter.summary(), {"late_turns": 3, "mean_ms": 133.333, "max_ms": 300.0})

    def test_stop_gives_the_reactor_its_own_method_back_and_one_meter_per_reactor(self) -> None:
        reactor = FakeReactor()
        own = reactor.runUntilCurrent
        meter = reactor_lag(reactor)
        self.assertIs(reactor_lag(reactor), meter)
        self.assertNotEqual(reactor.runUntilCurrent, own)
        wrapped = reactor.runUntilCurrent
        meter.start()  # idempotent: not wrapped twice
        self.assertIs(reactor.runUntilCurrent, wrapped)
        meter.stop()
        self.assertEqual(reactor.runUntilCurrent, own)
        self.assertNotIn("runUntilCurrent", vars(reactor))

    def test_a_lag_past_the_last_bound_has_a_bucket_of_its_own(self) -> None:
        reactor = FakeReactor()
        meter = ReactorLag(reactor)
        self.assertEqual(len(meter.counts), len(LAG_BUCKETS) + 1)
        meter.start()
        reactor.turn(100.0, Due(50.0))  # 50 s late
        self.assertEqual(meter.counts[-1], 1)
        self.assertEqual(meter.late_turns, 1)

    def test_a_reactor_without_the_timer_heap_is_refused_by_name(self) -> None:
        from twisted.internet.base import ReactorBase

        from twisted_lwstp._internals import InternalsChanged

        class Renamed(ReactorBase):
            pass

        odd = Renamed.__new__(Renamed)  # never initialised: no timer heap
        with self.assertRaises(InternalsChanged) as caught:
            ReactorLag(odd).start()
        self.assertIn("ReactorBase._pendingTimedCalls", str(caught.exception))
        self.assertNotIn("runUntilCurrent", vars(odd))

    def test_an_unmeasured_reactor_is_untouched(self) -> None:
        reactor = FakeReactor()
        self.assertNotIn("runUntilCurrent", vars(reactor))
        self.assertEqual(ReactorLag(reactor).summary(),
                         {"late_turns": 0, "mean_ms": 0.0, "max_ms": 0.0})

    def test_the_prometheus_histogram(self) -> None:
        reactor = FakeReactor()
        registry = CollectorRegistry()
        collector = watch_reactor(reactor, registry)
        self.assertIs(watch_reactor(reactor, registry), collector)
        with self.assertRaises(ValueError):
            watch_reactor(FakeReactor(), registry)
        reactor.turn(0.004, Due(0.0))
        text = generate_latest(registry).decode()
        self.assertIn("# TYPE lwstp_reactor_lag_seconds histogram", text)
        self.assertIn('lwstp_reactor_lag_seconds_bucket{le="0.0025"} 0.0', text)
        self.assertIn('lwstp_reactor_lag_seconds_bucket{le="0.005"} 1.0', text)
        self.assertIn('lwstp_reactor_lag_seconds_bucket{le="+Inf"} 1.0', text)
        self.assertIn("lwstp_reactor_lag_seconds_sum 0.004", text)


class RealReactorTests(SynchronousTestCase):
    def test_a_call_that_blocks_makes_the_next_timer_late(self) -> None:
        for install in ("twisted_lwstp.reactor", "twisted_lwstp.asyncioreactor",
                        "twisted.internet.epollreactor"):
            out = run_python(
                f"""
                import json, time
                from {install} import install
                install()
                from twisted.internet import reactor
                from twisted_lwstp._lag import reactor_lag

                meter = reactor_lag(reactor)
                reactor.callLater(0.05, time.sleep, 0.3)   # blocks the reactor
                reactor.callLater(0.1, lambda: None)       # due while it blocks
                reactor.callLater(0.6, reactor.stop)
                reactor.run()
                print(json.dumps(meter.summary()))
                """
            )
            summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
            self.assertGreaterEqual(summary["late_turns"], 1, install)
            self.assertGreaterEqual(summary["max_ms"], 200.0, install)
            self.assertLess(summary["max_ms"], 5000.0, install)
