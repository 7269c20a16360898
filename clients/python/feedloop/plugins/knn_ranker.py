"""A reference ranker in Python: item-kNN on the items' embeddings, learning
from RecordFeedback.

A user's score for an item is its mean similarity to the last `HISTORY`
items the user engaged; a user with no engagement yet is scored with every
user's engagements pooled. A small popularity term (engagements, decayed each
round) and a deterministic jitter per (seed, round, user, item) break ties.
Items a user was shown before are not shown again (unless the user has seen
every live item: a slate is never empty while items are live).

Everything is rebuilt from the store: OpenRun at round r replays rounds
[0, r) (items, then feedback), so the ranker may restart at any time. It
keeps one replica's view (the calls' `round` is not used to catch up), so run
one of it.

    python3 -m feedloop.plugins.knn_ranker --store HOST:PORT [--listen HOST:PORT]
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict, deque
from typing import Dict, List

import grpc
import numpy as np

from feedloop.plugins.serving import (Refused, Store, answering, check_config, held, invalid,
                                      serve)
from feedloop.v1 import ranker_pb2, ranker_pb2_grpc, types_pb2

HISTORY = 20            # engaged items remembered per user
POPULARITY_WEIGHT = 0.1
POPULARITY_DECAY = 0.8  # per round
JITTER = 1e-3
MAX_RANK_USERS = 10000
MAX_SCORE_ROWS = 100000


class Run:
    """One run's state: live items, what users engaged and were shown."""

    def __init__(self, run_id: str, config):
        self.run_id = run_id
        self.config = config
        self.dim = config.space.dim
        self.round = -1                       # the last round indexed
        self.feedback_done = set()            # rounds whose feedback is applied
        self.items: Dict[int, np.ndarray] = {}  # live item id -> embedding
        self.published: Dict[int, int] = {}   # live item id -> round
        self.popularity: Dict[int, float] = defaultdict(float)
        self.history: Dict[int, deque] = defaultdict(lambda: deque(maxlen=HISTORY))
        self.shown: Dict[int, set] = defaultdict(set)
        self._refresh()

    def position(self) -> int:
        """2 x the round being played, + 1 once its items are indexed."""
        if self.round < 0:
            return 0
        return 2 * self.round + (2 if self.round in self.feedback_done else 1)

    def _refresh(self) -> None:
        """What every slate of the round reads: the live items in id order,
        their rows, and the pooled taste of users with no engagement."""
        self.ids = sorted(self.items)
        self.rows = (np.stack([self.items[i] for i in self.ids]) if self.ids
                     else np.zeros((0, self.dim)))
        pooled = [e for h in self.history.values() for e in h]
        self.pooled = np.stack(pooled) if pooled else np.zeros((1, self.dim))

    def advance(self, round_: int, items: List) -> None:
        for item in items:
            self.items[item.id] = np.asarray(item.embedding, dtype=np.float64)
            self.published[item.id] = item.round
        horizon = round_ - self.config.ranker.item_ttl_rounds
        for item_id in [i for i, r in self.published.items() if r <= horizon]:
            del self.items[item_id], self.published[item_id]
            self.popularity.pop(item_id, None)
        self.round = round_
        self._refresh()

    def feedback(self, round_: int, interactions: List) -> None:
        for item_id in self.popularity:
            self.popularity[item_id] *= POPULARITY_DECAY
        for x in interactions:
            self.shown[x.user_id].add(x.item_id)
            if x.engaged and x.item_id in self.items:
                self.history[x.user_id].append(self.items[x.item_id])
                self.popularity[x.item_id] += 1
        self.feedback_done.add(round_)
        self._refresh()

    def state(self) -> ranker_pb2.RankerRunState:
        return ranker_pb2.RankerRunState(run_id=self.run_id, round=max(self.round, 0),
                                         live_items=len(self.items),
                                         known_users=len(self.history))

    def taste(self, user: int) -> np.ndarray:
        """The engaged embeddings the user is scored against (rows)."""
        history = self.history.get(user)
        return np.stack(history) if history else self.pooled

    def similarity(self, user: int, rows: np.ndarray) -> np.ndarray:
        """Mean similarity of each row to the user's engaged items, in [0, 1]."""
        return np.clip(self.taste(user) @ rows.T, 0, 1).mean(axis=0)

    def slate(self, user: int, size: int) -> ranker_pb2.Slate:
        shown = self.shown.get(user, ())
        keep = [k for k, i in enumerate(self.ids) if i not in shown]
        if not keep:  # seen everything live: show it again rather than nothing
            keep = list(range(len(self.ids)))
        if not keep:
            return ranker_pb2.Slate(user_id=user)
        ids = [self.ids[k] for k in keep]
        rows = self.rows[keep]
        top = max(self.popularity.values(), default=0) or 1
        pop = np.array([self.popularity.get(i, 0) for i in ids]) / top
        jitter = np.random.default_rng(
            [self.config.seed, self.round, user]).random(len(ids))
        score = self.similarity(user, rows) + POPULARITY_WEIGHT * pop + JITTER * jitter
        best = np.argsort(-score, kind="stable")[:size]
        return ranker_pb2.Slate(user_id=user, item_ids=[ids[b] for b in best],
                                scores=[float(score[b]) for b in best])


