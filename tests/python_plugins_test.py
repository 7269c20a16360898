#!/usr/bin/python3
"""The reference Python plug-ins (clients/python/feedloop/plugins) pass the
conformance kit, and a full `feedloop run` against them writes its metrics,
the same for the same seed and not for another."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import pandas as pd

BINARY = os.environ["FEEDLOOP_BINARY"]

CONFIG = """
name: "plugins" seed: {seed} rounds: 4
space {{ dim: 8 topics: 4 }}
users {{ count: 60 }}
creators {{ count: 8 items_per_round: 4 }}
generator {{ alpha: {alpha} }}
ranker {{ item_ttl_rounds: 2 }}
metrics {{ pair_samples: 200 tail_reference: 100 }}
"""


def start(args):
    """A server process and the address it printed."""
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    line = process.stdout.readline()  # "... listening on ADDR"; "" if it exits
    if " listening on " not in f" {line}":
        process.kill()
        raise RuntimeError(f"{args[:3]} did not start: {line!r}")
    return process, line.split()[-1]


class PythonPluginsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="feedloop_plugins_")
        cls.processes = []
        try:
            store, cls.store = start([BINARY, "serve", "store", "--listen", "127.0.0.1:0",
                                      "--data_dir", os.path.join(cls.dir, "db")])
            cls.processes.append(store)
            python = [sys.executable, "-m"]
            ranker, cls.ranker = start(python + ["feedloop.plugins.knn_ranker",
                                                 "--store", cls.store])
            cls.processes.append(ranker)
            generator, cls.generator = start(
                python + ["feedloop.plugins.mixture_generator", "--store", cls.store])
            cls.processes.append(generator)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in cls.processes:
            p.terminate()
            p.wait(timeout=30)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def conformance(self, what, address):
        return subprocess.run([BINARY, "conformance", what, address, "--store", self.store],
                              capture_output=True, text=True, timeout=120)

    def run_experiment(self, name, seed, alpha=0, generator=True):
        config = os.path.join(self.dir, f"{name}.pbtxt")
        with open(config, "w") as f:
            f.write(CONFIG.format(seed=seed, alpha=alpha))
        args = [BINARY, "run", "--config", config, "-o", os.path.join(self.dir, "out"),
                "--id", name, "--store", self.store, "--ranker", self.ranker]
        if generator:
            args += ["--generator", self.generator]
        done = subprocess.run(args, capture_output=True, text=True, timeout=300)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        csv = pd.read_csv(os.path.join(self.dir, "out", name, "metrics.csv"))
        return csv.drop(columns=["run"]).sort_values(["round", "metric"]).reset_index(drop=True)

    def test_the_ranker_conforms(self):
        done = self.conformance("ranker", self.ranker)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("conformance: passed", done.stdout)
        self.assertNotIn("WARN", done.stdout)

    def test_the_generator_conforms(self):
        done = self.conformance("generator", self.generator)
        self.assertEqual(done.returncode, 0, done.stdout + done.stderr)
        self.assertIn("conformance: passed", done.stdout)
        self.assertNotIn("WARN", done.stdout)

    def test_an_experiment_on_both_is_deterministic_per_seed(self):
        a = self.run_experiment("both-a", seed=11)
        b = self.run_experiment("both-b", seed=11)
        other = self.run_experiment("both-c", seed=12)
        self.assertEqual(sorted(a["round"].unique()), [0, 1, 2, 3])
        self.assertIn("content.vendi", set(a.metric))
        self.assertGreater(a.value.notna().sum(), 40)
        pd.testing.assert_frame_equal(a, b)
        self.assertFalse(a.value.equals(other.value))

    def test_feedloops_coupled_generator_scores_with_the_python_ranker(self):
        # generator.alpha > 0: feedloop's generator asks the ranker (Python
        # here) ScoreItems for every candidate.
        a = self.run_experiment("coupled-a", seed=5, alpha=0.5, generator=False)
        b = self.run_experiment("coupled-b", seed=5, alpha=0.5, generator=False)
        pd.testing.assert_frame_equal(a, b)
        self.assertIn("exposure.gini_shown", set(a.metric))


if __name__ == "__main__":
    unittest.main()
