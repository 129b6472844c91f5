"""`BaseRouter`: the surface every router shares (the GNN router and every baseline).

A router learns to predict, for any query, the effect and cost of every candidate
(model, agent) pair. Everything else — choosing under a weighted objective with budgets and
allow-lists, many queries at once — is the same for all routers and lives here.

Subclasses implement ``fit`` and ``_predict_arrays``; ``__init__`` only stores its keyword
arguments (scikit-learn's rule), so any router can be cloned from ``get_params()``.
"""

from __future__ import annotations

import contextlib
import inspect
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from graphroute.data.text import strip_prefixes
from graphroute.embed import Embedder, default_cache_dir, get_embedder
from graphroute.errors import ConfigError, NotFittedError
from graphroute.selection import DEFAULT_EVIDENCE, Objective, Selection, cost_ranges, pick, rank_candidates
from graphroute.data.text import valid_unicode

__all__ = ["BaseRouter", "QueryEmbedding", "clone", "check_queries", "cost_ranges", "embed_cache_dir"]


def embed_cache_dir(cache_dir: str | Path | bool | None) -> str | Path | None:
    """A router's ``cache_dir`` parameter as the embedder's: None → the default cache
    (``graphroute.embed.default_cache_dir()``: $GRAPHROUTE_CACHE or ~/.cache/graphroute), False → no cache."""
    return None if cache_dir is False else (cache_dir or default_cache_dir())


def check_queries(queries: str | Sequence[str], tasks: str | Sequence[str | None] | None = None
                  ) -> tuple[list[str], list[str | None]]:
    """Validate the queries (non-empty strings) and align the optional tasks with them.

    Lone surrogates (invalid Unicode no UTF-8 consumer takes) are replaced by U+FFFD, so such a query
    still routes.
    """
    if isinstance(queries, str):
        queries = [queries]
    queries = list(queries)
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise ConfigError(f"Query {i} must be a string; got {type(q).__name__} ({q!r:.60}). "
                              "Fix: pass the query text as str (for several queries, a list of str).")
        if not q.strip():
            raise ConfigError(f"Query {i} is empty or whitespace ({q!r}); a router needs text to route on. "
                              "Fix: pass the non-empty query text, or skip this query.")
    queries = [valid_unicode(q) for q in queries]
    if tasks is None or isinstance(tasks, str):
        tasks = [tasks] * len(queries)
    tasks = list(tasks)
    if len(tasks) != len(queries):
        raise ConfigError(f"tasks has {len(tasks)} entries but there are {len(queries)} queries; "
                          "give one task per query, a single task for all, or None.")
    return queries, tasks


