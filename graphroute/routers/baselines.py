"""Baseline routers: the yardsticks the graph router is measured against, side by side in one bench.

Every baseline is a `BaseRouter`: ``__init__`` only stores keyword arguments, ``fit(logs)``
returns ``self``, and ``predict`` gives an effect in [0, 1] and a cost >= 0 for every candidate
(model, agent) pair. The shared ``select`` / ``select_many`` then turn those predictions into a
choice for any weights, budget or allow-list, exactly as for the graph router, so a difference in
the bench is a difference in predictions, never in selection code.

Candidates are the (model, agent) pairs logged at least once, in name order; a baseline has no
way to predict a pair it never saw (the graph router does, from the pair's cards).

- ``RandomRouter``: seeded random effects (the same text always gets the same scores).
- ``OracleRouter``: the true outcomes of the queries it was fitted on (an upper bound: fit it on
  the test table).
- ``BestSingleRouter``, ``CheapestRouter``, ``PerTaskBestRouter``: per-pair means, overall or per
  task; with the shared selector they reproduce "always the best model", "always the cheapest",
  "the best model of each task".
- ``KNNRouter``: similarity-weighted outcomes of the nearest training queries.
- ``MLPRouter``: an MLP from the query embedding to every pair's effect and log cost.
- ``MFRouter``: RouteLLM's matrix factorisation, score(q, p) = w^T (v_p ⊙ W q) + b_p.
- ``GraphRouterBaseline``: a re-implementation of GraphRouter (Feng et al., ICLR 2025): one model
  per scenario that scores (query, LLM) edges; see its docstring for how to select with it.

``BASELINES`` maps a short name to each class; ``make_router(name, **params)`` builds one.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GeneralConv

from graphroute.routers.base import BaseRouter, cost_ranges
from graphroute.data.catalog import Catalog
from graphroute.embed import Embedder, get_embedder
from graphroute.errors import ConfigError
from graphroute.data.logs import aggregate_runs, validate_logs
from graphroute.selection import SCENARIOS
from graphroute.routers.gnn import DEFAULT_CACHE
from graphroute.selection import parse_weights
from graphroute.data.text import learn_prefixes, strip_prefixes

__all__ = [
    "ALL_TASKS",
    "RandomRouter",
    "OracleRouter",
    "BestSingleRouter",
    "CheapestRouter",
    "PerTaskBestRouter",
    "KNNRouter",
    "MLPRouter",
    "MFRouter",
    "GraphRouterBaseline",
    "GraphRouterNet",
    "BASELINES",
    "make_router",
]

ALL_TASKS = "*"  # task reported for a query whose task is unknown: cost_ranges' key for "all tasks"
TASK_VOTERS = 10  # neighbours that vote for the task of a query given without one
NEIGHBOR_BLOCK = 1024  # queries per block when computing similarities (bounds memory at [block, N])


# ---------------------------------------------------------------------------------------------
# parameter checks (fit-time, scikit-learn style)
# ---------------------------------------------------------------------------------------------
def _check_int(owner: str, name: str, value, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ConfigError(f"{owner} parameter {name} must be an integer >= {lo}; got {value!r}.")


def _check_number(owner: str, name: str, value, lo: float, hi: float = math.inf, *,
                  open_lo: bool = False, open_hi: bool = False) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if open_lo else value >= lo) and (value < hi if open_hi else value <= hi)
    if not ok:
        left, right = "(" if open_lo else "[", ")" if open_hi else "]"
        raise ConfigError(f"{owner} parameter {name} must be a number in {left}{lo:g}, {hi:g}{right}; got {value!r}.")


def _check_seed(owner: str, seed) -> None:
    _check_int(owner, "seed", seed, 0)


# ---------------------------------------------------------------------------------------------
# the logs as dense arrays
# ---------------------------------------------------------------------------------------------
def _masked_mean(values: np.ndarray, mask: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean of ``values`` where ``mask``, count) along ``axis``; the mean is NaN where the count is 0."""
    cnt = mask.sum(axis)
    total = np.where(mask, values, 0.0).sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan), cnt


