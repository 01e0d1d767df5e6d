"""
Web requests as task owners (the lws HTTP "wsi"): L{RequestOwner},
L{stream_task} for streaming a task's output, and L{WSGIResource}, a WSGI
container that sheds load and stops work for clients who left.
"""

from ._owner import ChunkBuffer, RequestOwner, refuse, stream_task
from ._wsgi import WSGIResource, build_environ

__all__ = [
    "ChunkBuffer",
    "RequestOwner",
    "WSGIResource",
    "build_environ",
    "refuse",
    "stream_task",
]
