"""
A real Scrapy crawl on the lwstp-asyncio reactor, named the way a Scrapy
project names it (TWISTED_REACTOR), of a small site served on 127.0.0.1 by
the same process, through the hostname "localhost".  Prints one JSON line:
the installed reactor, the pages scraped, what each async callback saw of
asyncio (and in which thread its C{asyncio.to_thread} call ran), and in
which threads hostnames were resolved.

Run as ``python -m tests.data.scrapy_crawl`` (tests/test_asyncioreactor.py).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from typing import Any

resolved: list[tuple[str, str]] = []
_getaddrinfo, _gethostbyname = socket.getaddrinfo, socket.gethostbyname


def _recording_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    resolved.append((str(host), threading.current_thread().name))
    return _getaddrinfo(host, *args, **kwargs)


def _recording_gethostbyname(host: str) -> str:
    resolved.append((host, threading.current_thread().name))
    return _gethostbyname(host)


socket.getaddrinfo = _recording_getaddrinfo
socket.gethostbyname = _recording_gethostbyname

import scrapy  # noqa: E402
from scrapy.crawler import CrawlerProcess  # noqa: E402

PAGES = {
    b"": b'<title>home</title><a href="/a">a</a> <a href="/b">b</a>',
    b"a": b'<title>page a</title><a href="/b">b</a>',
    b"b": b'<title>page b</title><a href="/">home</a>',
}


async def looked_up_later(title: str) -> str:
    """An asyncio coroutine: it needs a running asyncio loop."""
    await asyncio.sleep(0.01)
    return title.upper()


class LocalSpider(scrapy.Spider):
    name = "local"

    async def parse(self, response: Any) -> Any:
        title = response.css("title::text").get()
        shouted = await looked_up_later(title)
        # Blocking work, as Scrapy's own run_in_thread hands it over.
        thread = await asyncio.to_thread(lambda: threading.current_thread().name)
        yield {"url": response.url, "title": title, "shouted": shouted,
               "in_loop": asyncio.get_running_loop() is not None, "to_thread": thread}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, self.parse)


def main() -> None:
    # The site's socket is made now; the reactor adopts it once Scrapy has
    # installed the reactor (nothing may import it before).
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen(16)
    listening.setblocking(False)
    port = listening.getsockname()[1]
    process = CrawlerProcess(settings={
        "TWISTED_REACTOR": "twisted_lwstp.asyncioreactor.LwstpAsyncioReactor",
        "LOG_LEVEL": "ERROR",
        "ROBOTSTXT_OBEY": False,
        "TELNETCONSOLE_ENABLED": False,
        "REACTOR_THREADPOOL_MAXSIZE": 4,
    })
    items: list[dict[str, Any]] = []
    crawler = process.create_crawler(LocalSpider)

    def collect(item: Any, **kwargs: Any) -> None:
        items.append(dict(item))

    # Scrapy's signals hold their receivers weakly: collect is kept here.
    crawler.signals.connect(collect, signal=scrapy.signals.item_scraped)
    # Scrapy installs the reactor it was told to here, by calling
    # twisted_lwstp.asyncioreactor.install(), then checks its class.
    process.crawl(crawler, start_urls=[f"http://localhost:{port}/"])
    from twisted.internet import reactor
    from twisted.web.resource import Resource
    from twisted.web.server import Site
    from twisted.web.static import Data

    root = Resource()
    for path, body in PAGES.items():
        root.putChild(path, Data(body, "text/html"))
    reactor.adoptStreamPort(listening.fileno(), socket.AF_INET, Site(root))
    listening.close()
    pool = reactor.getThreadPool()
    process.start()
    from twisted.internet.asyncioreactor import AsyncioSelectorReactor

    print(json.dumps({
        "reactor": f"{type(reactor).__module__}.{type(reactor).__name__}",
        "asyncio": isinstance(reactor, AsyncioSelectorReactor),
        "pool": f"{type(pool).__module__}.{type(pool).__name__}",
        "pool_max": pool.max,
        "titles": sorted({i["title"] for i in items}),
        "shouted": sorted({i["shouted"] for i in items}),
        "in_loop": all(i["in_loop"] for i in items),
        "to_thread": sorted({i["to_thread"] for i in items}),
        "resolved": sorted(set(resolved)),
    }))


if __name__ == "__main__":
    main()
