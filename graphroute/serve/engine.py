"""The routing engine of one worker: the served snapshot, micro-batched routing, decision records.

Concurrent route calls are put on a queue; one routing thread takes what is there and, while more
requests are known to be arriving (counted by the HTTP middleware), waits up to ``batch_wait_ms``
for them, then answers the whole batch with one ``router.predict`` (``ranking.rank_batch``), writes
its decisions in one transaction and resolves every caller. At one client nothing is waiting, so
nothing waits. A poller thread loads each newly published snapshot and swaps it in whole; a batch
already running finishes on the router it started with, so no request is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import graphroute as gr

from .config import ServeConfig
from .metrics import Metrics
from .ranking import objective_kwargs, rank_batch
from .snapshots import Pointer, SnapshotDir
from .store import Decision, Store, new_decision_id

__all__ = ["RoutingEngine", "Live"]

log = logging.getLogger("graphroute.serve")
_PROBE = "graphroute objective check"


@dataclass(frozen=True)
class Live:
    """The router being served and the pointer it was published under (swapped as one object)."""

    router: object
    pointer: Pointer
    models: frozenset
    agents: frozenset
    validated: dict = field(default_factory=dict)  # objective key -> None (valid) or the library's error
    tasks: dict = field(default_factory=dict)  # task name -> known?


@dataclass(eq=False)
class _Job:
    queries: list[str]
    tasks: list[str | None]
    objective: dict  # Router.select keyword arguments
    evidence: int
    record: bool
    source: str
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


class RoutingEngine:
    """Owns the served router of this process (see the module docstring)."""

    def __init__(self, config: ServeConfig, metrics: Metrics) -> None:
        self.config = config
        self.metrics = metrics
        self.snapshots = SnapshotDir(config.snapshot_dir())
        self.incoming = 0  # route requests received but not yet queued (event-loop thread writes; router reads)
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.live: Live | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, wait_s: float = 300.0) -> None:
        """Load the published snapshot (waiting for the learner's first) and start the threads."""
        deadline = time.monotonic() + wait_s
        pointer = self.snapshots.current()
        while pointer is None:
            if time.monotonic() > deadline:
                raise gr.ConfigError(f"No router snapshot was published in {self.snapshots.root} within {wait_s:g} s; "
                                     "the learner process did not start. Its log says why.")
            time.sleep(0.1)
            pointer = self.snapshots.current()
        self._swap(pointer)
        self.store = Store(self.config.db, durability="normal")  # decisions: a killed process keeps them
        self._threads = [threading.Thread(target=self._route_loop, name="graphroute-router", daemon=True),
                         threading.Thread(target=self._poll_loop, name="graphroute-snapshots", daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._queue.put(None)

    def _swap(self, pointer: Pointer) -> None:
        router = self.snapshots.load(pointer)
        cands = router.candidates_
        self.live = Live(router=router, pointer=pointer, models=frozenset(cands["model"]),
                         agents=frozenset(cands["agent"]))
        self.metrics.generation.set(pointer.generation)

    def _poll_loop(self) -> None:
        reader = Store(self.config.db, durability="normal")
        while not self._stop.wait(self.config.poll_s):
            try:
                pointer = self.snapshots.current()
                if pointer is not None and pointer.generation != self.live.pointer.generation:
                    self._swap(pointer)
                wm = self.live.pointer.outcome_watermark
                last, _ = reader.last_outcome()
                first = reader.first_outcome_after(wm)
                self.metrics.lag_outcomes.set(max(0, last - wm))
                self.metrics.lag_seconds.set(0.0 if first is None else max(0.0, time.time() - first))
            except Exception:  # a snapshot pruned while loading, a locked store: try again next poll
                log.warning("snapshot poll failed; retrying", exc_info=True)

    # ------------------------------------------------------------------ the async side
    async def route(self, queries: list[str], tasks: list[str | None], objective: dict, *, evidence: int = 0,
                    record: bool = True, source: str = "route", counted: bool = False) -> list[dict]:
        """Route ``queries``; one result dict per query (raises the library's error for a bad request)."""
        loop = asyncio.get_running_loop()
        job = _Job(queries, tasks, objective, evidence, record, source, loop, loop.create_future())
        if counted:
            self.incoming -= 1
        self._queue.put(job)
        return await job.future

    async def wait_for_op(self, op_id: int, timeout_s: float) -> Pointer | None:
        """The first served pointer that has applied model op ``op_id``, or None after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.live.pointer.op_watermark >= op_id:
                return self.live.pointer
            await asyncio.sleep(0.05)
        return None

    # ------------------------------------------------------------------ the routing thread
    def _collect(self, first: _Job) -> list[_Job]:
        jobs, n = [first], len(first.queries)
        deadline = time.perf_counter() + self.config.batch_wait_ms / 1000
        while n < self.config.max_batch:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                left = deadline - time.perf_counter()
                if self.incoming <= 0 or left <= 0:  # nobody else is on the way: do not wait
                    break
                try:
                    job = self._queue.get(timeout=left)
                except queue.Empty:
                    break
            if job is None:
                self._queue.put(None)
                break
            jobs.append(job)
            n += len(job.queries)
        return jobs

    def _route_loop(self) -> None:
        while not self._stop.is_set():
            first = self._queue.get()
            if first is None:
                break
            jobs = self._collect(first)
            live = self.live  # one snapshot for the whole batch
            try:
                results = self._answer(live, jobs)
                self._record(live, jobs, results)
            except Exception as exc:  # a bug must fail these requests (500), never stop the routing thread
                log.exception("routing a batch of %d requests failed", len(jobs))
                results = [RuntimeError(f"routing failed: {type(exc).__name__}")] * len(jobs)
            for job, res in zip(jobs, results):
                job.loop.call_soon_threadsafe(_resolve, job.future, res)

    def _answer(self, live: Live, jobs: list[_Job]) -> list:
        """One result (a list of dicts) or exception per job."""
        results: list = [None] * len(jobs)
        groups: dict[str, list[int]] = {}
        for i, job in enumerate(jobs):
            if job.evidence:
                results[i] = _guard(self._with_evidence, live, job)
            else:
                groups.setdefault(json.dumps(job.objective, sort_keys=True), []).append(i)
        for key, idx in groups.items():
            bad = self._validate(live, key, jobs[idx[0]])
            if bad is not None:
                for i in idx:
                    results[i] = bad
                continue
            try:
                answers = self._ranked([jobs[i] for i in idx], live)
            except gr.GraphRouteError:  # one job's task is unknown: answer each alone so only it fails
                answers = [_guard(self._ranked_one, live, jobs[i]) for i in idx]
            for i, a in zip(idx, answers):
                results[i] = a
        return results

    def _validate(self, live: Live, key: str, job: _Job) -> Exception | None:
        """The library checks each new objective once per snapshot (weights, names, latency); cached."""
        if key not in live.validated:
            try:  # a fixed probe query: a bad query of one request must not mark its objective invalid
                live.router.select_many([_PROBE], **objective_kwargs(job.objective))
                live.validated[key] = None
            except gr.InfeasibleError:
                live.validated[key] = None  # a valid objective that this query cannot meet
            except gr.GraphRouteError as exc:
                live.validated[key] = exc
        return live.validated[key]

    def _ranked_one(self, live: Live, job: _Job) -> list[dict]:
        return self._ranked([job], live)[0]

    def _ranked(self, jobs: list[_Job], live: Live) -> list:
        queries = [q for j in jobs for q in j.queries]
        tasks = [t for j in jobs for t in j.tasks]
        ranked = rank_batch(live.router, queries, tasks, jobs[0].objective)
        self.metrics.batch.observe(len(queries))
        out, q = [], 0
        for job in jobs:
            rows = []
            for k, text in enumerate(job.queries):
                best = int(ranked.order[q, 0])
                if ranked.feasible[q, best]:
                    res = ranked.row(q, best)
                    res.update(task=str(ranked.task[q]), fallback=False, alternatives=ranked.alternatives(q))
                else:  # nothing feasible: the library's declared fallback, or its InfeasibleError
                    res = _guard(_select_dict, live.router, text, job.tasks[k], 0, job.objective, k, len(job.queries))
                rows.append(res)
                q += 1
            err = next((r for r in rows if isinstance(r, Exception)), None)
            out.append(err if err is not None else rows)
        return out

    def _with_evidence(self, live: Live, job: _Job) -> list[dict]:
        rows = []
        for k, text in enumerate(job.queries):
            res = _select_dict(live.router, text, job.tasks[k], job.evidence, job.objective, k, len(job.queries))
            rows.append(res)
        return rows

    def _record(self, live: Live, jobs: list[_Job], results: list) -> None:
        """Give every answer a decision id and store all of them in one transaction."""
        decisions = []
        for job, res in zip(jobs, results):
            if isinstance(res, Exception):
                continue
            for text, r in zip(job.queries, res):
                r["decision_id"] = new_decision_id() if job.record else None
                r["generation"] = live.pointer.generation
                self.metrics.chosen.labels(r["model"], r["agent"]).inc()
                if job.record:
                    decisions.append(_decision(r, text, job, live.pointer.generation))
        if not decisions:
            return
        try:
            self.store.add_decisions(decisions)
        except Exception as exc:
            log.exception("could not store %d decisions", len(decisions))
            err = gr.GraphRouteError(f"The outcome store could not record the decision ({exc}); retry the request.")
            for i, (job, res) in enumerate(zip(jobs, results)):
                if job.record and not isinstance(res, Exception):
                    results[i] = err

    def store_sync(self) -> Store:
        """A store connection for the calling thread (sqlite3 connections belong to one thread)."""
        local = self.__dict__.setdefault("_local", threading.local())
        if not hasattr(local, "store"):
            local.store = Store(self.config.db, durability="normal")
        return local.store


def _decision(r: dict, text: str, job: _Job, generation: int) -> Decision:
    return Decision(id=r["decision_id"], source=job.source, query=text, task=r["task"], model=r["model"],
                    agent=r["agent"], effect=r["effect"], cost=r["cost"], latency_s=r.get("latency_s"),
                    score=r["score"], fallback=bool(r["fallback"]), objective=job.objective, generation=generation)


def _select_dict(router, query: str, task, evidence: int, objective: dict, k: int, n: int) -> dict:
    """``router.select`` as a result dict; an InfeasibleError of a batch names the query."""
    try:
        sel = router.select(query, task, evidence=evidence, **objective_kwargs(objective))
    except gr.InfeasibleError as exc:
        if n == 1:
            raise
        raise gr.InfeasibleError(f"Query {k} ({query[:60]!r}): {exc}") from None
    d = sel.to_dict()
    d.pop("query", None)
    if evidence:
        ev = sel.evidence
        d["evidence"] = ev.astype(object).where(ev.notna(), None).to_dict(orient="records")
    return d


def _guard(fn, *args):
    try:
        return fn(*args)
    except gr.GraphRouteError as exc:
        return exc


def _resolve(future: asyncio.Future, res) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if isinstance(res, Exception):
        future.set_exception(res)
    else:
        future.set_result(res)
