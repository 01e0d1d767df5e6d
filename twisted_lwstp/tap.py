# -*- test-case-name: tests.test_tap -*-
"""
The C{twistd lwstp} plugin's options and service: libwebsockets' threadpool
example server.
"""

from __future__ import annotations

import getopt
import math
import re
from typing import Any

from twisted.application.service import IService, MultiService, Service
from twisted.internet import endpoints
from twisted.internet.defer import inlineCallbacks
from twisted.python import usage
from twisted.python.reflect import namedAny

from ._lag import reactor_lag
from ._pool import ThreadPool
from .demo import DemoService, TaskShape
from .haproxy import AgentFactory
from .web._admin import ListeningService, admin_site
from .web._policy import ClientShares, OriginPolicy
from .web._service import WSGIServerService


def _at_least(option: str, kind: type, minimum: float) -> Any:
    """
    A coercer for C{--option}: a C{kind} (int or float) >= C{minimum}, or an
    error that names the option and what it takes.
    """
    noun = "a whole number" if kind is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not (value >= minimum and math.isfinite(value)):
            raise ValueError(f"--{option} must be {noun} >= {minimum:g}, got {text!r}")
        return value

    parse.coerceDoc = f"{noun.capitalize()}, at least {minimum:g}."  # type: ignore[attr-defined]
    return parse


#: The options of each mode, as C{--help} groups them.  An option of one
#: mode given in the other is refused (L{Options.postOptions}).
BOTH_MODES = ("listen", "threads", "max-queue-depth", "sync-timeout", "max-tasks-per-client",
              "admin", "metrics", "haproxy-agent")
DEMO_MODE = ("count", "checkin-every", "sync-every", "pause-ms", "window", "max-message-size",
             "allow-origin")
WSGI_MODE = ("wsgi",)
_GROUPS = (
    ("Options for both modes", BOTH_MODES),
    ("The demo (the default mode)", DEMO_MODE),
    ("WSGI mode", WSGI_MODE),
    ("Help", ("help", "version")),
)
#: The first line of an option's entry in usage.Options' help text.
_ENTRY = re.compile(r"^  (?:-\w,|   ) --([\w-]+)")


