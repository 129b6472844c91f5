"""The bench runs routers side by side on the same splits and reports sane, consistent figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graphroute.cli.bench import parse_params
from graphroute.eval.bench import BenchResult, run_bench
from graphroute.errors import ConfigError
from graphroute.data.synthetic import make_synthetic


@pytest.fixture(scope="module")
def result() -> BenchResult:
    logs = make_synthetic(n_queries=150, n_models=3, n_tasks=3, seed=3).logs
    return run_bench(logs, ["graphroute", "oracle", "best_single", "random", "knn"], seeds=2, embedder="hash",
                     router_params={"graphroute": {"epochs": 30, "hidden": 32}}, progress=False)


def test_rows_and_ceiling(result):
    rows = result.rows
    assert len(rows) == 5 * 2 and set(rows["seed"]) == {0, 1}
    m = result.means()
    for col in ("reward_performance_first", "reward_balance", "reward_cost_first"):
        assert (m.loc["oracle", col] >= m[col] - 1e-12).all()  # nothing beats the oracle
    assert m.loc["graphroute", "reward_performance_first"] > m.loc["random", "reward_performance_first"]
    assert 0 < m.loc["oracle", "aiq"] <= 1


def test_outputs(result, tmp_path):
    md = result.to_markdown()
    assert md.splitlines()[0].startswith("| router |") and "graphroute" in md and "±" in md
    data = json.loads(result.to_json(tmp_path / "r.json").read_text())
    assert data["meta"]["seeds"] == [0, 1] and len(data["rows"]) == 10
    png = result.plot(tmp_path / "p.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(result.sweeps["router"]) >= {"graphroute", "knn"}
    assert np.isfinite(result.singles["effect"]).all()


def test_same_seed_same_numbers():
    logs = make_synthetic(n_queries=60, n_models=3, seed=5).logs
    a = run_bench(logs, ["best_single", "knn"], seeds=[0], embedder="hash", progress=False).rows
    b = run_bench(logs, ["best_single", "knn"], seeds=[0], embedder="hash", progress=False).rows
    assert a.drop(columns="fit_s").equals(b.drop(columns="fit_s"))


def test_bad_arguments():
    logs = make_synthetic(n_queries=30, seed=1).logs
    with pytest.raises(ConfigError, match="Unknown router"):
        run_bench(logs, ["gpt-router"], seeds=1, embedder="hash", progress=False)
    with pytest.raises(ConfigError, match="ROUTER.NAME=VALUE"):
        parse_params(["epochs=3"])
    assert parse_params(["graphroute.epochs=3", "knn.k=5"]) == {"graphroute": {"epochs": 3}, "knn": {"k": 5}}


def test_single_pair_policies(result):
    """Each "always this pair" row is that pair's reward; the best of them is the best_single router."""
    sg = result.singles
    assert {"reward_performance_first", "reward_balance", "reward_cost_first"} <= set(sg.columns)
    for seed, g in sg.groupby("seed"):
        row = result.rows[(result.rows["router"] == "best_single") & (result.rows["seed"] == seed)].iloc[0]
        # best_single picks its pair on the training split, so it is at most the best pair on test
        assert row["reward_performance_first"] <= g["reward_performance_first"].max() + 1e-12
        assert row["reward_performance_first"] >= g["reward_performance_first"].min() - 1e-12
        # a pair's reward at Performance First is its mean effect on the test split
        np.testing.assert_allclose(g["reward_performance_first"], g["effect"], rtol=1e-9)
    md = result.to_markdown()
    assert "| always this (model, agent) |" in md and md.count("\n\n") == 1
