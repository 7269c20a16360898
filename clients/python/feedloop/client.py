"""A small typed client for DiversityService and ExperimentService (see
feedloop/__init__.py)."""

from __future__ import annotations

from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Union

import time

import grpc
import pandas as pd
from google.protobuf import json_format, text_format

from feedloop.v1 import (config_pb2, diversity_pb2, diversity_pb2_grpc, experiment_pb2,
                         experiment_pb2_grpc, types_pb2)


_NAN = float("nan")


class FeedloopError(RuntimeError):
    """A failed call; `code` is the gRPC status code name (e.g. NOT_FOUND)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _pem(value) -> Optional[bytes]:
    """PEM bytes as given, or read from a path."""
    if value is None or isinstance(value, bytes):
        return value
    with open(value, "rb") as f:
        return f.read()


def _names(metrics: Optional[Union[str, Iterable[str]]]) -> List[str]:
    if metrics is None:
        return []
    if isinstance(metrics, str):
        return [metrics]
    return list(metrics)


_FINISHED = ("DONE", "FAILED", "STOPPED")


def _wide(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (run, round), one column per metric. A repeated (run,
    round, metric) is an error, never silently averaged."""
    repeated = df.duplicated(["run", "round", "metric"], keep=False)
    if repeated.any():
        first = df[repeated].iloc[0]
        raise FeedloopError(
            "INVALID_ARGUMENT",
            f"wide: run {first['run']!r} has {int(repeated.sum())} repeated rows "
            f"(round {first['round']}, {first['metric']}); use the long form")
    wide_df = df.pivot(index=["run", "round"], columns="metric", values="value")
    wide_df.columns.name = None
    return wide_df.reset_index()


def _config(config) -> config_pb2.ExperimentConfig:
    """An ExperimentConfig from a message, a dict, or pbtxt text."""
    if isinstance(config, config_pb2.ExperimentConfig):
        return config
    try:
        if isinstance(config, dict):
            return json_format.ParseDict(config, config_pb2.ExperimentConfig())
        if isinstance(config, str):
            return text_format.Parse(config, config_pb2.ExperimentConfig())
    except (json_format.ParseError, text_format.ParseError) as e:
        raise FeedloopError("INVALID_ARGUMENT", f"config: {e}") from None
    raise TypeError("config: give pbtxt text, a dict, or an ExperimentConfig")


class Experiment:
    """A started experiment: its runs, to wait for, watch or stop."""

    def __init__(self, client: "Client", response):
        self._client = client
        self.run_ids: List[str] = list(response.run_ids)
        self.sweep_id: str = response.sweep_id

    def status(self) -> pd.DataFrame:
        """run_id, status, rounds_done, error of each run, as the loop sees it."""
        rows = []
        for run_id in self.run_ids:
            r = self._client._call(self._client._loop().GetRun,
                                   types_pb2.GetRunRequest(run_id=run_id))
            rows.append({"run_id": r.run_id, "status": types_pb2.RunStatus.Name(r.status),
                         "rounds_done": r.rounds_done, "error": r.error})
        return pd.DataFrame(rows, columns=["run_id", "status", "rounds_done", "error"])

    def wait(self, timeout: Optional[float] = None, poll: float = 0.2) -> pd.DataFrame:
        """Blocks until every run is DONE, FAILED or STOPPED and returns
        status(); FeedloopError DEADLINE_EXCEEDED after `timeout` seconds."""
        give_up = None if timeout is None else time.monotonic() + timeout
        while True:
            df = self.status()
            if df.status.isin(_FINISHED).all():
                return df
            if give_up is not None and time.monotonic() > give_up:
                raise FeedloopError("DEADLINE_EXCEEDED",
                                    f"runs not finished after {timeout} s: "
                                    f"{', '.join(df.run_id[~df.status.isin(_FINISHED)])}")
            time.sleep(poll)

    def watch(self, run_id: Optional[str] = None,
              metrics: Optional[Union[str, Iterable[str]]] = None) -> Iterator[Dict]:
        """Client.watch of one run (the first by default)."""
        return self._client.watch(run_id or self.run_ids[0], metrics)

    def stop(self) -> None:
        """Stops every run after its current round."""
        for run_id in self.run_ids:
            try:
                self._client._call(self._client._loop().StopRun,
                                   experiment_pb2.StopRunRequest(run_id=run_id))
            except FeedloopError as e:
                if e.code != "NOT_FOUND":  # finished already
                    raise


