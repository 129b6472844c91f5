"""The learner process: folds stored outcomes into the router (``observe``, no gradient step) and
publishes snapshots for the workers.

It is the only process that changes the router. On start it loads the newest published snapshot
(or, the first time, the base router, published as generation 0), reads that snapshot's outcome
watermark and replays every outcome with a larger id, so an outcome folded before a crash but not
yet published is folded again into the older snapshot it is missing from, and never twice into one
router. It then polls the store: admin model ops are applied and published at once (the admin call
waits for them); outcomes are read as they come and folded in one ``observe`` right before each
publish, every ``publish_every`` outcomes or ``publish_interval_s`` seconds (at most one publish per
``publish_min_gap_s``). Run as ``python -m graphroute.serve.learner`` by the supervisor.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import graphroute as gr

from .config import ServeConfig
from .lifecycle import exit_with_parent
from .snapshots import Pointer, SnapshotDir, router_digest
from .store import Store

__all__ = ["fold", "apply_model_ops", "replay", "base_router", "Learner", "main"]

log = logging.getLogger("graphroute.serve.learner")


def base_router(path: str | None):
    """The router to start from: a saved one, or a private copy of the shipped default router."""
    if path is not None:
        return gr.load(path)
    with tempfile.TemporaryDirectory(prefix="graphroute-default-") as tmp:
        gr.default_router().save(Path(tmp) / "router")  # a copy: observe() must not touch the shared one
        return gr.load(Path(tmp) / "router")


def fold(router, rows: list[tuple]) -> int:
    """``observe`` the store rows (id, query, task, model, agent, effect, cost, latency_s); returns how many
    were folded (rows naming a model or agent removed since are skipped, with a log line)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=["id", "query", "task", "model", "agent", "effect", "cost", "latency_s"])
    cands = router.candidates_
    known = df["model"].isin(set(cands["model"])) & df["agent"].isin(set(cands["agent"]))
    if not known.all():
        log.warning("skipping %d outcome(s) naming models/agents the router no longer has (ids %s)",
                    int((~known).sum()), df.loc[~known, "id"].tolist()[:10])
        df = df[known]
    if df.empty:
        return 0
    missing = df["task"].isna()
    if missing.any():  # the task similar past queries point to (what routing used)
        texts = list(dict.fromkeys(df.loc[missing, "query"]))
        pred = router.predict(texts)
        inferred = dict(zip(pred["query"], pred["task"]))
        df.loc[missing, "task"] = df.loc[missing, "query"].map(inferred)
    df["task"] = df.groupby("query")["task"].transform("first")  # one text, one task within a batch
    logs = df.drop(columns=["id"])
    if logs["latency_s"].isna().all():
        logs = logs.drop(columns=["latency_s"])
    router.observe(logs)
    return len(df)


def apply_model_ops(router, ops: list[tuple[int, str, str, dict]]) -> list[tuple[int, str, str]]:
    """Apply admin adds and removes in order; an op that no longer applies (two adds of one name, a
    remove of a model removed since) is logged and skipped. Returns (op id, 'applied' or 'skipped', why)."""
    results = []
    for op_id, op, name, card in ops:
        try:
            if op == "add":
                router.add_model(name, **card)
            else:
                router.remove_model(name)
            results.append((op_id, "applied", ""))
        except gr.GraphRouteError as exc:
            log.warning("model op %d (%s %s) skipped: %s", op_id, op, name, exc)
            results.append((op_id, "skipped", str(exc)))
    return results


def replay(store: Store, router, after: int = 0, chunk: int = 5000) -> int:
    """Fold every stored outcome with id > ``after`` into ``router``; the highest id folded (or ``after``)."""
    wm = after
    while True:
        rows = store.outcomes_after(wm, limit=chunk)
        if not rows:
            return wm
        _fold_or_skip(router, rows)
        wm = rows[-1][0]


class Learner:
    """The learner loop (see the module docstring)."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self.store = Store(config.db, durability=config.durability)
        self.snapshots = SnapshotDir(config.snapshot_dir())

    def bootstrap(self) -> tuple[object, Pointer]:
        base = router_digest(self.config.router)
        self.snapshots.check_base(base, self.config.router)
        pointer = self.snapshots.current()
        if pointer is None:
            router = base_router(self.config.router)
            pointer = self.snapshots.publish(router, 0, 0, base=base)
            log.info("published the base router as generation 0")
        else:
            router = self.snapshots.load(pointer)
        return router, pointer

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        router, pointer = self.bootstrap()
        read, op_wm = pointer.outcome_watermark, pointer.op_watermark
        buffer: list[tuple] = []  # read, not yet folded: folded in one observe right before a publish
        since, last = None, time.monotonic()
        while not stop.is_set():
            ops = self.store.model_ops_after(op_wm)
            rows = self.store.outcomes_after(read, limit=5000)
            if rows:
                buffer += rows
                read = rows[-1][0]
                since = since or time.monotonic()
            now = time.monotonic()
            full = len(buffer) >= self.config.publish_every
            waited = buffer and now - since >= self.config.publish_interval_s
            if ops or ((full or waited) and now - last >= self.config.publish_min_gap_s):
                if ops:  # first: outcomes may name a model an op adds
                    self.store.record_op_results(apply_model_ops(router, ops))  # before the snapshot that has them
                    op_wm = ops[-1][0]
                if buffer:
                    _fold_or_skip(router, buffer)
                pointer = self.snapshots.publish(router, read, op_wm, base=pointer.base)  # read: all folded
                log.info("published generation %d (outcomes <= %d, ops <= %d)", pointer.generation,
                         pointer.outcome_watermark, op_wm)
                buffer, since, last = [], None, time.monotonic()
            if not rows and not ops:
                stop.wait(self.config.poll_s)


def _fold_or_skip(router, rows: list[tuple]) -> None:
    """``fold``; when the batch is refused, fold row by row and skip (with a log line) the rows refused,
    so one bad row can never stop the learner (it would crash and replay it again forever)."""
    try:
        fold(router, rows)
    except gr.GraphRouteError:
        for row in rows:
            try:
                fold(router, [row])
            except gr.GraphRouteError as exc:
                log.warning("outcome %d cannot be folded and is skipped: %s", row[0], exc)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="graphroute learner: %(message)s", stream=sys.stderr)
    config = ServeConfig.from_env()
    exit_with_parent("learner")
    Learner(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
