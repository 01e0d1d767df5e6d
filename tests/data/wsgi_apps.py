"""
WSGI applications that the twistd tests serve with ``--wsgi``.
"""

import threading


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"hello from {threading.current_thread().name}".encode()]


not_callable = 42
