"""Neighbour search: the IVF index against the exact scan, and a Router that uses it end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import graphroute as gr
from graphroute.graph import index as I
from graphroute.data.synthetic import make_synthetic


def clustered(n: int, d: int = 32, centres: int = 40, seed: int = 0, noise: float = 0.35) -> torch.Tensor:
    """Unit vectors around random centres: the shape query embeddings have (tasks, topics)."""
    g = torch.Generator().manual_seed(seed)
    c = torch.nn.functional.normalize(torch.randn(centres, d, generator=g), dim=1)
    x = c[torch.randint(centres, (n,), generator=g)] + noise * torch.randn(n, d, generator=g) / d ** 0.5
    return torch.nn.functional.normalize(x, dim=1)


def recall(approx: torch.Tensor, exact: torch.Tensor) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(approx.tolist(), exact.tolist())]))


def test_probing_every_cell_is_the_exact_search():
    keys, x = clustered(3000), clustered(50, seed=1)
    ivf = I.IVFIndex(keys, n_lists=30, n_probe=30)
    i, s = ivf.search(x, 10)
    e_i, e_s = I.top_k_neighbors(x, keys, 10)
    torch.testing.assert_close(s, e_s)
    assert recall(i, e_i) == 1.0


def test_default_probes_find_most_true_neighbours_with_exact_similarities():
    keys, x = clustered(20_000), clustered(200, seed=1)
    ivf = I.IVFIndex(keys)
    assert ivf.n_lists == 141 and ivf.n_probe == 14
    i, s = ivf.search(x, 10)
    e_i, e_s = I.top_k_neighbors(x, keys, 10)
    assert recall(i, e_i) >= 0.9
    torch.testing.assert_close(s, (x[:, None, :] * keys[i]).sum(-1))  # each returned similarity is exact
    assert bool((s[:, :-1] >= s[:, 1:]).all())  # descending, as the exact scan returns them
    assert bool((s[:, 0] <= e_s[:, 0] + 1e-6).all())


def test_index_is_deterministic_per_seed():
    keys = clustered(5000)
    a, b, c = I.IVFIndex(keys, seed=3), I.IVFIndex(keys, seed=3), I.IVFIndex(keys, seed=4)
    assert torch.equal(a.centroids, b.centroids) and torch.equal(a.perm, b.perm)
    assert not torch.equal(a.centroids, c.centroids)


def test_nearest_modes_and_appended_rows(monkeypatch):
    keys, x = clustered(4000), clustered(20, seed=2)
    e = I.top_k_neighbors(x, keys, 5)
    for mode in ("exact", "auto"):  # auto stays exact below IVF_MIN_KEYS
        got = I.nearest(x, keys, 5, mode)
        assert torch.equal(got[0], e[0]) and torch.equal(got[1], e[1])
    monkeypatch.setattr(I, "IVF_MIN_KEYS", 1000)
    built = []
    real = I.IVFIndex
    monkeypatch.setattr(I, "IVFIndex", lambda *a, **k: built.append(1) or real(*a, **k))
    I.nearest(x, keys, 5, "auto")
    I.nearest(x, keys, 5, "auto")
    assert len(built) == 1  # built once per key table, then reused
    # rows appended later (observe) are scanned exactly: a copy of a query is its own nearest key
    grown = torch.cat([keys, x[:3]])
    I.carry_index(keys, grown)
    i, s = I.nearest(x[:3], grown, 5, "ivf")
    assert len(built) == 1 and i[:, 0].tolist() == [4000, 4001, 4002]
    torch.testing.assert_close(s[:, 0], torch.ones(3))
    # once the unindexed tail outgrows a fifth of the index, the next search rebuilds it
    big = torch.cat([keys, clustered(900, seed=5)])
    I.carry_index(keys, big)
    I.nearest(x, big, 5, "ivf")
    assert len(built) == 2


def test_tiny_cells_fall_back_to_the_exact_scan():
    keys, x = clustered(60), clustered(5, seed=1)
    i, s = I.nearest(x, keys, 50, "ivf")  # 8 cells of ~8 vectors cannot hold 50 neighbours
    e_i, e_s = I.top_k_neighbors(x, keys, 50)
    assert torch.isfinite(s).all()
    torch.testing.assert_close(s, e_s)


def test_bad_mode_names_the_choices():
    with pytest.raises(gr.ConfigError, match="'fast' is not one of auto, exact, ivf"):
        I.nearest(clustered(10), clustered(10), 3, "fast")
    with pytest.raises(gr.ConfigError, match="neighbor_search must be one of auto, exact, ivf"):
        gr.Router(embedder="hash", neighbor_search="annoy", cache_dir=False).fit(
            make_synthetic(n_queries=20, n_models=2, seed=0).logs)


def test_router_with_ivf_search_routes_consistently():
    data = make_synthetic(n_queries=400, n_models=3, n_tasks=4, seed=1)
    logs = data.logs
    test_ids = logs["query_id"].drop_duplicates().sample(40, random_state=0)
    train, test = logs[~logs["query_id"].isin(test_ids)], logs[logs["query_id"].isin(test_ids)]
    params = dict(embedder="hash", epochs=30, hidden=32, cache_dir=False, seed=0)
    exact = gr.Router(**params, neighbor_search="exact").fit(train, models=data.models)
    ivf = gr.clone(exact).set_params(neighbor_search="ivf").fit(train, models=data.models)
    assert all(torch.equal(a, b) for a, b in zip(exact.nets_[0].parameters(), ivf.nets_[0].parameters()))
    assert I._get(ivf.state_.query_x) is not None and I._get(exact.state_.query_x) is None  # built at publish
    qs = test["query"].drop_duplicates().tolist()
    pe, pi = exact.predict(qs), ivf.predict(qs)
    # the index changes only which neighbours some queries see; predictions stay close
    assert np.abs(pe["effect"].to_numpy() - pi["effect"].to_numpy()).mean() < 0.05
    many = ivf.select_many(qs[:8], weights={"effect": 0.5, "cost": 0.5})
    for q, m in zip(qs[:8], many["model"]):
        sel = ivf.select(q, weights={"effect": 0.5, "cost": 0.5}, evidence=3)
        assert sel.model == m
        pd.testing.assert_frame_equal(sel.evidence.reset_index(drop=True),
                                      ivf.evidence(q, k=3).reset_index(drop=True))
    ivf.observe(test)  # new queries join the searched set without rebuilding anything by hand
    ev = ivf.evidence(qs[0], k=1)
    assert ev["query"].iloc[0] == qs[0] and ev["similarity"].iloc[0] == pytest.approx(1.0, abs=1e-5)
