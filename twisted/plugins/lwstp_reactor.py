"""
The C{lwstp} and C{lwstp-asyncio} reactors for C{twistd --reactor=} and
C{trial --reactor=}: see L{twisted_lwstp.reactor} and
L{twisted_lwstp.asyncioreactor}.  They install through
L{twisted_lwstp._commandline}, which ends the command with one line on a bad
C{LWSTP_*} variable.
"""

from twisted.application.reactors import Reactor

lwstp = Reactor(
    "lwstp",
    "twisted_lwstp._commandline.lwstp",
    "epoll reactor whose thread pool is twisted_lwstp's (LWSTP_THREADS, "
    "LWSTP_MAX_QUEUE_DEPTH, LWSTP_SYNC_TIMEOUT)",
)

lwstp_asyncio = Reactor(
    "lwstp-asyncio",
    "twisted_lwstp._commandline.lwstp_asyncio",
    "asyncio reactor whose thread pool is twisted_lwstp's (LWSTP_THREADS, "
    "LWSTP_MAX_QUEUE_DEPTH, LWSTP_SYNC_TIMEOUT)",
)