class QueryEmbedding:
    """How a router reads query text (the graph router and the text baselines alike).

    Needs the parameters ``embedder`` (a name or an Embedder) and ``cache_dir`` (see
    ``embed_cache_dir``), and ``prefixes_`` (the learned boilerplate prefixes, set at fit).
    """

    embedder: str | Embedder
    cache_dir: str | Path | bool | None
    prefixes_: list[str]

    def _embedder(self) -> Embedder:
        if not hasattr(self, "embedder_"):
            self.embedder_ = get_embedder(self.embedder, cache_dir=embed_cache_dir(self.cache_dir))
        return self.embedder_

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Query embeddings [Q, D] float32, after stripping the learned boilerplate prefixes."""
        stripped = [strip_prefixes(t, self.prefixes_) for t in texts]
        return np.asarray(self._embedder().encode(stripped), dtype=np.float32)


class BaseRouter(ABC):
    """Shared behaviour of routers; see the module docstring."""

    # ---- scikit-learn style parameters -------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self" and p.kind == p.KEYWORD_ONLY
                or p.kind == p.POSITIONAL_OR_KEYWORD and p.name != "self"]

    def get_params(self, deep: bool = True) -> dict:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> BaseRouter:
        valid = self._param_names()
        for k, v in params.items():
            if k not in valid:
                raise ConfigError(f"{type(self).__name__} has no parameter {k!r}; valid parameters are {valid}.")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if k in sig.parameters and sig.parameters[k].default is not v and sig.parameters[k].default != v]
        return f"{type(self).__name__}({', '.join(changed)})"

    # ---- what subclasses provide ---------------------------------------------------------------
    @abstractmethod
    def fit(self, logs, models=None, agents=None, tasks=None) -> BaseRouter:
        """Learn from logged runs; sets ``candidates_`` (DataFrame model, agent), ``cost_range_`` and returns self."""

    @abstractmethod
    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        """Predictions for queries × candidates_: 'effect', 'cost' (and 'latency_s') arrays [Q, P] and 'task' [Q]."""

    @property
    def has_latency(self) -> bool:
        return False

    def _check_fitted(self) -> None:
        if not hasattr(self, "candidates_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit(logs) first "
                                 "(or load a saved router with graphroute.load(path)).")

    def _snapshot(self) -> contextlib.AbstractContextManager:
        """Held around predict/select/select_many: a router whose state can change while it serves
        (the graph router grows from other threads) pins one state for the whole call."""
        return contextlib.nullcontext()

    def evidence(self, query: str, task: str | None = None, k: int = DEFAULT_EVIDENCE) -> pd.DataFrame:
        """Past queries that support a prediction; routers without a memory of queries return none."""
        return pd.DataFrame(columns=["query_id", "query", "similarity"])

    # ---- shared behaviour ----------------------------------------------------------------------
    def predict(self, queries: str | Sequence[str], tasks: str | Sequence[str | None] | None = None) -> pd.DataFrame:
        """One row per (query position, model, agent) with predicted effect and cost (and latency).

        Columns: query_index, query, task, model, agent, effect, cost (+ latency_s when the
        logs had latency). ``tasks`` (one per query, one for all, or None) names each query's task;
        None lets the router infer it where it can.
        """
        self._check_fitted()
        queries, tasks = check_queries(queries, tasks)
        with self._snapshot():
            return self._predict_frame(queries, tasks)

    def _predict_frame(self, queries: list[str], tasks: list[str | None]) -> pd.DataFrame:
        arr = self._predict_arrays(queries, tasks)
        n_q, n_p = len(queries), len(self.candidates_)
        frame = {
            "query_index": np.repeat(np.arange(n_q), n_p),
            "query": np.repeat(np.array(queries, dtype=object), n_p),
            "task": np.repeat(np.asarray(arr["task"], dtype=object), n_p),
            "model": np.tile(self.candidates_["model"].to_numpy(object), n_q),
            "agent": np.tile(self.candidates_["agent"].to_numpy(object), n_q),
            "effect": np.asarray(arr["effect"], dtype=float).reshape(-1),
            "cost": np.asarray(arr["cost"], dtype=float).reshape(-1),
        }
        if "latency_s" in arr:
            frame["latency_s"] = np.asarray(arr["latency_s"], dtype=float).reshape(-1)
        return pd.DataFrame(frame)

    def _objective(self, kw: dict) -> Objective:
        obj = Objective(**kw)
        return obj.checked(sorted(self.candidates_["model"].unique()), sorted(self.candidates_["agent"].unique()),
                           self.has_latency)

    def select(self, query: str, task: str | None = None, *, weights=None, cost_unit: str = "normalized",
               budget: float | None = None, max_latency: float | None = None, min_effect: float | None = None,
               allowed_models=None, allowed_agents=None, forbidden_models=None, forbidden_agents=None,
               fallback: str | None = None, evidence: int = DEFAULT_EVIDENCE) -> Selection:
        """Choose the (model, agent) that maximises the weighted objective under the constraints.

        weights: {'effect': w_e, 'cost': w_c, 'latency': w_l} (or (w_e, w_c)); budget in USD per call;
        allowed_*/forbidden_*: names; fallback: None (raise InfeasibleError when nothing is
        feasible), 'cheapest' or 'best_effect'. Returns a Selection with ranked alternatives and the
        ``evidence`` nearest past queries.
        """
        self._check_fitted()
        if not isinstance(query, str):
            raise ConfigError(f"select() takes one query string; got {type(query).__name__}. "
                              "Use select_many() for a list of queries.")
        with self._snapshot():
            return self._select(query, task, evidence, dict(
                weights=weights, cost_unit=cost_unit, budget=budget, max_latency=max_latency,
                min_effect=min_effect, allowed_models=allowed_models, allowed_agents=allowed_agents,
                forbidden_models=forbidden_models, forbidden_agents=forbidden_agents, fallback=fallback))

    def _select(self, query: str, task: str | None, evidence: int, objective: dict) -> Selection:
        obj = self._objective(objective)
        ranked = rank_candidates(self.predict([query], [task]), obj, self.cost_range_)
        row, used_fallback = pick(ranked, obj)
        lat = float(row["latency_s"]) if "latency_s" in ranked else None
        ev = self.evidence(query, task, k=evidence) if evidence else pd.DataFrame()
        return Selection(query=query, task=str(row["task"]), model=str(row["model"]), agent=str(row["agent"]),
                         effect=float(row["effect"]), cost=float(row["cost"]), score=float(row["score"]),
                         latency_s=lat, fallback=used_fallback,
                         alternatives=ranked.drop(columns=["query_index", "query"]), evidence=ev)

    def select_many(self, queries: Sequence[str], tasks=None, *, weights=None, cost_unit: str = "normalized",
                    budget: float | None = None, max_latency: float | None = None, min_effect: float | None = None,
                    allowed_models=None, allowed_agents=None, forbidden_models=None, forbidden_agents=None,
                    fallback: str | None = None) -> pd.DataFrame:
        """Vectorised ``select``: one row per query with the choice and its predictions.

        Columns: query_index, query, task, model, agent, effect, cost, (latency_s,) score, fallback.
        A query with no feasible candidate raises InfeasibleError naming it, unless a fallback is set.
        """
        self._check_fitted()
        with self._snapshot():
            return self._select_many(queries, tasks, dict(
                weights=weights, cost_unit=cost_unit, budget=budget, max_latency=max_latency,
                min_effect=min_effect, allowed_models=allowed_models, allowed_agents=allowed_agents,
                forbidden_models=forbidden_models, forbidden_agents=forbidden_agents, fallback=fallback))

    def _select_many(self, queries: Sequence[str], tasks, objective: dict) -> pd.DataFrame:
        obj = self._objective(objective)
        ranked = rank_candidates(self.predict(queries, tasks), obj, self.cost_range_)
        first = ranked.groupby("query_index", sort=True).head(1)
        bad = first[~first["feasible"]]
        if len(bad) and obj.fallback is None:
            pick(ranked[ranked["query_index"] == bad["query_index"].iloc[0]], obj)  # raises with the details
        rows = []
        for qi, grp in ranked[ranked["query_index"].isin(bad["query_index"])].groupby("query_index"):
            row, _ = pick(grp, obj)
            rows.append(row)
        out = first[first["feasible"]]
        if rows:
            out = pd.concat([out, pd.DataFrame(rows)]).sort_values("query_index", kind="mergesort")
        out = out.assign(fallback=~out["feasible"]).drop(columns=["feasible", "cost_term"])
        return out.reset_index(drop=True)


def clone(router: BaseRouter) -> BaseRouter:
    """An unfitted router with the same parameters."""
    return type(router)(**router.get_params())
