"""The deploy tools on a fresh machine: scripts/deploy-env.sh finds or makes an interpreter
with botocore, cfn-lint and moto, and where it can do neither it says what is missing in one
line, as check_deploy.py does when a module is missing: never a traceback."""

import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ENV_SH = os.path.join(ROOT, "scripts", "deploy-env.sh")


class DeployEnvTest(unittest.TestCase):
    def test_finds_an_interpreter_with_the_tools(self):
        p = subprocess.run([ENV_SH], capture_output=True, text=True, timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        py = p.stdout.strip()
        self.assertTrue(os.path.isabs(py), py)
        q = subprocess.run([py, "-c", "import botocore, cfnlint, moto"], capture_output=True)
        self.assertEqual(q.returncode, 0, q.stderr)

    def test_a_newcomer_without_the_tools_gets_one_line(self):
        """The preinstalled tools hidden from PATH, and no package index (an unreachable
        one): the script makes no half environment and names what is missing in one line."""
        with tempfile.TemporaryDirectory() as d:
            venv = os.path.join(d, "venv")
            env = {"PATH": "/usr/bin:/bin", "HOME": d, "VENV": venv,
                   "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_CACHE_DIR": "1"}
            p = subprocess.run([ENV_SH], capture_output=True, text=True, env=env, timeout=300)
            self.assertFalse(os.path.exists(venv), "a half-made environment was left")
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("deploy tests: missing"), lines[0])
        for what in ("cfnlint", "moto", "cfn-lint", "moto_server"):
            self.assertIn(what, lines[0])
        self.assertIn("scripts/deploy-requirements.txt", lines[0])
        # Why: pip's own last error, not a guess.
        self.assertIn("pip could not install", lines[0])
        self.assertIn("No matching distribution found for cfn-lint", lines[0])
        # No advice that Debian refuses: a bare `pip install` outside a virtual environment
        # meets "externally-managed-environment".
        self.assertNotIn("and pip install -r", lines[0])
        self.assertIn("virtual environment", lines[0])
        self.assertNotIn("Traceback", p.stderr)

    def offline(self, d, venv):
        return {"PATH": "/usr/bin:/bin", "HOME": d, "VENV": venv,
                "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_NO_CACHE_DIR": "1"}

    def test_a_venv_it_did_not_make_is_left_alone(self):
        """VENV naming a directory of the user's (a virtual environment of theirs lacking a
        module): the failed install removes nothing of it."""
        with tempfile.TemporaryDirectory() as d:
            venv = os.path.join(d, "mine")
            os.makedirs(venv)
            with open(os.path.join(venv, "notes.txt"), "w") as f:
                f.write("precious\n")
            p = subprocess.run([ENV_SH], capture_output=True, text=True,
                               env=self.offline(d, venv), timeout=300)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertTrue(os.path.exists(os.path.join(venv, "notes.txt")), p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)

    def test_an_unmakeable_venv_is_one_line_too(self):
        with tempfile.TemporaryDirectory() as d:
            blocker = os.path.join(d, "file")
            open(blocker, "w").close()
            p = subprocess.run([ENV_SH], capture_output=True, text=True,
                               env=self.offline(d, os.path.join(blocker, "venv")), timeout=300)
        self.assertEqual(p.returncode, 1)
        lines = p.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, p.stderr)
        self.assertTrue(lines[0].startswith("deploy tests: missing"), lines[0])
        self.assertIn("cannot make", lines[0])

    def test_check_deploy_without_its_modules_says_so(self):
        """python3 -S: no site packages, so not botocore either."""
        p = subprocess.run([sys.executable, "-S", os.path.join(ROOT, "scripts", "check_deploy.py")],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertNotIn("Traceback", p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertIn("missing the Python module", p.stderr)
        self.assertIn("make deps", p.stderr)


if __name__ == "__main__":
    unittest.main()
