#!/usr/bin/python3
"""The Python client against a real `feedloop run --serve`: its DataFrame
equals the metrics.csv the run wrote; compare, watch, evaluate, errors; and
the example script draws its PNG."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import pandas as pd

from feedloop import Client, FeedloopError

BINARY = os.environ["FEEDLOOP_BINARY"]
SOURCE = os.environ["FEEDLOOP_SOURCE_DIR"]

CONFIG = """
name: "py" rounds: 4
space { dim: 8 topics: 4 }
users { count: 80 }
creators { count: 8 items_per_round: 4 }
ranker { candidates: 20 item_ttl_rounds: 2 }
sweep { parameter: "generator.alpha" values: ["0", "1"] replicates: 2 }
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="feedloop_py_")
        config = os.path.join(cls.dir, "py.pbtxt")
        with open(config, "w") as f:
            f.write(CONFIG)
        cls.addr = f"127.0.0.1:{free_port()}"
        cls.server = subprocess.Popen(
            [BINARY, "run", "--config", config, "-o", cls.dir, "--serve",
             f"--store_listen={cls.addr}"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        cls.loop = None
        for line in cls.server.stdout:
            if "; loop " in line:
                cls.loop = line.split("; loop ")[1].split(",")[0]
            if "serving until" in line:
                break
        else:
            raise RuntimeError("feedloop run --serve ended early")
        cls.client = Client(cls.addr, loop=cls.loop)
        # The CLI's sweep (experiments the tests start come after it).
        cls.sweep = cls.client.runs().sweep_id[0]

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.server.send_signal(signal.SIGINT)
        cls.server.wait(timeout=30)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def experiment_dir(self):
        [name] = [d for d in os.listdir(self.dir) if d.startswith("py-")]
        return os.path.join(self.dir, name)

    def test_series_equals_the_csv_the_run_wrote(self):
        runs = self.client.runs(sweep_id=self.sweep)
        self.assertEqual(len(runs), 4)
        self.assertTrue((runs.status == "DONE").all())
        df = self.client.series(runs.run_id)
        # round_trip: pandas' default parser drops the last bit of %.17g values.
        csv = pd.read_csv(os.path.join(self.experiment_dir(), "metrics.csv"),
                          float_precision="round_trip")
        key = ["run", "metric", "round"]
        a = df.sort_values(key).reset_index(drop=True)
        b = csv.sort_values(key).reset_index(drop=True)
        self.assertGreater(len(a), 4 * 4 * 15)
        pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=True)

        wide = self.client.series(runs.run_id[0], ["content.vendi", "slate."], wide=True)
        self.assertEqual(list(wide.columns), ["run", "round", "content.vendi", "slate.ild"])
        self.assertEqual(len(wide), 4)

    def test_compare_groups_the_sweep(self):
        sweep = self.sweep
        table = self.client.compare(sweep_id=sweep, metrics="content.vendi", window=2)
        self.assertEqual(table.attrs["sweep_parameter"], "generator.alpha")
        self.assertEqual(list(table.sweep_value), ["0", "1"])
        self.assertTrue((table.n == 2).all())
        self.assertTrue((table.ci_low <= table["mean"]).all())
        # What each figure rests on, and the rule: DONE runs only.
        self.assertEqual(list(table.runs), ["2", "2"])
        self.assertIn("DONE", table.attrs["rule"])
        self.assertEqual(table.attrs["runs_by_status"]["0"], {"DONE": 2})

    def test_a_run_named_twice_is_one_run_and_wide_never_averages(self):
        run = self.client.runs(sweep_id=self.sweep).run_id[0]
        once = self.client.series(run, "content.vendi", wide=True)
        twice = self.client.series([run, run], "content.vendi", wide=True)
        pd.testing.assert_frame_equal(once, twice)
        long = self.client.series(run, "content.vendi")
        from feedloop.client import _wide
        with self.assertRaises(FeedloopError) as e:
            _wide(pd.concat([long, long.iloc[:1]]))
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")
        self.assertIn("repeated rows", e.exception.message)

    def test_watch_a_finished_run_yields_every_round(self):
        run = self.client.runs(sweep_id=self.sweep).run_id[0]
        rounds = [r["round"] for r in self.client.watch(run, metrics="content.")]
        self.assertEqual(rounds, [0, 1, 2, 3])

    def test_evaluate_and_errors(self):
        values = self.client.evaluate(np.eye(3))
        self.assertAlmostEqual(values["content.vendi"], 3.0, places=6)
        self.assertAlmostEqual(values["content.dispersion"], 1.0, places=9)
        with self.assertRaises(FeedloopError) as e:
            self.client.series("no-such-run")
        self.assertEqual(e.exception.code, "NOT_FOUND")
        with self.assertRaises(FeedloopError) as e:
            self.client.evaluate([[float("nan"), 1.0]])
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")

    def test_experiments_start_watch_wait_and_replay_per_seed(self):
        config = CONFIG.split("sweep")[0].replace('name: "py"', 'name: "pystart"')
        # pbtxt text, a dict and a message start the same experiment.
        first = self.client.start(config + " seed: 11")
        seen = []
        for m in first.watch(metrics="content.vendi"):
            seen.append(m["round"])
            break  # stops iterating: the stream is cancelled, the run goes on
        self.assertEqual(seen, [0])
        status = first.wait(timeout=60)
        self.assertEqual(list(status.status), ["DONE"])
        again = self.client.start({"name": "pystart", "seed": "11", "rounds": 4,
                                   "space": {"dim": 8, "topics": 4},
                                   "users": {"count": 80},
                                   "creators": {"count": 8, "itemsPerRound": 4},
                                   "ranker": {"candidates": 20, "itemTtlRounds": 2}})
        again.wait(timeout=60)
        a = self.client.series(first.run_ids[0]).drop(columns="run")
        b = self.client.series(again.run_ids[0]).drop(columns="run")
        self.assertGreater(len(a), 4 * 15)
        pd.testing.assert_frame_equal(a, b, check_exact=True)  # same seed, same metrics

        swept = self.client.sweep(config, "generator.alpha", [0, 1], replicates=1)
        self.assertEqual(len(swept.run_ids), 2)
        self.assertTrue(swept.sweep_id)
        swept.stop()
        self.assertTrue(swept.wait(timeout=60).status.isin(["DONE", "STOPPED"]).all())

        with self.assertRaises(FeedloopError) as e:
            self.client.start("generator { alpha: 5 }")
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")
        self.assertIn("generator.alpha", e.exception.message)
        with self.assertRaises(FeedloopError) as e:
            self.client.start("generator { alpah: 1 }")
        self.assertEqual(e.exception.code, "INVALID_ARGUMENT")
        with self.assertRaises(FeedloopError) as e:
            Client(self.addr).start(config)
        self.assertEqual(e.exception.code, "FAILED_PRECONDITION")

    def test_example_plots_a_png(self):
        out = os.path.join(self.dir, "coupling.png")
        subprocess.run(
            [sys.executable, os.path.join(SOURCE, "clients/python/examples/plot_coupling.py"),
             out, "--addr", self.addr, "--window", "2"],
            check=True, capture_output=True, env=os.environ)
        with open(out, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")



class TlsTest(unittest.TestCase):
    """Mutual TLS as the CLI's flags give it: a store that asks for client
    certificates answers a client with one, and refuses one without."""

    def test_mutual_tls(self):
        d = tempfile.mkdtemp(prefix="feedloop_pytls_")
        try:
            script = (
                "set -e\n"
                "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca "
                "-keyout ca.key -out ca.pem\n"
                "for who in server client; do\n"
                "  openssl req -newkey rsa:2048 -nodes -subj /CN=$who -keyout $who.key "
                "-out $who.csr\n"
                "  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > $who.ext\n"
                "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
                "-days 2 -extfile $who.ext -out $who.pem\n"
                "done\n")
            subprocess.run(["/bin/sh", "-c", script], cwd=d, check=True,
                           capture_output=True)
            p = lambda name: os.path.join(d, name)  # noqa: E731
            server = subprocess.Popen(
                [BINARY, "serve", "store", "--data_dir", p("db"), "--listen", "127.0.0.1:0",
                 "--tls_cert", p("server.pem"), "--tls_key", p("server.key"),
                 "--tls_ca", p("ca.pem"), "--tls_require_client_cert"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            try:
                addr = None
                for line in server.stdout:
                    if "listening on " in line:
                        addr = line.split("listening on ")[1].strip()
                        break
                self.assertIsNotNone(addr)
                with Client(addr, timeout=10, root_cert=p("ca.pem"), cert=p("client.pem"),
                            key=p("client.key")) as c:
                    self.assertEqual(len(c.runs()), 0)
                with Client(addr, timeout=10, root_cert=p("ca.pem")) as c:
                    with self.assertRaises(FeedloopError) as e:
                        c.runs()
                    self.assertEqual(e.exception.code, "UNAVAILABLE")
            finally:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