class Client:
    """DiversityService at `addr` (host:port of a feedloop store) and, to
    start experiments, ExperimentService at `loop` (a feedloop loop).

    TLS: `root_cert` (PEM bytes or a path) verifies the servers;
    `cert` and `key` add this client's certificate (mutual TLS), as the
    CLI's --tls_ca, --tls_cert and --tls_key."""

    def __init__(self, addr: str = "127.0.0.1:7001", timeout: float = 30.0,
                 loop: Optional[str] = None, root_cert=None, cert=None, key=None):
        self._addr = addr
        self._timeout = timeout
        options = [("grpc.max_receive_message_length", 64 << 20),
                   ("grpc.max_send_message_length", 64 << 20)]
        self._credentials = None
        if root_cert is not None or cert is not None:
            self._credentials = grpc.ssl_channel_credentials(
                root_certificates=_pem(root_cert), private_key=_pem(key),
                certificate_chain=_pem(cert))
        self._options = options
        self._channel = self._open(addr)
        self._stub = diversity_pb2_grpc.DiversityServiceStub(self._channel)
        self._loop_addr = loop
        self._loop_channel = None
        self._loop_stub = None

    def _open(self, addr: str):
        if self._credentials is None:
            return grpc.insecure_channel(addr, options=self._options)
        return grpc.secure_channel(addr, self._credentials, options=self._options)

    def _loop(self):
        if self._loop_addr is None:
            raise FeedloopError("FAILED_PRECONDITION",
                                "loop: starting experiments needs Client(..., loop=ADDR)")
        if self._loop_stub is None:
            self._loop_channel = self._open(self._loop_addr)
            self._loop_stub = experiment_pb2_grpc.ExperimentServiceStub(self._loop_channel)
        return self._loop_stub

    def close(self) -> None:
        self._channel.close()
        if self._loop_channel is not None:
            self._loop_channel.close()

    def start(self, config, experiment_id: str = "") -> Experiment:
        """Starts an experiment on the loop: `config` as pbtxt text, a dict
        (the proto's JSON form) or an ExperimentConfig. The same config and
        experiment_id again continue it."""
        response = self._call(self._loop().StartRun, experiment_pb2.StartRunRequest(
            config=_config(config), experiment_id=experiment_id))
        return Experiment(self, response)

    def sweep(self, config, parameter: str, values: Sequence, replicates: int = 1,
              experiment_id: str = "") -> Experiment:
        """start() of `config` swept over `parameter` (e.g. "generator.alpha")."""
        c = config_pb2.ExperimentConfig()
        c.CopyFrom(_config(config))
        c.sweep.parameter = parameter
        del c.sweep.values[:]
        c.sweep.values.extend(str(v) for v in values)
        c.sweep.replicates = replicates
        return self.start(c, experiment_id)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request):
        try:
            return method(request, timeout=self._timeout)
        except grpc.RpcError as e:  # one place turns gRPC errors into ours
            raise FeedloopError(e.code().name, e.details() or "") from None

    def _pages(self, method, request) -> Iterator:
        """Every page of a paged call, following next_page_token: the one
        paging loop, mirroring common/paging.h's ForEachPage."""
        while True:
            page = self._call(method, request)
            yield page
            if not page.next_page_token:
                return
            request.page_token = page.next_page_token

    def runs(self, sweep_id: str = "", statuses: Sequence[str] = ()) -> pd.DataFrame:
        """Runs, newest first: run_id, sweep_id, sweep_value, status, rounds_done, rounds."""
        request = diversity_pb2.ListRunsRequest(
            sweep_id=sweep_id,
            statuses=[types_pb2.RunStatus.Value(s) for s in statuses])
        rows = []
        for page in self._pages(self._stub.ListRuns, request):
            for r in page.runs:
                rows.append({
                    "run_id": r.run_id,
                    "sweep_id": r.sweep_id,
                    "sweep_parameter": r.sweep_parameter,
                    "sweep_value": r.sweep_value,
                    "replicate": r.replicate,
                    "status": types_pb2.RunStatus.Name(r.status),
                    "rounds_done": r.rounds_done,
                    "rounds": r.config.rounds,
                })
        return pd.DataFrame(rows, columns=[
            "run_id", "sweep_id", "sweep_parameter", "sweep_value", "replicate",
            "status", "rounds_done", "rounds"])

    def series(self, run_ids: Union[str, Iterable[str]],
               metrics: Optional[Union[str, Iterable[str]]] = None,
               round_from: int = 0, round_to: Optional[int] = None,
               wide: bool = False) -> pd.DataFrame:
        """Metric series. Long: run, round, metric, value, absent (as
        metrics.csv): a round where a metric was undefined has value NaN and
        its reason in `absent` (NaN where the value is defined). Wide: one row
        per (run, round), one column per metric, NaN where undefined."""
        # A run named twice is the same run: asked once.
        request = diversity_pb2.GetSeriesRequest(
            run_ids=list(dict.fromkeys(_names(run_ids))), metrics=_names(metrics),
            round_from=round_from)
        if round_to is not None:
            request.round_to = round_to
        rows = []
        for page in self._pages(self._stub.GetSeries, request):
            for s in page.series:
                rows.extend((s.run_id, r, s.metric, v, _NAN)
                            for r, v in zip(s.rounds, s.values))
                rows.extend((s.run_id, r, s.metric, _NAN, why)
                            for r, why in zip(s.absent_rounds, s.absent_reasons))
        df = pd.DataFrame(rows, columns=["run", "round", "metric", "value", "absent"])
        df = df.sort_values(["run", "metric", "round"]).reset_index(drop=True)
        if not wide:
            return df
        return _wide(df)

    def compare(self, run_ids: Optional[Iterable[str]] = None, sweep_id: str = "",
                metrics: Optional[Union[str, Iterable[str]]] = None,
                window: int = 1) -> pd.DataFrame:
        """Per sweep point and metric: n, mean and 95% interval over replicates
        of each run's mean over its last `window` rounds; `absent` counts the
        runs where the metric was undefined there (left out of n and mean).
        Only DONE runs count, as in the final table and report.html; `runs`
        says what each figure rests on ("2 of 3 (1 STOPPED)") and
        df.attrs["rule"] states the rule."""
        response = self._call(self._stub.CompareRuns, diversity_pb2.CompareRunsRequest(
            run_ids=_names(run_ids), sweep_id=sweep_id, metrics=_names(metrics),
            window=window))
        rows = []
        for g in response.groups:
            runs = g.runs_counted or str(len(g.run_ids))  # "" from an older server
            for m in g.metrics:
                rows.append({
                    "sweep_value": g.sweep_value, "metric": m.metric, "n": m.n,
                    "absent": m.absent,
                    "mean": m.mean if m.n else _NAN,
                    "ci_low": m.ci_low if m.n else _NAN,
                    "ci_high": m.ci_high if m.n else _NAN,
                    "runs": runs,
                })
        df = pd.DataFrame(rows, columns=["sweep_value", "metric", "n", "absent", "mean",
                                         "ci_low", "ci_high", "runs"])
        df.attrs["sweep_parameter"] = response.sweep_parameter
        df.attrs["rule"] = response.rule
        df.attrs["runs_by_status"] = {g.sweep_value: dict(g.runs_by_status)
                                      for g in response.groups}
        return df

    def watch(self, run_id: str, metrics: Optional[Union[str, Iterable[str]]] = None,
              from_round: int = 0) -> Iterator[Dict]:
        """Rounds of a run as they complete: {"run", "round", "values": {name:
        value}, "absent": {name: reason}} (an undefined metric's value is NaN).
        Ends when the run does."""
        request = types_pb2.WatchRunRequest(run_id=run_id, metrics=_names(metrics),
                                            from_round=from_round)
        call = self._stub.WatchRun(request)
        try:
            for rm in call:
                yield {"run": rm.run_id, "round": rm.round,
                       "values": {v.name: _NAN if v.absent else v.value for v in rm.values},
                       "absent": {v.name: v.absent for v in rm.values if v.absent}}
        except grpc.RpcError as e:
            raise FeedloopError(e.code().name, e.details() or "") from None
        finally:
            call.cancel()  # the caller stopped iterating: the stream ends too

    def evaluate(self, embeddings=None, run_id: str = "",
                 item_ids: Optional[Iterable[int]] = None, seed: int = 0) -> Dict[str, float]:
        """Content metrics of a set: rows of `embeddings` (anything with .tolist()
        or a list of lists), or items of `run_id` by id."""
        request = diversity_pb2.EvaluateRequest(run_id=run_id, seed=seed,
                                                item_ids=list(item_ids or []))
        if embeddings is not None:
            rows = embeddings.tolist() if hasattr(embeddings, "tolist") else list(embeddings)
            if rows:
                request.dim = len(rows[0])
                for row in rows:
                    request.embeddings.extend(float(x) for x in row)
        response = self._call(self._stub.Evaluate, request)
        return {v.name: _NAN if v.absent else v.value for v in response.values}
