"""Evaluation metrics: how good a routing policy is on a table of logged outcomes.

Every metric is computed from an outcome table (one row per (query_id, model, agent) with the
true ``effect`` and ``cost``) and a policy's choices (one (model, agent) per query). They are
exact (no sampling), deterministic and pure numpy/pandas, so the bench, the notebooks and the
tests share one definition of "better":

- ``reward`` at the three GraphRouter scenarios (``SCENARIOS``): w_e·effect − w_c·cost_norm,
  cost_norm min–max per task over all rows of that task in the table;
- ``aiq``: RouterBench's Average Improvement in Quality of a cost–quality sweep (``sweep``);
- ``apgr`` / ``cpt``: RouteLLM's two-model metrics (performance gap recovered vs strong calls);
- ``cost_to_match``: what a router pays, relative to a reference model, to reach its quality.

Ties are never broken by row position: the best candidate of a query is the one with the
highest score, then the lowest cost, then the first (model, agent) in name order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from graphroute.errors import ConfigError, LogsError
from graphroute.selection import SCENARIOS
from graphroute.data.logs import DEFAULT_AGENT

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
]

# (w_effect, w_cost) of the GraphRouter paper's three scenarios.
DEFAULT_TASK = "default"  # task of rows whose frame has no 'task' column (the canonical schema's default)
APGR_POINTS = 10  # RouteLLM evaluates 10 equal steps of strong-call fraction (11 points, 0..1)
MATCH_TOLERANCE = 0.005  # quality slack in cost_to_match: half a point of accuracy
N_LAMBDAS = 40  # default sweep length: enough points for a smooth AIQ hull, cheap on CPU
LAMBDA_DECADES = 4.0  # the default λ grid spans this many decades below the largest useful λ
SPLIT_FRACTIONS = (0.7, 0.1, 0.2)  # train / validation / test share of each task's queries


# ---------------------------------------------------------------------------------------------
# input checking
# ---------------------------------------------------------------------------------------------
def _require_columns(frame: pd.DataFrame, required: Sequence[str], what: str, hint: str,
                     error: type[Exception] = ConfigError) -> None:
    """`error` (LogsError for outcome tables, ConfigError for arguments) unless `frame` has `required`."""
    if not isinstance(frame, pd.DataFrame):
        raise error(f"{what} must be a pandas DataFrame; got {type(frame).__name__}. {hint}")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise error(f"{what} lacks the column(s) {missing}; it has {list(frame.columns)}. {hint}")


def _with_defaults(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """A new frame with `columns` plus 'agent' (default "direct") and 'task' (default "default")."""
    out = frame.loc[:, [c for c in columns if c in frame.columns]].copy()
    if "agent" not in out.columns:
        out["agent"] = DEFAULT_AGENT
    if "task" in columns and "task" not in out.columns:
        out["task"] = DEFAULT_TASK
    return out


def _check_numbers(frame: pd.DataFrame, column: str, what: str, minimum: float | None = None) -> np.ndarray:
    """The column as float64, or an error naming the first row that is not a finite number >= minimum."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(values)
    if minimum is not None:
        bad |= values < minimum
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        row = frame.iloc[i]
        rule = "a finite number" + (f" >= {minimum:g}" if minimum is not None else "")
        raise LogsError(
            f"The {column!r} column of {what} must hold {rule}; row {frame.index[i]!r} "
            f"(query_id={row['query_id']!r}, model={row['model']!r}, agent={row['agent']!r}) has "
            f"{frame[column].iloc[i]!r}. Fix or drop that row before evaluating ({int(bad.sum())} such row(s)).")
    return values


def _weights(weights: tuple[float, float] | Sequence[float] | str) -> tuple[float, float]:
    """(w_effect, w_cost) from a pair or a scenario name; both finite and >= 0."""
    if isinstance(weights, str):
        if weights not in SCENARIOS:
            raise ConfigError(f"Unknown scenario {weights!r}; valid scenarios are {list(SCENARIOS)}, "
                              "or pass a (w_effect, w_cost) pair.")
        return SCENARIOS[weights]
    try:
        w_e, w_c = (float(w) for w in weights)
    except (TypeError, ValueError):
        raise ConfigError(f"weights must be a (w_effect, w_cost) pair of numbers or a scenario name "
                          f"({list(SCENARIOS)}); got {weights!r}.") from None
    if not (math.isfinite(w_e) and math.isfinite(w_c)) or w_e < 0 or w_c < 0:
        raise ConfigError(f"weights must be finite and >= 0; got (w_effect={w_e!r}, w_cost={w_c!r}). "
                          "A larger w_cost favours cheaper choices; e.g. (0.5, 0.5) is the 'balance' scenario.")
    return w_e, w_c


