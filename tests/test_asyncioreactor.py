"""
The lwstp-asyncio reactor (issue 19), each case in its own process: an
AsyncioSelectorReactor on the lwstp pool with coalesced
wake-ups and asyncio code beside it, and a real Scrapy crawl that names
it in TWISTED_REACTOR.  (Its plugin: tests/test_reactor.py; Twisted's
suites under it: tests/run_twisted_suites.py;
pytest-twisted under it: tests/test_pytest_plugin.py.)
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

from twisted.trial.unittest import SynchronousTestCase

from .test_reactor import ROOT, run_python


class InstalledTests(SynchronousTestCase):
    def test_asyncio_reactor_on_our_pool_with_asyncio_code_beside_it(self) -> None:
        out = run_python(
            """
            import asyncio, threading
            from twisted_lwstp import asyncioreactor
            reactor = asyncioreactor.install()
            from twisted.internet import defer, threads
            from twisted.internet.asyncioreactor import AsyncioSelectorReactor
            from twisted_lwstp.compat import ThreadPool

            async def from_asyncio(x):
                await asyncio.sleep(0.01)
                return x * 2

            async def main():
                pool = reactor.getThreadPool()
                print("asyncio reactor", isinstance(reactor, AsyncioSelectorReactor))
                print("pool", isinstance(pool, ThreadPool), pool.name, pool.max)
                name = await threads.deferToThread(lambda: threading.current_thread().name)
                print("ran in", name)
                doubled = await defer.Deferred.fromFuture(asyncio.ensure_future(from_asyncio(21)))
                print("asyncio gave", doubled)
                print("same loop", asyncio.get_running_loop() is reactor._asyncioEventloop)

            def go():
                d = defer.ensureDeferred(main())
                d.addErrback(lambda f: print("error", f.getTraceback()))
                d.addBoth(lambda _: reactor.stop())

            reactor.callWhenRunning(go)
            reactor.run()
            """,
            env={"LWSTP_THREADS": "3"},
        )
        self.assertIn("asyncio reactor True", out)
        self.assertIn("pool True twisted.internet.reactor 3", out)
        self.assertIn("ran in twisted.internet.reactor-0", out)
        self.assertIn("asyncio gave 42", out)
        self.assertIn("same loop True", out)

    def test_call_from_thread_wakes_the_loop_once_per_batch_and_keeps_order(self) -> None:
        out = run_python(
            """
            import threading
            from twisted_lwstp import asyncioreactor
            reactor = asyncioreactor.install()
            seen = {i: [] for i in range(4)}
            wakes = [0]
            loop = reactor._asyncioEventloop
            threadsafe = loop.call_soon_threadsafe

            def counted(*a, **kw):
                wakes[0] += 1
                return threadsafe(*a, **kw)

            loop.call_soon_threadsafe = counted

            def main():
                go = threading.Barrier(4)
                finished = [0]
                def producer(i):
                    go.wait()
                    for n in range(2500):
                        reactor.callFromThread(seen[i].append, n)
                    reactor.callFromThread(done)
                def done():
                    finished[0] += 1
                    if finished[0] == 4:
                        for t in ts:
                            t.join()
                        reactor.stop()
                ts = [threading.Thread(target=producer, args=(i,)) for i in range(4)]
                for t in ts:
                    t.start()

            reactor.callWhenRunning(main)
            reactor.run()
            print("ordered", all(seen[i] == list(range(2500)) for i in range(4)))
            print("wakes", wakes[0])
            """
        )
        self.assertIn("ordered True", out)
        wakes = int(re.search(r"wakes (\d+)", out).group(1))
        # 10,004 calls; Twisted's asyncio reactor writes the self-pipe once per call.
        self.assertLess(wakes, 10_004 // 2, out)


class ScrapyTests(SynchronousTestCase):
    def test_scrapy_crawls_a_local_site_on_lwstp_asyncio(self) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.data.scrapy_crawl"], capture_output=True, text=True,
            timeout=120, cwd=ROOT,
        )
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        report = json.loads(proc.stdout.strip().splitlines()[-1])
        self.assertEqual(report["reactor"], "twisted_lwstp.asyncioreactor.LwstpAsyncioReactor")
        self.assertTrue(report["asyncio"])
        self.assertEqual(report["pool"], "twisted_lwstp.compat.ThreadPool")
        # REACTOR_THREADPOOL_MAXSIZE reached our pool.
        self.assertEqual(report["pool_max"], 4)
        self.assertEqual(report["titles"], ["home", "page a", "page b"])
        # The async def callback awaited an asyncio coroutine.
        self.assertEqual(report["shouted"], ["HOME", "PAGE A", "PAGE B"])
        self.assertTrue(report["in_loop"])
        # asyncio.to_thread in a callback ran on the reactor's pool.
        self.assertTrue(report["to_thread"])
        for thread in report["to_thread"]:
            self.assertRegex(thread, r"^twisted\.internet\.reactor-\d+$")
        hosts = {host for host, _ in report["resolved"]}
        self.assertIn("localhost", hosts)
        for host, thread in report["resolved"]:
            self.assertRegex(thread, r"^twisted\.internet\.reactor-\d+$", host)
