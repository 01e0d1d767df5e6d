# -*- test-case-name: tests.test_commandline -*-
"""
The installers that the reactor plugins name, behind C{--reactor=lwstp} and
C{--reactor=lwstp-asyncio} on the command line (twistd, trial, twist): the
modules C{lwstp} and C{lwstp_asyncio} of this package, each an
C{install()} (a plugin names a module, which C{--help-reactors} imports).

Those commands install a reactor through C{installReactor}, and turn any
exception into a usage error: the whole usage, our message, and a last line
pointing at C{--help-reactors}, which misleads (the reactor exists; a
variable is wrong); and before Twisted 26.10 twistd then exits 0.  A bad
C{LWSTP_*} variable is the user's to fix, not a missing reactor: these
installers end the command at once, with one line naming the option, the
variable and its value, and status 1, on every Twisted.

Code that installs a reactor itself calls C{twisted_lwstp.reactor.install()}
or C{twisted_lwstp.asyncioreactor.install()}, which raise
L{twisted_lwstp.reactor.ConfigurationError} instead.

Runs in: the main thread, while the command parses its options.
"""

from __future__ import annotations

from twisted.python.reflect import namedAny

from ..reactor import ConfigurationError


class CommandLineInstaller:
    """
    The C{install} of one lwstp reactor, for a command's C{--reactor}.

    @ivar name: The reactor's short name, as the option takes it.
    @ivar module: The module whose C{install()} installs it (imported only
        when it is chosen).
    """

    def __init__(self, name: str, module: str) -> None:
        self.name = name
        self.module = module

    def install(self) -> None:
        """
        Install the reactor; a bad C{LWSTP_*} variable ends the process with
        status 1 and one line (C{SystemExit}, which the command's own
        handling of install errors lets through).
        """
        try:
            namedAny(self.module).install()
        except ConfigurationError as e:
            raise SystemExit(f"--reactor={self.name}: {e}") from None

