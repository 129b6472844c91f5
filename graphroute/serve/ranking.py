"""Rank every candidate of many queries at once from one prediction of the router.

``Router.select`` returns the ranked alternatives of one query; ``select_many`` ranks many but keeps
only the choice. A micro-batch needs both (every response carries its ranked alternatives), so this
module runs the library's ranking kernel (``graphroute.selection.rank_arrays``: score = w_effect·effect −
w_cost·cost_term − w_latency·latency_s; cost_term is the predicted cost min–max normalised by the
task's logged cost range, or USD) on the [Q, P] predictions of one ``_predict_arrays`` call and orders them
as ``select`` does (ties toward lower cost, then the model and agent names). ``tests/test_serve_units.py`` checks it against
``Router.select`` on every objective it supports. The objective is validated by the library first
(``validate``); queries with no feasible candidate go back to ``Router.select``, whose
InfeasibleError (or declared fallback) is the answer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from graphroute.routers.base import check_queries
from graphroute.selection import rank_arrays, task_bounds

__all__ = ["Ranked", "rank_batch", "objective_kwargs"]

_SELECT_KEYS = ("weights", "cost_unit", "budget", "max_latency", "min_effect", "allowed_models", "allowed_agents",
                "forbidden_models", "forbidden_agents", "fallback")


def objective_kwargs(objective: dict) -> dict:
    """The keyword arguments of ``Router.select`` / ``select_many`` for a request's objective."""
    return {k: objective[k] for k in _SELECT_KEYS if objective.get(k) is not None}


@dataclass
class Ranked:
    """Candidates of Q queries, best first per query: index arrays into the candidate columns."""

    order: np.ndarray  # [Q, P] candidate index by rank
    task: np.ndarray  # [Q] object: the task each query was routed under
    effect: np.ndarray  # [Q, P] by candidate
    cost: np.ndarray
    latency: np.ndarray | None
    score: np.ndarray
    feasible: np.ndarray  # [Q, P] bool
    models: np.ndarray  # [P] object
    agents: np.ndarray  # [P] object

    def row(self, q: int, p: int) -> dict:
        lat = None if self.latency is None else float(self.latency[q, p])
        return {"model": str(self.models[p]), "agent": str(self.agents[p]), "effect": float(self.effect[q, p]),
                "cost": float(self.cost[q, p]), "latency_s": lat, "score": float(self.score[q, p]),
                "feasible": bool(self.feasible[q, p])}

    def alternatives(self, q: int) -> list[dict]:
        return [self.row(q, int(p)) for p in self.order[q]]


def rank_batch(router, queries: list[str], tasks: list[str | None], objective: dict) -> Ranked:
    """Predict once for ``queries`` and rank every candidate of each under ``objective`` (validated), with
    the library's one ranking kernel (``selection.rank_arrays``) and per-task cost scale (``task_bounds``)."""
    router._check_fitted()
    queries, tasks = check_queries(queries, tasks)
    with router._snapshot():  # predictions, candidates and cost scale from one published state
        arr = router._predict_arrays(queries, tasks)  # [Q, P] arrays: no per-row frame to build and reshape
        cands, cost_range = router.candidates_, router.cost_range_
        obj = router._objective(objective_kwargs(objective))  # validated against this router's candidates
    models, agents = cands["model"].to_numpy(object), cands["agent"].to_numpy(object)
    effect = np.asarray(arr["effect"], dtype=float)
    cost = np.asarray(arr["cost"], dtype=float)
    latency = np.asarray(arr["latency_s"], dtype=float) if "latency_s" in arr else None
    task = np.asarray(arr["task"], dtype=object)
    n_q, n_p = effect.shape
    lo, hi = task_bounds(cost_range, task)
    _, score, ok = rank_arrays(obj, lo[:, None], hi[:, None], effect, cost, latency, models, agents)
    rank_m = _name_rank(models)
    rank_a = _name_rank(agents)
    order = np.empty((n_q, n_p), dtype=np.int64)
    for q in range(n_q):  # (feasible, score) descending, then cost, model, agent ascending
        order[q] = np.lexsort((rank_a, rank_m, cost[q], -score[q], ~ok[q]))
    return Ranked(order=order, task=task, effect=effect, cost=cost, latency=latency, score=score, feasible=ok,
                  models=models, agents=agents)


def _name_rank(names: np.ndarray) -> np.ndarray:
    """Each name's position in sorted order (so ties break by name, never by row order)."""
    uniq = sorted(set(names.tolist()))
    pos = {n: i for i, n in enumerate(uniq)}
    return np.array([pos[n] for n in names], dtype=np.int64)
