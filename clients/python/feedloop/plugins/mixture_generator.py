"""A reference generator in Python: items drawn from a mixture of styles that
it refits, each round, on what users engaged.

The mixture has `STYLES` components, each a direction in the embedding space
with a weight. A round's items are drawn from it (a style by weight, then the
style's direction plus noise, scaled to norm 1). Observe moves each style's
weight toward its share of the round's engagements and its direction toward
the mean of its engaged items, at rate `RATE`: what engages gets more like
itself. The generator ignores generator.alpha; it is always this coupled.

Generation is a function of (seed, round, mixture): a retried Generate
streams the same items, and the checkpoint (the mixture after Observe)
is all OpenRun needs to resume at the next round.

    python3 -m feedloop.plugins.mixture_generator --store HOST:PORT [--listen HOST:PORT]
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Dict, List, Optional

import grpc
import numpy as np

from feedloop.plugins.serving import (Refused, Store, answering, check_config, held, invalid,
                                      serve, unit_rows)
from feedloop.v1 import generator_pb2, generator_pb2_grpc, types_pb2

STYLES = 8
RATE = 0.3
NOISE = 0.5
ITEMS_PER_MESSAGE = 1000
MAX_ITEMS_PER_ROUND = 1_000_000  # ids are round << 32 | i: far below 2^32


class Mixture:
    """One run's generator: the styles, and the round generated but not yet
    observed."""

    def __init__(self, run_id: str, config, weights: np.ndarray, means: np.ndarray,
                 next_round: int):
        self.run_id, self.config = run_id, config
        self.weights, self.means = weights, means
        self.next_round = next_round               # the round Generate makes next
        self.pending: Optional[List] = None         # items of next_round - 1, not observed
        self.styles: Dict[int, int] = {}            # pending item id -> its style

    @classmethod
    def new(cls, run_id: str, config) -> "Mixture":
        rng = np.random.default_rng([config.seed, 0x5747])
        means = unit_rows(rng.standard_normal((STYLES, config.space.dim)))
        return cls(run_id, config, np.full(STYLES, 1 / STYLES), means, 0)

    @classmethod
    def restore(cls, run_id: str, config, checkpoint: bytes, round_: int) -> "Mixture":
        try:
            saved = np.load(io.BytesIO(checkpoint))
            weights, means, next_round = saved["weights"], saved["means"], int(saved["next_round"])
        except (OSError, ValueError, KeyError, EOFError) as e:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"the checkpoint of round {round_ - 1} is not this generator's "
                          f"({type(e).__name__}: {e})") from None
        if means.shape != (STYLES, config.space.dim) or next_round != round_:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"the checkpoint of round {round_ - 1} is not this generator's")
        return cls(run_id, config, weights, means, next_round)

    def checkpoint(self) -> bytes:
        out = io.BytesIO()
        np.savez(out, weights=self.weights, means=self.means, next_round=self.next_round)
        return out.getvalue()

    def state(self) -> generator_pb2.GeneratorRunState:
        return generator_pb2.GeneratorRunState(
            run_id=self.run_id, next_round=self.next_round,
            creators=self.config.creators.count,
            generated=self.pending is not None)

    def generate(self, round_: int) -> List:
        if self.pending is not None and round_ == self.next_round - 1:
            return self.pending  # a retry
        if self.pending is not None or round_ != self.next_round:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"round: {round_}, but the next round to generate is "
                          f"{self.next_round - (self.pending is not None)}")
        c = self.config
        n = c.creators.count * c.creators.items_per_round
        rng = np.random.default_rng([c.seed, round_, 0x17e5])
        styles = rng.choice(STYLES, size=n, p=self.weights / self.weights.sum())
        noise = rng.standard_normal((n, c.space.dim)) * NOISE / np.sqrt(c.space.dim)
        rows = unit_rows(self.means[styles] + noise).astype(np.float32)
        self.pending = [
            types_pb2.Item(id=(round_ << 32) | (i + 1), round=round_,
                           creator_id=i % c.creators.count, embedding=rows[i].tolist(),
                           title=f"style {styles[i]} item {i + 1}")
            for i in range(n)]
        self.styles = {item.id: int(s) for item, s in zip(self.pending, styles)}
        self.next_round = round_ + 1
        return self.pending

    def observe(self, round_: int, outcomes) -> None:
        if self.pending is None or round_ != self.next_round - 1:
            raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                          f"round: {round_} is not the round generated last")
        by_id = {item.id: item for item in self.pending}
        engaged = np.zeros(STYLES)
        sums = np.zeros_like(self.means)
        for o in outcomes:
            style = self.styles.get(o.item_id)
            if style is None or o.engagements == 0:
                continue
            engaged[style] += o.engagements
            sums[style] += o.engagements * np.asarray(by_id[o.item_id].embedding)
        share = (engaged + 1) / (engaged.sum() + STYLES)  # smoothed: no style dies out
        self.weights = (1 - RATE) * self.weights + RATE * share
        moved = engaged > 0
        target = unit_rows(sums[moved])
        self.means[moved] = unit_rows((1 - RATE) * self.means[moved] + RATE * target)
        self.pending, self.styles = None, {}


class MixtureGenerator(generator_pb2_grpc.GeneratorServiceServicer):
    def __init__(self, store: Store):
        self._store = store
        self._runs: Dict[str, Mixture] = {}
        self._lock = threading.Lock()

    @answering
    def OpenRun(self, request, context):
        check_config(request.config)
        c = request.config.creators
        if c.count * c.items_per_round > MAX_ITEMS_PER_ROUND:
            raise invalid(f"config.creators: {c.count} x {c.items_per_round} items a round; "
                          f"at most {MAX_ITEMS_PER_ROUND}")
        with self._lock:
            run = self._runs.get(request.run_id)
            if run is not None and run.config == request.config:
                at = run.next_round - (run.pending is not None)
                if at == request.round:
                    return run.state()
            if request.round == 0:
                run = Mixture.new(request.run_id, request.config)
            else:  # resume (a restart) or go back (a round redone): from the store
                saved = self._store.checkpoint(request.run_id, request.round - 1)
                run = Mixture.restore(request.run_id, request.config, saved, request.round)
            self._runs[request.run_id] = run
            return run.state()

    @answering
    def CloseRun(self, request, context):
        with self._lock:
            self._runs.pop(request.run_id, None)
        return types_pb2.CloseRunResponse()

    def Generate(self, request, context):
        try:
            with self._lock:
                items = held(self._runs, request.run_id).generate(request.round)
        except Refused as e:
            context.abort(e.code, e.message)
        for start in range(0, len(items), ITEMS_PER_MESSAGE):
            yield generator_pb2.GenerateResponse(items=items[start:start + ITEMS_PER_MESSAGE])

    @answering
    def Observe(self, request, context):
        with self._lock:
            run = held(self._runs, request.run_id)
            run.observe(request.round, request.outcomes)
            return generator_pb2.ObserveResponse(state=run.state(), checkpoint=run.checkpoint())


def main(argv=None) -> int:
    return serve(__doc__.splitlines()[0],
                 lambda server, store: generator_pb2_grpc.add_GeneratorServiceServicer_to_server(
                     MixtureGenerator(store), server),
                 sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
