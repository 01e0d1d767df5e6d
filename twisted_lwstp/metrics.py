# -*- test-case-name: tests.test_metrics -*-
"""
Prometheus metrics for L{ThreadPool}s (the C{twisted-lwstp[metrics]}
extra, which brings C{prometheus_client}).

    from twisted_lwstp.metrics import watch
    watch(pool)                       # registers with prometheus_client's REGISTRY

Then serve C{prometheus_client.generate_latest()} (C{twistd lwstp --metrics}
serves C{/metrics}).  Every metric has the label C{pool}:

 - counters: C{lwstp_tasks_enqueued_total}; C{lwstp_tasks_refused_total}
   by C{reason} (C{queue_full}, C{finishing}); C{lwstp_tasks_ended_total}
   by final C{status} (C{finished}, C{stopped}) and C{failed} (counted when
   the task is reaped); C{lwstp_sync_timeouts_total};
   C{lwstp_reactor_wakeups_total} and C{lwstp_worker_events_total} (their
   ratio shows how many worker events one wake-up carries);
   C{lwstp_window_batches_total} and C{lwstp_window_messages_total} (the
   batches of tasks' windows delivered, and the messages in them);
 - gauges: C{lwstp_tasks_running}, C{lwstp_threads}, C{lwstp_tasks_queued},
   C{lwstp_tasks_done_unreaped} (as C{diagnose()}),
   C{lwstp_tasks_syncing}, C{lwstp_owners_paused};
 - histograms, per reaped task, in seconds: C{lwstp_task_queued_seconds},
   C{lwstp_task_running_seconds}, C{lwstp_task_syncing_seconds}.

C{watch_reactor(reactor)} adds, with no label, the histogram
C{lwstp_reactor_lag_seconds}: how late the reactor's turns ran
(L{twisted_lwstp._lag}).

Runs in: the reactor thread.  The pool keeps its counters where it does
the work and hands them over in one C{snapshot()}; the histograms are
filled by the pool's C{reap_hook}, set here, from each reaped task's
C{times()}; everything is read at scrape time, so a scrape must happen in
the reactor thread (C{twisted.web} renders there).
"""

from __future__ import annotations

import weakref
from bisect import bisect_left
from collections.abc import Callable, Iterator

