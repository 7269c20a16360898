#!/usr/bin/python3
"""`pip install ./clients/python` into a fresh virtual environment (with
Debian's packages seen, nothing downloaded), then `import feedloop` from
another folder: the client, the generated stubs and the plug-ins."""

import os
import shutil
import subprocess
import tempfile
import unittest

SOURCE = os.environ["FEEDLOOP_SOURCE_DIR"]


class PythonPackageTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="feedloop_pip_")
        # A copy of the two folders the package is built from, so the
        # install's build files do not land in the source tree.
        checkout = os.path.join(self.dir, "checkout")
        shutil.copytree(os.path.join(SOURCE, "clients", "python"),
                        os.path.join(checkout, "clients", "python"),
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        shutil.copytree(os.path.join(SOURCE, "proto"), os.path.join(checkout, "proto"))
        self.checkout = checkout
        self.venv = os.path.join(self.dir, "venv")
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", self.venv],
                       check=True)
        self.python = os.path.join(self.venv, "bin", "python")
        self.elsewhere = os.path.join(self.dir, "elsewhere")
        os.mkdir(self.elsewhere)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def in_venv(self, *args, **kwargs):
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        return subprocess.run([self.python, *args], cwd=self.elsewhere, env=env,
                              capture_output=True, text=True, timeout=300, **kwargs)

    def test_installs_without_network_and_imports_from_another_folder(self):
        # Not importable before the install (no PYTHONPATH, another folder).
        self.assertNotEqual(self.in_venv("-c", "import feedloop").returncode, 0)
        done = self.in_venv("-m", "pip", "install", "--no-index", "--no-build-isolation",
                            os.path.join(self.checkout, "clients", "python"))
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        done = self.in_venv("-c", """
import feedloop, feedloop.plugins.knn_ranker, feedloop.plugins.mixture_generator
from feedloop import Client, FeedloopError
from feedloop.v1 import ranker_pb2_grpc, experiment_pb2
print(feedloop.__file__)
print(experiment_pb2.StartRunRequest.DESCRIPTOR.full_name)
""")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn(self.venv, done.stdout)
        self.assertIn("feedloop.v1.StartRunRequest", done.stdout)
        done = self.in_venv("-m", "feedloop.plugins.knn_ranker", "--help")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("--store", done.stdout)

    def test_outside_a_checkout_says_what_is_missing(self):
        os.remove(os.path.join(self.checkout, "proto", "feedloop", "v1", "ranker.proto"))
        done = self.in_venv("-m", "pip", "install", "--no-index", "--no-build-isolation",
                            os.path.join(self.checkout, "clients", "python"))
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("ranker.proto not found", done.stdout + done.stderr)


if __name__ == "__main__":
    unittest.main()
