"""The bench runs routers side by side on the same splits and reports sane, consistent figures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from graphroute.cli.bench import parse_params
from graphroute.eval.bench import BenchResult, load_results, run_bench, summarize_results
from graphroute.eval.report import rank_summary, summary_markdown
from graphroute.eval.splits import keep_observed
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
    assert md.splitlines()[0].startswith("Protocol: standard.") and md.splitlines()[2].startswith("| router |")
    assert "graphroute" in md and "±" in md and "gap_balance" in md
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
    assert "| always this (model, agent) |" in md and md.count("\n\n") == 2


def test_rewards_are_scored_on_each_tasks_cost_range_over_every_split():
    """A single pair's bench reward uses cost_norm over all of its task's rows (DESIGN), not the test rows'."""
    from graphroute.data.logs import aggregate_runs
    from graphroute.eval.metrics import oracle_choices, reward, rewards, single_choices
    from graphroute.eval.splits import split_queries
    from graphroute.selection import cost_ranges

    logs = make_synthetic(n_queries=80, n_models=3, n_tasks=2, seed=4).logs
    res = run_bench(logs, ["cheapest"], seeds=[0], embedder="hash", progress=False)
    agg = aggregate_runs(logs)
    test = agg[agg["query_id"].isin(split_queries(agg, 0)[2])]
    whole, own = cost_ranges(agg), cost_ranges(test)
    assert any(whole[t] != own[t] for t in own if t != "*")  # the two conventions differ on this split
    for _, row in res.singles.iterrows():
        choices = single_choices(test, row["model"], row["agent"])
        assert row["reward_cost_first"] == pytest.approx(
            rewards(test, choices, score_range=whole)["cost_first"])
        assert row["reward_cost_first"] != pytest.approx(rewards(test, choices)["cost_first"])
    # the oracle decides on the scale it is scored on, so it is the best choice per query there
    oracle = res.rows[res.rows["router"] == "oracle"].iloc[0]
    for scen in ("balance", "cost_first"):
        best = reward(test, oracle_choices(test, scen, score_range=whole), scen, score_range=whole)
        assert oracle[f"reward_{scen}"] == pytest.approx(best)
        assert best >= res.singles[f"reward_{scen}"].max() - 1e-12


# ---------------------------------------------------------------------------------------------
# protocols: --observed K, --no-task; gap closed; the summary across results
# ---------------------------------------------------------------------------------------------
def test_keep_observed_keeps_k_random_pairs_per_query_reproducibly():
    logs = make_synthetic(n_queries=40, n_models=4, n_agents=2, density=1.0, seed=2).logs
    kept = keep_observed(logs, 2, seed=7)
    per_query = kept.groupby("query_id")[["model", "agent"]].apply(lambda g: len(g.drop_duplicates()))
    assert (per_query == 2).all() and set(kept["query_id"]) == set(logs["query_id"])
    shuffled = logs.sample(frac=1.0, random_state=0)
    again = keep_observed(shuffled, 2, seed=7)
    key = ["query_id", "model", "agent"]
    assert set(map(tuple, again[key].to_numpy())) == set(map(tuple, kept[key].to_numpy()))  # row order is irrelevant
    other = keep_observed(logs, 2, seed=8)
    assert set(map(tuple, other[key].to_numpy())) != set(map(tuple, kept[key].to_numpy()))
    assert len(keep_observed(logs, 100, seed=0)) == len(logs)
    with pytest.raises(ConfigError, match="integer >= 1"):
        keep_observed(logs, 0, seed=0)


def test_observed_protocol_subsamples_training_only_and_records_itself():
    logs = make_synthetic(n_queries=120, n_models=4, n_tasks=2, density=1.0, seed=4).logs
    full = run_bench(logs, ["knn"], seeds=[0], embedder="hash", progress=False)
    obs = run_bench(logs, ["knn"], seeds=[0], embedder="hash", observed=1, progress=False)
    assert obs.meta["protocol"] == {"observed": 1, "task_labels": True, "label": "observed=1"}
    assert list(obs.rows["router"]) == ["knn", "oracle", "best_single"]  # the references always run
    m_full, m_obs = full.means(), obs.means()
    # test queries stay fully logged: the oracle and the single policies are unchanged
    assert m_full.loc["oracle"].drop("fit_s").equals(m_obs.loc["oracle"].drop("fit_s"))
    assert full.singles.equals(obs.singles)
    assert m_full.loc["knn", "reward_performance_first"] != m_obs.loc["knn", "reward_performance_first"]
    assert obs.to_markdown().startswith("Protocol: observed=1.")


