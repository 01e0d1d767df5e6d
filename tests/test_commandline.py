"""
The installers behind C{--reactor=lwstp} and C{--reactor=lwstp-asyncio}: a
bad C{LWSTP_*} variable becomes one line and status 1; anything else goes
to the command as it was.  (Through real twistd and trial:
C{tests.test_reactor}.)
"""

from __future__ import annotations

import sys
import types

from twisted.application.reactors import getReactorTypes
from twisted.trial.unittest import SynchronousTestCase

from twisted_lwstp._commandline import CommandLineInstaller, lwstp, lwstp_asyncio
from twisted_lwstp.reactor import ConfigurationError


class InstallerTests(SynchronousTestCase):
    def fake_module(self, install: object) -> str:
        name = "_lwstp_fake_reactor_module"  # top level: namedAny imports it from sys.modules
        module = types.ModuleType(name)
        module.install = install  # type: ignore[attr-defined]
        sys.modules[name] = module
        self.addCleanup(sys.modules.pop, name, None)
        return name

    def test_bad_variable_exits_with_one_line_naming_the_option(self) -> None:
        def install() -> None:
            raise ConfigurationError("LWSTP_THREADS='many' is not an integer")

        installer = CommandLineInstaller("lwstp", self.fake_module(install))
        with self.assertRaises(SystemExit) as caught:
            installer.install()
        self.assertEqual(caught.exception.code, "--reactor=lwstp: LWSTP_THREADS='many' is not an integer")
        self.assertIsNone(caught.exception.__cause__)
        self.assertTrue(caught.exception.__suppress_context__)

    def test_other_errors_reach_the_command_unchanged(self) -> None:
        error = RuntimeError("reactor already installed")

        def install() -> None:
            raise error

        installer = CommandLineInstaller("lwstp", self.fake_module(install))
        with self.assertRaises(RuntimeError) as caught:
            installer.install()
        self.assertIs(caught.exception, error)

    def test_a_good_install_installs(self) -> None:
        calls: list[str] = []
        CommandLineInstaller("lwstp", self.fake_module(lambda: calls.append("installed"))).install()
        self.assertEqual(calls, ["installed"])

    def test_the_plugins_name_these_installers(self) -> None:
        plugins = {r.shortName: r for r in getReactorTypes() if r.shortName.startswith("lwstp")}
        self.assertEqual(plugins["lwstp"].moduleName, "twisted_lwstp._commandline.lwstp")
        self.assertEqual(plugins["lwstp-asyncio"].moduleName,
                         "twisted_lwstp._commandline.lwstp_asyncio")
        for module, name, target in [(lwstp, "lwstp", "twisted_lwstp.reactor"),
                                     (lwstp_asyncio, "lwstp-asyncio", "twisted_lwstp.asyncioreactor")]:
            installer = module.install.__self__
            self.assertIsInstance(installer, CommandLineInstaller)
            self.assertEqual((installer.name, installer.module), (name, target))
