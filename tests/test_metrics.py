"""
Prometheus metrics: a scrape of C{/metrics} over HTTP after a known
workload, parsed with C{prometheus_client}'s own parser: every counter
equals the known number, every gauge equals C{diagnose()}, and the
histograms count every reaped task.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.web.resource import Resource
from twisted.web.server import Site

from twisted_lwstp import PoolFinished, QueueFull, TaskReturn, TaskStatus
from twisted_lwstp.metrics import watch
from twisted_lwstp.testing import PoolHarness, StepReactor
from twisted_lwstp.web._admin import MetricsResource

from ._helpers import RecordingOwner, Script, syncing_owner
from .test_web_wsgi import _Case

R = TaskReturn
S = TaskStatus


class MetricsTests(_Case):
    def setUp(self) -> None:
        self.h = PoolHarness(2, 1, name="metered", sync_timeout=5.0)
        self.h.pool.start()
        self.registry = CollectorRegistry()
        watch(self.h.pool, self.registry)
        root = Resource()
        root.putChild(b"metrics", MetricsResource(self.registry))
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        self.port = port.getHost().port

    @inlineCallbacks
    def scrape(self):
        response, body = yield self.get(self.port, "/metrics")
        self.assertEqual(response.code, 200)
        self.assertIn(b"text/plain", response.headers.getRawHeaders(b"content-type")[0])
        samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for family in text_string_to_metric_families(body.decode()):
            for sample in family.samples:
                labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "pool"))
                self.assertEqual(sample.labels["pool"], "metered")
                samples[(sample.name, labels)] = sample.value
        return samples

    def assert_gauges_match_diagnose(self, samples: dict[Any, float], syncing: int) -> None:
        d = self.h.pool.diagnose()
        self.assertEqual(samples[("lwstp_tasks_running", ())], d.running)
        self.assertEqual(samples[("lwstp_threads", ())], d.threads)
        self.assertEqual(samples[("lwstp_tasks_queued", ())], d.queued)
        self.assertEqual(samples[("lwstp_tasks_done_unreaped", ())], d.done)
        self.assertEqual(samples[("lwstp_tasks_syncing", ())], syncing)

    @inlineCallbacks
    def help_texts(self):
        response, body = yield self.get(self.port, "/metrics")
        return {f.name: f.documentation for f in text_string_to_metric_families(body.decode())}

    @inlineCallbacks
    def test_every_metric_says_what_it_counts(self):
        # The HELP lines are what a Prometheus user reads: each is checked.
        texts = yield self.help_texts()
        self.assertEqual(texts, {
            "lwstp_tasks_enqueued": "Tasks admitted to the pool.",
            "lwstp_tasks_refused": "Tasks the pool refused.",
            "lwstp_tasks_ended": "Tasks ended (counted when reaped).",
            "lwstp_sync_timeouts": "Tasks stopped for want of task_sync.",
            "lwstp_reactor_wakeups": "Wake-ups of the reactor by the workers.",
            "lwstp_worker_events": "Worker events (SYNC, end, exit) handed over.",
            "lwstp_window_batches": "Batches of tasks' window messages delivered.",
            "lwstp_window_messages": "Messages delivered from tasks' windows.",
            "lwstp_tasks_running": "Tasks on a thread, SYNC included.",
            "lwstp_threads": "Live worker threads.",
            "lwstp_tasks_queued": "Work waiting for a thread.",
            "lwstp_tasks_done_unreaped": "Tasks done, not reaped yet.",
            "lwstp_tasks_syncing": "Tasks blocked in SYNC.",
            "lwstp_owners_paused": "Owners whose writable() calls flow control holds.",
            "lwstp_task_queued_seconds": "Time a task waited for a thread.",
            "lwstp_task_running_seconds": "Time a task ran on its thread.",
            "lwstp_task_syncing_seconds": "Time a task was blocked in SYNC.",
        })

    @inlineCallbacks
    def test_each_histograms_sum_is_its_own(self):
        # A pool of its own, one thread: known, different times in each
        # state (queued 7 s, running 3 s, in SYNC 4 s, in all).
        h = PoolHarness(1, 2, name="metered", sync_timeout=60.0)
        h.pool.start()
        h.reactor.advance(100.0)  # times measured from a clock not at 0
        registry = CollectorRegistry()
        watch(h.pool, registry)
        pool = h.pool
        owner = RecordingOwner(pool, lambda t: t.status.is_done and pool.task_status(t))
        x = pool.enqueue(owner, Script([R.CHECKING_IN, R.SYNC, R.FINISHED]))
        y = pool.enqueue(None, Script())
        h.reactor.advance(1.0)
        h.step()  # CHECKING_IN
        h.step()  # SYNC, after 1 s running
        h.flush()
        h.reactor.advance(4.0)
        pool.task_sync(x)
        h.reactor.advance(2.0)
        h.run()  # x finishes after 2 s more; y, queued 7 s, runs and ends
        self.assertTrue(x.reaped and y.reaped)
        self.assertEqual((x.times(), y.times()), ((0.0, 3.0, 4.0), (7.0, 0.0, 0.0)))
        # Past the last bucket's bound (300 s): w runs 400 s while z waits.
        w = pool.enqueue(None, Script([R.CHECKING_IN] * 2))
        z = pool.enqueue(None, Script())
        h.reactor.advance(400.0)
        pool.dequeue_task(w)
        h.run()
        self.assertEqual((w.times(), z.times()), ((0.0, 400.0, 0.0), (400.0, 0.0, 0.0)))
        samples = {}
        for family in registry.collect():
            for sample in family.samples:
                samples[(sample.name, sample.labels.get("le"))] = sample.value
        self.assertEqual({name: value for (name, le), value in samples.items()
                          if name.endswith("_seconds_sum")},
                         {"lwstp_task_queued_seconds_sum": 407.0,
                          "lwstp_task_running_seconds_sum": 403.0,
                          "lwstp_task_syncing_seconds_sum": 4.0})
        # Cumulative buckets: z alone is past 300 s in waiting, w in running.
        for name, under in (("queued", 3), ("running", 3)):
            self.assertEqual(samples[(f"lwstp_task_{name}_seconds_bucket", "300.0")], under)
            self.assertEqual(samples[(f"lwstp_task_{name}_seconds_bucket", "+Inf")], 4)
            self.assertEqual(samples[(f"lwstp_task_{name}_seconds_count", None)], 4)
        d = pool.destroy()
        h.run()
        self.successResultOf(d)
        yield None

    def test_two_pools_on_one_registry_share_each_family(self) -> None:
        registry = CollectorRegistry()
        pools = [PoolHarness(1, 1, name=name).pool for name in ("one", "two")]
        for pool in pools:
            watch(pool, registry)
        families = [f for f in registry.collect() if f.name == "lwstp_tasks_enqueued"]
        self.assertEqual(len(families), 1)
        self.assertEqual(sorted(s.labels["pool"] for s in families[0].samples
                                if s.name.endswith("_total")), ["one", "two"])

    @inlineCallbacks
    def test_window_batches_and_messages(self):
        from twisted_lwstp import MessageWindow

        from .test_window import Owner, Putter

        h, pool = self.h, self.h.pool
        before = yield self.scrape()
        self.assertEqual(before[("lwstp_window_batches_total", ())], 0)
        window: MessageWindow[int] = MessageWindow(4)
        pool.enqueue(Owner(pool), Putter(window, [([1, 2, 3], R.CHECKING_IN), ([4, 5], R.FINISHED)]),
                     window=window)
        h.run()
        end = yield self.scrape()
        # 1, 2, 3 and 4 fill the window: one SYNC's batch; 5 with the end.
        self.assertEqual(end[("lwstp_window_batches_total", ())], 2)
        self.assertEqual(end[("lwstp_window_messages_total", ())], 5)

    @inlineCallbacks
    def test_counters_gauges_and_histograms_after_a_known_workload(self):
        h, pool = self.h, self.h.pool
        # Three served: each SYNCs once, its owner syncs it, then it finishes.
        for _ in range(3):
            pool.enqueue(syncing_owner(pool), Script([R.SYNC, R.FINISHED]))
            h.run()
        # Two running, one queued, then two refused.
        closing = RecordingOwner(pool, lambda t: t.status.is_done and pool.task_status(t))
        a = pool.enqueue(closing, Script([R.CHECKING_IN] * 100))
        deaf = RecordingOwner(pool, lambda t: t.status.is_done and pool.task_status(t))
        b = pool.enqueue(deaf, Script([R.SYNC]))
        queued = pool.enqueue(closing, Script())
        for _ in range(2):
            self.assertRaises(QueueFull, pool.enqueue, None, Script())
        h.step(1)  # b returns SYNC; nobody will sync it
        h.flush()
        self.assertIs(b.status, S.SYNCING)
        mid = yield self.scrape()
        self.assert_gauges_match_diagnose(mid, syncing=1)
        self.assertEqual(mid[("lwstp_tasks_queued", ())], 1)
        # One connection closes: its running task and its queued one stop.
        pool.owner_closing(closing)
        # One sync timeout.
        h.reactor.advance(5.0)
        h.run()
        self.assertEqual((a.status, b.status, queued.status), (S.STOPPED,) * 3)
        for t in (a, b, queued):
            pool.task_status(t)
        end = yield self.scrape()
        self.assertEqual(end[("lwstp_tasks_enqueued_total", ())], 6)
        self.assertEqual(end[("lwstp_tasks_refused_total", (("reason", "queue_full"),))], 2)
        self.assertEqual(end[("lwstp_tasks_refused_total", (("reason", "finishing"),))], 0)
        self.assertEqual(end[("lwstp_tasks_ended_total", (("failed", "false"), ("status", "finished")))], 3)
        self.assertEqual(end[("lwstp_tasks_ended_total", (("failed", "false"), ("status", "stopped")))], 3)
        self.assertEqual(end[("lwstp_tasks_ended_total", (("failed", "true"), ("status", "stopped")))], 0)
        self.assertEqual(end[("lwstp_sync_timeouts_total", ())], 1)
        # Every wake-up carries at least one event; here some carried more.
        events, wakeups = end[("lwstp_worker_events_total", ())], end[("lwstp_reactor_wakeups_total", ())]
        self.assertGreaterEqual(events, wakeups)
        self.assert_gauges_match_diagnose(end, syncing=0)
        self.assertEqual(end[("lwstp_owners_paused", ())], 0)
        for name in ("queued", "running", "syncing"):
            # Every reaped task is counted in the queued histogram; those that ran
            # (all but the one stopped in the queue) in the other two.
            count = end[(f"lwstp_task_{name}_seconds_count", ())]
            self.assertEqual(count, 6 if name == "queued" else 5, name)
            self.assertEqual(end[(f"lwstp_task_{name}_seconds_bucket", (("le", "+Inf"),))], count)
        # finish(): one more refusal, of the other kind.
        pool.finish()
        self.assertRaises(PoolFinished, pool.enqueue, None, Script())
        last = yield self.scrape()
        self.assertEqual(last[("lwstp_tasks_refused_total", (("reason", "finishing"),))], 1)
        d = pool.destroy()
        h.run()
        self.successResultOf(d)

    @inlineCallbacks
    def test_paused_owners_and_failed_tasks(self):
        h, pool = self.h, self.h.pool
        owner = RecordingOwner(pool)
        pool.pause_owner(owner)
        t = pool.enqueue(owner, Script([ValueError("broke")]))
        h.step()
        h.flush()
        samples = yield self.scrape()
        self.assertEqual(samples[("lwstp_owners_paused", ())], 1)
        pool.resume_owner(owner)
        pool.task_status(t)
        samples = yield self.scrape()
        self.assertEqual(samples[("lwstp_owners_paused", ())], 0)
        self.assertEqual(samples[("lwstp_tasks_ended_total", (("failed", "true"), ("status", "stopped")))], 1)
        self.flushLoggedErrors(ValueError)
        d = pool.destroy()
        h.run()
        self.successResultOf(d)

    @inlineCallbacks
    def test_ended_counts_each_task_under_one_status_and_failed_label(self):
        # One task of each end: finished, stopped cleanly, failed.  Each is
        # counted once, under its own labels: a failed task is not also a
        # clean stop.
        h, pool = self.h, self.h.pool
        reap = RecordingOwner(pool, lambda t: t.status.is_done and pool.task_status(t))
        pool.enqueue(reap, Script([R.FINISHED]))
        pool.enqueue(reap, Script([ValueError("broke")]))
        h.run()
        stopped = pool.enqueue(reap, Script([R.CHECKING_IN] * 10))
        pool.dequeue_task(stopped)
        h.run()
        self.assertEqual(pool.diagnose().done, 0)
        samples = yield self.scrape()
        ended = {labels: value for (name, labels), value in samples.items()
                 if name == "lwstp_tasks_ended_total"}
        self.assertEqual(ended, {
            (("failed", "false"), ("status", "finished")): 1,
            (("failed", "false"), ("status", "stopped")): 1,
            (("failed", "true"), ("status", "stopped")): 1,
        })
        self.flushLoggedErrors(ValueError)
        d = pool.destroy()
        h.run()
        self.successResultOf(d)

    def test_a_pool_is_watched_once(self) -> None:
        self.assertRaises(ValueError, watch, self.h.pool, None)
        d = self.h.pool.destroy()
        self.h.run()
        self.successResultOf(d)


class TwoPoolsTests(_Case):
    @inlineCallbacks
    def test_two_pools_in_one_registry_are_told_apart_by_label(self):
        registry = CollectorRegistry()
        harnesses = [PoolHarness(1, 0, name=name) for name in ("first", "second")]
        for h in harnesses:
            h.pool.start()
            watch(h.pool, registry)
        harnesses[1].pool.enqueue(None, Script())
        harnesses[1].run()
        root = Resource()
        root.putChild(b"metrics", MetricsResource(registry))
        port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        _, body = yield self.get(port.getHost().port, "/metrics")
        enqueued = {s.labels["pool"]: s.value
                    for family in text_string_to_metric_families(body.decode())
                    for s in family.samples if s.name == "lwstp_tasks_enqueued_total"}
        self.assertEqual(enqueued, {"first": 0, "second": 1})
        for h in harnesses:
            d = h.pool.destroy()
            h.run()
            self.successResultOf(d)


class UnnamedTwistedPoolTests(_Case):
    """
    A Twisted-style pool made without a name (C{compat.ThreadPool()}):
    Twisted's C{name} stays None, but its metrics and log events name it by
    its engine name, that of its workers, never "None".
    """

    def test_metrics_label_and_log_events_use_the_engine_name(self) -> None:
        from twisted.logger import LogLevel

        from twisted_lwstp.compat import ThreadPool as TwistedStylePool

        from ._helpers import LogCapture

        pool = TwistedStylePool(0, 1, reactor=StepReactor())
        self.assertIsNone(pool.name)
        engine = pool.snapshot().name
        self.assertRegex(engine, r"^PoolThread-[0-9a-f]+$")
        registry = CollectorRegistry()
        watch(pool, registry)
        from prometheus_client import generate_latest

        text = generate_latest(registry).decode()
        labels = {sample.labels["pool"] for family in text_string_to_metric_families(text)
                  for sample in family.samples}
        self.assertEqual(labels, {engine})
        pool.finish()
        with LogCapture() as logs:
            pool.callInThread(lambda: None)  # dropped: the pool is finishing
        (event,) = [e for e in logs.events if e.get("log_level") == LogLevel.warn]
        self.assertEqual(event["pool"], engine)