@dataclass
class _Table:
    """Aggregated logs as queries × candidate pairs, NaN where a pair was not run on a query.

    Shapes: N training queries (sorted by query_id, so row order in the logs never matters),
    P candidate pairs (sorted by model then agent name), T tasks (sorted).
    """

    query_ids: list[str]  # [N]
    texts: list[str]  # [N]
    task_names: list[str]  # [T]
    query_task: np.ndarray  # [N] index into task_names
    candidates: pd.DataFrame  # [P] columns model, agent
    effect: np.ndarray  # [N, P]
    cost: np.ndarray  # [N, P] in the logs' unit (USD)
    cost_range: dict[str, tuple[float, float]]  # per task and '*': (min, max) of logged cost
    logs: pd.DataFrame  # the validated logs (for cards)

    @classmethod
    def build(cls, logs) -> _Table:
        valid = validate_logs(logs)
        agg = aggregate_runs(valid)
        queries = (agg.drop_duplicates("query_id")[["query_id", "query", "task"]]
                   .assign(_key=lambda d: d["query_id"].astype(str))
                   .sort_values("_key", kind="mergesort").reset_index(drop=True))
        pairs = (agg[["model", "agent"]].drop_duplicates().sort_values(["model", "agent"], kind="mergesort")
                 .reset_index(drop=True))
        task_names = sorted(queries["task"].astype(str).unique())
        t_ix = {t: i for i, t in enumerate(task_names)}
        qi = pd.Index(queries["query_id"]).get_indexer(agg["query_id"])
        pi = pd.MultiIndex.from_frame(pairs).get_indexer(pd.MultiIndex.from_frame(agg[["model", "agent"]]))
        shape = (len(queries), len(pairs))
        effect, cost = np.full(shape, np.nan), np.full(shape, np.nan)
        effect[qi, pi] = agg["effect"].to_numpy(float)
        cost[qi, pi] = agg["cost"].to_numpy(float)
        return cls(query_ids=[str(q) for q in queries["query_id"]], texts=list(queries["query"]),
                   task_names=task_names,
                   query_task=np.array([t_ix[str(t)] for t in queries["task"]], dtype=np.int64),
                   candidates=pairs.astype({"model": str, "agent": str}),
                   effect=effect, cost=cost, cost_range=cost_ranges(agg), logs=valid)

    @property
    def logged(self) -> np.ndarray:
        return ~np.isnan(self.effect)  # [N, P]

    def pair_means(self, values: np.ndarray) -> np.ndarray:
        """Mean of ``values`` [N, P] per pair over the queries that ran it [P]."""
        return _masked_mean(values, self.logged, 0)[0]

    def task_means(self, values: np.ndarray) -> np.ndarray:
        """Mean per (task, pair) [T, P], the pair's overall mean where it never ran on the task."""
        overall = self.pair_means(values)
        out = np.empty((len(self.task_names), values.shape[1]))
        for t in range(len(self.task_names)):
            rows = self.query_task == t
            mean, _ = _masked_mean(values[rows], self.logged[rows], 0)
            out[t] = np.where(np.isnan(mean), overall, mean)
        return out

    def text_task(self) -> dict[str, int]:
        """Task index of each training text (the first query_id's, when a text repeats)."""
        out: dict[str, int] = {}
        for text, t in zip(self.texts, self.query_task.tolist()):
            out.setdefault(text, t)
        return out


def _per_task(task_values: np.ndarray, overall: np.ndarray, task_idx: np.ndarray) -> np.ndarray:
    """Rows of ``task_values`` [T, P] for each query's task [Q], ``overall`` [P] where it is -1 -> [Q, P]."""
    out = np.broadcast_to(overall, (len(task_idx), overall.shape[0])).copy()
    known = task_idx >= 0
    out[known] = task_values[task_idx[known]]
    return out