def test_no_task_protocol_routes_without_labels():
    logs = make_synthetic(n_queries=120, n_models=3, n_tasks=3, seed=6).logs
    res = run_bench(logs, ["per_task_best", "tfidf_knn"], seeds=[0], embedder="hash", task_labels=False,
                    progress=False)
    assert res.meta["protocol"]["label"] == "no-task" and res.protocol == "no-task"
    m = res.means()
    # a per-task table told no task (and without text to infer it) is the best single policy
    for col in ("reward_performance_first", "reward_balance", "reward_cost_first"):
        assert m.loc["per_task_best", col] == pytest.approx(m.loc["best_single", col])


def test_gap_closed_is_zero_for_best_single_and_one_for_the_oracle(result):
    for scen in ("performance_first", "balance", "cost_first"):
        g = result.rows.set_index(["router", "seed"])[f"gap_{scen}"]
        np.testing.assert_allclose(g.loc["best_single"], 0.0, atol=1e-12)
        np.testing.assert_allclose(g.loc["oracle"], 1.0, atol=1e-12)
    assert "gap_performance_first" in result.table().columns


def test_summary_ranks_graphroute_per_dataset_protocol_and_scenario(result, tmp_path):
    import pandas as pd

    rows = pd.DataFrame({"router": ["graphroute", "oracle", "best_single", "knn"], "seed": 0,
                         "reward_balance": [0.5, 0.9, 0.4, 0.6], "gap_balance": [0.2, 1.0, 0.0, 0.4]})
    s = rank_summary([("d", "standard", rows)], scenarios=["balance"])
    assert s.loc[0, "rank_balance"] == "2/3" and s.loc[0, "gap_balance"] == "0.200"
    assert s.loc[0, "best_other_balance"] == "knn (0.400)"
    (tmp_path / "a").mkdir()
    result.to_json(tmp_path / "a" / "results.json")
    back = load_results(tmp_path)
    assert len(back) == 1 and back[0].rows.equals(result.rows) and back[0].protocol == "standard"
    md = summary_markdown(summarize_results(back))
    assert "| dataset | protocol | seeds | rank_performance_first |" in md and "user logs" in md
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no results.json"):
        load_results(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        load_results(tmp_path / "absent")


def test_cli_summary_writes_summary_md(result, tmp_path, capsys):
    from graphroute.cli import main

    (tmp_path / "r1").mkdir()
    result.to_json(tmp_path / "r1" / "results.json")
    assert main(["bench", "--summary", str(tmp_path)]) == 0
    assert "rank_balance" in (tmp_path / "summary.md").read_text() and "graphroute" in capsys.readouterr().out


def test_cli_protocol_flags_reach_the_results(tmp_path, capsys):
    from graphroute.cli import main

    path = tmp_path / "logs.csv"
    make_synthetic(n_queries=50, n_models=3, n_tasks=2, density=1.0, seed=9).logs.to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["bench", "--dataset", str(path), "--routers", "per_task_best", "--seeds", "1", "--embedder", "hash",
                 "--observed", "1", "--no-task", "--quiet", "--out", str(out)]) == 0
    meta = json.loads((out / "results.json").read_text())["meta"]
    assert meta["protocol"] == {"observed": 1, "task_labels": False, "label": "observed=1, no-task"}
    assert (out / "table.md").read_text().startswith("Protocol: observed=1, no-task.")
    capsys.readouterr()
    assert main(["bench", "--dataset", str(path), "--protocol", "new-models", "--no-task", "--out", str(out)]) == 2
    assert "apply to the standard protocol" in capsys.readouterr().err
