"""The objective and constraints, on hand-made predictions (no model involved)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphroute.errors import ConfigError, InfeasibleError
from graphroute.selection import (Objective, cost_ranges, effect_cost_weights, normalize_cost, parse_weights, pick,
                                  rank_arrays, rank_candidates, task_bounds)

PRED = pd.DataFrame({
    "query_index": [0, 0, 0], "query": ["q"] * 3, "task": ["t"] * 3,
    "model": ["big", "mid", "small"], "agent": ["direct"] * 3,
    "effect": [0.9, 0.8, 0.5], "cost": [10.0, 2.0, 0.0], "latency_s": [3.0, 1.0, 0.5],
})
RANGE = {"t": (0.0, 10.0), "*": (0.0, 10.0)}
MODELS, AGENTS = ["big", "mid", "small"], ["direct"]


def choose(**kw):
    obj = Objective(**kw).checked(MODELS, AGENTS, has_latency=True)
    ranked = rank_candidates(PRED, obj, RANGE)
    return pick(ranked, obj), ranked


def test_scores_by_hand():
    (row, fb), ranked = choose(weights={"effect": 1.0, "cost": 0.5})
    # big: 0.9 - 0.5*1.0 = 0.4; mid: 0.8 - 0.5*0.2 = 0.7; small: 0.5 - 0 = 0.5
    assert row["model"] == "mid" and not fb
    assert list(ranked["model"]) == ["mid", "small", "big"]
    assert ranked["score"].tolist() == pytest.approx([0.7, 0.5, 0.4])


def test_usd_cost_unit_and_latency_weight():
    (row, _), _ = choose(weights={"effect": 1.0, "cost": 0.01}, cost_unit="usd")
    assert row["model"] == "big"  # 0.9 - 0.1 > 0.8 - 0.02
    (row, _), _ = choose(weights={"effect": 1.0, "latency": 1.0})
    assert row["model"] == "small"  # 0.5 - 0.5 beats 0.8 - 1 and 0.9 - 3


def test_constraints_and_fallbacks():
    (row, _), _ = choose(weights={"effect": 1}, budget=5)
    assert row["model"] == "mid"
    (row, _), _ = choose(weights={"effect": 1}, max_latency=0.6)
    assert row["model"] == "small"
    (row, _), _ = choose(weights={"effect": 1}, allowed_models=["small", "mid"])
    assert row["model"] == "mid"
    (row, _), _ = choose(weights={"effect": 1}, forbidden_models="big")
    assert row["model"] == "mid"
    with pytest.raises(InfeasibleError, match="min_effect=0.95"):
        choose(min_effect=0.95)
    (row, fb), _ = choose(min_effect=0.95, fallback="best_effect")
    assert fb and row["model"] == "big"
    (row, fb), _ = choose(min_effect=0.95, fallback="cheapest")
    assert fb and row["model"] == "small"


def test_ties_go_to_the_cheaper_candidate_not_the_first_row():
    pred = PRED.assign(effect=0.7, cost=[3.0, 1.0, 2.0])
    obj = Objective(weights={"effect": 1}).checked(MODELS, AGENTS, True)
    assert rank_candidates(pred, obj, RANGE).iloc[0]["model"] == "mid"


@pytest.mark.parametrize("weights, match", [
    ({"effect": -1}, ">= 0"), ({"effect": float("nan")}, "finite"), ({"effect": 0, "cost": 0}, "At least one"),
    ({"quality": 1}, "valid names"), ({"effect": "high"}, "number"), ((1, 2, 3, 4), "sequence"),
])
def test_bad_weights(weights, match):
    with pytest.raises(ConfigError, match=match):
        parse_weights(weights)


def test_bad_objective_fields():
    with pytest.raises(ConfigError, match="cost_unit"):
        Objective(cost_unit="euros").checked(MODELS, AGENTS, True)
    with pytest.raises(ConfigError, match="budget"):
        Objective(budget=-1).checked(MODELS, AGENTS, True)
    with pytest.raises(ConfigError, match="Unknown model"):
        Objective(allowed_models=["gpt-9"]).checked(MODELS, AGENTS, True)
    with pytest.raises(ConfigError, match="predicts no latency"):
        Objective(max_latency=1).checked(MODELS, AGENTS, False)
    assert parse_weights((0.2, 0.8)) == {"effect": 0.2, "cost": 0.8, "latency": 0.0}


def test_rank_arrays_matches_rank_candidates():
    # two queries x three candidates, two tasks with different ranges; the frame version is the kernel on [1, N]
    rng = np.random.default_rng(0)
    effect, cost, lat = rng.random((2, 3)), rng.random((2, 3)) * 10, rng.random((2, 3))
    crange = {"t": (0.0, 10.0), "u": (2.0, 4.0), "*": (0.0, 10.0)}
    obj = Objective(weights={"effect": 1, "cost": 0.7, "latency": 0.1}, budget=8,
                    forbidden_models=["big"]).checked(MODELS, AGENTS, True)
    lo, hi = task_bounds(crange, ["t", "u"])
    term, score, ok = rank_arrays(obj, lo[:, None], hi[:, None], effect, cost, lat,
                                  np.array(MODELS, dtype=object), np.array(["direct"] * 3, dtype=object))
    pred = pd.DataFrame({"query_index": np.repeat([0, 1], 3), "query": "q", "task": np.repeat(["t", "u"], 3),
                         "model": MODELS * 2, "agent": "direct", "effect": effect.ravel(), "cost": cost.ravel(),
                         "latency_s": lat.ravel()})
    ranked = rank_candidates(pred, obj, crange).sort_values(["query_index", "model"], kind="mergesort")
    assert np.array_equal(ranked["score"].to_numpy(), score.ravel())  # bitwise: one arithmetic
    assert np.array_equal(ranked["cost_term"].to_numpy(), term.ravel())
    assert np.array_equal(ranked["feasible"].to_numpy(), ok.ravel())
    assert not ok[:, 0].any()  # 'big' is forbidden in every query
    assert np.allclose(term[1], (cost[1] - 2.0) / 2.0)


def test_cost_scale():
    logs = pd.DataFrame({"task": ["a", "a", "b"], "cost": [1.0, 3.0, 5.0]})
    crange = cost_ranges(logs)
    assert crange == {"a": (1.0, 3.0), "b": (5.0, 5.0), "*": (1.0, 5.0)}
    lo, hi = task_bounds(crange, ["a", "b", "never-logged"])
    assert lo.tolist() == [1.0, 5.0, 1.0] and hi.tolist() == [3.0, 5.0, 5.0]
    assert task_bounds({}, ["x"])[1].tolist() == [1.0]  # no range at all: cost_term is the cost
    # a task whose logged costs are all equal: a logged cost maps to 0, a predicted one keeps its offset
    assert normalize_cost(np.array([5.0, 6.0]), lo[1], hi[1]).tolist() == [0.0, 1.0]
    assert normalize_cost(np.array([2.0]), lo[0], hi[0]).tolist() == [0.5]


@pytest.mark.parametrize("text, expected", [
    ("effect=1,cost=0.5", {"effect": 1.0, "cost": 0.5, "latency": 0.0}),
    ("balance", {"effect": 0.5, "cost": 0.5, "latency": 0.0}),
    (" effect = 2 , latency=1", {"effect": 2.0, "cost": 0.0, "latency": 1.0}),
])
def test_weights_text(text, expected):
    assert parse_weights(text) == expected


@pytest.mark.parametrize("text, match", [("cheap", "Unknown scenario"), ("effect=1,cost", "has no '='"),
                                         ("effect=x", "must be a number"), ("speed=1", "valid names")])
def test_bad_weights_text(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_weights(text)


def test_effect_cost_weights():
    assert effect_cost_weights("cost_first", "reward") == (0.2, 0.8)
    with pytest.raises(ConfigError, match="reward scores effect and cost only"):
        effect_cost_weights({"effect": 1, "latency": 1}, "reward")