# ---------------------------------------------------------------------------------------------
# shared behaviour of the baselines
# ---------------------------------------------------------------------------------------------
class _TableRouter(BaseRouter):
    """A baseline fitted on the dense outcome table; subclasses add what they learn from it."""

    def _fit_table(self, logs) -> _Table:
        table = _Table.build(logs)
        self.table_ = table
        self.candidates_ = table.candidates
        self.cost_range_ = table.cost_range
        self.text_task_ = table.text_task()
        self.pair_effect_ = table.pair_means(table.effect)  # [P]
        self.pair_cost_ = table.pair_means(table.cost)  # [P]
        self.task_effect_ = table.task_means(table.effect)  # [T, P]
        self.task_cost_ = table.task_means(table.cost)  # [T, P]
        return table

    def _resolve_tasks(self, queries: list[str], tasks: list[str | None],
                       inferred: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Task name [Q] (object) and index [Q] (-1: not a training task) of each query.

        A given task is kept, known or not (an unknown one uses the all-task statistics). A
        missing one is the task of the same text in the training logs, else ``inferred`` (a task
        index per query, from similar queries), else ALL_TASKS.
        """
        names = self.table_.task_names
        known = {t: i for i, t in enumerate(names)}
        out_names, out_idx = [], []
        for i, (q, t) in enumerate(zip(queries, tasks)):
            if t is None:
                ti = self.text_task_.get(q, -1)
                if ti < 0 and inferred is not None:
                    ti = int(inferred[i])
                out_names.append(names[ti] if ti >= 0 else ALL_TASKS)
                out_idx.append(ti)
            elif not isinstance(t, str):
                raise ConfigError(f"The task of query {i} must be a string or None; got {type(t).__name__} ({t!r}).")
            else:
                out_names.append(t)
                out_idx.append(known.get(t, -1))
        return np.array(out_names, dtype=object), np.array(out_idx, dtype=np.int64)

    def _task_cost(self, task_idx: np.ndarray) -> np.ndarray:
        """The pair's mean logged cost on each query's task (overall where the task is unknown) [Q, P]."""
        return _per_task(self.task_cost_, self.pair_cost_, task_idx)


class _TextRouter(_TableRouter):
    """A baseline that reads query text through an embedder (same text handling as the graph router)."""

    embedder: str | Embedder
    strip_boilerplate: bool
    cache_dir: str | Path | bool | None

    def _embedder(self) -> Embedder:
        if not hasattr(self, "embedder_"):
            cache = None if self.cache_dir is False else (self.cache_dir or DEFAULT_CACHE)
            self.embedder_ = get_embedder(self.embedder, cache_dir=cache)
        return self.embedder_

    def _embed(self, texts: list[str]) -> np.ndarray:
        stripped = [strip_prefixes(t, self.prefixes_) for t in texts]
        return np.asarray(self._embedder().encode(stripped), dtype=np.float32)  # [n, D]

    def _fit_text(self, table: _Table) -> np.ndarray:
        """Embed the training queries (learning boilerplate prefixes first); returns [N, D]."""
        if hasattr(self, "embedder_") and not isinstance(self.embedder, Embedder):
            del self.embedder_  # the embedder parameter may have changed since the last fit
        groups = pd.Series(table.texts).groupby(table.query_task).apply(list)
        self.prefixes_ = learn_prefixes(groups) if self.strip_boilerplate else []
        self.train_x_ = self._embed(table.texts)
        return self.train_x_

    def _neighbors(self, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k most similar training queries of each row of x [Q, D]: (index, cosine) [Q, k']."""
        keys = self.train_x_
        kk = min(k, keys.shape[0])
        idx = np.zeros((x.shape[0], kk), dtype=np.int64)
        sim = np.zeros((x.shape[0], kk), dtype=np.float32)
        for s in range(0, x.shape[0], NEIGHBOR_BLOCK):
            sims = x[s:s + NEIGHBOR_BLOCK] @ keys.T  # [B, N]
            order = np.argsort(-sims, axis=1, kind="stable")[:, :kk]  # ties: the lower index
            idx[s:s + NEIGHBOR_BLOCK] = order
            sim[s:s + NEIGHBOR_BLOCK] = np.take_along_axis(sims, order, axis=1)
        return idx, sim

    def _vote_tasks(self, idx: np.ndarray, sim: np.ndarray) -> np.ndarray:
        """Task index [Q] that the neighbours vote for, weighted by their (non-negative) similarity."""
        n_t = len(self.table_.task_names)
        w = np.maximum(sim[:, :TASK_VOTERS], 0.0) + 1e-6
        votes = np.zeros((idx.shape[0], n_t))
        np.add.at(votes, (np.repeat(np.arange(idx.shape[0]), w.shape[1]),
                          self.table_.query_task[idx[:, :TASK_VOTERS]].ravel()), w.ravel())
        return votes.argmax(1)

    def evidence(self, query: str, task: str | None = None, k: int = 5) -> pd.DataFrame:
        """The k training queries most similar to ``query``."""
        self._check_fitted()
        idx, sim = self._neighbors(self._embed([query]), k)
        t = self.table_
        return pd.DataFrame({"rank": np.arange(idx.shape[1]), "query_id": [t.query_ids[i] for i in idx[0]],
                             "query": [t.texts[i] for i in idx[0]],
                             "task": [t.task_names[t.query_task[i]] for i in idx[0]],
                             "similarity": sim[0].astype(float)})


def _validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) row indices; no validation when it would hold no query or < 10 in all."""
    n_val = int(round(n * fraction))
    if n < 10 or n_val < 1:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def _train_minibatch(net: nn.Module, loss_fn: Callable[[Tensor], Tensor], train_idx: np.ndarray,
                     val_idx: np.ndarray, *, epochs: int, lr: float, weight_decay: float, patience: int,
                     batch_size: int, seed: int) -> list[dict]:
    """AdamW over shuffled mini-batches of query rows, early stopping on the validation loss.

    ``loss_fn(rows)`` returns the loss of the given query rows. The best validation state is
    restored at the end (the last one when there is no validation set).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    tr, va = torch.as_tensor(train_idx), torch.as_tensor(val_idx)
    best, best_state, since, hist = math.inf, None, 0, []
    for epoch in range(epochs):
        net.train()
        perm = tr[torch.randperm(len(tr), generator=gen)]
        total = 0.0
        for s in range(0, len(perm), batch_size):
            loss = loss_fn(perm[s:s + batch_size])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(perm[s:s + batch_size])
        rec = {"epoch": epoch, "train_loss": total / max(len(perm), 1)}
        if len(va):
            net.eval()
            with torch.no_grad():
                v = float(loss_fn(va))
            rec["val_loss"] = v
            if v < best - 1e-6:
                best, since, best_state = v, 0, copy.deepcopy(net.state_dict())
            else:
                since += 1
        hist.append(rec)
        if since >= patience:
            break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return hist


# ---------------------------------------------------------------------------------------------
# baselines without text understanding
# ---------------------------------------------------------------------------------------------
class RandomRouter(_TableRouter):
    """Random routing: each query gets random effect scores; cost is the pair's mean logged cost.

    Scores are drawn from a generator seeded with (seed, hash of the query text), so the same
    text always gets the same scores, whatever else is in the batch. Selecting at weights
    (1, 0) picks a uniformly random pair; with a cost weight it leans to cheap pairs.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, logs, models=None, agents=None, tasks=None) -> RandomRouter:
        """Learn the pairs and their mean costs (cards are not used)."""
        _check_seed("RandomRouter", self.seed)
        self._fit_table(logs)
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        names, idx = self._resolve_tasks(queries, tasks)
        n_p = len(self.candidates_)
        effect = np.empty((len(queries), n_p))  # [Q, P]
        for i, q in enumerate(queries):
            digest = int.from_bytes(hashlib.sha256(q.encode("utf-8")).digest()[:8], "little")
            effect[i] = np.random.default_rng([int(self.seed), digest]).random(n_p)
        return {"task": names, "effect": effect, "cost": self._task_cost(idx)}


class OracleRouter(_TableRouter):
    """The true outcomes of the queries it was fitted on: the upper bound of any router.

    Fit it on the test table; predicting a query whose text it was not fitted on raises
    ConfigError. A pair never run on a query is predicted effect 0 and a cost just above the
    task's highest logged cost, so it is never chosen ahead of a logged pair (whatever the
    weights). With the shared selector at a scenario's weights it reproduces
    ``metrics.oracle_choices`` (same cost normalisation, same tie-breaking).
    """

    def __init__(self) -> None:
        pass

    def fit(self, logs, models=None, agents=None, tasks=None) -> OracleRouter:
        """Memorise every (query text, pair) outcome; repeated texts are averaged."""
        t = self._fit_table(logs)
        rows: dict[str, list[int]] = {}
        for i, text in enumerate(t.texts):
            rows.setdefault(text, []).append(i)
        self.memory_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for text, r in rows.items():
            e, _ = _masked_mean(t.effect[r], t.logged[r], 0)
            c, _ = _masked_mean(t.cost[r], t.logged[r], 0)
            self.memory_[text] = (e, c)  # [P] each, NaN where never run
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        unseen = [q for q in queries if q not in self.memory_]
        if unseen:
            raise ConfigError(f"The OracleRouter was not fitted on {len(unseen)} of these queries (e.g. "
                              f"{unseen[0][:80]!r}); it only knows the outcomes of the queries it was fitted on. "
                              "Fit it on the table you evaluate (the test split), or route only its queries.")
        names, idx = self._resolve_tasks(queries, tasks)
        effect = np.stack([self.memory_[q][0] for q in queries])  # [Q, P]
        cost = np.stack([self.memory_[q][1] for q in queries])
        missing = np.isnan(effect)
        if missing.any():
            lo_hi = [self.cost_range_.get(str(n), self.cost_range_[ALL_TASKS]) for n in names]
            worst = np.array([hi + 0.01 * (hi - lo) + 1e-9 for lo, hi in lo_hi])  # [Q]
            effect = np.where(missing, 0.0, effect)
            cost = np.where(missing, worst[:, None], cost)
        return {"task": names, "effect": effect, "cost": cost}


class BestSingleRouter(_TableRouter):
    """Always the best model: every query gets each pair's overall mean effect and cost.

    Predictions are identical for every query, so the selector always picks the same pair for
    given weights (at (1, 0): the pair with the highest mean effect in the logs).
    """

    def __init__(self) -> None:
        pass

    def fit(self, logs, models=None, agents=None, tasks=None) -> BestSingleRouter:
        """Learn each pair's mean effect and cost over all its logged runs."""
        self._fit_table(logs)
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        names, _ = self._resolve_tasks(queries, tasks)
        q = len(queries)
        return {"task": names, "effect": np.tile(self.pair_effect_, (q, 1)), "cost": np.tile(self.pair_cost_, (q, 1))}


