"""Turning predictions into a choice: the objective, the constraints and the `Selection` result.

score = w_effect · effect − w_cost · cost_term − w_latency · latency_s, where cost_term is
either the predicted cost min–max normalised with the task's range of logged costs
(``cost_unit="normalized"``, the GraphRouter paper's convention) or dollars (``"usd"``: the
weight is then "effect points per dollar"). Weights are given at query time; nothing is retrained.

Each rule lives here once, for every router, the bench and the metrics: ``parse_weights`` (the
weights in any accepted form), ``cost_ranges`` / ``task_bounds`` / ``normalize_cost`` (the per-task
min–max cost scale), ``rank_arrays`` (score and constraints on [Q, P] arrays; ``rank_candidates``
is its DataFrame form) and ``best_index`` (the tie-break: score, then cost, then name order).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from graphroute.errors import ConfigError, InfeasibleError

# The GraphRouter paper's three trade-offs, as (w_effect, w_cost) with cost min-max normalised per task
SCENARIOS: dict[str, tuple[float, float]] = {
    "performance_first": (1.0, 0.0),
    "balance": (0.5, 0.5),
    "cost_first": (0.2, 0.8),
}

__all__ = ["ALL_TASKS", "COST_UNITS", "DEFAULT_EVIDENCE", "DEFAULT_WEIGHTS", "SCENARIOS", "Objective", "Selection",
           "best_index", "cost_ranges", "effect_cost_weights", "normalize_cost", "parse_weights", "rank_arrays",
           "rank_candidates", "task_bounds"]

DEFAULT_WEIGHTS: dict[str, float] = {"effect": 1.0, "cost": 0.5, "latency": 0.0}
COST_UNITS = ("normalized", "usd")
FALLBACKS = (None, "cheapest", "best_effect")
ALL_TASKS = "*"  # cost_ranges' key for "all tasks": the range a task never logged falls back to
UNIT_RANGE = (0.0, 1.0)  # the range used when not even ALL_TASKS is known (cost_term = cost)
DEFAULT_EVIDENCE = 5  # nearest past queries a Selection (and ``evidence()``) reports by default


def parse_weights(weights: Mapping[str, float] | tuple | str | None) -> dict[str, float]:
    """The one weights parser: a dict of every weight name (missing ones 0), validated.

    Accepts ``None`` (DEFAULT_WEIGHTS), a mapping such as ``{'effect': 1.0, 'cost': 0.5}``, a
    sequence ``(effect, cost)`` or ``(effect, cost, latency)``, a scenario name in SCENARIOS
    (``'balance'``) or the command-line form ``'effect=1,cost=0.5'``.
    """
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
    if isinstance(weights, str):
        weights = _weights_text(weights)
    if isinstance(weights, tuple | list):
        if len(weights) not in (2, 3):
            raise ConfigError(f"weights given as a sequence must be (effect, cost) or (effect, cost, latency); got "
                              f"{weights!r}. Pass e.g. weights=(0.5, 0.5) or weights={{'effect': 0.5, 'cost': 0.5}}.")
        weights = dict(zip(("effect", "cost", "latency"), weights))
    if not isinstance(weights, Mapping):
        raise ConfigError(f"weights must be a dict such as {{'effect': 1.0, 'cost': 0.5}}; got {type(weights).__name__}.")
    unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise ConfigError(f"Unknown weight name(s) {unknown}; valid names are {sorted(DEFAULT_WEIGHTS)}.")
    out = {k: 0.0 for k in DEFAULT_WEIGHTS}
    for k, v in weights.items():
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ConfigError(f"Weight {k!r} must be a number; got {v!r}. "
                              "Pass numbers, e.g. weights={'effect': 1.0, 'cost': 0.5}.") from None
        if not math.isfinite(v) or v < 0:
            raise ConfigError(f"Weight {k!r} must be a finite number >= 0; got {v!r}. "
                              "Weights say how much each term counts; to prefer cheaper models raise 'cost'.")
        out[k] = v
    if not any(out.values()):
        raise ConfigError(f"At least one weight must be > 0; got {dict(weights)!r}. "
                          "Use e.g. {'effect': 1.0} to pick the best predicted quality.")
    return out


def _weights_text(text: str) -> Mapping[str, float] | tuple[float, float]:
    """A scenario name, or 'effect=1,cost=0.5' as a mapping (values parsed by parse_weights)."""
    if text in SCENARIOS:
        return SCENARIOS[text]
    if "=" not in text:
        raise ConfigError(f"Unknown scenario {text!r}; valid scenarios are {list(SCENARIOS)}, or give weights as "
                          "'effect=1,cost=0.5' (names: effect, cost, latency).")
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise ConfigError(f"weights look like 'effect=1,cost=0.5'; got {text!r} (the part {part!r} has no '=').")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def effect_cost_weights(weights: Mapping[str, float] | tuple | str | None, what: str) -> tuple[float, float]:
    """(w_effect, w_cost) for code that scores effect and cost only (``what`` names it in the error)."""
    w = parse_weights(weights)
    if w["latency"] > 0:
        raise ConfigError(f"{what} scores effect and cost only; its weights cannot have a latency term "
                          f"(got {weights!r}). Drop 'latency' from the weights.")
    return w["effect"], w["cost"]


# ---------------------------------------------------------------------------------------------
# the cost scale: per-task min–max of logged cost (the GraphRouter paper's normalisation)
# ---------------------------------------------------------------------------------------------
def cost_ranges(logs: pd.DataFrame) -> dict[str, tuple[float, float]]:
    """Per-task (min, max) of logged cost, plus ALL_TASKS ('*') for all tasks: the 'normalized' cost scale."""
    g = logs.groupby("task")["cost"]
    out = {t: (float(lo), float(hi)) for t, lo, hi in zip(g.min().index, g.min(), g.max())}
    out[ALL_TASKS] = (float(logs["cost"].min()), float(logs["cost"].max()))
    return out


def task_bounds(cost_range: Mapping[str, tuple[float, float]], tasks: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
    """(lo, hi) [T] of each task's cost range; a task not in ``cost_range`` takes ALL_TASKS' range, else (0, 1)."""
    fallback = cost_range.get(ALL_TASKS, UNIT_RANGE)
    bounds = np.array([cost_range.get(t, fallback) for t in tasks], dtype=float).reshape(-1, 2)
    return bounds[:, 0], bounds[:, 1]


def normalize_cost(cost: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """(cost − lo) / (hi − lo), shapes broadcast; a task whose logged costs are all equal (hi == lo) keeps
    cost − lo, so a logged cost there is 0 and a predicted one still ranks cheaper below dearer."""
    return (cost - lo) / np.where(hi > lo, hi - lo, 1.0)


def _name_set(values: Iterable[str] | str | None, valid: list[str], what: str) -> set[str] | None:
    if values is None:
        return None
    if isinstance(values, str):
        values = [values]
    values = list(values)
    unknown = [v for v in values if v not in valid]
    if unknown:
        raise ConfigError(f"Unknown {what}(s) {unknown} in the allow/forbid list; the router knows {valid}. "
                          f"Check the spelling, or add the {what} first (router.add_{what}).")
    return set(values)


@dataclass
class Objective:
    """What the caller wants: weights, cost unit and constraints (all optional but the weights)."""

    weights: Mapping[str, float] | tuple | None = None
    cost_unit: str = "normalized"
    budget: float | None = None  # max predicted USD per call
    max_latency: float | None = None  # max predicted seconds per call
    min_effect: float | None = None
    allowed_models: Iterable[str] | str | None = None
    allowed_agents: Iterable[str] | str | None = None
    forbidden_models: Iterable[str] | str | None = None
    forbidden_agents: Iterable[str] | str | None = None
    fallback: str | None = None  # None: raise InfeasibleError; "cheapest" / "best_effect": ignore constraints

    def checked(self, models: list[str], agents: list[str], has_latency: bool) -> Objective:
        """A copy with validated, normalised fields."""
        if self.cost_unit not in COST_UNITS:
            raise ConfigError(f"cost_unit must be one of {list(COST_UNITS)}; got {self.cost_unit!r}.")
        if self.fallback not in FALLBACKS:
            raise ConfigError(f"fallback must be one of {list(FALLBACKS)}; got {self.fallback!r}.")
        for name in ("budget", "max_latency", "min_effect"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int | float) or not math.isfinite(v) or v < 0):
                raise ConfigError(f"{name} must be a finite number >= 0 or None; got {v!r}. "
                                  f"Pass a limit per call (USD for budget, seconds for max_latency, [0, 1] for "
                                  f"min_effect), or {name}=None for none.")
        w = parse_weights(self.weights)
        if (self.max_latency is not None or w["latency"] > 0) and not has_latency:
            raise ConfigError("This router predicts no latency (its logs had no 'latency_s' column), so "
                              "max_latency and a latency weight cannot be used. Log latency_s and refit, or drop them.")
        return Objective(
            weights=w, cost_unit=self.cost_unit, budget=self.budget, max_latency=self.max_latency,
            min_effect=self.min_effect,
            allowed_models=_name_set(self.allowed_models, models, "model"),
            allowed_agents=_name_set(self.allowed_agents, agents, "agent"),
            forbidden_models=_name_set(self.forbidden_models, models, "model"),
            forbidden_agents=_name_set(self.forbidden_agents, agents, "agent"),
            fallback=self.fallback,
        )


def best_index(score: np.ndarray, cost: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per row of [Q, K], the masked column with the highest score, then the lowest cost, then the lowest index.

    The one tie-break of oracle labels and metrics (columns in name order, so the last tie-break is
    the name, never row order). A row with nothing masked gives column 0; callers that must not
    choose there check first.
    """
    s = np.where(mask, score, -np.inf)
    tied = mask & (s == s.max(axis=1, keepdims=True))
    c = np.where(tied, cost, np.inf)
    return (tied & (c == c.min(axis=1, keepdims=True))).argmax(axis=1)


