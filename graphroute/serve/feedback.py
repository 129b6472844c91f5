"""Feedback ingestion with group commit: an outcome is acknowledged only once its row is committed.

Feedback requests go on a queue; one writer thread takes every request waiting (it does not wait for
more: those that arrive during one commit's fsync make the next group), checks them
(decision ids exist, models and agents are known to the served router), writes all valid ones in
one transaction (fsynced with durability "full") and only then resolves their callers. Many
concurrent posts thus share one fsync, which is what lets a durable store take thousands per second.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading

import graphroute as gr

from .config import ServeConfig
from .engine import RoutingEngine
from .errors import ApiError
from .metrics import Metrics
from .schemas import FeedbackRequest
from .store import Outcome, Store

__all__ = ["FeedbackWriter"]

log = logging.getLogger("graphroute.serve")
_MAX_GROUP = 2000  # outcomes per transaction


class FeedbackWriter:
    def __init__(self, config: ServeConfig, engine: RoutingEngine, metrics: Metrics) -> None:
        self.config, self.engine, self.metrics = config, engine, metrics
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.incoming = 0  # feedback requests received but not yet queued (counted by the middleware)

    def start(self) -> None:
        self.store = Store(self.config.db, durability=self.config.durability)
        threading.Thread(target=self._loop, name="graphroute-feedback", daemon=True).start()

    def stop(self) -> None:
        self._queue.put(None)

    async def submit(self, items: list[FeedbackRequest], counted: bool = False) -> list[int]:
        """Store ``items`` (all or none); their outcome ids once committed."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        if counted:
            self.incoming -= 1
        self._queue.put((items, loop, fut))
        return await fut

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, n = [first], len(first[0])
            while n < _MAX_GROUP:  # no waiting: the posts that arrive during one commit's fsync form the next group
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                group.append(nxt)
                n += len(nxt[0])
            try:
                results = self._write(group)
            except Exception as exc:  # the store failed: nothing was acknowledged, say so
                log.exception("could not store %d outcomes", n)
                results = [ApiError(503, f"The outcome store could not commit the feedback ({exc}); nothing was "
                                         "stored. Retry the request.", "store_unavailable")] * len(group)
            for (_, loop, fut), res in zip(group, results):
                loop.call_soon_threadsafe(_resolve, fut, res)

    def _write(self, group: list) -> list:
        live = self.engine.live
        ids = [it.decision_id for items, _, _ in group for it in items if it.decision_id is not None]
        decisions = self.store.decisions_by_id(ids) if ids else {}
        rows: list[list[Outcome] | Exception] = []
        for items, _, _ in group:
            try:
                rows.append([self._outcome(live, i, it, decisions, len(items)) for i, it in enumerate(items)])
            except ApiError as exc:
                rows.append(exc)
        flat = [o for r in rows if not isinstance(r, Exception) for o in r]
        new_ids = iter(self.store.add_outcomes(flat) if flat else [])
        self.metrics.feedback.inc(len(flat))
        self.metrics.feedback_group.observe(len(flat))
        return [r if isinstance(r, Exception) else [next(new_ids) for _ in r] for r in rows]

    def _outcome(self, live, i: int, it: FeedbackRequest, decisions: dict, n: int) -> Outcome:
        where = f"outcomes[{i}]: " if n > 1 else ""
        if it.decision_id is not None:
            d = decisions.get(it.decision_id)
            if d is None:
                raise ApiError(404, f"{where}No decision has id {it.decision_id!r}. Use the decision_id returned by "
                                    "/v1/route (or the x-graphroute-decision-id header of a proxied call), or send "
                                    "query, model and agent instead.", "not_found", "decision_id")
            query, task, model, agent, cost, latency = d
            return Outcome(query=query, task=task, model=model, agent=agent, effect=it.effect,
                           cost=cost if it.cost is None else it.cost, latency_s=it.latency_s,
                           decision_id=it.decision_id)
        agent = it.agent or "direct"
        for kind, name, known in (("model", it.model, live.models), ("agent", agent, live.agents)):
            if name not in known:
                raise ApiError(422, f"{where}{kind} {name!r} is not one the router knows ({sorted(known)}). Check the "
                                    f"spelling, or add it first (POST /v1/admin/models for a model).",
                               "invalid_request_error", kind)
        if it.task is not None and not _known_task(live, it.task):
            raise ApiError(422, f"{where}task {it.task!r} is not one the router knows. Leave task out to let the "
                                "router infer it from similar past queries.", "invalid_request_error", "task")
        return Outcome(query=it.query, task=it.task, model=it.model, agent=agent, effect=it.effect, cost=it.cost,
                       latency_s=it.latency_s)


def _known_task(live, task: str) -> bool:
    """Whether the served router knows ``task`` (asked once per snapshot: predict raises for an unknown one)."""
    if task not in live.tasks:
        try:
            live.router.predict(["task check"], [task])
            live.tasks[task] = True
        except gr.ConfigError:
            live.tasks[task] = False
    return live.tasks[task]


def _resolve(future: asyncio.Future, res) -> None:
    if future.done():
        return
    if isinstance(res, Exception):
        future.set_exception(res)
    else:
        future.set_result(res)