class CheapestRouter(_TableRouter):
    """Always the cheapest pair: one effect for all pairs (the logs' mean), each pair's mean cost per task.

    With equal effects only cost tells pairs apart, and the selector breaks score ties toward
    the lower cost, so any weights pick the cheapest pair of the query's task.
    """

    def __init__(self) -> None:
        pass

    def fit(self, logs, models=None, agents=None, tasks=None) -> CheapestRouter:
        """Learn the pairs' mean costs per task and the mean effect of all runs."""
        t = self._fit_table(logs)
        self.mean_effect_ = float(np.nanmean(t.effect))
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        names, idx = self._resolve_tasks(queries, tasks)
        effect = np.full((len(queries), len(self.candidates_)), self.mean_effect_)
        return {"task": names, "effect": effect, "cost": self._task_cost(idx)}


class PerTaskBestRouter(_TableRouter):
    """The best pair of each task: each pair's mean effect and cost on the query's task.

    A task it never saw (or a query without a task it can look up) gets the overall means.
    """

    def __init__(self) -> None:
        pass

    def fit(self, logs, models=None, agents=None, tasks=None) -> PerTaskBestRouter:
        """Learn each pair's mean effect and cost per task."""
        self._fit_table(logs)
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        names, idx = self._resolve_tasks(queries, tasks)
        return {"task": names, "effect": _per_task(self.task_effect_, self.pair_effect_, idx),
                "cost": self._task_cost(idx)}


# ---------------------------------------------------------------------------------------------
# kNN
# ---------------------------------------------------------------------------------------------
class KNNRouter(_TextRouter):
    """k nearest training queries by embedding; each pair's effect and cost is their weighted mean.

    Weights are the cosine similarities (negative ones count 0). A pair that none of the
    neighbours ran falls back to the pair's mean on the query's task (overall when unknown).

    Parameters: k: neighbours.  embedder: name or Embedder.  strip_boilerplate: strip learned
    per-task prompt prefixes before embedding (as the graph router does).  cache_dir: embedding
    cache (None: the default cache; False: none).
    """

    def __init__(self, *, k: int = 10, embedder: str | Embedder = "minilm", strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None) -> None:
        self.k = k
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir

    def fit(self, logs, models=None, agents=None, tasks=None) -> KNNRouter:
        """Embed the training queries and keep their outcomes."""
        _check_int("KNNRouter", "k", self.k, 1)
        self._fit_text(self._fit_table(logs))
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        t = self.table_
        idx, sim = self._neighbors(self._embed(queries), max(self.k, TASK_VOTERS))
        names, t_idx = self._resolve_tasks(queries, tasks, self._vote_tasks(idx, sim))
        idx, sim = idx[:, :self.k], sim[:, :self.k]
        w = np.maximum(sim, 0.0).astype(float)  # [Q, K]
        w[w.sum(1) <= 0] = 1.0  # all neighbours dissimilar: plain mean
        ran = t.logged[idx]  # [Q, K, P]
        mass = (w[..., None] * ran).sum(1)  # [Q, P]
        out = {}
        for key, values, fallback in (("effect", t.effect, _per_task(self.task_effect_, self.pair_effect_, t_idx)),
                                      ("cost", t.cost, self._task_cost(t_idx))):
            num = (w[..., None] * np.where(ran, values[idx], 0.0)).sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[key] = np.where(mass > 0, num / np.maximum(mass, 1e-300), fallback)
        return {"task": names, "effect": np.clip(out["effect"], 0.0, 1.0), "cost": np.maximum(out["cost"], 0.0)}