def rank_arrays(obj: Objective, cost_lo: np.ndarray, cost_hi: np.ndarray, effect: np.ndarray, cost: np.ndarray,
                latency: np.ndarray | None, cand_model: np.ndarray, cand_agent: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one ranking kernel: cost_term, score and feasible [Q, P] of a checked objective.

    ``effect``, ``cost`` and ``latency`` (None when not predicted) are [Q, P]; ``cost_lo`` / ``cost_hi``
    broadcast to them ([Q, 1]: one task per query, or [Q, P]); ``cand_model`` / ``cand_agent`` [P]
    name the candidate of each column (broadcast over queries).
    """
    w = obj.weights
    term = normalize_cost(cost, cost_lo, cost_hi) if obj.cost_unit == "normalized" else cost
    score = w["effect"] * effect - w["cost"] * term
    if w["latency"] > 0:
        score = score - w["latency"] * latency
    ok = np.ones(cost.shape, dtype=bool)
    if obj.budget is not None:
        ok &= cost <= obj.budget
    if obj.max_latency is not None:
        ok &= latency <= obj.max_latency
    if obj.min_effect is not None:
        ok &= effect >= obj.min_effect
    for names, col, keep in ((obj.allowed_models, cand_model, True), (obj.allowed_agents, cand_agent, True),
                             (obj.forbidden_models, cand_model, False), (obj.forbidden_agents, cand_agent, False)):
        if names is not None and (keep or names):
            ok &= np.array([(n in names) == keep for n in col], dtype=bool)  # [P], broadcast over queries
    return term, score, ok


def rank_candidates(pred: pd.DataFrame, obj: Objective, cost_range: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """Score and constrain predictions of one or many queries (a checked objective) with ``rank_arrays``.

    Adds columns cost_term, score and feasible; rows are sorted per query_index by
    (feasible, score) descending, ties toward the lower cost then the name (never row order).
    """
    out = pred.copy()
    lo, hi = task_bounds(cost_range, out["task"])  # [N] each: the rows are one [1, N] block of candidates
    need_latency = obj.weights["latency"] > 0 or obj.max_latency is not None
    latency = out["latency_s"].to_numpy(float)[None] if need_latency else None
    term, score, ok = rank_arrays(obj, lo[None], hi[None], out["effect"].to_numpy(float)[None],
                                  out["cost"].to_numpy(float)[None], latency,
                                  out["model"].to_numpy(object), out["agent"].to_numpy(object))
    out["cost_term"] = term[0]
    out["score"] = score[0]
    out["feasible"] = ok[0]
    out = out.sort_values(["query_index", "feasible", "score", "cost", "model", "agent"],
                          ascending=[True, False, False, True, True, True], kind="mergesort")
    return out.reset_index(drop=True)


def describe_infeasible(ranked: pd.DataFrame, obj: Objective) -> str:
    """Say which constraints left nothing, with the nearest miss, so the caller can fix it."""
    parts = []
    if obj.budget is not None:
        parts.append(f"budget={obj.budget:g} USD (cheapest predicted: {ranked['cost'].min():.3g} USD, "
                     f"{ranked.loc[ranked['cost'].idxmin(), 'model']})")
    if obj.max_latency is not None:
        parts.append(f"max_latency={obj.max_latency:g} s (fastest predicted: {ranked['latency_s'].min():.3g} s)")
    if obj.min_effect is not None:
        parts.append(f"min_effect={obj.min_effect:g} (best predicted: {ranked['effect'].max():.3f})")
    for name in ("allowed_models", "allowed_agents", "forbidden_models", "forbidden_agents"):
        v = getattr(obj, name)
        if v is not None:
            parts.append(f"{name}={sorted(v)}")
    return ("No candidate meets the constraints: " + "; ".join(parts) +
            ". Relax a constraint, or pass fallback='cheapest' (or 'best_effect') to get a choice anyway.")


@dataclass
class Selection:
    """The chosen (model, agent) for one query, with its predictions and why."""

    query: str
    task: str
    model: str
    agent: str
    effect: float  # predicted quality in [0, 1]
    cost: float  # predicted USD
    score: float
    latency_s: float | None = None
    fallback: bool = False  # True when no candidate met the constraints and a declared fallback was used
    alternatives: pd.DataFrame = field(default_factory=pd.DataFrame)  # every candidate, best first
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)  # nearest past queries and their outcomes

    def __repr__(self) -> str:
        lat = f", latency_s={self.latency_s:.3g}" if self.latency_s is not None else ""
        fb = ", fallback=True" if self.fallback else ""
        return (f"Selection(model={self.model!r}, agent={self.agent!r}, effect={self.effect:.3f}, "
                f"cost={self.cost:.3g}{lat}, score={self.score:.3f}{fb})")

    def to_dict(self) -> dict:
        """JSON-safe summary (alternatives as records, evidence left out)."""
        return {
            "query": self.query, "task": self.task, "model": self.model, "agent": self.agent,
            "effect": self.effect, "cost": self.cost, "latency_s": self.latency_s, "score": self.score,
            "fallback": self.fallback,
            "alternatives": self.alternatives[[c for c in ("model", "agent", "effect", "cost", "latency_s", "score",
                                                           "feasible") if c in self.alternatives]]
            .to_dict(orient="records"),
        }


def pick(ranked_one: pd.DataFrame, obj: Objective) -> tuple[pd.Series, bool]:
    """The best row of one query's ranked candidates, or the declared fallback; raise when neither."""
    if bool(ranked_one["feasible"].iloc[0]):
        return ranked_one.iloc[0], False
    if obj.fallback is None:
        raise InfeasibleError(describe_infeasible(ranked_one, obj))
    if obj.fallback == "cheapest":
        row = ranked_one.sort_values(["cost", "model", "agent"], kind="mergesort").iloc[0]
    else:
        row = ranked_one.sort_values(["effect", "cost"], ascending=[False, True], kind="mergesort").iloc[0]
    return row, True
