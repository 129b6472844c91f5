"""The bench's query split: per task, stratified, reproducible by seed."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from graphroute.data.logs import DEFAULT_TASK
from graphroute.errors import ConfigError, LogsError
from graphroute.eval.outcomes import _require_columns, _show

__all__ = ["DEFAULT_SEEDS", "SPLIT_FRACTIONS", "split_queries", "keep_observed"]

SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train / validation / test share of each task's queries
DEFAULT_SEEDS = 5  # seeds (splits) a bench averages over: DESIGN.md's protocol


def split_queries(logs: pd.DataFrame, seed: int, fractions: tuple[float, float, float] = SPLIT_FRACTIONS
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-task stratified split of query ids into (train, validation, test), reproducible by seed.

    Each task's distinct query ids are sorted (so row order does not matter), permuted with a fresh
    ``numpy.random.default_rng(seed)`` (so a task's split does not depend on which other tasks are
    present) and cut at round(f_train·n) and round(f_val·n); the test set takes the rest. Returns
    three sorted arrays of query ids; a query belongs to exactly one of them.
    """
    _require_columns(logs, ["query_id"], "The logs", "split_queries needs query_id (and task, default 'default').",
                     LogsError)
    try:
        fr = [float(f) for f in fractions]
    except (TypeError, ValueError):
        raise ConfigError(f"fractions must be three numbers (train, val, test); got {fractions!r}.") from None
    if len(fr) != 3 or not all(math.isfinite(f) and f >= 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-9:
        raise ConfigError(f"fractions must be three numbers >= 0 summing to 1, e.g. {SPLIT_FRACTIONS}; "
                          f"got {fractions!r}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}.")
    df = logs[["query_id"]].assign(task=logs["task"] if "task" in logs.columns else DEFAULT_TASK)
    pairs = df.drop_duplicates()
    if pairs["query_id"].duplicated().any():
        raise LogsError(f"Query ids {_show(pd.unique(pairs['query_id'][pairs['query_id'].duplicated()]))} carry more "
                        "than one task; a query belongs to one task. Fix the task labels before splitting.")
    parts: tuple[list, list, list] = ([], [], [])
    for task in sorted(pairs["task"].unique(), key=str):
        ids = np.sort(pairs.loc[pairs["task"] == task, "query_id"].to_numpy(dtype=object))
        order = np.random.default_rng(int(seed)).permutation(len(ids))
        n_train = int(math.floor(fr[0] * len(ids) + 0.5))
        n_val = min(int(math.floor(fr[1] * len(ids) + 0.5)), len(ids) - n_train)
        parts[0].extend(ids[order[:n_train]])
        parts[1].extend(ids[order[n_train:n_train + n_val]])
        parts[2].extend(ids[order[n_train + n_val:]])
    return tuple(np.sort(np.array(p, dtype=object)) for p in parts)  # type: ignore[return-value]


def keep_observed(logs: pd.DataFrame, k: int, seed: int) -> pd.DataFrame:
    """The rows of ``k`` random (model, agent) pairs per query (all of a query's pairs when it has <= k).

    Production-shaped logs (the bench's ``--observed K``): in real logs a query was answered by one
    or a few models, not by all of them. Every row of a kept pair stays (repeated runs are not
    split). Reproducible by seed and independent of row order: the distinct (query_id, model,
    agent) triples are sorted, each gets a draw from ``numpy.random.default_rng(seed)``, and a
    query keeps its k lowest draws. Returns a copy with a fresh index.
    """
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"observed outcomes per query must be an integer >= 1; got {k!r}. "
                          "Fix: pass e.g. 2 (each training query keeps 2 random (model, agent) outcomes).")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0; got {seed!r}.")
    _require_columns(logs, ["query_id", "model"], "The logs", "keep_observed needs query_id and model (agent "
                     "optional).", LogsError)
    keys = ["query_id", "model", "agent"]
    df = logs.assign(agent=logs["agent"]) if "agent" in logs.columns else logs.assign(agent="direct")
    triples = (df[keys].astype(str).drop_duplicates().sort_values(keys, kind="mergesort").reset_index(drop=True))
    triples["_draw"] = np.random.default_rng(int(seed)).random(len(triples))
    rank = triples.groupby("query_id", sort=False)["_draw"].rank(method="first")
    kept = pd.MultiIndex.from_frame(triples.loc[rank.to_numpy() <= k, keys])
    mask = pd.MultiIndex.from_frame(df[keys].astype(str)).isin(kept)
    return logs[mask].reset_index(drop=True)
