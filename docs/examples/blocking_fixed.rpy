# blocking.rpy with its blocking call moved to the reactor's pool: the
# reactor thread stays free while the report is made (docs/howto/debug.md).
import time

from twisted.internet.threads import deferToThread
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET


def look_up_report(name):
    time.sleep(1.5)  # still blocking, now in a worker of the pool
    return f"report for {name}\n".encode()


class Report(Resource):
    isLeaf = True

    def render_GET(self, request):
        d = deferToThread(look_up_report, "today")
        d.addCallback(request.write)
        d.addCallback(lambda _: request.finish())
        return NOT_DONE_YET


resource = Report()