def _pair(candidate: str | tuple[str, str]) -> tuple[str, str]:
    """(model, agent) from a model name (agent "direct") or a (model, agent) pair."""
    if isinstance(candidate, str):
        return candidate, DEFAULT_AGENT
    if isinstance(candidate, tuple | list) and len(candidate) == 2:
        return str(candidate[0]), str(candidate[1])
    raise ConfigError(f"A candidate must be a model name or a (model, agent) pair; got {candidate!r}.")


def _show(items: Sequence, limit: int = 5) -> str:
    items = list(items)
    head = ", ".join(repr(x) for x in items[:limit])
    return f"[{head}{', ...' if len(items) > limit else ''}] ({len(items)} in all)"


def _pair_index(frame: pd.DataFrame) -> pd.MultiIndex:
    """(model, agent) of each row as a MultiIndex of str, for vectorised lookups."""
    return pd.MultiIndex.from_arrays([frame["model"].astype(str).to_numpy(dtype=object),
                                      frame["agent"].astype(str).to_numpy(dtype=object)])


def _minmax_per_task(cost: np.ndarray, task: np.ndarray) -> np.ndarray:
    """(cost − min_task) / (max_task − min_task) per row [N]; 0 where a task's costs are all equal."""
    g = pd.Series(cost).groupby(task)
    lo = g.transform("min").to_numpy()
    span = g.transform("max").to_numpy() - lo
    return np.divide(cost - lo, span, out=np.zeros_like(cost), where=span > 0)


@dataclass(frozen=True)
class _Outcomes:
    """An outcome table as dense arrays: queries × candidates, NaN where a pair was not logged."""

    queries: np.ndarray  # [Q] query ids, sorted
    tasks: np.ndarray  # [Q] task of each query
    cands: list[tuple[str, str]]  # [K] (model, agent), sorted by name: the tie-break order
    effect: np.ndarray  # [Q, K]
    cost: np.ndarray  # [Q, K] raw cost (USD or the declared unit)
    cost_norm: np.ndarray  # [Q, K] cost min–max normalised per task over the table's rows
    present: np.ndarray  # [Q, K] bool: the pair was logged for the query

    @classmethod
    def build(cls, table: pd.DataFrame) -> _Outcomes:
        hint = ("An outcome table has one row per (query_id, model, agent) with columns query_id, model, "
                "effect, cost (task and agent optional), e.g. from graphroute.read_logs.")
        _require_columns(table, ["query_id", "model", "effect", "cost"], "The outcome table", hint, LogsError)
        df = _with_defaults(table, ["query_id", "task", "model", "agent", "effect", "cost"])
        if df.empty:
            raise LogsError("The outcome table is empty; evaluate on at least one logged (query, model) outcome.")
        for col in ("query_id", "task", "model", "agent"):
            if df[col].isna().any():
                i = int(np.flatnonzero(df[col].isna().to_numpy())[0])
                raise LogsError(f"The {col!r} column of the outcome table is empty at row {df.index[i]!r}; every row "
                                f"needs a {col}. Fill it in or drop the row.")
        effect = _check_numbers(df, "effect", "the outcome table")
        cost = _check_numbers(df, "cost", "the outcome table", minimum=0.0)
        dup = df.duplicated(["query_id", "model", "agent"], keep=False)
        if dup.any():
            row = df[dup].iloc[0]
            raise LogsError(
                f"The outcome table has {int(dup.sum())} rows sharing a (query_id, model, agent), e.g. "
                f"(query_id={row['query_id']!r}, model={row['model']!r}, agent={row['agent']!r}); metrics need one "
                "outcome per pair. Average repeated runs first (graphroute.aggregate_runs).")
        n_tasks = df.groupby("query_id", sort=False)["task"].nunique()
        if (n_tasks > 1).any():
            raise LogsError(f"Query ids {_show(n_tasks.index[n_tasks > 1])} carry more than one task; a query "
                            "belongs to one task. Give repeated texts distinct query ids or fix the task labels.")
        qi, queries = pd.factorize(df["query_id"], sort=True)
        ki, uniques = pd.factorize(_pair_index(df), sort=True)
        cands = [(str(m), str(a)) for m, a in uniques]
        norm = _minmax_per_task(cost, df["task"].to_numpy())
        shape = (len(queries), len(cands))
        e, c, cn = np.full(shape, np.nan), np.full(shape, np.nan), np.full(shape, np.nan)
        e[qi, ki], c[qi, ki], cn[qi, ki] = effect, cost, norm
        present = np.zeros(shape, dtype=bool)
        present[qi, ki] = True
        tasks = np.empty(len(queries), dtype=object)
        tasks[qi] = df["task"].to_numpy()
        return cls(np.asarray(queries, dtype=object), tasks, cands, e, c, cn, present)

    def query_index(self, ids: pd.Series | np.ndarray, what: str) -> np.ndarray:
        """Row index of each query id; an error lists the ids the table does not hold."""
        idx = pd.Index(self.queries).get_indexer(pd.Index(ids))
        if (idx < 0).any():
            unknown = pd.unique(np.asarray(ids, dtype=object)[idx < 0])
            raise LogsError(f"{what} names query ids the outcome table does not hold: {_show(unknown)}. "
                            "Evaluate on a table that covers every query you route.")
        return idx

    def cand_index(self, candidate: str | tuple[str, str]) -> int:
        pair = _pair(candidate)
        try:
            return self.cands.index(pair)
        except ValueError:
            raise ConfigError(f"Unknown (model, agent) {pair!r}; the outcome table holds {self.cands}.") from None

    def cand_positions(self, frame: pd.DataFrame) -> np.ndarray:
        """Column of each row's (model, agent) [N]; -1 where the table never logged that pair."""
        return pd.MultiIndex.from_tuples(self.cands).get_indexer(_pair_index(frame))


