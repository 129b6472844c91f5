"""The kNN baseline: similarity-weighted outcomes of the nearest training queries.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphroute.embed import DEFAULT_EMBEDDER, Embedder
from graphroute.routers.baselines.common import TASK_VOTERS, TextRouter, check_int, per_task

__all__ = ['KNNRouter']


class KNNRouter(TextRouter):
    """k nearest training queries by embedding; each pair's effect and cost is their weighted mean.

    Weights are the cosine similarities (negative ones count 0). A pair that none of the
    neighbours ran falls back to the pair's mean on the query's task (overall when unknown).

    Parameters: k: neighbours.  embedder: name or Embedder.  strip_boilerplate: strip learned
    per-task prompt prefixes before embedding (as the graph router does).  cache_dir: embedding
    cache (None: the default cache; False: none).
    """

    def __init__(self, *, k: int = 10, embedder: str | Embedder = DEFAULT_EMBEDDER, strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None) -> None:
        self.k = k
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir

    def fit(self, logs, models=None, agents=None, tasks=None) -> KNNRouter:
        """Embed the training queries and keep their outcomes."""
        check_int("KNNRouter", "k", self.k, 1)
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
        for key, values, fallback in (("effect", t.effect, per_task(self.task_effect_, self.pair_effect_, t_idx)),
                                      ("cost", t.cost, self._task_cost(t_idx))):
            num = (w[..., None] * np.where(ran, values[idx], 0.0)).sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[key] = np.where(mass > 0, num / np.maximum(mass, 1e-300), fallback)
        return {"task": names, "effect": np.clip(out["effect"], 0.0, 1.0), "cost": np.maximum(out["cost"], 0.0)}
