#!/usr/bin/python3
"""Diversity against coupling, from a finished sweep.

    ./dev run --serve                      # in one terminal
    PYTHONPATH=build/python clients/python/examples/plot_coupling.py coupling.png

Takes the newest sweep in the store (or --sweep ID), averages each run over
its last 5 rounds, and plots each metric's mean with its 95% interval over
replicates against the swept value.
"""

import argparse
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt  # noqa: E402

from feedloop import Client  # noqa: E402

METRICS = ["content.vendi", "content.tail_recall", "consumption.similarity",
           "consumption.welfare"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="coupling.png")
    parser.add_argument("--addr", default="127.0.0.1:7001")
    parser.add_argument("--sweep", default="")
    parser.add_argument("--window", type=int, default=5)
    args = parser.parse_args()

    client = Client(args.addr)
    sweep = args.sweep
    if not sweep:
        runs = client.runs()
        swept = runs[runs.sweep_id != ""]
        if swept.empty:
            print("no sweep in the store at", args.addr, file=sys.stderr)
            return 1
        sweep = swept.sweep_id.iloc[0]
    table = client.compare(sweep_id=sweep, metrics=METRICS, window=args.window)
    parameter = table.attrs.get("sweep_parameter") or "sweep value"

    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 3.2))
    for ax, metric in zip(axes, METRICS):
        rows = table[table.metric == metric].copy()
        rows["x"] = rows.sweep_value.astype(float)
        rows = rows.sort_values("x")
        ax.errorbar(rows.x, rows["mean"],
                    yerr=[rows["mean"] - rows.ci_low, rows.ci_high - rows["mean"]],
                    marker="o", capsize=4)
        ax.set_title(metric)
        ax.set_xlabel(parameter)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{sweep}: last {args.window} rounds, mean and 95% interval")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