# ---------------------------------------------------------------------------------------------
# MLP
# ---------------------------------------------------------------------------------------------
class _CostScale:
    """log(cost + eps), standardised: the regression target of learned cost heads."""

    def __init__(self, cost: np.ndarray) -> None:
        logged = cost[~np.isnan(cost)]
        pos = logged[logged > 0]
        self.eps = float(pos.min() * 0.1) if pos.size else 1e-6
        lc = np.log(logged + self.eps)
        self.loc = float(lc.mean())
        self.scale = float(max(lc.std(), 1e-3)) if lc.size > 1 else 1.0

    def to_z(self, cost: np.ndarray) -> np.ndarray:
        return (np.log(cost + self.eps) - self.loc) / self.scale

    def from_z(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(np.exp(z * self.scale + self.loc) - self.eps, 0.0)


class MLPRouter(_TextRouter):
    """An MLP from the query embedding to every pair's effect (sigmoid) and log cost.

    Trained on logged pairs only (masked BCE for effect, MSE for standardised log cost), with
    mini-batches, AdamW and early stopping on a seeded validation share of the queries.

    Parameters: hidden: width of the two hidden layers.  epochs, lr, weight_decay, dropout,
    batch_size, patience (epochs without validation improvement), validation_fraction.
    embedder, strip_boilerplate, cache_dir: as for KNNRouter.  seed: every random choice.
    """

    def __init__(self, *, hidden: int = 128, epochs: int = 200, lr: float = 1e-3, weight_decay: float = 1e-4,
                 dropout: float = 0.1, batch_size: int = 256, patience: int = 20, validation_fraction: float = 0.1,
                 embedder: str | Embedder = "minilm", strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None, seed: int = 0) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir
        self.seed = seed

    def _check_params(self) -> None:
        for name in ("hidden", "epochs", "batch_size", "patience"):
            _check_int("MLPRouter", name, getattr(self, name), 1)
        _check_number("MLPRouter", "lr", self.lr, 0.0, open_lo=True)
        _check_number("MLPRouter", "weight_decay", self.weight_decay, 0.0)
        _check_number("MLPRouter", "dropout", self.dropout, 0.0, 1.0, open_hi=True)
        _check_number("MLPRouter", "validation_fraction", self.validation_fraction, 0.0, 0.9)
        _check_seed("MLPRouter", self.seed)

    def fit(self, logs, models=None, agents=None, tasks=None) -> MLPRouter:
        """Embed the training queries and train the MLP (cards are not used)."""
        self._check_params()
        t = self._fit_table(logs)
        x = torch.as_tensor(self._fit_text(t))  # [N, D]
        torch.manual_seed(self.seed)
        n_p = len(self.candidates_)
        self.cost_scale_ = _CostScale(t.cost)
        mask = torch.as_tensor(t.logged)  # [N, P]
        eff = torch.as_tensor(np.nan_to_num(t.effect), dtype=torch.float32)
        cz = torch.as_tensor(np.nan_to_num(self.cost_scale_.to_z(np.nan_to_num(t.cost))), dtype=torch.float32)
        self.net_ = nn.Sequential(
            nn.Linear(x.shape[1], self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, 2 * n_p),  # effect logits and cost z of every pair
        )

        def loss_fn(rows: Tensor) -> Tensor:
            out = self.net_(x[rows])  # [B, 2P]
            m = mask[rows]
            return (F.binary_cross_entropy_with_logits(out[:, :n_p][m], eff[rows][m])
                    + F.mse_loss(out[:, n_p:][m], cz[rows][m]))

        tr, va = _validation_split(len(t.query_ids), self.validation_fraction, self.seed)
        self.history_ = _train_minibatch(self.net_, loss_fn, tr, va, epochs=self.epochs, lr=self.lr,
                                         weight_decay=self.weight_decay, patience=self.patience,
                                         batch_size=self.batch_size, seed=self.seed)
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        x = self._embed(queries)
        names, _ = self._resolve_tasks(queries, tasks, self._vote_tasks(*self._neighbors(x, TASK_VOTERS)))
        n_p = len(self.candidates_)
        with torch.no_grad():
            out = self.net_(torch.as_tensor(x)).numpy().astype(float)  # [Q, 2P]
        effect = 1.0 / (1.0 + np.exp(-out[:, :n_p]))
        return {"task": names, "effect": effect, "cost": self.cost_scale_.from_z(out[:, n_p:])}


# ---------------------------------------------------------------------------------------------
# matrix factorisation (RouteLLM)
# ---------------------------------------------------------------------------------------------
class _MFNet(nn.Module):
    """score(q, p) = w^T (normalise(v_p) ⊙ W x_q) + b_p, as in RouteLLM's MF router (plus a pair bias)."""

    def __init__(self, n_pairs: int, text_dim: int, dim: int) -> None:
        super().__init__()
        self.pair = nn.Embedding(n_pairs, dim)  # v_p
        self.proj = nn.Linear(text_dim, dim, bias=False)  # W
        self.out = nn.Linear(dim, 1, bias=False)  # w
        self.bias = nn.Parameter(torch.zeros(n_pairs))  # b_p

    def forward(self, x: Tensor) -> Tensor:
        # x [Q, D] -> logits [Q, P]
        v = F.normalize(self.pair.weight, dim=-1)  # [P, dim]
        z = self.proj(x)  # [Q, dim]
        return self.out(z[:, None, :] * v[None, :, :]).squeeze(-1) + self.bias


class MFRouter(_TextRouter):
    """Matrix factorisation (RouteLLM's MF idea) from query embeddings to each pair's effect.

    score(q, p) = w^T (v_p ⊙ (W q_emb)) + b_p with a learned vector v_p per pair (v_p unit-length
    as in RouteLLM; the per-pair bias b_p carries the pair's base rate). Trained with BCE on the
    logged effects only; cost is the pair's mean logged cost on the query's task. A learned
    vector per pair means a new model needs retraining, which is what the graph router avoids.

    Parameters: dim: factor size.  epochs, lr, weight_decay, batch_size, patience,
    validation_fraction, embedder, strip_boilerplate, cache_dir, seed: as for MLPRouter.
    """

    def __init__(self, *, dim: int = 64, epochs: int = 200, lr: float = 3e-3, weight_decay: float = 1e-4,
                 batch_size: int = 256, patience: int = 20, validation_fraction: float = 0.1,
                 embedder: str | Embedder = "minilm", strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None, seed: int = 0) -> None:
        self.dim = dim
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir
        self.seed = seed

    def _check_params(self) -> None:
        for name in ("dim", "epochs", "batch_size", "patience"):
            _check_int("MFRouter", name, getattr(self, name), 1)
        _check_number("MFRouter", "lr", self.lr, 0.0, open_lo=True)
        _check_number("MFRouter", "weight_decay", self.weight_decay, 0.0)
        _check_number("MFRouter", "validation_fraction", self.validation_fraction, 0.0, 0.9)
        _check_seed("MFRouter", self.seed)

    def fit(self, logs, models=None, agents=None, tasks=None) -> MFRouter:
        """Embed the training queries and learn the factors (cards are not used)."""
        self._check_params()
        t = self._fit_table(logs)
        x = torch.as_tensor(self._fit_text(t))  # [N, D]
        torch.manual_seed(self.seed)
        mask = torch.as_tensor(t.logged)
        eff = torch.as_tensor(np.nan_to_num(t.effect), dtype=torch.float32)
        self.net_ = _MFNet(len(self.candidates_), x.shape[1], self.dim)
        with torch.no_grad():  # start each pair at its base rate
            p = torch.as_tensor(self.pair_effect_, dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
            self.net_.bias.copy_(torch.log(p / (1 - p)))

        def loss_fn(rows: Tensor) -> Tensor:
            m = mask[rows]
            return F.binary_cross_entropy_with_logits(self.net_(x[rows])[m], eff[rows][m])

        tr, va = _validation_split(len(t.query_ids), self.validation_fraction, self.seed)
        self.history_ = _train_minibatch(self.net_, loss_fn, tr, va, epochs=self.epochs, lr=self.lr,
                                         weight_decay=self.weight_decay, patience=self.patience,
                                         batch_size=self.batch_size, seed=self.seed)
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        x = self._embed(queries)
        names, t_idx = self._resolve_tasks(queries, tasks, self._vote_tasks(*self._neighbors(x, TASK_VOTERS)))
        with torch.no_grad():
            effect = torch.sigmoid(self.net_(torch.as_tensor(x))).numpy().astype(float)  # [Q, P]
        return {"task": names, "effect": effect, "cost": self._task_cost(t_idx)}


# ---------------------------------------------------------------------------------------------
# GraphRouter (Feng, Shen and You, ICLR 2025, arXiv 2410.03834)
# ---------------------------------------------------------------------------------------------
class GraphRouterNet(nn.Module):
    """GraphRouter's network: aligned node features, two GeneralConv layers with edge features, a dot scorer.

    Nodes are the N training queries followed by the P LLMs (here: candidate pairs), in one
    homogeneous graph with edges query -> LLM. A query node starts as
    concat(Linear(task emb), Linear(query emb)) [2H]; an LLM node as Linear(description emb) [2H].
    Edge features [E, 3] pass through Linear + ReLU; each GeneralConv is followed by BatchNorm
    (ReLU after the first). An edge (q, p) scores mean(x_ini[q] ⊙ x[p]): the query's initial
    features against the LLM's message-passed ones, so a query needs no edges to be scored.
    """

    def __init__(self, text_dim: int, hidden: int, edge_dim: int = 3, aggr: str = "add") -> None:
        super().__init__()
        h2 = 2 * hidden
        self.task_lin = nn.Linear(text_dim, hidden)
        self.query_lin = nn.Linear(text_dim, hidden)
        self.llm_lin = nn.Linear(text_dim, h2)
        self.edge_mlp = nn.Linear(edge_dim, edge_dim)
        self.conv1 = GeneralConv(h2, h2, in_edge_channels=edge_dim, aggr=aggr)
        self.conv2 = GeneralConv(h2, h2, in_edge_channels=edge_dim, aggr=aggr)
        self.bn1 = nn.BatchNorm1d(h2)
        self.bn2 = nn.BatchNorm1d(h2)

    def query_features(self, task_x: Tensor, query_x: Tensor) -> Tensor:
        # task_x, query_x [Q, D] -> [Q, 2H]
        return torch.cat([self.task_lin(task_x), self.query_lin(query_x)], dim=1)

    def forward(self, task_x: Tensor, query_x: Tensor, llm_x: Tensor, edge_index: Tensor,
                edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        """Initial and message-passed node features, both [N + P, 2H]."""
        x_ini = torch.cat([self.query_features(task_x, query_x), self.llm_lin(llm_x)], dim=0)
        ea = F.relu(self.edge_mlp(edge_attr))  # [E, 3]
        x = F.relu(self.bn1(self.conv1(x_ini, edge_index, ea)))
        x = self.bn2(self.conv2(x, edge_index, ea))
        return x_ini, x

    @staticmethod
    def score(q: Tensor, llm: Tensor) -> Tensor:
        # q [E, 2H], llm [E, 2H] -> edge logits [E]
        return (q * llm).mean(dim=-1)


def _resolve_weights(scenario: str, weights) -> tuple[float, float]:
    """(w_effect, w_cost) from ``weights`` when given, else from the scenario's name."""
    if weights is not None:
        w = parse_weights(weights)
        if w["latency"] > 0:
            raise ConfigError("GraphRouterBaseline learns effect and cost only; its weights cannot have a latency "
                              f"term (got {weights!r}).")
        return w["effect"], w["cost"]
    if scenario not in SCENARIOS:
        raise ConfigError(f"Unknown scenario {scenario!r}; valid scenarios are {list(SCENARIOS)}, or pass "
                          "weights=(w_effect, w_cost).")
    return SCENARIOS[scenario]


def _best_labels(reward: np.ndarray, cost: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """One-hot [N, P] of each query's best logged pair: highest reward, then lower cost, then name order."""
    s = np.where(logged, reward, -np.inf)
    tied = logged & (s == s.max(1, keepdims=True))
    c = np.where(tied, cost, np.inf)
    best = (tied & (c == c.min(1, keepdims=True))).argmax(1)  # candidates are in name order
    out = np.zeros_like(reward)
    out[np.arange(len(best)), best] = 1.0
    return out


class GraphRouterBaseline(_TextRouter):
    """A re-implementation of GraphRouter (ICLR 2025): one edge-scoring GNN per cost/quality scenario.

    The model (see GraphRouterNet) follows the paper's released code: task, query and LLM text
    embeddings aligned by linear maps; edges query -> LLM carrying 3 features (the edge's reward
    at the scenario, its normalised cost and its effect); two GeneralConv layers with BatchNorm;
    a dot-product edge scorer trained with BCE on one-hot labels marking each query's best
    logged LLM at the scenario (ties: lower cost, then name; never first index). Each step
    splits the training edges at random: ``edge_mask_rate`` of them are supervised and hidden
    from message passing, the rest carry messages. Full batch; early stopping on the mean reward
    of the argmax choice for a seeded validation share of queries, whose edges are never shown
    in training (as an unseen query at inference). Candidates (model, agent) play the LLM nodes;
    their description is the model's card text followed by the agent's.

    It predicts a score per (query, LLM), not effect and cost, so:
    - ``effect`` is the scorer's softmax over the candidates of each query (sums to 1; the
      argmax is the model's choice), and ``cost`` is the pair's mean logged cost on the task;
    - its choice for its scenario is ``select(..., weights=router.scenario_weights_)``, which is
      {'effect': 1, 'cost': 0}: cost is already priced into the scores at the scenario's
      weights (``reward_weights_``). Selecting at any other weights mixes two cost terms and is
      not GraphRouter; train another one with the other scenario instead.

    Parameters: scenario: 'performance_first', 'balance' or 'cost_first' (the paper's three),
    or weights=(w_effect, w_cost) to train for other weights.  hidden: H (nodes have 2H
    features).  epochs, lr, weight_decay, patience, validation_fraction: optimisation.
    edge_mask_rate: share of training edges supervised per step.  masks_per_step: random edge
    splits averaged per optimiser step.  aggr: GeneralConv aggregation ('add' as in the paper).
    embedder, strip_boilerplate, cache_dir, seed: as for MLPRouter.
    """

    def __init__(self, *, scenario: str = "balance", weights=None, hidden: int = 32, epochs: int = 300,
                 lr: float = 5e-3, weight_decay: float = 1e-4, edge_mask_rate: float = 0.5, masks_per_step: int = 1,
                 patience: int = 40, validation_fraction: float = 0.1, aggr: str = "add",
                 embedder: str | Embedder = "minilm", strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None, seed: int = 0) -> None:
        self.scenario = scenario
        self.weights = weights
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.edge_mask_rate = edge_mask_rate
        self.masks_per_step = masks_per_step
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.aggr = aggr
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir
        self.seed = seed

    def _check_params(self) -> None:
        who = "GraphRouterBaseline"
        for name in ("hidden", "epochs", "patience", "masks_per_step"):
            _check_int(who, name, getattr(self, name), 1)
        _check_number(who, "lr", self.lr, 0.0, open_lo=True)
        _check_number(who, "weight_decay", self.weight_decay, 0.0)
        _check_number(who, "edge_mask_rate", self.edge_mask_rate, 0.0, 1.0, open_lo=True, open_hi=True)
        _check_number(who, "validation_fraction", self.validation_fraction, 0.0, 0.9)
        if self.aggr not in ("add", "mean", "max"):
            raise ConfigError(f"{who} parameter aggr must be one of ['add', 'mean', 'max']; got {self.aggr!r}.")
        _check_seed(who, self.seed)

    def fit(self, logs, models=None, agents=None, tasks=None) -> GraphRouterBaseline:
        """Build the query–LLM graph from the logs (descriptions from the cards) and train the scorer."""
        self._check_params()
        w_e, w_c = _resolve_weights(self.scenario, self.weights)
        t = self._fit_table(logs)
        self.reward_weights_ = (float(w_e), float(w_c))
        self.scenario_weights_ = {"effect": 1.0, "cost": 0.0}
        catalog = Catalog.from_logs(t.logs, models=models, agents=agents, tasks=tasks)
        query_x = torch.as_tensor(self._fit_text(t))  # [N, D]
        emb = self._embedder()
        self.task_x_ = torch.as_tensor(emb.encode([catalog.tasks[n].text() for n in t.task_names]),
                                       dtype=torch.float32)  # [T, D]
        llm_text = [f"{catalog.models[m].text()}\n{catalog.agents[a].text()}"
                    for m, a in zip(self.candidates_["model"], self.candidates_["agent"])]
        llm_x = torch.as_tensor(emb.encode(llm_text), dtype=torch.float32)  # [P, D]

        # edges query -> LLM with features (reward, normalised cost, effect), labels one-hot per query
        n, n_p = t.effect.shape
        lo = np.array([self.cost_range_[name][0] for name in t.task_names])[t.query_task][:, None]
        hi = np.array([self.cost_range_[name][1] for name in t.task_names])[t.query_task][:, None]
        span = np.where(hi > lo, hi - lo, 1.0)
        cost_norm = np.where(hi > lo, (t.cost - lo) / span, 0.0)  # [N, P]
        reward = w_e * t.effect - w_c * cost_norm
        labels = _best_labels(reward, t.cost, t.logged)
        qi, pi = np.nonzero(t.logged)  # [E] each
        edge_index = torch.as_tensor(np.stack([qi, n + pi]), dtype=torch.long)  # [2, E]
        edge_attr = torch.as_tensor(np.stack([reward[qi, pi], cost_norm[qi, pi], t.effect[qi, pi]], 1),
                                    dtype=torch.float32)  # [E, 3]
        edge_label = torch.as_tensor(labels[qi, pi], dtype=torch.float32)  # [E]
        q_task_x = self.task_x_[torch.as_tensor(t.query_task)]  # [N, D]

        tr, va = _validation_split(n, self.validation_fraction, self.seed)
        is_val = np.zeros(n, dtype=bool)
        is_val[va] = True
        train_edges = torch.as_tensor(np.flatnonzero(~is_val[qi]))
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = GraphRouterNet(query_x.shape[1], self.hidden, edge_dim=3, aggr=self.aggr)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        val_reward = torch.as_tensor(np.where(t.logged, reward, -np.inf)[va])  # [V, P]
        best, best_state, since, hist = -math.inf, None, 0, []
        for epoch in range(self.epochs):
            net.train()
            loss = torch.zeros(())
            for _ in range(self.masks_per_step):
                sup = torch.rand(len(train_edges), generator=gen) < self.edge_mask_rate
                if not sup.any():
                    continue
                vis, tgt = train_edges[~sup], train_edges[sup]
                x_ini, x = net(q_task_x, query_x, llm_x, edge_index[:, vis], edge_attr[vis])
                logits = net.score(x_ini[edge_index[0, tgt]], x[edge_index[1, tgt]])
                loss = loss + F.binary_cross_entropy_with_logits(logits, edge_label[tgt])
            loss = loss / self.masks_per_step
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec = {"epoch": epoch, "train_loss": float(loss.detach())}
            if len(va):
                net.eval()
                with torch.no_grad():
                    x_ini, x = net(q_task_x, query_x, llm_x, edge_index[:, train_edges], edge_attr[train_edges])
                    logits = (x_ini[torch.as_tensor(va)][:, None, :] * x[n:][None]).mean(-1)  # [V, P]
                    logits = torch.where(torch.isfinite(val_reward), logits, torch.full_like(logits, -math.inf))
                    v = float(val_reward.gather(1, logits.argmax(1, keepdim=True)).mean())
                rec["val_reward"] = v
                if v > best + 1e-9:
                    best, since, best_state = v, 0, copy.deepcopy(net.state_dict())
                else:
                    since += 1
            hist.append(rec)
            if since >= self.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        with torch.no_grad():  # LLM nodes with every logged edge visible, as at test time in the paper
            _, x = net(q_task_x, query_x, llm_x, edge_index, edge_attr)
        self.net_ = net
        self.llm_h_ = x[n:].clone()  # [P, 2H]
        self.history_ = hist
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        x = self._embed(queries)
        names, t_idx = self._resolve_tasks(queries, tasks, self._vote_tasks(*self._neighbors(x, TASK_VOTERS)))
        task_x = torch.empty(len(queries), self.task_x_.shape[1])
        known = t_idx >= 0
        if known.any():
            task_x[torch.as_tensor(known)] = self.task_x_[torch.as_tensor(t_idx[known])]
        if not known.all():  # a task it never saw: embed its name, as a task card without description
            task_x[torch.as_tensor(~known)] = torch.as_tensor(
                self._embedder().encode([str(names[i]) for i in np.flatnonzero(~known)]), dtype=torch.float32)
        with torch.no_grad():
            q = self.net_.query_features(task_x, torch.as_tensor(x))  # [Q, 2H]
            logits = (q[:, None, :] * self.llm_h_[None]).mean(-1)  # [Q, P]
            effect = torch.softmax(logits, dim=1).numpy().astype(float)
        return {"task": names, "effect": effect, "cost": self._task_cost(t_idx)}


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
BASELINES: dict[str, type[BaseRouter]] = {
    "random": RandomRouter,
    "oracle": OracleRouter,
    "best_single": BestSingleRouter,
    "cheapest": CheapestRouter,
    "per_task_best": PerTaskBestRouter,
    "knn": KNNRouter,
    "mlp": MLPRouter,
    "mf": MFRouter,
    "graphrouter": GraphRouterBaseline,
}


def make_router(name: str, **params) -> BaseRouter:
    """An unfitted baseline by its registry name, e.g. ``make_router("knn", k=20)``."""
    if name not in BASELINES:
        raise ConfigError(f"Unknown baseline {name!r}; valid names are {list(BASELINES)}.")
    cls = BASELINES[name]
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"Baseline {name!r} ({cls.__name__}) has no parameter(s) {unknown}; "
                          f"its parameters are {valid}.")
    return cls(**params)
