"""The GNN router's training loop (graphroute.routers.gnn.training): whole-graph epochs for small logs,
sampled subgraphs of about ``max_epoch_edges`` edges for large ones."""

from __future__ import annotations

import pytest
import torch

import graphroute as gr
from graphroute.data.synthetic import make_synthetic
from graphroute.graph.state import GraphState
from graphroute.routers.gnn.config import RouterConfig

FAST = dict(embedder="hash", epochs=6, patience=6, hidden=16, cache_dir=False, seed=0, progress=False,
            text_evidence=False)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_queries=150, n_models=3, n_agents=1, n_tasks=3, seed=0)


def fit(data, **params):
    return gr.Router(**{**FAST, **params}).fit(data.logs, models=data.models, agents=data.agents, tasks=data.tasks)


def weights(router):
    return [p.detach().clone() for net in router.nets_ for p in net.parameters()]


def record_subgraphs(monkeypatch) -> list[int]:
    """Edge counts of every subgraph training samples (GraphState.subgraph calls) from now on."""
    sizes: list[int] = []
    original = GraphState.subgraph

    def spy(self, idx):
        sub, edges = original(self, idx)
        sizes.append(int(edges.shape[0]))
        return sub, edges

    monkeypatch.setattr(GraphState, "subgraph", spy)
    return sizes


def test_logs_below_max_epoch_edges_train_exactly_as_on_the_whole_graph(data, monkeypatch):
    sizes = record_subgraphs(monkeypatch)
    n_edges = len(data.logs)  # one run per (query, model): the training pool holds fewer edges than this
    whole = fit(data, max_epoch_edges=None)
    below = fit(data, max_epoch_edges=n_edges)
    assert sizes == []  # no epoch sampled a subgraph
    assert all(torch.equal(a, b) for a, b in zip(weights(whole), weights(below)))
    assert whole.history_ == below.history_


def test_large_logs_train_each_epoch_on_a_sampled_subgraph_of_at_most_max_epoch_edges(data, monkeypatch):
    sizes = record_subgraphs(monkeypatch)
    cap = 150  # the pool holds ~400 edges (150 queries x 3 models, 10 % kept for validation)
    router = fit(data, max_epoch_edges=cap)
    n_epochs = len(router.history_[0])
    assert len(sizes) == n_epochs + 1  # one subgraph per epoch, and the fixed validation subgraph
    assert all(0 < s <= cap for s in sizes)
    assert len(set(sizes[1:])) > 1 or n_epochs == 1  # resampled every epoch
    pred = router.predict(["a new query"], tasks=[data.logs["task"].iloc[0]])
    assert ((pred["effect"] >= 0) & (pred["effect"] <= 1)).all()


def test_sampled_training_is_seeded(data):
    a, b = fit(data, max_epoch_edges=150), fit(data, max_epoch_edges=150)
    assert all(torch.equal(x, y) for x, y in zip(weights(a), weights(b)))
    c = fit(data, max_epoch_edges=150, seed=1)
    assert not all(torch.equal(x, y) for x, y in zip(weights(a), weights(c)))


def test_max_epoch_edges_is_checked():
    with pytest.raises(gr.ConfigError, match="max_epoch_edges must be an integer >= 1 or None"):
        RouterConfig.from_params({"max_epoch_edges": 0})
    assert RouterConfig.from_params({"max_epoch_edges": None}).max_epoch_edges is None
