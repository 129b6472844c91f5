"""Concurrency: ``select`` / ``select_many`` from many threads, and growth while they run.

* 8 threads × N calls give exactly the answers one thread gives (the full 8 × 2,000 run is in
  ``benchmarks/reliability.py``; N here keeps the file fast).
* ``observe`` / ``add_model`` / ``add_agent`` while 8 threads select never yields a torn state:
  every answer (choice, predictions, candidate set, evidence) equals the answer of either the
  router before the change or the router after it, never a mix, and never an exception.

A router publishes its state as one object that a call pins for its whole duration
(``Router._snapshot``), so a call cannot read candidates from one state and predictions or cost
ranges from another.
"""

from __future__ import annotations

import copy
import os
import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.data.synthetic import make_synthetic

FAST = dict(embedder="hash", cache_dir=False, progress=False, hidden=16, epochs=10, patience=10, seed=0)
N_THREADS = 8
N_CALLS = int(os.environ.get("GRAPHROUTE_THREAD_CALLS", "60"))  # per thread; the benchmark uses 2,000
WEIGHTS = [{"effect": 1.0, "cost": 0.0}, {"effect": 0.5, "cost": 0.5}, {"effect": 0.2, "cost": 0.8}]


def make_router() -> gr.Router:
    syn = make_synthetic(n_queries=60, n_models=4, n_agents=2, n_tasks=3, seed=2)
    return gr.Router(**FAST).fit(syn.logs, models=syn.models, agents=syn.agents, tasks=syn.tasks)


def query_pool(n: int = 24) -> list[str]:
    words = ["kalo", "mine", "ruvo", "tize", "sapa", "what", "how", "which", "solve", "是什么", "question"]
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(words, 6)) + f" #{i}" for i in range(n)]


@pytest.fixture(scope="module")
def router() -> gr.Router:
    return make_router()


def answer(r: gr.Router, query: str, weights: dict) -> tuple:
    """Everything a select call returns that could expose a torn state."""
    s = r.select(query, weights=weights, evidence=3)
    alts = s.alternatives
    return (s.model, s.agent, s.effect, s.cost, s.score, s.task,
            tuple(zip(alts["model"], alts["agent"], alts["score"])), tuple(s.evidence["query_id"]))


def batch_answer(r: gr.Router, queries: list[str], weights: dict) -> tuple:
    out = r.select_many(queries, weights=weights)
    return tuple(map(tuple, out[["model", "agent", "effect", "cost", "score", "task"]].itertuples(index=False)))


