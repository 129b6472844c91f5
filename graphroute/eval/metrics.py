"""Evaluation metrics: how good a routing policy is on a table of logged outcomes.

Every metric is computed from an outcome table (one row per (query_id, model, agent) with the
true ``effect`` and ``cost``) and a policy's choices (one (model, agent) per query). They are
exact (no sampling), deterministic and pure numpy/pandas, so the bench, the notebooks and the
tests share one definition of "better":

- ``reward`` at the three GraphRouter scenarios (``SCENARIOS``): w_e·effect − w_c·cost_norm,
  cost_norm min–max per task over all rows of that task in the table, or over a given
  ``score_range`` (the bench: each task's range over every split);
- ``aiq``: RouterBench's Average Improvement in Quality of a cost–quality sweep (``sweep``);
- ``apgr`` / ``cpt``: RouteLLM's two-model metrics (performance gap recovered vs strong calls);
- ``cost_to_match``: what a router pays, relative to a reference model, to reach its quality.

This module holds the reward family and ``summarize`` (one bench row); the curves live in
``curves``, the split in ``splits``, the table checks in ``outcomes``; every name is re-exported
here, so ``from graphroute.eval.metrics import ...`` is the one import a user needs.

Ties are never broken by row position: the best candidate of a query is the one with the
highest score, then the lowest cost, then the first (model, agent) in name order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd

from graphroute.errors import ConfigError, LogsError
from graphroute.eval.curves import (APGR_POINTS, MATCH_TOLERANCE, N_LAMBDAS, aiq, apgr,
                                    cost_to_match, cpt, lambda_grid, pareto_hull, pgr_curve, sweep, _paths, _sweep)
from graphroute.eval.outcomes import (_argmax, _check_numbers, _choice_index, _choices_frame, _Outcomes, _pair,
                                      _minmax_per_task, _predicted, _require_columns, _with_defaults, quality_cost,
                                      single_choices)
from graphroute.eval.splits import SPLIT_FRACTIONS, split_queries
from graphroute.selection import ALL_TASKS, SCENARIOS, effect_cost_weights, task_bounds
from graphroute.selection import normalize_cost as _normalize

__all__ = [
    "SCENARIOS",
    "normalize_cost",
    "reward",
    "rewards",
    "oracle_choices",
    "single_choices",
    "best_single",
    "quality_cost",
    "aiq",
    "pareto_hull",
    "lambda_grid",
    "sweep",
    "apgr",
    "cpt",
    "pgr_curve",
    "cost_to_match",
    "summarize",
    "split_queries",
    "SPLIT_FRACTIONS", "APGR_POINTS", "MATCH_TOLERANCE", "N_LAMBDAS",
]


def _weights(weights) -> tuple[float, float]:
    """(w_effect, w_cost) of a scenario name or a weights pair/dict (``selection.parse_weights``)."""
    return effect_cost_weights(weights, "A reward")


# ---------------------------------------------------------------------------------------------
# reward (GraphRouter)
# ---------------------------------------------------------------------------------------------
def normalize_cost(table: pd.DataFrame, *, score_range: Mapping[str, tuple[float, float]] | None = None) -> pd.Series:
    """Cost min–max normalised per task over all rows of that task in `table` (0 when max == min), or
    over the per-task (min, max) of `score_range` (as ``reward`` takes it: the bench scores test rows
    on each task's range over every split, ``selection.cost_ranges(aggregate_runs(all_logs))``).

    This is the GraphRouter paper's cost term. Returns a Series aligned with ``table.index``.
    """
    _require_columns(table, ["query_id", "model", "cost"], "The outcome table",
                     "normalize_cost needs query_id, model and cost (task optional).", LogsError)
    df = _with_defaults(table, ["query_id", "task", "model", "agent", "cost"])
    cost = _check_numbers(df, "cost", "the outcome table", minimum=0.0)
    tasks = df["task"].to_numpy()
    if score_range is None:
        return pd.Series(_minmax_per_task(cost, tasks), index=table.index, name="cost_norm")
    _check_score_range(score_range, tasks, cost)
    lo, hi = task_bounds(score_range, tasks)
    return pd.Series(_normalize(cost, lo, hi), index=table.index, name="cost_norm")


def _outcomes(table: pd.DataFrame, score_range: Mapping[str, tuple[float, float]] | None) -> _Outcomes:
    """The table's arrays, cost_norm over ``score_range`` (checked: see ``_check_score_range``) when given."""
    out = _Outcomes.build(table)
    if score_range is None:
        return out
    _check_score_range(score_range, out.tasks, out.cost)
    lo, hi = task_bounds(score_range, out.tasks)  # [Q] each
    return replace(out, cost_norm=_normalize(out.cost, lo[:, None], hi[:, None]))


def _check_score_range(score_range: Mapping[str, tuple[float, float]], tasks: np.ndarray, cost: np.ndarray) -> None:
    """A scoring range names every task (``tasks`` [N], the task of each row of ``cost`` [N, ...], NaN = not
    logged; no ALL_TASKS fallback: each task is scored on its own scale) with a finite (min, max) that holds
    the task's logged costs: the range of a larger set of rows."""
    for task in pd.unique(tasks):
        bounds = score_range.get(task)
        c_lo, c_hi = float(np.nanmin(cost[tasks == task])), float(np.nanmax(cost[tasks == task]))
        fix = ("Score with the range over every row of the task, e.g. graphroute.selection.cost_ranges("
               "graphroute.aggregate_runs(all_logs)).")
        if bounds is None:
            raise ConfigError(f"score_range has no entry for task {task!r} (it has {sorted(score_range)}). {fix}")
        lo, hi = (float(v) for v in bounds)
        if not (math.isfinite(lo) and math.isfinite(hi)) or hi < lo:
            raise ConfigError(f"score_range[{task!r}] must be a finite (min, max) with min <= max; got {bounds!r}.")
        slack = 1e-9 * max(abs(lo), abs(hi), 1e-300)
        if c_lo < lo - slack or c_hi > hi + slack:
            raise ConfigError(f"score_range[{task!r}] = ({lo:g}, {hi:g}) does not hold the task's logged costs "
                              f"({c_lo:g} .. {c_hi:g}), so cost_norm would leave [0, 1]. {fix}")


def reward(table: pd.DataFrame, choices: pd.DataFrame,
           weights: tuple[float, float] | Sequence[float] | str, *,
           score_range: Mapping[str, tuple[float, float]] | None = None) -> float:
    """Mean over the chosen queries of w_e·effect − w_c·cost_norm of the chosen pair.

    `weights` is a (w_effect, w_cost) pair or a name in SCENARIOS. cost_norm is min–max per task
    over all rows of `table` (see normalize_cost), or over the per-task (min, max) in `score_range`
    when given (``selection.cost_ranges`` of every split, as the bench scores), so `choices` may
    cover only some of the table's queries. Every chosen pair must have a logged outcome; a missing
    one is an error, never a silent skip.
    """
    w_e, w_c = _weights(weights)
    out = _outcomes(table, score_range)
    qi, ki = _choice_index(out, choices)
    return float(np.mean(w_e * out.effect[qi, ki] - w_c * out.cost_norm[qi, ki]))


def rewards(table: pd.DataFrame, choices: pd.DataFrame, *,
            score_range: Mapping[str, tuple[float, float]] | None = None) -> dict[str, float]:
    """reward at each of the three SCENARIOS, keyed by scenario name (`score_range` as for ``reward``)."""
    out = _outcomes(table, score_range)
    qi, ki = _choice_index(out, choices)
    e, cn = out.effect[qi, ki], out.cost_norm[qi, ki]
    return {name: float(np.mean(w_e * e - w_c * cn)) for name, (w_e, w_c) in SCENARIOS.items()}


def oracle_choices(table: pd.DataFrame, weights: tuple[float, float] | Sequence[float] | str, *,
                   score_range: Mapping[str, tuple[float, float]] | None = None) -> pd.DataFrame:
    """Per query, the logged pair with the highest w_e·effect − w_c·cost_norm (the oracle router;
    `score_range` as for ``reward``).

    Ties go to the lower cost, then to the first (model, agent) in name order, so the result does
    not depend on row order (first-index argmax would favour whichever model was logged first).
    """
    w_e, w_c = _weights(weights)
    out = _outcomes(table, score_range)
    k = _argmax(w_e * out.effect - w_c * out.cost_norm, out.cost, out.present)
    return _choices_frame(out, np.arange(len(out.queries)), k)


def best_single(table: pd.DataFrame, weights: tuple[float, float] | Sequence[float] | str) -> tuple[str, str]:
    """The (model, agent) with the highest mean reward when it answers every query.

    Only pairs logged for every query compete (so all are scored on the same queries). Ties go to
    the lower mean cost, then to name order. Pick it on training rows and score it on test rows to
    keep the baseline honest.
    """
    w_e, w_c = _weights(weights)
    out = _Outcomes.build(table)
    complete = out.present.all(axis=0)  # [K]
    if not complete.any():
        raise LogsError(f"No (model, agent) is logged for all {len(out.queries)} queries, so there is no single-model "
                        "baseline on this table. Restrict the table to queries that one candidate covers.")
    with np.errstate(invalid="ignore"):
        mean_reward = np.mean(w_e * out.effect - w_c * out.cost_norm, axis=0)  # [K], NaN for incomplete pairs
        mean_cost = np.mean(out.cost, axis=0)  # [K]
    k = int(_argmax(mean_reward[None, :], mean_cost[None, :], complete[None, :])[0])
    return out.cands[k]


# ---------------------------------------------------------------------------------------------
# bench convenience and splits
# ---------------------------------------------------------------------------------------------
def _check_cost_range(cost_range: Mapping[str, tuple[float, float]], tasks) -> None:
    """Every task has a finite (min, max) range in ``cost_range``, its own or ALL_TASKS'."""
    for task in tasks:
        bounds = cost_range.get(task, cost_range.get(ALL_TASKS))
        if bounds is None:
            raise ConfigError(f"cost_range has no entry for task {task!r} (it has {sorted(cost_range)}); give the "
                              "training (min, max) cost of every test task, e.g. graphroute.selection.cost_ranges(train).")
        t_lo, t_hi = (float(v) for v in bounds)
        if not (math.isfinite(t_lo) and math.isfinite(t_hi)) or t_hi < t_lo:
            raise ConfigError(f"cost_range[{task!r}] must be a finite (min, max) with min <= max; got {bounds!r}.")


def summarize(table: pd.DataFrame, predictions: pd.DataFrame, cost_range: Mapping[str, tuple[float, float]], *,
              lambdas: Sequence[float] | np.ndarray | None = None, reference: str | tuple[str, str] | None = None,
              max_cost: float | None = None, tolerance: float = MATCH_TOLERANCE,
              score_range: Mapping[str, tuple[float, float]] | None = None) -> dict[str, float | str | None]:
    """All headline metrics of one router on one test table, from its predictions.

    - ``reward_<scenario>`` for each of SCENARIOS: each query gets the candidate maximising
      w_e·effect_hat − w_c·cost_norm_hat, where cost_norm_hat normalises the predicted cost with the
      per-task (min, max) of the TRAINING costs in `cost_range` (what a deployed router knows; a task
      missing there falls back to the '*' entry if present, as made by ``selection.cost_ranges``); the
      choice is then scored with ``reward`` on `table` (cost_norm over `score_range` when given, else
      over the table's own rows).
    - ``aiq`` of the router's λ sweep: by default its every operating point (the exact sweep, from
      the λs at which each query's pick changes; ``curves._paths``), or ``sweep`` on the grid
      `lambdas` when given. c_max = `max_cost` or, by default, the mean over queries of the dearest
      logged candidate's cost (the most any policy can spend on `table`): a ceiling shared by every
      router evaluated on the same table, so their AIQs compare.
    - ``cost_to_match``: cost of the cheapest swept point matching `reference` (default: the single
      candidate with the best effect on `table`, a yardstick rather than a competitor, so picking it
      on test rows is fair), as a fraction of its cost; None when never reached.
    Returns a flat dict of numbers and names, one bench row.
    """
    out = _outcomes(table, score_range)
    e, c, mask = _predicted(out, predictions)
    _check_cost_range(cost_range, pd.unique(out.tasks))
    lo, hi = task_bounds(cost_range, out.tasks)  # [Q] each
    cn_hat = _normalize(c, lo[:, None], hi[:, None])  # [Q, K], as the routers' own select normalises
    rows = np.arange(len(out.queries))
    result: dict[str, float | str | None] = {}
    for name, (w_e, w_c) in SCENARIOS.items():
        k = _argmax(w_e * e - w_c * cn_hat, c, mask)
        result[f"reward_{name}"] = float(np.mean(w_e * out.effect[rows, k] - w_c * out.cost_norm[rows, k]))
    if lambdas is None:  # every operating point of the sweep, from its switches: no grid to miss one
        _, (cost, effect) = _paths(e, c, mask, out.cost, out.effect)
        points = np.stack([cost, effect], axis=1)
    else:
        points = _sweep(out, e, c, mask, lambdas)
    if max_cost is None:  # no policy restricted to logged pairs can cost more than this
        max_cost = float(np.mean(np.nanmax(np.where(out.present, out.cost, np.nan), axis=1)))
    result["aiq"] = aiq(points, max_cost=max_cost)
    ref = best_single(table, SCENARIOS["performance_first"]) if reference is None else _pair(reference)
    result["cost_to_match"] = cost_to_match(table, points, ref, tolerance)
    result["reference_model"], result["reference_agent"] = ref
    return result