from prometheus_client.core import (
    REGISTRY,
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry

from ._lag import LAG_BUCKETS, ReactorLag, reactor_lag
from ._pool import ThreadPool
from ._task import Task

__all__ = ["BUCKETS", "PoolCollector", "watch", "watch_reactor"]

#: Upper bounds of the histograms' buckets, in seconds.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
           1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class PoolCollector:
    """
    A C{prometheus_client} collector for one pool.  Create it with
    L{watch}.  Owner of every attribute: the reactor thread.
    """

    def __init__(self, pool: ThreadPool) -> None:
        if not isinstance(pool, ThreadPool):
            raise TypeError(f"pool must be a twisted_lwstp ThreadPool, not {type(pool).__name__}")
        self.pool = pool
        n = len(BUCKETS) + 1  # the last counts everything above the last bound
        # Per histogram: bucket counts (not cumulative) and the sum.
        self._queued = [0] * n
        self._running = [0] * n
        self._syncing = [0] * n
        self._sums = [0.0, 0.0, 0.0]
        self.observe = self._make_observer()

    def _make_observer(self) -> Callable[[Task], None]:
        """
        The pool's reap hook: records a reaped task's times.  A closure
        over its counters, so that each reaped task costs one call, three
        C-level bisections and no attribute lookups on the collector.
        """
        queued_counts, running_counts, syncing_counts = self._queued, self._running, self._syncing
        sums = self._sums
        bounds = BUCKETS
        find = bisect_left

        def observe(task: Task) -> None:
            waited, run, sync = task.times()
            queued_counts[find(bounds, waited)] += 1
            sums[0] += waited
            if run is None or sync is None:  # stopped while queued: it never ran
                return
            running_counts[find(bounds, run)] += 1
            syncing_counts[find(bounds, sync)] += 1
            sums[1] += run
            sums[2] += sync

        return observe

    def collect(self) -> Iterator[Metric]:
        snap = self.pool.snapshot()
        # The engine's name: a Twisted-style pool made without one is
        # labelled PoolThread-<id>, never "None".
        label = [snap.name]

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            family = CounterMetricFamily(name, doc, labels=["pool"])
            family.add_metric(label, value)
            return family

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            family = GaugeMetricFamily(name, doc, labels=["pool"])
            family.add_metric(label, value)
            return family

        yield counter("lwstp_tasks_enqueued", "Tasks admitted to the pool.", snap.enqueued)
        refused = CounterMetricFamily("lwstp_tasks_refused", "Tasks the pool refused.",
                                      labels=["pool", "reason"])
        refused.add_metric([snap.name, "queue_full"], snap.refused_full)
        refused.add_metric([snap.name, "finishing"], snap.refused_finishing)
        yield refused
        ended = CounterMetricFamily("lwstp_tasks_ended", "Tasks ended (counted when reaped).",
                                    labels=["pool", "status", "failed"])
        ended.add_metric([snap.name, "finished", "false"], snap.finished)
        ended.add_metric([snap.name, "stopped", "false"],
                         snap.reaped - snap.finished - snap.failed)
        ended.add_metric([snap.name, "stopped", "true"], snap.failed)
        yield ended
        yield counter("lwstp_sync_timeouts", "Tasks stopped for want of task_sync.",
                      snap.sync_timeouts)
        yield counter("lwstp_reactor_wakeups", "Wake-ups of the reactor by the workers.",
                      snap.wakeups)
        yield counter("lwstp_worker_events", "Worker events (SYNC, end, exit) handed over.",
                      snap.events)
        yield counter("lwstp_window_batches", "Batches of tasks' window messages delivered.",
                      snap.window_batches)
        yield counter("lwstp_window_messages", "Messages delivered from tasks' windows.",
                      snap.window_messages)
        yield gauge("lwstp_tasks_running", "Tasks on a thread, SYNC included.", snap.running)
        yield gauge("lwstp_threads", "Live worker threads.", snap.threads)
        yield gauge("lwstp_tasks_queued", "Work waiting for a thread.", snap.queued)
        yield gauge("lwstp_tasks_done_unreaped", "Tasks done, not reaped yet.", snap.done)
        yield gauge("lwstp_tasks_syncing", "Tasks blocked in SYNC.", snap.in_sync)
        yield gauge("lwstp_owners_paused", "Owners whose writable() calls flow control holds.",
                    snap.owners_paused)
        for name, doc, counts, total in (
            ("lwstp_task_queued_seconds", "Time a task waited for a thread.",
             self._queued, self._sums[0]),
            ("lwstp_task_running_seconds", "Time a task ran on its thread.",
             self._running, self._sums[1]),
            ("lwstp_task_syncing_seconds", "Time a task was blocked in SYNC.",
             self._syncing, self._sums[2]),
        ):
            yield histogram(name, doc, BUCKETS, counts, total, label)


class _Exporter:
    """
    The one collector a registry holds for all the pools watched into it:
    C{prometheus_client} allows each metric name from one collector only,
    so the pools' families are merged, each sample labelled with its pool.
    """

    def __init__(self) -> None:
        self.pools: list[PoolCollector] = []  # reactor thread

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for pool in list(self.pools):
            for family in pool.collect():
                if family.name in merged:
                    merged[family.name].samples.extend(family.samples)
                else:
                    merged[family.name] = family
        yield from merged.values()


#: The exporter of each registry (reactor thread).
_exporters: weakref.WeakKeyDictionary[CollectorRegistry, _Exporter] = weakref.WeakKeyDictionary()


def watch(pool: ThreadPool, registry: CollectorRegistry | None = REGISTRY) -> PoolCollector:
    """
    Export C{pool}'s metrics: observe its reaped tasks, and add it to what
    C{registry} exports (C{prometheus_client}'s default one unless given;
    C{None}: to no registry).  Any number of pools may be watched into one
    registry.  Call it in the reactor thread.

    @raise ValueError: the pool is already watched.
    """
    if pool.reap_hook is not None:
        raise ValueError(f"{pool!r} is already watched")
    collector = PoolCollector(pool)
    pool.reap_hook = collector.observe
    if registry is not None:
        exporter = _exporters.get(registry)
        if exporter is None:
            exporter = _exporters[registry] = _Exporter()
            registry.register(exporter)
        exporter.pools.append(collector)
    return collector




def histogram(name: str, doc: str, bounds: tuple[float, ...], counts: list[int], total: float,
              labels: list[str] | None = None) -> HistogramMetricFamily:
    """
    A histogram family from per-bucket counts (not cumulative; one more
    than C{bounds}, for what lies above the last).
    """
    family = HistogramMetricFamily(name, doc, labels=["pool"] if labels else None)
    buckets: list[tuple[str, float]] = []
    running_total = 0
    for bound, count in zip(bounds, counts, strict=False):
        running_total += count
        buckets.append((repr(bound), running_total))
    buckets.append(("+Inf", running_total + counts[-1]))
    family.add_metric(labels or [], buckets, total)
    return family


class ReactorLagCollector:
    """
    A C{prometheus_client} collector of a reactor's lag (reactor thread).
    """

    def __init__(self, lag: ReactorLag) -> None:
        self.lag = lag

    def collect(self) -> Iterator[Metric]:
        lag = self.lag
        yield histogram("lwstp_reactor_lag_seconds",
                        "How late the reactor's turns ran (turns woken by a timer).",
                        LAG_BUCKETS, list(lag.counts), lag.total)


def watch_reactor(reactor: object,
                  registry: CollectorRegistry | None = REGISTRY) -> ReactorLagCollector:
    """
    Measure C{reactor}'s lag (L{twisted_lwstp._lag}) and export it as
    C{lwstp_reactor_lag_seconds} into C{registry} (C{None}: none).  Call it
    once per registry, in the reactor thread.
    """
    collector = ReactorLagCollector(reactor_lag(reactor))
    if registry is not None:
        known = _lag_exporters.get(registry)
        if known is not None:
            if known.lag is not collector.lag:
                raise ValueError("this registry exports another reactor's lag already")
            return known
        _lag_exporters[registry] = collector
        registry.register(collector)
    return collector


#: The lag collector registered with each registry (reactor thread).
_lag_exporters: weakref.WeakKeyDictionary[CollectorRegistry, ReactorLagCollector] = (
    weakref.WeakKeyDictionary())
