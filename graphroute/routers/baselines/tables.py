"""Baselines without text understanding: random, oracle, best single, cheapest, per-task best.

Each predicts from per-pair (and per-task) means of the logged outcomes; with the shared
selector they reproduce "a random pair", "the true best", "always the best model", "always the
cheapest" and "the best model of each task".
"""

from __future__ import annotations

import hashlib

import numpy as np

from graphroute.errors import ConfigError
from graphroute.routers.baselines.common import ALL_TASKS, TableRouter, check_seed, masked_mean, per_task

__all__ = ['RandomRouter', 'OracleRouter', 'BestSingleRouter', 'CheapestRouter', 'PerTaskBestRouter']


class RandomRouter(TableRouter):
    """Random routing: each query gets random effect scores; cost is the pair's mean logged cost.

    Scores are drawn from a generator seeded with (seed, hash of the query text), so the same
    text always gets the same scores, whatever else is in the batch. Selecting at weights
    (1, 0) picks a uniformly random pair; with a cost weight it leans to cheap pairs.
    """

    def __init__(self, *, seed: int = 0) -> None:
        self.seed = seed

    def fit(self, logs, models=None, agents=None, tasks=None) -> RandomRouter:
        """Learn the pairs and their mean costs (cards are not used)."""
        check_seed("RandomRouter", self.seed)
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


class OracleRouter(TableRouter):
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
            e, _ = masked_mean(t.effect[r], t.logged[r], 0)
            c, _ = masked_mean(t.cost[r], t.logged[r], 0)
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


class BestSingleRouter(TableRouter):
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


class CheapestRouter(TableRouter):
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


class PerTaskBestRouter(TableRouter):
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
        return {"task": names, "effect": per_task(self.task_effect_, self.pair_effect_, idx),
                "cost": self._task_cost(idx)}
