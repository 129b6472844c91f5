"""Neighbour search: the IVF index against the exact scan, and a Router that uses it end to end."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

import graphroute as gr
from graphroute.graph import index as I
from graphroute.data.synthetic import make_synthetic


def clustered(n: int, d: int = 32, centres: int = 40, seed: int = 0, noise: float = 0.35) -> np.ndarray:
    """Unit vectors around random centres: the shape query embeddings have (tasks, topics)."""
    g = torch.Generator().manual_seed(seed)
    c = torch.nn.functional.normalize(torch.randn(centres, d, generator=g), dim=1)
    x = c[torch.randint(centres, (n,), generator=g)] + noise * torch.randn(n, d, generator=g) / d ** 0.5
    return torch.nn.functional.normalize(x, dim=1).numpy()


def recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / len(b) for a, b in zip(approx.tolist(), exact.tolist())]))


def test_numpy_scan_is_the_torch_scan():
    keys, x = clustered(3000), clustered(50, seed=1)
    i, s = I.top_k(x, keys, 10)
    t_i, t_s = I.top_k_neighbors(torch.from_numpy(x), torch.from_numpy(keys), 10)
    assert np.array_equal(i, t_i.numpy())
    np.testing.assert_allclose(s, t_s.numpy(), atol=1e-6)
    assert i.dtype == np.int64 and s.dtype == np.float32


def test_numpy_scan_orders_equal_similarities_by_index():
    keys = np.repeat(np.eye(4, dtype=np.float32), 3, axis=0)  # rows 0-2, 3-5, ... are copies
    i, s = I.top_k(np.eye(4, dtype=np.float32)[[1]], keys, 2)
    assert i.tolist() == [[3, 4]] and s.tolist() == [[1.0, 1.0]]
    i, _ = I.top_k(np.eye(4, dtype=np.float32)[[1]], keys, 5)
    assert i[0, :3].tolist() == [3, 4, 5] and sorted(i[0, 3:].tolist()) == [0, 1]


def test_probing_every_cell_is_the_exact_search():
    keys, x = clustered(3000), clustered(50, seed=1)
    ivf = I.IVFIndex.build(keys, n_lists=30, n_probe=30)
    i, s = ivf.search(x, 10)
    e_i, e_s = I.top_k(x, keys, 10)
    np.testing.assert_allclose(s, e_s, atol=1e-6)
    assert recall(i, e_i) == 1.0


def test_default_probes_find_most_true_neighbours_with_exact_similarities():
    keys, x = clustered(20_000), clustered(200, seed=1)
    ivf = I.IVFIndex.build(keys)
    assert ivf.n_lists == 141 and ivf.n_probe == 14
    i, s = ivf.search(x, 10)
    e_i, e_s = I.top_k(x, keys, 10)
    assert recall(i, e_i) >= 0.9
    np.testing.assert_allclose(s, (x[:, None, :] * keys[i]).sum(-1), atol=1e-6)  # each similarity is exact
    assert bool((s[:, :-1] >= s[:, 1:]).all())  # descending, as the exact scan returns them
    assert bool((s[:, 0] <= e_s[:, 0] + 1e-6).all())


def test_index_is_deterministic_per_seed_and_round_trips():
    keys = clustered(5000)
    a, b, c = I.IVFIndex.build(keys, seed=3), I.IVFIndex.build(keys, seed=3), I.IVFIndex.build(keys, seed=4)
    assert np.array_equal(a.centroids, b.centroids) and np.array_equal(a.perm, b.perm)
    assert not np.array_equal(a.centroids, c.centroids)
    back = I.IVFIndex.from_arrays(keys, a.arrays())
    x = clustered(20, seed=2)
    assert all(np.array_equal(p, q) for p, q in zip(a.search(x, 5), back.search(x, 5)))


def test_nearest_modes_and_appended_rows(monkeypatch):
    keys, x = clustered(4000), clustered(20, seed=2)
    e = I.top_k(x, keys, 5)
    for mode in ("exact", "auto"):  # auto stays exact below IVF_MIN_KEYS
        got = I.nearest(x, keys, 5, mode)
        assert np.array_equal(got[0], e[0]) and np.array_equal(got[1], e[1])
    index = I.IVFIndex.build(keys)
    monkeypatch.setattr(I.IVFIndex, "build", lambda *a, **k: pytest.fail("a given index is not rebuilt"))
    monkeypatch.setattr(I, "IVF_MIN_KEYS", 1000)
    I.nearest(x, keys, 5, "auto", index=index)
    # rows appended later (observe) are scanned exactly: a copy of a query is its own nearest key
    grown = np.concatenate([keys, x[:3]])
    i, s = I.nearest(x[:3], grown, 5, "ivf", index=index)
    assert i[:, 0].tolist() == [4000, 4001, 4002]
    np.testing.assert_allclose(s[:, 0], np.ones(3), atol=1e-6)
    # once the unindexed tail outgrows a fifth of the index, the router builds a new one
    assert not I.is_stale(index, len(grown)) and I.is_stale(index, 4000 + 801) and I.is_stale(None, 10)


def test_tiny_cells_fall_back_to_the_exact_scan():
    keys, x = clustered(60), clustered(5, seed=1)
    i, s = I.nearest(x, keys, 50, "ivf")  # 8 cells of ~8 vectors cannot hold 50 neighbours
    e_i, e_s = I.top_k(x, keys, 50)
    assert np.isfinite(s).all()
    np.testing.assert_allclose(s, e_s, atol=1e-6)


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
    assert ivf._live.index is not None and exact._live.index is None  # built at publish
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


def test_ivf_router_saves_its_index_and_loads_without_rebuilding(tmp_path, monkeypatch):
    data = make_synthetic(n_queries=200, n_models=3, n_tasks=2, seed=2)
    r = gr.Router(embedder="hash", epochs=5, hidden=16, cache_dir=False, seed=0,
                  neighbor_search="ivf").fit(data.logs, models=data.models)
    path = r.save(tmp_path / "ivf")
    assert (path / "index.safetensors").is_file()
    monkeypatch.setattr(I.IVFIndex, "build", lambda *a, **k: pytest.fail("load() rebuilt the index"))
    loaded = gr.load(path)
    assert np.array_equal(loaded._live.index.perm, r._live.index.perm)
    qs = data.logs["query"].drop_duplicates().head(10).tolist()
    pd.testing.assert_frame_equal(loaded.predict(qs), r.predict(qs), check_exact=True)
