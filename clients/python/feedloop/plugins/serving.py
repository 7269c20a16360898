"""What both reference plug-ins share: flags, the store's reads, errors as
gRPC status codes, config checks, and serving until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from concurrent import futures
from typing import Callable, Iterator, List

import grpc
import numpy as np

from feedloop.v1 import ingest_pb2, ingest_pb2_grpc

MAX_MESSAGE_BYTES = 64 << 20
_OPTIONS = [("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]


class Refused(Exception):
    """A call answered with `code` (a grpc.StatusCode) and `message`."""

    def __init__(self, code: grpc.StatusCode, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> Refused:
    return Refused(grpc.StatusCode.INVALID_ARGUMENT, message)


def answering(method: Callable) -> Callable:
    """Turns Refused, and a store that cannot be reached, into the call's
    status (docs/plugins.md, "What status codes mean to the loop")."""

    def wrapped(self, request, context):
        try:
            return method(self, request, context)
        except Refused as e:
            context.abort(e.code, e.message)
        except grpc.RpcError as e:  # the store's error, passed on
            code = e.code()
            if code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
                code = grpc.StatusCode.UNAVAILABLE
            context.abort(code, f"store: {e.details()}")

    wrapped.__name__ = method.__name__
    return wrapped


def held(runs: dict, run_id: str):
    """The open run `run_id`, or NOT_FOUND (the loop then reopens it)."""
    run = runs.get(run_id)
    if run is None:
        raise Refused(grpc.StatusCode.NOT_FOUND, f"run '{run_id}' is not open here")
    return run


def check_config(config) -> None:
    """The config fields the plug-ins use, each within its range."""
    for name, value, low, high in (
            ("space.dim", config.space.dim, 1, 4096),
            ("users.count", config.users.count, 1, 10_000_000),
            ("users.slate_size", config.users.slate_size, 1, 1000),
            ("creators.count", config.creators.count, 1, 1_000_000),
            ("creators.items_per_round", config.creators.items_per_round, 1, 100_000),
            ("ranker.item_ttl_rounds", config.ranker.item_ttl_rounds, 1, 1_000_000)):
        if not low <= value <= high:
            raise invalid(f"config.{name}: must be in [{low}, {high}], got {value}")


class Store:
    """The store's reads a plug-in needs (IngestService)."""

    def __init__(self, address: str):
        self._stub = ingest_pb2_grpc.IngestServiceStub(
            grpc.insecure_channel(address, options=_OPTIONS))

    def items(self, run_id: str, round_: int) -> List:
        request = ingest_pb2.ScanItemsRequest(run_id=run_id, round_from=round_, round_to=round_)
        return [item for chunk in self._stub.ScanItems(request, timeout=60)
                for item in chunk.items]

    def interactions(self, run_id: str, round_: int) -> List:
        request = ingest_pb2.ScanInteractionsRequest(run_id=run_id, round_from=round_,
                                                     round_to=round_)
        return [x for chunk in self._stub.ScanInteractions(request, timeout=60)
                for x in chunk.interactions]

    def checkpoint(self, run_id: str, round_: int) -> bytes:
        request = ingest_pb2.GetCheckpointRequest(run_id=run_id, round=round_)
        return self._stub.GetCheckpoint(request, timeout=60).generator


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Each row scaled to norm 1 (a zero row stays zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1)


def serve(description: str, add_service: Callable[[grpc.Server, Store], None],
          argv: List[str]) -> int:
    """Parses --listen and --store, serves until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--listen", default="127.0.0.1:0",
                        help="where to listen (default: a loopback port the OS picks)")
    parser.add_argument("--store", required=True,
                        help="the store the experiment uses (host:port)")
    parser.add_argument("--threads", type=int, default=4, help="worker threads")
    args = parser.parse_args(argv)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=args.threads), options=_OPTIONS)
    add_service(server, Store(args.store))
    port = server.add_insecure_port(args.listen)
    if port == 0:
        print(f"cannot listen on {args.listen}", file=sys.stderr)
        return 1
    server.start()
    host = args.listen.rsplit(":", 1)[0]
    print(f"listening on {host}:{port}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    server.stop(grace=2).wait()
    return 0
