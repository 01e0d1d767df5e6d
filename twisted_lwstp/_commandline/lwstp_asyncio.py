# -*- test-case-name: tests.test_commandline -*-
"""
C{--reactor=lwstp-asyncio} on the command line: L{twisted_lwstp.asyncioreactor.install}, with a bad
C{LWSTP_*} variable ending the command in one line (see the package).

Runs in: the main thread, while the command parses its options.
"""

from . import CommandLineInstaller

install = CommandLineInstaller("lwstp-asyncio", "twisted_lwstp.asyncioreactor").install