class KnnRanker(ranker_pb2_grpc.RankerServiceServicer):
    def __init__(self, store: Store):
        self._store = store
        self._runs: Dict[str, Run] = {}
        self._lock = threading.Lock()  # one call at a time: simple, and enough here

    @answering
    def OpenRun(self, request, context):
        check_config(request.config)
        with self._lock:
            run = self._runs.get(request.run_id)
            start = 2 * request.round
            if (run is not None and run.config == request.config
                    and run.position() in (start, start + 1)):
                return run.state()
            run = Run(request.run_id, request.config)  # new, or rebuilt from the store
            for r in range(request.round):
                run.advance(r, self._store.items(request.run_id, r))
                run.feedback(r, self._store.interactions(request.run_id, r))
            self._runs[request.run_id] = run
            return run.state()

    @answering
    def CloseRun(self, request, context):
        with self._lock:
            self._runs.pop(request.run_id, None)
        return types_pb2.CloseRunResponse()

    @answering
    def AdvanceRound(self, request, context):
        with self._lock:
            run = held(self._runs, request.run_id)
            if request.round == run.round:
                return run.state()  # a retry
            if request.round != run.round + 1:
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                              f"round: {request.round}, but the run is at round {run.round}")
            run.advance(request.round, self._store.items(request.run_id, request.round))
            return run.state()

    @answering
    def RankBatch(self, request, context):
        with self._lock:
            run = held(self._runs, request.run_id)
            if len(request.users) > MAX_RANK_USERS:
                raise invalid(f"users: {len(request.users)}; at most {MAX_RANK_USERS}")
            size = request.slate_size or run.config.users.slate_size
            if size > 1000:
                raise invalid(f"slate_size: {size}; at most 1000")
            for i, u in enumerate(request.users):
                if u.user_id >= run.config.users.count:
                    raise invalid(f"users[{i}].user_id: {u.user_id} is not a user of this run "
                                  f"({run.config.users.count} users)")
            return ranker_pb2.RankBatchResponse(
                slates=[run.slate(u.user_id, size) for u in request.users])

    @answering
    def ScoreItems(self, request, context):
        with self._lock:
            run = held(self._runs, request.run_id)
            if request.dim != run.dim:
                raise invalid(f"dim: {request.dim}, but the run's space.dim is {run.dim}")
            if len(request.candidates) % run.dim:
                raise invalid(f"candidates: {len(request.candidates)} floats are not whole "
                              f"rows of dim {run.dim}")
            rows = np.asarray(request.candidates, dtype=np.float64).reshape(-1, run.dim)
            if len(rows) > MAX_SCORE_ROWS:
                raise invalid(f"candidates: {len(rows)} rows; at most {MAX_SCORE_ROWS}")
            count = run.config.users.count
            users = list(request.user_ids)
            if any(u >= count for u in users):
                raise invalid(f"user_ids: a user past users.count ({count})")
            if not users:
                k = min(request.sample_users or count, count)
                users = np.random.default_rng(request.seed).choice(count, k, replace=False)
            scores = np.mean([run.similarity(int(u), rows) for u in users], axis=0)
            return ranker_pb2.ScoreItemsResponse(scores=scores.astype(np.float32).tolist())

    @answering
    def RecordFeedback(self, request, context):
        with self._lock:
            run = held(self._runs, request.run_id)
            if request.round in run.feedback_done:
                raise Refused(grpc.StatusCode.ALREADY_EXISTS,
                              f"round {request.round}'s feedback is applied already")
            if request.round != run.round:
                raise Refused(grpc.StatusCode.FAILED_PRECONDITION,
                              f"round: {request.round}, but the run is at round {run.round}")
            run.feedback(request.round, request.interactions)
            return ranker_pb2.RecordFeedbackResponse(applied=len(request.interactions))

    def Retrieve(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Retrieve: not used by the loop")

    def Rank(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "Rank: use RankBatch")


def main(argv=None) -> int:
    return serve(__doc__.splitlines()[0],
                 lambda server, store: ranker_pb2_grpc.add_RankerServiceServicer_to_server(
                     KnnRanker(store), server),
                 sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