class Options(usage.Options):
    """
    C{twistd lwstp} options, with the libwebsockets example's defaults.

    Two modes: the demo (the default), or C{--wsgi} with a WSGI application.
    C{--help} lists each mode's options apart, and an option that does not
    apply to the chosen mode is refused rather than ignored.

    @ivar given: The long names of the options on the command line, once
        parsed.
    """

    synopsis = "[options]"
    longdesc = (
        "Two modes.  The demo (the default): a page at /, counting tasks over "
        "WebSockets at /ws, and the pool's diagnostics as JSON at /diag.  WSGI "
        "mode (--wsgi): a WSGI application served on a bounded pool.  --admin "
        "serves /diag, /health and /metrics on an endpoint of its own, in both "
        "modes.  An option of one mode given in the other is an error."
    )
    optParameters = [
        ["listen", "l", "tcp:7681:interface=127.0.0.1", "Endpoint to listen on."],
        ["wsgi", None, None,
         "Serve this WSGI application (a dotted name: package.module.app) "
         "instead of the demo."],
        ["admin", None, None,
         "Endpoint for the admin site (/diag, /health, /metrics), e.g. "
         "tcp:7682:interface=127.0.0.1; off unless given."],
        ["haproxy-agent", None, None,
         "Endpoint for an HAProxy agent-check (spare capacity as a weight, drain "
         "while shutting down), e.g. tcp:7683:interface=127.0.0.1; off unless given."],
        ["threads", "t", 3, "Worker threads in the pool.", _at_least("threads", int, 1)],
        ["max-queue-depth", "q", 8, "Tasks that may wait for a thread.",
         _at_least("max-queue-depth", int, 0)],
        ["count", None, 10_000_000, "Each task counts to this.", _at_least("count", int, 0)],
        ["checkin-every", None, 100_000, "Steps between check-ins.",
         _at_least("checkin-every", int, 1)],
        ["sync-every", None, 1_000_000, "Steps between SYNCs (pos messages).",
         _at_least("sync-every", int, 1)],
        ["pause-ms", None, 100.0, "Pause at each check-in, in ms.",
         _at_least("pause-ms", float, 0.0)],
        ["window", None, 0, "Stream the pos messages through a window of this many per task "
         "(0: SYNC for each).", _at_least("window", int, 0)],
        ["sync-timeout", None, 300.0, "Seconds a task may wait in SYNC.",
         _at_least("sync-timeout", float, 0.001)],
        ["max-message-size", None, 4096, "Largest client message; bigger ones close with 1009.",
         _at_least("max-message-size", int, 0)],
        ["max-tasks-per-client", None, None,
         # No closing period: twistd adds ". " before the value's rule.
         "Most live tasks per client address (IPv4 address or IPv6 /64); off unless given",
         _at_least("max-tasks-per-client", int, 1)],
    ]
    optFlags = [
        ["metrics", None, "Serve Prometheus metrics at /metrics (on the admin endpoint, "
                          "and on the demo's own site); needs twisted-lwstp[metrics]."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.given: set[str] = set()
        self["allow-origin"] = []
        # An opt_ method's docstring is its help as written, line breaks and
        # indentation included: make every help text one clean line.
        self.docs = {name: " ".join(doc.split()) if isinstance(doc, str) else doc
                     for name, doc in self.docs.items()}

    def opt_allow_origin(self, origin: str) -> None:
        """
        A web origin (scheme://host[:port]) whose pages may open the demo's
        WebSocket besides the page's own; repeatable; * allows any.
        """
        self["allow-origin"].append(origin)

    def parseOptions(self, options: list[str] | None = None) -> None:
        """
        As C{usage.Options.parseOptions}; but as twistd's subcommand, a bad
        option ends the process at once with status 1 and one line naming
        it, whatever the Twisted (twistd before 26.10 printed the whole
        usage and exited 0).  Used on its own, it raises C{UsageError}.
        """
        try:
            self.given = self._given(options)
            super().parseOptions(options)
        except usage.UsageError as e:
            if self.parent is None:
                raise
            raise SystemExit(f"twistd lwstp: {e}") from None

    def _given(self, options: list[str] | None) -> set[str]:
        """
        The long names of the options in C{options}, read as
        C{usage.Options} reads them (abbreviations and short forms
        included); nothing if they do not parse, which C{parseOptions}
        then reports itself.
        """
        if options is None:
            import sys

            options = sys.argv[1:]
        try:
            pairs, _ = getopt.getopt(options, self.shortOpt, self.longOpt)
        except getopt.GetoptError:
            return set()
        return {self.synonyms.get(name.lstrip("-"), name.lstrip("-")) for name, _ in pairs}

    def getUsage(self, width: int | None = None) -> str:
        """
        Twisted's usage text, with the options grouped by mode.
        """
        text = super().getUsage(width)
        head, _, rest = text.partition("Options:\n")
        listing, blank, tail = rest.partition("\n\n")
        listing += "\n"  # the partition took the last entry's line end
        entries: dict[str, list[str]] = {}
        name = ""
        for line in listing.splitlines(keepends=True):
            match = _ENTRY.match(line)
            if match:
                name = match.group(1)
            entries.setdefault(name, []).append(line)
        sections = []
        for title, names in _GROUPS:
            lines = [line for option in names for line in entries.pop(option, [])]
            sections.append(f"{title}:\n{''.join(lines)}")
        # An option no group names (none today) is still listed.
        if entries:
            sections.append("Other options:\n" + "".join(line for lines in entries.values()
                                                          for line in lines))
        return head + "\n".join(sections) + blank[1:] + tail

    def postOptions(self) -> None:
        from twisted.internet import reactor

        if self["wsgi"]:
            misplaced = [f"--{option}" for option in DEMO_MODE if option in self.given]
            if misplaced:
                raise usage.UsageError(
                    f"{', '.join(misplaced)}: "
                    f"{'an option' if len(misplaced) == 1 else 'options'} of the demo, not of --wsgi mode"
                )

        self["endpoint"] = _endpoint(reactor, "listen", self["listen"])
        self["admin-endpoint"] = (
            _endpoint(reactor, "admin", self["admin"]) if self["admin"] else None
        )
        self["agent-endpoint"] = (
            _endpoint(reactor, "haproxy-agent", self["haproxy-agent"])
            if self["haproxy-agent"] else None
        )
        self["application"] = _application(self["wsgi"]) if self["wsgi"] else None
        try:
            self["origins"] = OriginPolicy(self["allow-origin"])
        except ValueError as e:
            raise usage.UsageError(f"--allow-origin: {e}") from None
        if self["metrics"]:
            try:
                import prometheus_client  # noqa: F401
            except ImportError:
                raise usage.UsageError(
                    "--metrics needs prometheus_client: pip install 'twisted-lwstp[metrics]'"
                ) from None


def _endpoint(reactor: Any, option: str, description: str) -> Any:
    try:
        return endpoints.serverFromString(reactor, description)
    except (ValueError, TypeError, KeyError) as e:
        raise usage.UsageError(f"--{option} {description!r} is not an endpoint: {e}") from None


def _application(name: str) -> Any:
    """
    The WSGI application named C{name}, or a usage error naming it.
    """
    try:
        application = namedAny(name)
    except Exception as e:
        raise usage.UsageError(
            f"--wsgi {name!r} cannot be loaded: {type(e).__name__}: {e}"
        ) from None
    if not callable(application):
        raise usage.UsageError(f"--wsgi {name!r} is a {type(application).__name__}, "
                               "not a WSGI application (a callable)")
    return application


def _watch(pool: ThreadPool, reactor: Any) -> Any:
    """
    Export C{pool}'s metrics, and the reactor's pool's too when the lwstp
    reactor runs this program; the registry to serve.
    """
    from prometheus_client import REGISTRY

    from .metrics import watch, watch_reactor
    from .reactor import LwstpReactor

    watch(pool)
    watch_reactor(reactor)
    if isinstance(reactor, LwstpReactor):
        reactor_pool = reactor.getThreadPool()
        if reactor_pool.reap_hook is None:
            watch(reactor_pool)
    return REGISTRY


def makeService(options: Options) -> IService:
    """
    The demo service for C{options}.
    """
    from twisted.internet import reactor

    pool = ThreadPool(
        options["threads"],
        options["max-queue-depth"],
        name="lwstp",
        reactor=reactor,
        sync_timeout=options["sync-timeout"],
    )
    limit = options["max-tasks-per-client"]
    shares = ClientShares(limit) if limit is not None else None
    registry = _watch(pool, reactor) if options["metrics"] else None
    # The reactor's lag, while /diag or /metrics is served.
    serves_diag = options["application"] is None or options["admin-endpoint"] is not None
    lag = reactor_lag(reactor) if serves_diag or registry is not None else None
    service: IService
    if options["application"] is not None:
        service = WSGIServerService(options["endpoint"], pool, options["application"],
                                    reactor=reactor, shares=shares)
    else:
        shape = TaskShape(
            count=options["count"],
            checkin_every=options["checkin-every"],
            sync_every=options["sync-every"],
            pause_ms=options["pause-ms"],
            window=options["window"],
        )
        service = DemoService(
            options["endpoint"], pool, shape, reactor=reactor,
            max_message_size=options["max-message-size"],
            origins=options["origins"], shares=shares, metrics=registry, lag=lag,
        )
    sidecars: list[IService] = []
    if options["admin-endpoint"] is not None:
        admin = admin_site(pool, metrics=registry, lag=lag)
        sidecars.append(ListeningService(options["admin-endpoint"], admin, "admin"))
    if options["agent-endpoint"] is not None:
        sidecars.append(ListeningService(options["agent-endpoint"], AgentFactory(pool),
                                         "haproxy-agent", scheme="tcp"))
    if not sidecars:
        return service
    return WithSidecars(service, sidecars)


class WithSidecars(MultiService):
    """
    The server and the services beside it (the admin site, the HAProxy
    agent): the sidecars start first and stop last, so that while the
    server shuts down they still answer (C{/health} 503, the agent
    C{drain}).
    """

    def __init__(self, main: IService, sidecars: list[IService]) -> None:
        super().__init__()
        self.main = main
        for sidecar in sidecars:
            sidecar.setServiceParent(self)
        main.setServiceParent(self)

    @inlineCallbacks
    def stopService(self) -> Any:
        Service.stopService(self)
        yield self.main.stopService()
        for sidecar in reversed(list(self)):
            if sidecar is not self.main:
                yield sidecar.stopService()
