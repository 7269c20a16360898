"""feedloop's four services on this machine, as child processes on loopback
ports, for a notebook or a script that wants experiments without deploying
anything:

    from feedloop.local import LocalServices
    with LocalServices() as services:          # store, ranker, generator, loop
        c = services.client()
        c.sweep(config, "generator.alpha", ["0", "1"], replicates=3).wait()

The `feedloop` binary is `binary`, else $FEEDLOOP_BINARY, else `feedloop` on
PATH (`./dev build` makes build/cli/feedloop). The store's database and each
service's log go to `data_dir` (a new temporary folder by default, removed
on stop unless given).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from typing import List, Optional

import grpc

from feedloop.client import Client, FeedloopError


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _binary(binary: Optional[str]) -> str:
    found = binary or os.environ.get("FEEDLOOP_BINARY") or shutil.which("feedloop")
    if not found or not os.path.exists(found):
        raise FeedloopError("NOT_FOUND", "the feedloop binary was not found: pass binary=, "
                            "set FEEDLOOP_BINARY, or put it on PATH (./dev build makes "
                            "build/cli/feedloop)")
    return found


class LocalServices:
    """Starts the store, ranker, generator and loop; stop() (or leaving the
    `with` block) stops them. Not thread-safe."""

    def __init__(self, data_dir: Optional[str] = None, binary: Optional[str] = None,
                 timeout: float = 60.0):
        self._binary = _binary(binary)
        self._owns_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="feedloop_local_")
        self._processes: List[subprocess.Popen] = []
        self._logs = []
        addr = {name: f"127.0.0.1:{_free_port()}"
                for name in ("store", "ranker", "generator", "loop")}
        self.store, self.loop = addr["store"], addr["loop"]
        try:
            self._start("store", addr, "--data_dir", os.path.join(self.data_dir, "store"))
            self._start("ranker", addr, "--store", addr["store"])
            self._start("generator", addr, "--store", addr["store"], "--ranker", addr["ranker"])
            self._start("loop", addr, "--store", addr["store"], "--ranker", addr["ranker"],
                        "--generator", addr["generator"])
            for name in ("store", "ranker", "generator", "loop"):
                self._wait(name, addr[name], timeout)
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, addr, *flags: str) -> None:
        log = open(os.path.join(self.data_dir, f"{name}.log"), "wb")
        self._logs.append(log)
        self._processes.append(subprocess.Popen(
            [self._binary, "serve", name, "--listen", addr[name], *flags],
            stdout=log, stderr=subprocess.STDOUT))

    def _wait(self, name: str, address: str, timeout: float) -> None:
        process = self._processes[["store", "ranker", "generator", "loop"].index(name)]
        with grpc.insecure_channel(address) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=timeout)
                return
            except grpc.FutureTimeoutError:
                pass
        with open(os.path.join(self.data_dir, f"{name}.log"), errors="replace") as f:
            tail = f.read()[-2000:]
        state = "exited" if process.poll() is not None else f"not ready after {timeout} s"
        raise FeedloopError("UNAVAILABLE", f"feedloop serve {name} {state}:\n{tail}")

    def client(self, **options) -> Client:
        """A Client of these services' store and loop."""
        return Client(self.store, loop=self.loop, **options)

    def stop(self) -> None:
        for p in reversed(self._processes):
            if p.poll() is None:
                p.terminate()
        for p in self._processes:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self._processes = []
        for log in self._logs:
            log.close()
        self._logs = []
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "LocalServices":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