def _choice_index(out: _Outcomes, choices: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(query row, candidate column) of each choice, after checking the choices are usable."""
    hint = "Choices have one row per query with columns query_id, model and optionally agent (default 'direct')."
    _require_columns(choices, ["query_id", "model"], "The choices frame", hint)
    ch = _with_defaults(choices, ["query_id", "model", "agent"])
    if ch.empty:
        raise ConfigError("The choices frame is empty; give one (model, agent) per query to evaluate.")
    dup = ch["query_id"].duplicated(keep=False)
    if dup.any():
        raise ConfigError(f"The choices frame has several rows for query ids {_show(pd.unique(ch['query_id'][dup]))}; "
                          "a policy makes one choice per query.")
    qi = out.query_index(ch["query_id"], "The choices frame")
    ki = out.cand_positions(ch)
    ok = ki >= 0
    ok[ok] = out.present[qi[ok], ki[ok]]
    if not ok.all():
        bad = ch[~ok]
        shown = [(q, m, a) for q, m, a in zip(bad["query_id"], bad["model"], bad["agent"])]
        raise LogsError(f"{len(bad)} chosen (query_id, model, agent) have no logged outcome in the table: "
                        f"{_show(shown, 3)}. A choice can only be scored where its outcome was logged; restrict the "
                        "choices to logged pairs (the table's candidates are "
                        f"{_show(out.cands, 12)}).")
    return qi, ki


def _argmax(score: np.ndarray, cost: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row, the masked column with the highest score, then the lowest cost, then the lowest index.

    score, cost, mask: [Q, K]; columns are in name order, so the last tie-break is by name.
    """
    if not mask.any(axis=1).all():
        raise LogsError("A query has no candidate to choose from; every query needs at least one logged outcome.")
    s = np.where(mask, score, -np.inf)
    tied = mask & (s == s.max(axis=1, keepdims=True))
    c = np.where(tied, cost, np.inf)
    return (tied & (c == c.min(axis=1, keepdims=True))).argmax(axis=1)


def _choices_frame(out: _Outcomes, rows: np.ndarray, k: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "query_id": out.queries[rows],
        "model": [out.cands[j][0] for j in k],
        "agent": [out.cands[j][1] for j in k],
    })


# ---------------------------------------------------------------------------------------------
# reward (GraphRouter)
# ---------------------------------------------------------------------------------------------
def normalize_cost(table: pd.DataFrame) -> pd.Series:
    """Cost min–max normalised per task over all rows of that task in `table` (0 when max == min).

    This is the GraphRouter paper's cost term. The range comes from the rows passed in, so the
    caller decides the convention: pass the whole table (all splits) or only the test rows.
    Returns a Series aligned with ``table.index``.
    """
    _require_columns(table, ["query_id", "model", "cost"], "The outcome table",
                     "normalize_cost needs query_id, model and cost (task optional).", LogsError)
    df = _with_defaults(table, ["query_id", "task", "model", "agent", "cost"])
    cost = _check_numbers(df, "cost", "the outcome table", minimum=0.0)
    return pd.Series(_minmax_per_task(cost, df["task"].to_numpy()), index=table.index, name="cost_norm")


