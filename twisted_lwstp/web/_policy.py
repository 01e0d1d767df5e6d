# -*- test-case-name: tests.test_web_policy -*-
"""
Who may start work: the origin policy for WebSocket upgrades, and fair
shares of the pool per client address.

Runs in: the reactor thread only.  L{ClientShares} owns its counts
(reactor thread); L{OriginPolicy} owns nothing that changes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from twisted.web.resource import IResource, Resource
from twisted.web.server import Request


class OriginPolicy:
    """
    Which web origins may open a WebSocket (as Tornado's C{check_origin}):
    by default only the page's own (the C{Origin} header names the host
    the request was sent to); C{allowed} adds origins, C{"*"} allows any.
    A handshake without C{Origin} (not from a browser) is allowed: the
    policy protects users' browsers from other sites' pages.
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        self.any = False
        self.allowed: set[str] = set()
        for origin in allowed:
            if origin == "*":
                self.any = True
                continue
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ValueError(f"an origin is scheme://host[:port], got {origin!r}")
            self.allowed.add(f"{parts.scheme}://{parts.netloc}".lower())

    def allows(self, request: Request) -> bool:
        header = request.getHeader(b"origin")
        if header is None or self.any:
            return True
        origin = header.decode("latin-1").strip().lower().rstrip("/")
        if origin in self.allowed:
            return True
        host = (request.getHeader(b"host") or b"").decode("latin-1").strip().lower()
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and bool(host) and parts.netloc == host


class OriginCheckedResource(Resource):
    """
    Wraps a WebSocket resource: a handshake from an origin the policy does
    not allow is answered C{403 Forbidden} before anything else runs, so no
    task is enqueued for it.
    """

    isLeaf = True

    def __init__(self, wrapped: IResource, policy: OriginPolicy) -> None:
        super().__init__()
        self.wrapped = wrapped
        self.policy = policy

    def render(self, request: Request) -> Any:
        if not self.policy.allows(request):
            request.setResponseCode(403)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"403 Forbidden: this origin may not open a WebSocket here\n"
        return self.wrapped.render(request)


def client_key(address: Any) -> str:
    """
    Whose share a connection counts against: its IPv4 address, or the /64
    of its IPv6 address (one home or host usually gets a /64).
    """
    host = str(getattr(address, "host", address))
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # an IPv4 client on a dual-stack socket
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


class ClientShares:
    """
    At most C{limit} live tasks per client address (L{client_key}).  Take a
    share before enqueueing and give it back from the task's cleanup, which
    runs exactly once per admitted task.  Owner: the reactor thread.
    """

    def __init__(self, limit: int) -> None:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"the per-client limit must be an int >= 1, got {limit!r}")
        self.limit = limit
        self.live: dict[str, int] = {}

    def take(self, address: Any) -> str | None:
        """
        A share for C{address}'s client, or None if it holds its limit.
        """
        key = client_key(address)
        held = self.live.get(key, 0)
        if held >= self.limit:
            return None
        self.live[key] = held + 1
        return key

    def give_back(self, key: str) -> None:
        held = self.live[key] - 1
        if held:
            self.live[key] = held
        else:
            del self.live[key]
