#!/usr/bin/python3
"""The example notebook (clients/python/examples/coupling_sweep.ipynb) runs
end to end with Debian's nbclient and ipykernel, so it cannot rot: every
cell without an error, its sweep compared and plotted."""

import os
import shutil
import tempfile
import unittest

import nbclient
import nbformat

SOURCE = os.environ["FEEDLOOP_SOURCE_DIR"]
NOTEBOOK = os.path.join(SOURCE, "clients", "python", "examples", "coupling_sweep.ipynb")


class NotebookTest(unittest.TestCase):
    def test_the_notebook_runs(self):
        folder = tempfile.mkdtemp(prefix="feedloop_nb_")
        try:
            nb = nbformat.read(NOTEBOOK, as_version=4)
            for cell in nb.cells:  # committed without outputs
                self.assertFalse(cell.get("outputs"), "clear the notebook's outputs")
            nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                    resources={"metadata": {"path": folder}}).execute()
            text = []
            for cell in nb.cells:
                for out in cell.get("outputs", []):
                    self.assertNotEqual(out.get("output_type"), "error", out)
                    text.append(out.get("text", ""))
                    text.append(str(out.get("data", {}).get("text/plain", "")))
            text = "\n".join(text)
            self.assertIn("round 7: content.vendi", text)
            self.assertIn("figures rest on DONE runs", text)
            self.assertIn("exposure.gini_shown", text)
            png = os.path.join(folder, "coupling_sweep.png")
            self.assertGreater(os.path.getsize(png), 10_000)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
