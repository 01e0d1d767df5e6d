"""
A plain (not editable) install into a new virtual environment ships the
plugin and the demo: C{twistd --help} lists C{lwstp}, and C{twistd -n lwstp}
serves C{/diag} and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import venv

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent

from ._helpers import temp_dir
from ._twistd import spawn_twistd
from .test_demo_server import collect_body

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PackagingTests(TestCase):
    timeout = 180

    @inlineCallbacks
    def test_pip_install_ships_the_plugin(self):
        where = temp_dir(self)
        env_dir = os.path.join(where, "venv")
        venv.create(env_dir, with_pip=True)
        python = os.path.join(env_dir, "bin", "python")
        install = subprocess.run(
            [python, "-m", "pip", "install", "--quiet", ROOT],
            capture_output=True, text=True, timeout=150, cwd=where,
        )
        self.assertEqual(install.returncode, 0, install.stdout + install.stderr)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
        located = subprocess.run(
            [python, "-c", "import twisted_lwstp, twisted_lwstp.demo as d; print(twisted_lwstp.__file__)"],
            capture_output=True, text=True, timeout=60, cwd=where, env=env,
        )
        self.assertIn(os.path.join(env_dir, "lib"), located.stdout)
        twistd = os.path.join(env_dir, "bin", "twistd")
        helped = subprocess.run([twistd, "--help"], capture_output=True, text=True,
                                timeout=60, cwd=where, env=env)
        self.assertRegex(helped.stdout, r"\n\s+lwstp\s")

        proc = spawn_twistd(["--listen", "tcp:0:interface=127.0.0.1"], where, twistd=twistd, env=env)
        port = yield proc.listening
        response = yield Agent(reactor).request(b"GET", f"http://127.0.0.1:{port}/diag".encode())
        body = yield collect_body(response)
        self.assertEqual(json.loads(body)["threads"], 3)
        os.kill(proc.transport.pid, signal.SIGTERM)
        reason = yield proc.ended
        self.assertIsInstance(reason, (ProcessDone, ProcessTerminated))
        self.assertIn(b"Server Shut Down.", proc.output)
        self.assertNotIn(b"Traceback", proc.output)