def run_threads(n_threads: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(thread_index)`` on n threads released together; return what they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def body(i: int) -> None:
        try:
            start.wait()
            work(i)
        except BaseException as exc:  # noqa: BLE001 (collected and reported by the test)
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


def check_many_threads_match_one(r: gr.Router, n_threads: int, n_calls: int) -> int:
    """8 threads × n_calls of select / select_many against answers computed first on one thread.

    Returns the number of calls checked; raises AssertionError on the first difference.
    """
    pool = query_pool()
    batches = [pool[i:i + 5] for i in range(0, len(pool), 5)]
    single = {(q, w): answer(r, q, WEIGHTS[w]) for q in pool for w in range(len(WEIGHTS))}
    single_many = {(b, w): batch_answer(r, batches[b], WEIGHTS[w]) for b in range(len(batches))
                   for w in range(len(WEIGHTS))}
    got: list[list[tuple]] = [[] for _ in range(n_threads)]

    def work(i: int) -> None:
        for k in range(n_calls):
            w = (i + k) % len(WEIGHTS)
            if k % 10 == 9:  # every tenth call is a batch
                b = (i * 3 + k) % len(batches)
                got[i].append((("many", b, w), batch_answer(r, batches[b], WEIGHTS[w])))
            else:
                q = pool[(i * 7 + k) % len(pool)]
                got[i].append((("one", q, w), answer(r, q, WEIGHTS[w])))

    errors = run_threads(n_threads, work)
    assert errors == [], errors[:3]
    n = 0
    for rows in got:
        for (kind, key, w), ans in rows:
            want = single[(key, w)] if kind == "one" else single_many[(key, w)]
            assert ans == want, f"thread answer differs for {kind} {key!r}, weights {WEIGHTS[w]}"
            n += 1
    assert n == n_threads * n_calls
    return n


def test_many_threads_give_the_answers_of_one(router: gr.Router) -> None:
    check_many_threads_match_one(router, N_THREADS, N_CALLS)


# ------------------------------------------------------------------------------ growth while selecting
def _new_runs(r: gr.Router, model: str | None = None, agent: str | None = None) -> pd.DataFrame:
    """A few logged runs on new queries (new query nodes, new outcome edges, a wider cost range)."""
    qs = [f"kalo ruvo fresh logged question {i}" for i in range(6)]
    return pd.DataFrame({
        "query": qs, "task": r.state_.task_names[0], "model": model or r.state_.model_names[0],
        "agent": agent or "direct", "effect": [1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
        "cost": [0.5, 0.4, 0.6, 0.5, 0.45, 0.55],  # far above the logged costs: moves the normalisation
    })


# change name -> the change applied to a router (the same on the reference copy and on the live one)
CHANGES: dict[str, Callable[[gr.Router], object]] = {
    "observe": lambda r: r.observe(_new_runs(r)),
    "add_model": lambda r: r.add_model("newcomer", "a strong new model", price_in=0.05, price_out=0.1,
                                       runs=_new_runs(r).drop(columns=["model"])),
    "add_agent": lambda r: r.add_agent("reflect", "answer, critique, revise"),
    "remove_model": lambda r: r.remove_model(r.state_.model_names[-1]),
}


def check_no_torn_state(base: gr.Router, change: Callable[[gr.Router], object], n_threads: int,
                        calls_each_side: int) -> dict[str, int]:
    """Threads select while ``change`` is applied; every answer must be the before or the after answer.

    Returns counts of answers that matched the state before and after the change.
    """
    pool = query_pool(12)
    before_r, after_r = copy.deepcopy(base), copy.deepcopy(base)
    change(after_r)
    w = WEIGHTS[1]
    before = {q: answer(before_r, q, w) for q in pool}
    after = {q: answer(after_r, q, w) for q in pool}
    before_many = batch_answer(before_r, pool, w)
    after_many = batch_answer(after_r, pool, w)
    assert before != after  # the change is visible, so a mix would be caught

    live = copy.deepcopy(base)
    counts = [0] * n_threads
    stop = threading.Event()
    seen: list[list[tuple[str, object, object]]] = [[] for _ in range(n_threads)]

    def work(i: int) -> None:
        k = 0
        try:
            while not stop.is_set():
                if k % 8 == 7:
                    seen[i].append(("many", None, batch_answer(live, pool, w)))
                else:
                    q = pool[(i * 5 + k) % len(pool)]
                    seen[i].append(("one", q, answer(live, q, w)))
                k += 1
                counts[i] += 1
        except BaseException:
            stop.set()  # a failing thread ends the run instead of leaving the driver waiting for it
            raise

    def wait_until(ready: Callable[[], bool]) -> None:
        while not ready() and not stop.is_set():
            stop.wait(0.001)

    def driver() -> None:
        # let every thread run a while on the old state, change it, let them run on the new one
        wait_until(lambda: min(counts) >= calls_each_side)
        change(live)
        mark = list(counts)
        wait_until(lambda: min(c - m for c, m in zip(counts, mark)) >= calls_each_side)
        stop.set()

    errors = run_threads(n_threads + 1, lambda i: driver() if i == n_threads else work(i))
    assert errors == [], errors[:3]
    tally = {"before": 0, "after": 0}
    for rows in seen:
        for kind, q, ans in rows:
            b, a = (before[q], after[q]) if kind == "one" else (before_many, after_many)
            assert ans in (b, a), f"torn answer for {kind} {q!r}"
            tally["before" if ans == b else "after"] += 1
    assert tally["before"] > 0 and tally["after"] > 0
    assert {q: answer(live, q, w) for q in pool} == after  # and the live router ends in the after state
    return tally


@pytest.mark.parametrize("change", list(CHANGES))
def test_growth_while_selecting_never_tears(change: str, router: gr.Router) -> None:
    check_no_torn_state(router, CHANGES[change], n_threads=N_THREADS, calls_each_side=8)
