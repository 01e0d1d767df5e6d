"""
The C{lwstp} reactor for C{twistd --reactor=lwstp} and
C{trial --reactor=lwstp}: see L{twisted_lwstp.reactor}.
"""

from twisted.application.reactors import Reactor

lwstp = Reactor(
    "lwstp",
    "twisted_lwstp.reactor",
    "epoll reactor whose thread pool is twisted_lwstp's (LWSTP_THREADS, "
    "LWSTP_MAX_QUEUE_DEPTH, LWSTP_SYNC_TIMEOUT)",
)
