"""
The example server of libwebsockets' "minimal ws server threadpool", on
twisted_lwstp: a page at C{/}, counting tasks over WebSockets at C{/ws},
and the pool's diagnostics at C{/diag}.
"""

from ._counting import CountState, TaskShape, count_task
from ._service import DemoService
from ._web import make_site
from ._ws import CountingFactory, CountingProtocol, DemoStats

__all__ = [
    "CountState",
    "CountingFactory",
    "CountingProtocol",
    "DemoService",
    "DemoStats",
    "TaskShape",
    "count_task",
    "make_site",
]
