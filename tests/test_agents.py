"""Agents are nodes like models: (model, agent) pairs are routed, and agents join without retraining."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import graphroute as gr
from graphroute.data.synthetic import make_synthetic

FAST = dict(embedder="hash", epochs=40, patience=40, hidden=32, cache_dir=False, seed=0, progress=False)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_queries=150, n_models=3, n_agents=3, n_tasks=3, seed=11)


def params_of(router):
    return [p.detach().clone() for net in router.nets_ for p in net.parameters()]


def test_select_returns_a_model_agent_pair(data):
    router = gr.Router(**FAST).fit(data.logs, models=data.models, agents=data.agents, tasks=data.tasks)
    pairs = set(zip(router.candidates_["model"], router.candidates_["agent"]))
    assert len(pairs) == 9
    q = data.logs["query"].iloc[0]
    sel = router.select(q, weights={"effect": 1, "cost": 0})
    assert (sel.model, sel.agent) in pairs
    only = router.select(q, allowed_agents=["direct"])
    assert only.agent == "direct"
    with pytest.raises(gr.ConfigError, match="(?i)agent"):
        router.select(q, allowed_agents=["no-such-agent"])


def test_add_agent_with_runs_changes_predictions_not_parameters(data):
    logs = data.logs[data.logs["agent"] != "agent_2"].reset_index(drop=True)
    router = gr.Router(**FAST).fit(logs, models=data.models, tasks=data.tasks)
    before = params_of(router)
    train_q = logs.drop_duplicates("query_id").head(60)
    cols = ["query_id", "query", "task", "model", "effect", "cost"]
    good = train_q.assign(effect=1.0)[cols]
    bad = train_q.assign(effect=0.0)[cols]
    router.add_agent("helper", description="a new strategy", runs=good)
    router.add_agent("saboteur", description="a new strategy", runs=bad)
    assert all(torch.equal(a, b) for a, b in zip(before, params_of(router)))
    queries = data.logs["query"].drop_duplicates().tolist()[-10:]
    pred = router.predict(queries)
    assert {"helper", "saboteur"} <= set(pred["agent"])
    g = pred[pred["agent"] == "helper"].groupby("query_index")["effect"].mean().to_numpy()
    b = pred[pred["agent"] == "saboteur"].groupby("query_index")["effect"].mean().to_numpy()
    assert (g > b + 0.2).all()
    assert np.isfinite(pred["cost"]).all()
