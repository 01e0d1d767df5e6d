# An ordinary Twisted application, unaware of twisted_lwstp: every request
# does blocking work through deferToThread.  tests/test_reactor_tac.py runs
# it with `twistd -n --reactor=lwstp -y deferring_app.tac`.
import threading
import time

from twisted.application import service, strports
from twisted.internet import threads
from twisted.web import resource, server


class Blocking(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        def work():
            time.sleep(0.05)  # the blocking call this app exists for
            return threading.current_thread().name.encode()

        def done(name):
            request.write(name)
            request.finish()

        threads.deferToThread(work).addCallback(done)
        return server.NOT_DONE_YET


application = service.Application("deferring")
strports.service("tcp:0:interface=127.0.0.1", server.Site(Blocking())).setServiceParent(
    application
)
