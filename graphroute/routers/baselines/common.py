"""What every baseline shares: parameter checks, the logs as a dense table, task lookup and text handling.

``OutcomeTable`` holds the aggregated logs as queries × candidate pairs; ``TableRouter`` fits it
and answers per-pair and per-task means; ``TextRouter`` adds an embedder with the graph
router's text handling (boilerplate prefixes stripped, the same cache) and nearest neighbours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphroute.data.logs import aggregate_runs, validate_logs
from graphroute.data.text import learn_prefixes
from graphroute.embed import Embedder
from graphroute.errors import ConfigError
from graphroute.routers.base import BaseRouter, QueryEmbedding
from graphroute.selection import ALL_TASKS, DEFAULT_EVIDENCE, cost_ranges

__all__ = ["ALL_TASKS", "TASK_VOTERS", "OutcomeTable", "TableRouter", "TextRouter", "check_int", "check_number",
           "check_seed", "masked_mean", "per_task"]

TASK_VOTERS = 10  # neighbours that vote for the task of a query given without one
NEIGHBOR_BLOCK = 1024  # queries per block when computing similarities (bounds memory at [block, N])


# ---------------------------------------------------------------------------------------------
# parameter checks (fit-time, scikit-learn style)
# ---------------------------------------------------------------------------------------------
def check_int(owner: str, name: str, value, lo: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < lo:
        raise ConfigError(f"{owner} parameter {name} must be an integer >= {lo}; got {value!r}.")


def check_number(owner: str, name: str, value, lo: float, hi: float = math.inf, *,
                  open_lo: bool = False, open_hi: bool = False) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > lo if open_lo else value >= lo) and (value < hi if open_hi else value <= hi)
    if not ok:
        left, right = "(" if open_lo else "[", ")" if open_hi else "]"
        raise ConfigError(f"{owner} parameter {name} must be a number in {left}{lo:g}, {hi:g}{right}; got {value!r}.")


def check_seed(owner: str, seed) -> None:
    check_int(owner, "seed", seed, 0)


# ---------------------------------------------------------------------------------------------
# the logs as dense arrays
# ---------------------------------------------------------------------------------------------
def masked_mean(values: np.ndarray, mask: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean of ``values`` where ``mask``, count) along ``axis``; the mean is NaN where the count is 0."""
    cnt = mask.sum(axis)
    total = np.where(mask, values, 0.0).sum(axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, total / np.maximum(cnt, 1), np.nan), cnt


@dataclass
class OutcomeTable:
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
    def build(cls, logs) -> OutcomeTable:
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
        return masked_mean(values, self.logged, 0)[0]

    def task_means(self, values: np.ndarray) -> np.ndarray:
        """Mean per (task, pair) [T, P], the pair's overall mean where it never ran on the task."""
        overall = self.pair_means(values)
        out = np.empty((len(self.task_names), values.shape[1]))
        for t in range(len(self.task_names)):
            rows = self.query_task == t
            mean, _ = masked_mean(values[rows], self.logged[rows], 0)
            out[t] = np.where(np.isnan(mean), overall, mean)
        return out

    def text_task(self) -> dict[str, int]:
        """Task index of each training text (the first query_id's, when a text repeats)."""
        out: dict[str, int] = {}
        for text, t in zip(self.texts, self.query_task.tolist()):
            out.setdefault(text, t)
        return out


def per_task(task_values: np.ndarray, overall: np.ndarray, task_idx: np.ndarray) -> np.ndarray:
    """Rows of ``task_values`` [T, P] for each query's task [Q], ``overall`` [P] where it is -1 -> [Q, P]."""
    out = np.broadcast_to(overall, (len(task_idx), overall.shape[0])).copy()
    known = task_idx >= 0
    out[known] = task_values[task_idx[known]]
    return out


# ---------------------------------------------------------------------------------------------
# shared behaviour of the baselines
# ---------------------------------------------------------------------------------------------
class TableRouter(BaseRouter):
    """A baseline fitted on the dense outcome table; subclasses add what they learn from it."""

    def _fit_table(self, logs) -> OutcomeTable:
        table = OutcomeTable.build(logs)
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
        return per_task(self.task_cost_, self.pair_cost_, task_idx)


class TextRouter(QueryEmbedding, TableRouter):
    """A baseline that reads query text through an embedder (same text handling as the graph router)."""

    strip_boilerplate: bool

    def _fit_text(self, table: OutcomeTable) -> np.ndarray:
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

    def evidence(self, query: str, task: str | None = None, k: int = DEFAULT_EVIDENCE) -> pd.DataFrame:
        """The k training queries most similar to ``query``."""
        self._check_fitted()
        idx, sim = self._neighbors(self._embed([query]), k)
        t = self.table_
        return pd.DataFrame({"rank": np.arange(idx.shape[1]), "query_id": [t.query_ids[i] for i in idx[0]],
                             "query": [t.texts[i] for i in idx[0]],
                             "task": [t.task_names[t.query_task[i]] for i in idx[0]],
                             "similarity": sim[0].astype(float)})
