"""The objective and constraints, on hand-made predictions (no model involved)."""

from __future__ import annotations

import pandas as pd
import pytest

from graphroute.errors import ConfigError, InfeasibleError
from graphroute.selection import Objective, parse_weights, pick, rank_candidates

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
