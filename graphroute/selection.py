"""Turning predictions into a choice: the objective, the constraints and the `Selection` result.

score = w_effect · effect − w_cost · cost_term − w_latency · latency_s, where cost_term is
either the predicted cost min–max normalised with the task's range of logged costs
(``cost_unit="normalized"``, the GraphRouter paper's convention) or dollars (``"usd"``: the
weight is then "effect points per dollar"). Weights are given at query time; nothing is retrained.
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

__all__ = ["DEFAULT_WEIGHTS", "SCENARIOS", "COST_UNITS", "Objective", "Selection", "parse_weights", "rank_candidates"]

DEFAULT_WEIGHTS: dict[str, float] = {"effect": 1.0, "cost": 0.5, "latency": 0.0}
COST_UNITS = ("normalized", "usd")
FALLBACKS = (None, "cheapest", "best_effect")


def parse_weights(weights: Mapping[str, float] | tuple | None) -> dict[str, float]:
    """Validate user weights; missing keys are 0 (``None`` gives DEFAULT_WEIGHTS)."""
    if weights is None:
        return dict(DEFAULT_WEIGHTS)
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


def rank_candidates(pred: pd.DataFrame, obj: Objective, cost_range: Mapping[str, tuple[float, float]]) -> pd.DataFrame:
    """Score and constrain predictions of one or many queries (a checked objective).

    Adds columns cost_term, score and feasible; rows are sorted per query_index by
    (feasible, score) descending, ties toward the lower cost then the name (never row order).
    """
    w = obj.weights
    out = pred.copy()
    cost = out["cost"].to_numpy(float)
    if obj.cost_unit == "normalized":
        lo = np.array([cost_range.get(t, cost_range.get("*", (0.0, 1.0)))[0] for t in out["task"]])
        hi = np.array([cost_range.get(t, cost_range.get("*", (0.0, 1.0)))[1] for t in out["task"]])
        span = np.where(hi > lo, hi - lo, 1.0)
        term = (cost - lo) / span
    else:
        term = cost
    score = w["effect"] * out["effect"].to_numpy(float) - w["cost"] * term
    if w["latency"] > 0:
        score = score - w["latency"] * out["latency_s"].to_numpy(float)
    out["cost_term"] = term
    out["score"] = score
    ok = np.ones(len(out), dtype=bool)
    if obj.budget is not None:
        ok &= cost <= obj.budget
    if obj.max_latency is not None:
        ok &= out["latency_s"].to_numpy(float) <= obj.max_latency
    if obj.min_effect is not None:
        ok &= out["effect"].to_numpy(float) >= obj.min_effect
    if obj.allowed_models is not None:
        ok &= out["model"].isin(obj.allowed_models).to_numpy()
    if obj.allowed_agents is not None:
        ok &= out["agent"].isin(obj.allowed_agents).to_numpy()
    if obj.forbidden_models:
        ok &= ~out["model"].isin(obj.forbidden_models).to_numpy()
    if obj.forbidden_agents:
        ok &= ~out["agent"].isin(obj.forbidden_agents).to_numpy()
    out["feasible"] = ok
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
