"""
A Flask application on a bounded pool: the client that finds every thread
busy and the queue full gets 503 at once.  Run it: ``python wsgi_flask.py``
(it serves on a free port, asks itself a few questions, and stops).
"""

import threading

from flask import Flask, Response
from twisted.internet import defer, task
from twisted.web.client import Agent, readBody
from twisted.web.server import Site

from twisted_lwstp import ThreadPool
from twisted_lwstp.web import WSGIResource

app = Flask(__name__)
gate = threading.Event()


@app.route("/hello/<name>")
def hello(name: str) -> str:
    return f"hello {name}"


@app.route("/report")
def report() -> Response:
    def lines():
        for n in range(3):
            yield f"line {n}\n"      # each chunk is written when the client can take it

    return Response(lines(), mimetype="text/plain")


@app.route("/slow")
def slow() -> str:
    gate.wait(30)                    # a blocking call, on a pool thread
    return "slow done"


async def main(reactor) -> None:
    pool = ThreadPool(threads=1, max_queue_depth=0, name="flask", reactor=reactor)
    pool.start()
    port = reactor.listenTCP(0, Site(WSGIResource(reactor, pool, app)), interface="127.0.0.1")
    base = f"http://127.0.0.1:{port.getHost().port}"
    agent = Agent(reactor)

    async def get(path: str) -> str:
        response = await agent.request(b"GET", (base + path).encode())
        body = (await readBody(response)).decode().strip().replace("\n", " | ")
        return f"{path} -> {response.code} {body[:60]}"

    async def until(busy: bool) -> None:
        # A response can reach the client a moment before its worker is
        # free again: with one thread and no queue, wait for the state asked.
        while (pool.diagnose().running > 0) != busy:
            await task.deferLater(reactor, 0.01, lambda: None)

    print(await get("/hello/world"))
    await until(busy=False)
    print(await get("/report"))
    await until(busy=False)
    slow_one = defer.ensureDeferred(get("/slow"))   # takes the only thread
    await until(busy=True)
    print(await get("/hello/again"))                 # no thread, no queue: 503
    gate.set()
    print(await slow_one)
    await port.stopListening()
    await pool.destroy()


if __name__ == "__main__":
    task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
