# A twisted.web page with a blocking call in it, as many apps have one:
# `time.sleep` stands in for a slow query or a large file.  Served by
#   LWSTP_DEBUG=1 twistd --reactor=lwstp -n web --path docs/examples
# at http://127.0.0.1:8080/blocking.rpy
# (docs/howto/debug.md), debug mode names it.
import time

from twisted.web.resource import Resource


def look_up_report(name):
    time.sleep(1.5)  # the blocking call
    return f"report for {name}\n".encode()


class Report(Resource):
    isLeaf = True

    def render_GET(self, request):
        return look_up_report("today")


resource = Report()
