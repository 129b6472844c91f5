"""Baselines: every one honours the router contract, and each does what its name promises."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.routers import baselines as bl
from graphroute.data.logs import aggregate_runs
from graphroute.eval.metrics import SCENARIOS, oracle_choices, reward
from graphroute.data.synthetic import make_synthetic
from graphroute.testing import RouterContract

HASH = dict(embedder="hash", cache_dir=False)


# ---------------------------------------------------------------------------------------------
# the contract, for every baseline and for the graph router
# ---------------------------------------------------------------------------------------------
class TestRandomRouter(RouterContract):
    def make_router(self):
        return bl.RandomRouter(seed=3)


class TestOracleRouter(RouterContract):
    predicts_unseen = False  # it only knows the queries it was fitted on

    def make_router(self):
        return bl.OracleRouter()


class TestBestSingleRouter(RouterContract):
    def make_router(self):
        return bl.BestSingleRouter()


class TestCheapestRouter(RouterContract):
    def make_router(self):
        return bl.CheapestRouter()


class TestPerTaskBestRouter(RouterContract):
    def make_router(self):
        return bl.PerTaskBestRouter()


class TestKNNRouter(RouterContract):
    def make_router(self):
        return bl.KNNRouter(k=5, **HASH)


class TestTfidfKNNRouter(RouterContract):
    def make_router(self):
        return bl.TfidfKNNRouter(k=5)


class TestTfidfRidgeRouter(RouterContract):
    def make_router(self):
        return bl.TfidfRidgeRouter()  # alpha="auto": chosen on held-out training queries


class TestMLPRouter(RouterContract):
    def make_router(self):
        return bl.MLPRouter(hidden=16, epochs=15, batch_size=16, seed=1, **HASH)


class TestMFRouter(RouterContract):
    def make_router(self):
        return bl.MFRouter(dim=8, epochs=15, batch_size=16, seed=1, **HASH)


class TestGraphRouterBaseline(RouterContract):
    def make_router(self):
        return bl.GraphRouterBaseline(scenario="balance", hidden=8, epochs=15, seed=1, **HASH)


class TestGraphRouter(RouterContract):
    def make_router(self):
        return gr.Router(hidden=16, epochs=8, patience=8, seed=0, **HASH)


# ---------------------------------------------------------------------------------------------
# data for behaviour checks: every pair logged, so any choice can be scored
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dense():
    syn = make_synthetic(n_queries=240, n_models=4, n_agents=1, n_tasks=3, density=1.0, seed=7)
    logs = syn.logs
    ids = np.sort(logs["query_id"].astype(str).unique())
    test_ids = set(np.random.default_rng(7).choice(ids, 60, replace=False))
    is_test = logs["query_id"].astype(str).isin(test_ids)
    train, test = logs[~is_test].reset_index(drop=True), logs[is_test].reset_index(drop=True)
    table = aggregate_runs(test)
    queries = table.drop_duplicates("query_id").sort_values("query_id")
    return {"syn": syn, "train": train, "test": test, "table": table,
            "queries": list(queries["query"]), "tasks": list(queries["task"]), "ids": list(queries["query_id"])}


def choices_of(router, dense, weights) -> pd.DataFrame:
    picked = router.select_many(dense["queries"], dense["tasks"], weights=weights)
    return pd.DataFrame({"query_id": dense["ids"], "model": picked["model"], "agent": picked["agent"]})


@pytest.fixture(scope="module")
def random_rewards(dense):
    r = bl.RandomRouter(seed=0).fit(dense["train"])
    return {name: reward(dense["table"], choices_of(r, dense, (1.0, 0.0)), name) for name in SCENARIOS}


# ---------------------------------------------------------------------------------------------
# registry
# ---------------------------------------------------------------------------------------------
def test_registry_names_every_baseline():
    assert list(bl.BASELINES) == ["oracle", "best_single", "per_task_best", "cheapest", "random", "knn", "tfidf_knn",
                                  "tfidf_ridge", "mlp", "mf", "graphrouter"]  # the bench's order
    assert bl.BASELINE_NAMES == tuple(bl.BASELINES)
    for name, cls in bl.BASELINES.items():
        router = bl.make_router(name)
        assert type(router) is cls and isinstance(router, gr.BaseRouter)
    assert bl.make_router("knn", k=3).k == 3


def test_make_router_rejects_unknown_names_and_parameters():
    with pytest.raises(gr.ConfigError, match="valid names.*'knn'"):
        bl.make_router("nearest")
    with pytest.raises(gr.ConfigError, match="no parameter.*'depth'"):
        bl.make_router("mlp", depth=3)


def test_bad_hyperparameters_are_reported_at_fit(dense):
    with pytest.raises(gr.ConfigError, match="k must be an integer >= 1"):
        bl.KNNRouter(k=0, **HASH).fit(dense["train"])
    with pytest.raises(gr.ConfigError, match="edge_mask_rate"):
        bl.GraphRouterBaseline(edge_mask_rate=1.0, **HASH).fit(dense["train"])
    with pytest.raises(gr.ConfigError, match="Unknown scenario.*'balance'"):
        bl.GraphRouterBaseline(scenario="thrifty", **HASH).fit(dense["train"])


# ---------------------------------------------------------------------------------------------
# each baseline does what its name says
# ---------------------------------------------------------------------------------------------
def test_random_scores_depend_on_text_and_seed_only(dense):
    r = bl.RandomRouter(seed=1).fit(dense["train"])
    qs = dense["queries"][:6]
    batch = r.predict(qs, dense["tasks"][:6])
    alone = r.predict([qs[3]], [dense["tasks"][3]])
    np.testing.assert_array_equal(alone["effect"], batch[batch["query_index"] == 3]["effect"])
    other = bl.RandomRouter(seed=2).fit(dense["train"]).predict(qs, dense["tasks"][:6])
    assert not np.allclose(other["effect"], batch["effect"])
    # random routing: over many queries every model gets picked
    picked = r.select_many(dense["queries"], dense["tasks"], weights=(1.0, 0.0))
    assert picked["model"].nunique() == 4


def test_best_single_predicts_alike_for_all_queries_and_picks_the_best_model(dense):
    r = bl.BestSingleRouter().fit(dense["train"])
    pred = r.predict(dense["queries"][:10], dense["tasks"][:10])
    per_query = pred.pivot(index="query_index", columns="model", values="effect")
    assert (per_query.nunique() == 1).all()
    assert (pred.pivot(index="query_index", columns="model", values="cost").nunique() == 1).all()
    means = aggregate_runs(dense["train"]).groupby("model")["effect"].mean()
    picked = r.select_many(dense["queries"], dense["tasks"], weights=(1.0, 0.0))
    assert set(picked["model"]) == {means.idxmax()}


def test_cheapest_always_picks_the_cheapest_model_of_the_task(dense):
    r = bl.CheapestRouter().fit(dense["train"])
    agg = aggregate_runs(dense["train"])
    cheapest = agg.groupby(["task", "model"])["cost"].mean().groupby(level="task").idxmin().map(lambda tm: tm[1])
    for weights in [(1.0, 0.0), (0.5, 0.5)]:
        picked = r.select_many(dense["queries"], dense["tasks"], weights=weights)
        assert (picked["model"].to_numpy() == cheapest[picked["task"]].to_numpy()).all()


def test_per_task_best_picks_each_tasks_best_model(dense):
    r = bl.PerTaskBestRouter().fit(dense["train"])
    agg = aggregate_runs(dense["train"])
    best = agg.groupby(["task", "model"])["effect"].mean().groupby(level="task").idxmax().map(lambda tm: tm[1])
    picked = r.select_many(dense["queries"], dense["tasks"], weights=(1.0, 0.0))
    assert (picked["model"].to_numpy() == best[picked["task"]].to_numpy()).all()
    # a task it never saw uses the overall means
    unknown = r.predict(dense["queries"][:1], ["a-new-task"])
    overall = agg.groupby("model")["effect"].mean()
    np.testing.assert_allclose(unknown["effect"], overall[unknown["model"]].to_numpy())


def test_oracle_reproduces_true_outcomes_and_oracle_choices(dense):
    table = dense["table"]
    r = bl.OracleRouter().fit(dense["test"])
    pred = r.predict(dense["queries"], dense["tasks"])
    pred["query_id"] = np.array(dense["ids"], dtype=object)[pred["query_index"]]
    merged = pred.merge(table, on=["query_id", "model", "agent"], suffixes=("", "_true"))
    assert len(merged) == len(table)
    np.testing.assert_allclose(merged["effect"], merged["effect_true"])
    np.testing.assert_allclose(merged["cost"], merged["cost_true"])
    for name, weights in SCENARIOS.items():
        mine = choices_of(r, dense, weights)
        theirs = oracle_choices(table, name).set_index("query_id").loc[dense["ids"]].reset_index()
        assert (mine["model"].to_numpy() == theirs["model"].to_numpy()).all(), name
    with pytest.raises(gr.ConfigError, match="not fitted on 1 of these queries"):
        r.predict(["A question nobody logged?"])


def test_oracle_never_prefers_an_unlogged_pair():
    # on qb the only logged pair is as bad as can be (effect 0, the task's highest cost)
    logs = pd.DataFrame({"query_id": ["a", "a", "b"], "query": ["qa", "qa", "qb"], "model": ["m1", "m2", "m2"],
                         "effect": [1.0, 1.0, 0.0], "cost": [1.0, 1.0, 3.0]})
    r = bl.OracleRouter().fit(logs)
    for weights in [(1.0, 0.0), (0.5, 0.5), (0.0, 1.0)]:
        assert r.select("qb", weights=weights).model == "m2"  # m1 never ran on qb


def test_knn_beats_random_on_held_out_queries(dense, random_rewards):
    r = bl.KNNRouter(k=10, **HASH).fit(dense["train"])
    got = reward(dense["table"], choices_of(r, dense, (1.0, 0.0)), "performance_first")
    assert got > random_rewards["performance_first"] + 0.02
    ev = r.evidence(dense["queries"][0], k=3)
    assert len(ev) == 3 and ev["similarity"].is_monotonic_decreasing


def test_knn_falls_back_to_the_pair_mean_when_no_neighbour_ran_it():
    logs = pd.DataFrame({"query_id": ["a", "b", "c"], "query": ["red apple", "red apple pie", "blue sky"],
                         "model": ["m1", "m1", "m2"], "effect": [1.0, 0.0, 0.25], "cost": [1.0, 3.0, 5.0]})
    r = bl.KNNRouter(k=2, **HASH).fit(logs)
    pred = r.predict(["red apple"], ["default"]).set_index("model")
    assert pred.loc["m2", "effect"] == pytest.approx(0.25)  # neither neighbour ran m2
    assert pred.loc["m2", "cost"] == pytest.approx(5.0)
    assert 0.0 < pred.loc["m1", "effect"] < 1.0  # a similarity-weighted mean of 1 and 0


@pytest.mark.parametrize("cls", [bl.MLPRouter, bl.MFRouter])
def test_learned_baselines_use_their_seed(cls, dense):
    train = dense["train"]
    kw = dict(epochs=5, batch_size=64, **HASH)
    a = cls(seed=0, **kw).fit(train).predict(dense["queries"][:5], dense["tasks"][:5])
    b = cls(seed=0, **kw).fit(train).predict(dense["queries"][:5], dense["tasks"][:5])
    c = cls(seed=1, **kw).fit(train).predict(dense["queries"][:5], dense["tasks"][:5])
    pd.testing.assert_frame_equal(a, b)
    assert not np.allclose(a["effect"], c["effect"])


def test_graphrouter_labels_break_ties_by_cost_then_name():
    reward_ = np.array([[0.5, 0.5, 0.5, 0.1], [0.2, 0.9, 0.9, 0.0]])
    cost = np.array([[3.0, 1.0, 1.0, 0.0], [1.0, 2.0, 1.0, 0.0]])
    logged = np.array([[True, True, True, True], [True, True, True, False]])
    labels = bl._best_labels(reward_, cost, logged)
    np.testing.assert_array_equal(labels, [[0, 1, 0, 0], [0, 0, 1, 0]])


def test_graphrouter_baseline_beats_random_at_its_scenario(dense, random_rewards):
    r = bl.GraphRouterBaseline(scenario="performance_first", hidden=16, epochs=150, patience=40, seed=0, **HASH)
    r.fit(dense["train"], models=dense["syn"].models, agents=dense["syn"].agents, tasks=dense["syn"].tasks)
    assert r.reward_weights_ == SCENARIOS["performance_first"]
    assert r.scenario_weights_ == {"effect": 1.0, "cost": 0.0}
    pred = r.predict(dense["queries"][:8], dense["tasks"][:8])
    np.testing.assert_allclose(pred.groupby("query_index")["effect"].sum(), 1.0, rtol=1e-5)
    got = reward(dense["table"], choices_of(r, dense, r.scenario_weights_), "performance_first")
    assert got > random_rewards["performance_first"] + 0.02


# ---------------------------------------------------------------------------------------------
# TF-IDF baselines
# ---------------------------------------------------------------------------------------------
def _lexical_logs() -> pd.DataFrame:
    """Two tasks whose texts share words; model 'a' wins on 'apple' queries, 'b' on the others."""
    rows = []
    for i in range(40):
        task = "fruit" if i % 2 == 0 else "tools"
        word = "apple" if i % 4 < 2 else "hammer"
        for m in ("a", "b"):
            rows.append({"query_id": f"q{i}", "query": f"{word} question {i} about {task}", "task": task,
                         "model": m, "effect": float((word == "apple") == (m == "a")),
                         "cost": 0.001 * (1 + (m == "b")) * (1 + i % 3)})
    return pd.DataFrame(rows)


def test_tfidf_knn_uniform_mean_of_the_k_nearest_within_the_given_task():
    logs = _lexical_logs()
    r = bl.TfidfKNNRouter(k=3).fit(logs)
    # within 'tools' every neighbour is a tools query: 'apple' tools queries exist (i % 4 == 1)
    p = r.predict(["apple question about tools"], tasks=["tools"]).set_index("model")
    assert p.loc["a", "effect"] == 1.0 and p.loc["b", "effect"] == 0.0
    ev = r.evidence("apple question about tools", k=3)
    assert len(ev) == 3 and ev["similarity"].is_monotonic_decreasing
    # no task: the neighbours vote for it, and the prediction is still a plain mean in [0, 1]
    q = r.predict(["hammer question 9 about tools"])
    assert set(q["task"]) == {"tools"} and q["effect"].between(0, 1).all()


def test_tfidf_knn_never_borrows_neighbours_from_other_tasks_when_the_task_is_small():
    # task X has 5 queries where model a is always right; task Y has 40 where b is; k = 30 > 5
    rows = []
    for task, n, good in (("X", 5, "a"), ("Y", 40, "b")):
        for i in range(n):
            for m in ("a", "b"):
                rows.append({"query_id": f"{task}{i}", "query": f"{'alpha' if task == 'X' else 'beta'} question {i}",
                             "task": task, "model": m, "effect": float(m == good), "cost": 0.001})
    r = bl.TfidfKNNRouter(k=30).fit(pd.DataFrame(rows))
    p = r.predict(["alpha question 1"], tasks=["X"]).set_index("model")
    assert (p.loc["a", "effect"], p.loc["b", "effect"]) == (1.0, 0.0)


def test_tfidf_ridge_is_one_sklearn_ridge_per_pair_and_infers_a_missing_task():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import Ridge

    logs = _lexical_logs()
    logs = logs[~((logs["model"] == "b") & logs["query_id"].isin(["q0", "q1", "q2"]))]  # b is sparse
    r = bl.TfidfRidgeRouter(alpha=0.7, use_task=False).fit(logs)
    queries = ["apple question about fruit", "hammer question about tools"]
    got = r.predict(queries).set_index(["query_index", "model"])
    table = aggregate_runs(gr.validate_logs(logs)).sort_values("query_id", key=lambda s: s.astype(str))
    texts = table.drop_duplicates("query_id").set_index("query_id")["query"]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=100_000).fit(texts.sort_index().tolist())
    for m in ("a", "b"):
        g = table[table["model"] == m]
        want = Ridge(alpha=0.7).fit(vec.transform(g["query"]), g["effect"]).predict(vec.transform(queries))
        np.testing.assert_allclose([got.loc[(0, m), "effect"], got.loc[(1, m), "effect"]], np.clip(want, 0, 1),
                                   atol=1e-5)
    assert got["cost"].gt(0).all()
    with_task = bl.TfidfRidgeRouter().fit(logs)
    assert set(with_task.predict(["apple question 4 about fruit"])["task"]) == {"fruit"}


def test_tfidf_baselines_reject_bad_parameters_at_fit():
    with pytest.raises(gr.ConfigError, match="k must be an integer >= 1"):
        bl.TfidfKNNRouter(k=0).fit(_lexical_logs())
    with pytest.raises(gr.ConfigError, match="alpha"):
        bl.TfidfRidgeRouter(alpha=-1.0).fit(_lexical_logs())
    with pytest.raises(gr.ConfigError, match="alpha"):
        bl.TfidfRidgeRouter(alpha="big").fit(_lexical_logs())


def test_tfidf_ridge_auto_alpha_comes_from_the_grid_and_is_reproducible():
    from graphroute.routers.baselines.tfidf import RIDGE_ALPHAS

    logs = _lexical_logs()
    a, b = bl.TfidfRidgeRouter().fit(logs), bl.TfidfRidgeRouter().fit(logs)
    assert a.alpha_ in RIDGE_ALPHAS and a.alpha_ == b.alpha_
    assert a.predict(["apple question"]).equals(b.predict(["apple question"]))