def reward(table: pd.DataFrame, choices: pd.DataFrame,
           weights: tuple[float, float] | Sequence[float] | str) -> float:
    """Mean over the chosen queries of w_e·effect − w_c·cost_norm of the chosen pair.

    `weights` is a (w_effect, w_cost) pair or a name in SCENARIOS. cost_norm is min–max per task
    over all rows of `table` (see normalize_cost), so `choices` may cover only some of the table's
    queries (e.g. the test split scored with ranges over all splits). Every chosen pair must have a
    logged outcome; a missing one is an error, never a silent skip.
    """
    w_e, w_c = _weights(weights)
    out = _Outcomes.build(table)
    qi, ki = _choice_index(out, choices)
    return float(np.mean(w_e * out.effect[qi, ki] - w_c * out.cost_norm[qi, ki]))


def rewards(table: pd.DataFrame, choices: pd.DataFrame) -> dict[str, float]:
    """reward at each of the three SCENARIOS, keyed by scenario name."""
    out = _Outcomes.build(table)
    qi, ki = _choice_index(out, choices)
    e, cn = out.effect[qi, ki], out.cost_norm[qi, ki]
    return {name: float(np.mean(w_e * e - w_c * cn)) for name, (w_e, w_c) in SCENARIOS.items()}


def quality_cost(table: pd.DataFrame, choices: pd.DataFrame) -> tuple[float, float]:
    """(mean cost, mean effect) of the choices, cost in the table's raw unit (dollars)."""
    out = _Outcomes.build(table)
    qi, ki = _choice_index(out, choices)
    return float(np.mean(out.cost[qi, ki])), float(np.mean(out.effect[qi, ki]))


def oracle_choices(table: pd.DataFrame, weights: tuple[float, float] | Sequence[float] | str) -> pd.DataFrame:
    """Per query, the logged pair with the highest w_e·effect − w_c·cost_norm (the oracle router).

    Ties go to the lower cost, then to the first (model, agent) in name order, so the result does
    not depend on row order (first-index argmax would favour whichever model was logged first).
    """
    w_e, w_c = _weights(weights)
    out = _Outcomes.build(table)
    k = _argmax(w_e * out.effect - w_c * out.cost_norm, out.cost, out.present)
    return _choices_frame(out, np.arange(len(out.queries)), k)


