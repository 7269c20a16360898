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
import atexit
import subprocess
import tempfile
from typing import List, Optional

import grpc

from feedloop.client import Client, FeedloopError


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
        try:
            self.store = self._start("store", timeout,
                                     "--data_dir", os.path.join(self.data_dir, "store"))
            ranker = self._start("ranker", timeout, "--store", self.store)
            generator = self._start("generator", timeout, "--store", self.store,
                                    "--ranker", ranker)
            self.loop = self._start("loop", timeout, "--store", self.store, "--ranker", ranker,
                                    "--generator", generator)
        except BaseException:
            self.stop()
            raise
        # Stopped when the interpreter (a notebook's kernel) exits, even if
        # the caller never calls stop().
        atexit.register(self.stop)

    def _start(self, name: str, timeout: float, *flags: str) -> str:
        """Starts `feedloop serve NAME` on a port the OS picks; its address."""
        log = open(os.path.join(self.data_dir, f"{name}.log"), "wb")
        self._logs.append(log)
        process = subprocess.Popen(
            [self._binary, "serve", name, "--listen", "127.0.0.1:0", *flags],
            stdout=subprocess.PIPE, stderr=log, text=True)
        self._processes.append(process)
        # The server prints "feedloop NAME listening on ADDR" once it serves;
        # a server that fails exits, which ends the line.
        line = process.stdout.readline()
        if " listening on " in line:
            address = line.split()[-1]
            with grpc.insecure_channel(address) as channel:
                try:
                    grpc.channel_ready_future(channel).result(timeout=timeout)
                    return address
                except grpc.FutureTimeoutError:
                    pass
        process.poll()
        with open(os.path.join(self.data_dir, f"{name}.log"), errors="replace") as f:
            tail = f.read()[-2000:]
        raise FeedloopError("UNAVAILABLE", f"feedloop serve {name} did not start "
                            f"(exit status {process.returncode}):\n{tail}")

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
        atexit.unregister(self.stop)
        for log in self._logs:
            log.close()
        self._logs = []
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "LocalServices":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
