"""
Registers C{twistd lwstp}: the twisted_lwstp threadpool demo server.
"""

from twisted.application.service import ServiceMaker

lwstp = ServiceMaker(
    "twisted_lwstp demo",
    "twisted_lwstp.tap",
    "libwebsockets' threadpool example (counting tasks streamed over WebSockets), "
    "or a WSGI application on a bounded pool (--wsgi)",
    "lwstp",
)