def single_choices(table: pd.DataFrame, model: str, agent: str = DEFAULT_AGENT) -> pd.DataFrame:
    """The policy that sends every query of the table to one (model, agent).

    The pair must be logged for every query; otherwise its score would be taken on a different
    set of queries than everyone else's, so this raises LogsError naming the missing queries.
    """
    out = _Outcomes.build(table)
    k = out.cand_index((model, agent))
    missing = ~out.present[:, k]
    if missing.any():
        raise LogsError(f"({model!r}, {agent!r}) has no logged outcome for query ids {_show(out.queries[missing])}; "
                        "a single-model baseline needs every query. Restrict the table to the queries it covers.")
    return _choices_frame(out, np.arange(len(out.queries)), np.full(len(out.queries), k))


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
# AIQ (RouterBench) and cost–quality sweeps
# ---------------------------------------------------------------------------------------------
def _points(points: pd.DataFrame | Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
    """[n, 2] array of (cost, quality) from a sweep frame or a sequence of pairs."""
    if isinstance(points, pd.DataFrame):
        quality = "effect" if "effect" in points.columns else "quality"
        _require_columns(points, ["cost", quality], "The points frame",
                         "Give a frame with 'cost' and 'effect' columns (sweep's output) or (cost, quality) pairs.")
        arr = points[["cost", quality]].to_numpy(dtype=float)
    else:
        try:
            arr = np.asarray(points, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError("points must be (cost, quality) pairs of numbers.") from None
        if arr.ndim == 1 and arr.shape == (2,):
            arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        raise ConfigError(f"points must be a non-empty sequence of (cost, quality) pairs; got shape {arr.shape}.")
    if not np.isfinite(arr).all() or (arr[:, 0] < 0).any():
        raise ConfigError("points must hold finite numbers with cost >= 0; got "
                          f"{arr[~np.isfinite(arr).all(axis=1) | (arr[:, 0] < 0)][:3].tolist()}.")
    return arr


def pareto_hull(points: pd.DataFrame | Sequence[tuple[float, float]] | np.ndarray) -> np.ndarray:
    """Vertices [m, 2] of the non-decreasing concave hull of (cost, quality) points, by cost.

    The hull is the best quality reachable at each cost by mixing the given operating points
    (randomising between two points yields every point on the segment between them) and by
    never paying more for less. It starts at the cheapest point (the best one at that cost) and
    ends at the cheapest point of highest quality; beyond it the curve is flat.
    """
    arr = _points(points)
    arr = arr[np.lexsort((-arr[:, 1], arr[:, 0]))]  # by cost, best quality first within a cost
    # a staircase: keep a point only when it beats every cheaper point (drops dominated points)
    keep = np.empty(len(arr), dtype=bool)
    keep[0] = True
    keep[1:] = arr[1:, 1] > np.maximum.accumulate(arr[:, 1])[:-1]
    stairs = arr[keep]
    hull: list[np.ndarray] = []
    for p in stairs:  # Andrew's monotone chain, upper side
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle vertex when it lies on or below the chord to p
            if (x2 - x1) * (p[1] - y1) - (y2 - y1) * (p[0] - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append(p)
    return np.array(hull)


def aiq(points: pd.DataFrame | Sequence[tuple[float, float]] | np.ndarray, max_cost: float | None = None) -> float:
    """RouterBench's Average Improvement in Quality of a set of (cost, quality) operating points.

    Definition used here (RouterBench, arXiv 2403.12031, Sec. 3):
    AIQ = 1 / (c_max − c_min) · ∫_{c_min}^{c_max} R̃(c) dc, where R̃ is the non-decreasing concave
    hull of the points (``pareto_hull``), extended flat from its last vertex to c_max; c_min is
    the cheapest point's cost and c_max is `max_cost` (default: the largest cost among the points).
    So AIQ is the hull's mean quality over the cost range, in quality units: a single model (or
    a sweep that always lands on one point) has AIQ equal to its quality, and a dominated point
    changes nothing. When c_max == c_min the mean over the empty range is taken as its limit,
    the hull's quality at c_min.

    RouterBench's published code (evaluation/AIQ.py) integrates from the cheapest point but divides
    by c_max rather than c_max − c_min; that breaks "one model's AIQ is its quality", so the
    paper's formula is used. To compare routers, pass them the same `max_cost` (summarize does).
    Points dearer than `max_cost` only shape the hull up to `max_cost`.
    """
    hull = pareto_hull(points)
    c_min = float(hull[0, 0])
    c_max = float(_points(points)[:, 0].max() if max_cost is None else max_cost)
    if not math.isfinite(c_max) or c_max < c_min:
        raise ConfigError(f"max_cost must be a finite number >= the cheapest point's cost ({c_min:g}); got "
                          f"{max_cost!r}. AIQ averages the hull from the cheapest point up to max_cost.")
    if c_max == c_min:
        return float(hull[0, 1])
    inside = hull[hull[:, 0] < c_max]
    end = np.array([[c_max, np.interp(c_max, hull[:, 0], hull[:, 1])]])  # np.interp is flat past the last vertex
    curve = np.vstack([inside, end])
    area = float(np.sum(np.diff(curve[:, 0]) * (curve[1:, 1] + curve[:-1, 1]) / 2.0))
    return area / (c_max - c_min)


def _predicted(out: _Outcomes, predictions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted effect, cost and mask [Q, K] aligned with the table; mask = predicted and logged."""
    hint = ("Predictions have one row per (query_id, model, agent) with predicted effect and cost "
            "(router.predict's output renamed to the canonical names).")
    _require_columns(predictions, ["query_id", "model", "effect", "cost"], "The predictions frame", hint)
    df = _with_defaults(predictions, ["query_id", "model", "agent", "effect", "cost"])
    df = df[df["query_id"].isin(out.queries)]  # predictions for queries outside the table cannot be scored
    e_hat = _check_numbers(df, "effect", "the predictions")
    c_hat = _check_numbers(df, "cost", "the predictions")
    dup = df.duplicated(["query_id", "model", "agent"], keep=False)
    if dup.any():
        row = df[dup].iloc[0]
        raise ConfigError(f"The predictions have {int(dup.sum())} rows sharing a (query_id, model, agent), e.g. "
                          f"({row['query_id']!r}, {row['model']!r}, {row['agent']!r}); give one prediction per pair.")
    qi = out.query_index(df["query_id"], "The predictions")
    ki = out.cand_positions(df)
    keep = ki >= 0  # a candidate never logged in the table cannot be scored either
    shape = out.present.shape
    e, c = np.zeros(shape), np.zeros(shape)
    mask = np.zeros(shape, dtype=bool)
    e[qi[keep], ki[keep]], c[qi[keep], ki[keep]] = e_hat[keep], c_hat[keep]
    mask[qi[keep], ki[keep]] = True
    mask &= out.present
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ConfigError(f"The predictions give no logged candidate for query ids {_show(out.queries[empty])}; "
                          "predict every candidate for every query of the table.")
    return e, c, mask


def _lambda_grid(e: np.ndarray, c: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    # the pick at λ → ∞: the cheapest predicted candidate (best effect among equally cheap ones)
    j = _argmax(-c, -e, mask)  # [Q]
    rows = np.arange(len(j))
    de = e - e[rows, j][:, None]  # [Q, K] effect gained over the cheapest
    dc = c - c[rows, j][:, None]  # [Q, K] cost paid over the cheapest
    useful = mask & (de > 0) & (dc > 0)
    if n == 1 or not useful.any():
        return np.zeros(1)  # λ = 0 alone (or the cheapest already wins everywhere at λ = 0)
    ratios = de[useful] / dc[useful]  # the λ at which each candidate stops beating the cheapest
    hi = float(ratios.max())
    lo = max(float(ratios.min()), hi * 10.0 ** (-LAMBDA_DECADES))
    if n == 2 or lo >= hi:
        return np.array([0.0, hi])
    return np.concatenate([[0.0], np.geomspace(lo, hi, n - 1)])


def lambda_grid(predictions: pd.DataFrame, table: pd.DataFrame, n: int = N_LAMBDAS) -> np.ndarray:
    """Default λ grid for ``sweep``: 0, then up to n − 1 log-spaced values ending at the λ where, for
    every query, the cheapest predicted candidate wins.

    λ prices cost in effect units per cost unit, so the grid is scaled by the predictions' own
    effect-gain / cost-gain ratios: its top is the largest such ratio (beyond it nothing changes)
    and its bottom is the smallest ratio, floored at LAMBDA_DECADES decades below the top.
    """
    if int(n) < 1:
        raise ConfigError(f"n must be >= 1; got {n!r}.")
    out = _Outcomes.build(table)
    e, c, mask = _predicted(out, predictions)
    return _lambda_grid(e, c, mask, int(n))


def sweep(predictions: pd.DataFrame, table: pd.DataFrame, lambdas: Sequence[float] | np.ndarray | None = None
          ) -> pd.DataFrame:
    """Cost–quality operating points of a router as its cost price λ varies.

    For each λ every query of `table` gets argmax(effect_hat − λ·cost_hat) over its predicted
    candidates (ties: lower predicted cost, then name), and the row reports the TRUE mean cost and
    mean effect of those picks. Candidates absent from the table (never logged for that query) are
    skipped: they cannot be scored offline. Predictions for queries outside the table are ignored.
    Default λ: ``lambda_grid``. Returns columns lambda, cost, effect (one row per λ, in grid order):
    feed it to ``aiq``, ``cost_to_match`` or a Pareto plot.
    """
    out = _Outcomes.build(table)
    return _sweep(out, *_predicted(out, predictions), lambdas)


def _sweep(out: _Outcomes, e: np.ndarray, c: np.ndarray, mask: np.ndarray,
           lambdas: Sequence[float] | np.ndarray | None) -> pd.DataFrame:
    if lambdas is None:
        grid = _lambda_grid(e, c, mask, N_LAMBDAS)
    else:
        try:
            grid = np.atleast_1d(np.asarray(lambdas, dtype=float))
        except (TypeError, ValueError):
            grid = np.array([np.nan])
        if grid.ndim != 1 or grid.size == 0 or not np.isfinite(grid).all() or (grid < 0).any():
            raise ConfigError(f"lambdas must be a non-empty sequence of finite numbers >= 0; got {lambdas!r}.")
    rows = np.arange(len(out.queries))
    costs, effects = [], []
    for lam in grid:
        k = _argmax(e - lam * c, c, mask)  # [Q]
        costs.append(out.cost[rows, k].mean())
        effects.append(out.effect[rows, k].mean())
    return pd.DataFrame({"lambda": grid, "cost": costs, "effect": effects})


def cost_to_match(table: pd.DataFrame, points_or_sweep: pd.DataFrame | Sequence[tuple[float, float]] | np.ndarray,
                  reference_model: str | tuple[str, str], tolerance: float = MATCH_TOLERANCE) -> float | None:
    """Cost of the cheapest operating point whose quality reaches the reference model's, as a fraction
    of the reference's mean cost on `table`.

    A point matches when its quality >= reference quality − `tolerance` (default half a point of
    accuracy, so sampling noise does not hide a match). Only the given points count (no mixing
    between them). Returns None when no point matches: the router never reaches the reference's
    quality, which callers report as "not reached" (never as 0 or as a cost).
    """
    tol = float(tolerance)
    if not math.isfinite(tol) or tol < 0:
        raise ConfigError(f"tolerance must be a finite number >= 0; got {tolerance!r}.")
    pts = _points(points_or_sweep)
    model, agent = _pair(reference_model)
    ref_cost, ref_quality = quality_cost(table, single_choices(table, model, agent))
    if ref_cost <= 0:
        raise ConfigError(f"The reference ({model!r}, {agent!r}) costs {ref_cost!r} on average; a cost fraction needs "
                          "a reference with positive cost.")
    ok = pts[:, 1] >= ref_quality - tol
    if not ok.any():
        return None
    return float(pts[ok, 0].min() / ref_cost)


# ---------------------------------------------------------------------------------------------
# APGR and CPT (RouteLLM)
# ---------------------------------------------------------------------------------------------
def pgr_curve(table: pd.DataFrame, scores: pd.Series | Mapping, strong: str | tuple[str, str],
              weak: str | tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Breakpoints (fraction of strong calls [m], PGR [m]) of a two-model router's exact PGR curve.

    Queries go to the strong model in decreasing order of `scores` (query_id -> preference for
    strong). Queries with equal scores form one group that is routed together in expectation
    (as if ties were broken at random), so the curve is linear inside a group and does not depend
    on row order. PGR(x) = (q(x) − q_weak) / (q_strong − q_weak), q(x) the mean effect when a
    fraction x of the queries goes to the strong model.
    """
    out = _Outcomes.build(table)
    ks, kw = out.cand_index(strong), out.cand_index(weak)
    if ks == kw:
        raise ConfigError(f"strong and weak are the same candidate {out.cands[ks]!r}; pick two different ones.")
    both = out.present[:, ks] & out.present[:, kw]
    if not both.all():
        raise LogsError(f"Query ids {_show(out.queries[~both])} lack an outcome for {out.cands[ks]!r} or "
                        f"{out.cands[kw]!r}; two-model metrics need both for every query. Restrict the table.")
    s = pd.Series(scores) if isinstance(scores, Mapping) else scores
    if not isinstance(s, pd.Series):
        raise ConfigError(f"scores must be a pandas Series (or dict) query_id -> preference for the strong model; "
                          f"got {type(scores).__name__}.")
    if s.index.has_duplicates:
        raise ConfigError(f"scores has several values for query ids {_show(pd.unique(s.index[s.index.duplicated()]))}.")
    idx = s.index.get_indexer(pd.Index(out.queries))
    if (idx < 0).any():
        raise ConfigError(f"scores lacks query ids {_show(out.queries[idx < 0])} of the table; score every query.")
    raw = s.iloc[idx]
    sc = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)  # [Q]
    if not np.isfinite(sc).all():
        i = int(np.flatnonzero(~np.isfinite(sc))[0])
        raise ConfigError(f"scores must be finite numbers; query {out.queries[i]!r} has {raw.iloc[i]!r}.")
    gain = out.effect[:, ks] - out.effect[:, kw]  # [Q] effect gained by sending the query to strong
    total = float(gain.sum())
    if total <= 0:
        raise ConfigError(f"{out.cands[ks]!r} is not better than {out.cands[kw]!r} on this table (mean effect "
                          f"{out.effect[:, ks].mean():.4f} vs {out.effect[:, kw].mean():.4f}), so the performance gap "
                          "is not positive and PGR is undefined. Swap strong and weak.")
    group_scores, inverse = np.unique(-sc, return_inverse=True)  # groups in decreasing score
    size = np.bincount(inverse, minlength=len(group_scores))
    group_gain = np.bincount(inverse, weights=gain, minlength=len(group_scores))
    x = np.concatenate([[0.0], np.cumsum(size) / len(sc)])
    pgr = np.concatenate([[0.0], np.cumsum(group_gain) / total])
    return x, pgr


def apgr(table: pd.DataFrame, scores: pd.Series | Mapping, strong: str | tuple[str, str],
         weak: str | tuple[str, str], n_points: int | None = APGR_POINTS) -> float:
    """RouteLLM's Average Performance Gap Recovered: area under PGR vs fraction of strong calls.

    RouteLLM (arXiv 2406.18665) defines APGR = ∫_0^1 PGR(x) dx over the fraction x of calls sent to
    the strong model, and its evaluation code approximates the integral with the trapezoid rule over
    10 equal steps (11 points, x = 0, 0.1, …, 1, thresholds at the deciles of the router's scores).
    Here PGR is read off the exact curve (``pgr_curve``) at those 11 fractions, so ties and row
    order do not matter; ``n_points=None`` integrates the exact piecewise-linear curve instead.
    A router that ignores the query (constant or random scores) gets ≈ 0.5; a router that knows
    which queries gain from the strong model gets more.
    """
    x, pgr = pgr_curve(table, scores, strong, weak)
    if n_points is None:
        xs, ys = x, pgr
    else:
        if int(n_points) < 1:
            raise ConfigError(f"n_points must be >= 1 (or None for the exact area); got {n_points!r}.")
        xs = np.linspace(0.0, 1.0, int(n_points) + 1)
        ys = np.interp(xs, x, pgr)
    return float(np.sum(np.diff(xs) * (ys[1:] + ys[:-1]) / 2.0))


def cpt(table: pd.DataFrame, scores: pd.Series | Mapping, strong: str | tuple[str, str],
        weak: str | tuple[str, str], pgr: float = 0.5) -> float:
    """RouteLLM's Call-Performance Threshold: the least fraction of strong calls reaching PGR >= `pgr`.

    Read exactly off the piecewise-linear curve of ``pgr_curve`` (RouteLLM interpolates its 11
    sampled points; this is the same quantity without the sampling error). Monotone in `pgr`;
    `pgr` in [0, 1], and since PGR(1) = 1 every such target is reached.
    """
    target = float(pgr)
    if not math.isfinite(target) or not 0.0 <= target <= 1.0:
        raise ConfigError(f"pgr must be in [0, 1] (e.g. 0.5 for CPT(50%)); got {pgr!r}.")
    x, curve = pgr_curve(table, scores, strong, weak)
    j = int(np.argmax(curve >= target - 1e-12))  # first breakpoint at or above the target
    if j == 0:
        return 0.0
    x0, x1, y0, y1 = x[j - 1], x[j], curve[j - 1], curve[j]
    return float(min(x1, x0 + (target - y0) / (y1 - y0) * (x1 - x0)))


# ---------------------------------------------------------------------------------------------
# bench convenience and splits
# ---------------------------------------------------------------------------------------------
def summarize(table: pd.DataFrame, predictions: pd.DataFrame, cost_range: Mapping[str, tuple[float, float]], *,
              lambdas: Sequence[float] | np.ndarray | None = None, reference: str | tuple[str, str] | None = None,
              max_cost: float | None = None, tolerance: float = MATCH_TOLERANCE) -> dict[str, float | str | None]:
    """All headline metrics of one router on one test table, from its predictions.

    - ``reward_<scenario>`` for each of SCENARIOS: each query gets the candidate maximising
      w_e·effect_hat − w_c·cost_norm_hat, where cost_norm_hat normalises the predicted cost with the
      per-task (min, max) of the TRAINING costs in `cost_range` (what a deployed router knows; a task
      missing there falls back to the '*' entry if present, as made by ``base.cost_ranges``); the
      choice is then scored with ``reward`` on `table`.
    - ``aiq`` of the router's ``sweep`` (λ grid `lambdas`, default ``lambda_grid``), with c_max =
      `max_cost` or, by default, the mean over queries of the dearest logged candidate's cost (the
      most any policy can spend on `table`): a ceiling shared by every router evaluated on the same
      table, so their AIQs compare.
    - ``cost_to_match``: cost of the cheapest swept point matching `reference` (default: the single
      candidate with the best effect on `table`, a yardstick rather than a competitor, so picking it
      on test rows is fair), as a fraction of its cost; None when never reached.
    Returns a flat dict of numbers and names, one bench row.
    """
    out = _Outcomes.build(table)
    e, c, mask = _predicted(out, predictions)
    lo, span = np.zeros(len(out.queries)), np.zeros(len(out.queries))
    for task in pd.unique(out.tasks):
        bounds = cost_range.get(task, cost_range.get("*"))
        if bounds is None:
            raise ConfigError(f"cost_range has no entry for task {task!r} (it has {sorted(cost_range)}); give the "
                              "training (min, max) cost of every test task, e.g. graphroute.routers.base.cost_ranges(train).")
        t_lo, t_hi = (float(v) for v in bounds)
        if not (math.isfinite(t_lo) and math.isfinite(t_hi)) or t_hi < t_lo:
            raise ConfigError(f"cost_range[{task!r}] must be a finite (min, max) with min <= max; got {bounds!r}.")
        lo[out.tasks == task], span[out.tasks == task] = t_lo, t_hi - t_lo
    cn_hat = np.divide(c - lo[:, None], span[:, None], out=np.zeros_like(c), where=span[:, None] > 0)
    rows = np.arange(len(out.queries))
    result: dict[str, float | str | None] = {}
    for name, (w_e, w_c) in SCENARIOS.items():
        k = _argmax(w_e * e - w_c * cn_hat, c, mask)
        result[f"reward_{name}"] = float(np.mean(w_e * out.effect[rows, k] - w_c * out.cost_norm[rows, k]))
    points = _sweep(out, e, c, mask, lambdas)
    if max_cost is None:  # no policy restricted to logged pairs can cost more than this
        max_cost = float(np.mean(np.nanmax(np.where(out.present, out.cost, np.nan), axis=1)))
    result["aiq"] = aiq(points, max_cost=max_cost)
    ref = best_single(table, SCENARIOS["performance_first"]) if reference is None else _pair(reference)
    result["cost_to_match"] = cost_to_match(table, points, ref, tolerance)
    result["reference_model"], result["reference_agent"] = ref
    return result


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
        raise ConfigError(f"fractions must be three numbers >= 0 summing to 1, e.g. (0.7, 0.1, 0.2); "
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
