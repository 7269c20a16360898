"""feedloop's Python client: diversity metrics over gRPC, as pandas frames.

    from feedloop import Client
    c = Client("127.0.0.1:7001")          # the store, e.g. of `feedloop run --serve`
    runs = c.runs()                          # one row per run
    df = c.series(runs.run_id, ["content.vendi", "slate."])   # long format
    wide = c.series(runs.run_id, wide=True)  # one column per metric
    table = c.compare(sweep_id=runs.sweep_id[0], metrics=["content."], window=5)
    for round_metrics in c.watch(run_id):    # live rounds of a running run
        print(round_metrics["round"], round_metrics["values"])
    c.evaluate(embeddings=numpy_array)       # {"content.dispersion": ..., ...}

    c = Client("127.0.0.1:7001", loop="127.0.0.1:7004")   # to start experiments
    e = c.start('rounds: 5 generator { alpha: 0.5 }')      # pbtxt, dict or message
    for m in e.watch(): print(m["round"])                    # as rounds complete
    e.wait()                                                 # status per run
    s = c.sweep(config, "generator.alpha", [0, 0.5, 1], replicates=3)
    s.stop()

Stubs are generated from proto/ at build time (build/python); nothing comes
from PyPI: Debian's python3-grpcio, python3-protobuf and python3-pandas.
"""

from feedloop.client import Client, Experiment, FeedloopError  # noqa: F401

__all__ = ["Client", "Experiment", "FeedloopError"]
