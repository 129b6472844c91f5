"""Cost–quality curves: RouterBench's AIQ of a λ sweep, cost to match a model, RouteLLM's PGR / APGR / CPT."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from graphroute.errors import ConfigError, LogsError
from graphroute.eval.outcomes import (_Outcomes, _argmax, _pair, _predicted, _require_columns, _show, quality_cost,
                                      single_choices)

__all__ = ["pareto_hull", "aiq", "lambda_grid", "sweep", "cost_to_match", "pgr_curve", "apgr", "cpt",
           "APGR_POINTS", "MATCH_TOLERANCE", "N_LAMBDAS"]

APGR_POINTS = 10  # RouteLLM evaluates 10 equal steps of strong-call fraction (11 points, 0..1)
MATCH_TOLERANCE = 0.005  # quality slack in cost_to_match: half a point of accuracy
N_LAMBDAS = 80  # default sweep length: mean |AIQ error| ~0.0005 against the exact sweep on the bench data


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


def _switches(e: np.ndarray, c: np.ndarray, mask: np.ndarray, start: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every change of pick of ``argmax(e − λ·c)`` as λ rises from 0: (λ, query, old column, new column),
    [S] each.

    Each query starts at ``start``, its best predicted candidate (the cheapest among equals:
    ``_argmax(e, c, mask)``), and moves down the upper hull of its (cost, effect) points to its
    cheapest one: at each step to the cheaper candidate that overtakes the current one at the
    smallest λ (the cheapest among those tied there). At most K − 1 steps, each one array
    expression over the queries still moving.
    """
    cur = start.copy()
    live = np.arange(len(e))
    lams, queries, olds, picks = [], [], [], []
    while len(live):
        ep, cp = e[live, cur[live]][:, None], c[live, cur[live]][:, None]
        el, cl, cheaper = e[live], c[live], mask[live] & (c[live] < cp)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(cheaper, (ep - el) / (cp - cl), np.inf)  # λ at which each cheaper one overtakes
        lam = r.min(axis=1)
        moving = np.isfinite(lam)
        live, r, cl, cheaper, lam = live[moving], r[moving], cl[moving], cheaper[moving], lam[moving]
        if not len(live):
            break
        tied = cheaper & (r <= lam[:, None])
        nxt = np.where(tied, cl, np.inf).argmin(axis=1)  # the cheapest of those tied (then the lowest column)
        lams.append(lam)
        queries.append(live)
        olds.append(cur[live])
        picks.append(nxt)
        cur[live] = nxt
    if not lams:
        none = np.zeros(0, dtype=np.int64)
        return np.zeros(0), none, none, none
    return tuple(np.concatenate(a) for a in (lams, queries, olds, picks))


def _paths(e: np.ndarray, c: np.ndarray, mask: np.ndarray, *values: np.ndarray
           ) -> tuple[np.ndarray, list[np.ndarray]]:
    """The whole sweep of ``argmax(e − λ·c)`` from its switches: (λs [U + 1], one path [U + 1] per array).

    The λs are 0 and one inside each stretch between consecutive switching λs (never on a switch,
    where rounding decides), then twice the last; each path is the mean over queries of one [Q, K]
    array of ``values`` at the picks those λs make. U = 0 when no pick ever changes.
    """
    start = _argmax(e, c, mask)
    lam, query, old, new = _switches(e, c, mask, start)
    rows = np.arange(len(e))
    if len(lam) == 0:
        return np.zeros(1), [np.array([v[rows, start].mean()]) for v in values]
    order = np.argsort(lam, kind="stable")
    lam, query, old, new = lam[order], query[order], old[order], new[order]
    steps, first = np.unique(lam, return_index=True)
    ends = np.append(first[1:], len(lam)) - 1  # the last switch at each distinct λ
    where = np.concatenate([[0.0], (steps[:-1] + steps[1:]) / 2.0, [2.0 * steps[-1]]])
    paths = [v[rows, start].mean() + np.concatenate([[0.0], np.cumsum((v[query, new] - v[query, old]) / len(e))[ends]])
             for v in values]
    return where, paths


def _lambda_grid(e: np.ndarray, c: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    if n == 1:
        return np.zeros(1)
    where, (cost, effect) = _paths(e, c, mask, c, e)  # the PREDICTED path: no outcome plays a part
    path = np.stack([cost, effect], axis=1)
    if len(where) <= n:
        return where
    # n of the points spread along the path (each axis scaled to its range): the two ends, then
    # again and again the point nearest the middle of the longest stretch without one
    span = np.ptp(path, axis=0)
    moves = np.diff(path, axis=0) / np.where(span > 0, span, 1.0)
    along = np.concatenate([[0.0], np.cumsum(np.hypot(moves[:, 0], moves[:, 1]))])
    chosen = [0, len(where) - 1]
    while len(chosen) < n:
        gaps = np.diff(along[chosen])
        for g in np.argsort(-gaps, kind="stable"):  # the longest stretch that still has a point inside
            lo, hi = chosen[g], chosen[g + 1]
            if hi - lo > 1:
                chosen.insert(g + 1, lo + 1 + int(np.argmin(np.abs(along[lo + 1:hi] - (along[lo] + along[hi]) / 2))))
                break
    return where[chosen]


def lambda_grid(predictions: pd.DataFrame, table: pd.DataFrame, n: int = N_LAMBDAS) -> np.ndarray:
    """Default λ grid for ``sweep``: up to n values from 0 to above the last λ at which a pick changes
    (there every query gets its cheapest predicted candidate), placed so that the router's operating
    points spread along its cost–quality path.

    λ prices cost in effect units per cost unit, so the grid comes from the predictions' own
    trade-offs: as λ rises each query's pick moves down the upper hull of its predicted (cost,
    effect) points, and every switch happens at a known λ (``_switches``). Those switches give the
    router's exact PREDICTED path, its mean (cost, effect) between consecutive switching λs. When the
    path has at most n points the grid holds one λ inside each stretch (so the sweep visits every
    point); otherwise n of them: the two ends, then repeatedly the point nearest the middle of the
    longest stretch of the path (each axis scaled to its range) without one. λs spaced by scale
    alone can leave every point but the two ends in a stretch where nothing changes; spacing along
    the path puts them where the router's choices change. The grid reads the predictions only,
    never the logged outcomes, so it cannot seek out a lucky λ.
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
