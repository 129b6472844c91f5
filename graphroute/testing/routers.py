"""The contract every router honours, as a pytest class to subclass (Optuna's ``pytest_samplers`` pattern).

A new router (a baseline, the graph router, a user's own) proves it fits the shared surface by
running this suite::

    from graphroute.testing import RouterContract

    class TestMyRouter(RouterContract):
        def make_router(self):
            return MyRouter(embedder="hash", seed=0)  # unfitted, cheap to train

Each test class fits its router once (class-scoped fixtures) on small seeded synthetic logs
(3 models × 2 agents, 2 tasks, sparse) and checks: ``__init__`` only stores parameters,
get_params/clone round trip, NotFittedError before fit, fit returns self and leaves its input
alone, predict's shape/columns/ranges, identical predictions for a seed (and for a query
whatever else is in the batch), select and select_many agree and maximise the objective,
budgets and allow/forbid lists hold, and a larger cost weight never picks a costlier prediction.

A router that can only predict the queries it was fitted on (the oracle) sets
``predicts_unseen = False``; the suite then routes training queries instead of held-out ones.
This module needs pytest; it is imported by test suites only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from graphroute.data.synthetic import make_synthetic
from graphroute.errors import ConfigError, InfeasibleError, NotFittedError
from graphroute.routers.base import BaseRouter, clone
from graphroute.selection import ALL_TASKS, normalize_cost, task_bounds

__all__ = ["RouterContract", "ContractData", "contract_data", "PREDICT_COLUMNS"]

PREDICT_COLUMNS = ["query_index", "query", "task", "model", "agent", "effect", "cost"]
N_ROUTED = 12  # queries routed per test: enough to vary, few enough to stay fast
COST_WEIGHTS = (0.0, 0.1, 0.3, 1.0, 3.0, 10.0)  # w_cost sweep for the monotonicity check


@dataclass(frozen=True)
class ContractData:
    """Small synthetic logs split by query, with their cards."""

    train: pd.DataFrame
    test: pd.DataFrame
    models: list
    agents: list
    tasks: list


@functools.lru_cache(maxsize=4)
def contract_data(seed: int = 0) -> ContractData:
    """Seeded synthetic logs (60 queries, 3 models, 2 agents, 2 tasks, 80% of pairs logged), 25% of queries held out."""
    syn = make_synthetic(n_queries=60, n_models=3, n_agents=2, n_tasks=2, density=0.8, seed=seed)
    logs = syn.logs
    ids = np.sort(logs["query_id"].astype(str).unique())
    held = set(np.random.default_rng(seed).choice(ids, len(ids) // 4, replace=False))
    is_test = logs["query_id"].astype(str).isin(held)
    return ContractData(train=logs[~is_test].reset_index(drop=True), test=logs[is_test].reset_index(drop=True),
                        models=syn.models, agents=syn.agents, tasks=syn.tasks)


class _Sentinel:
    """A distinct object per parameter: an __init__ that stores it unchanged keeps this very object."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<sentinel for {self.name}>"


@dataclass
class _Fitted:
    router: BaseRouter
    returned: object  # what fit() returned
    logs: pd.DataFrame  # the frame passed to fit, after fit
    before: pd.DataFrame  # a deep copy taken before fit


def _first_queries(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    rows = (frame.drop_duplicates("query_id").assign(_k=lambda d: d["query_id"].astype(str))
            .sort_values("_k").head(N_ROUTED))
    return list(rows["query"]), [str(t) for t in rows["task"]]


def _objective_scores(router: BaseRouter, pred: pd.DataFrame, w_e: float, w_c: float) -> np.ndarray:
    """w_e·effect − w_c·normalised cost per prediction row, with the router's cost ranges."""
    lo, hi = task_bounds(router.cost_range_, pred["task"])
    return w_e * pred["effect"].to_numpy(float) - w_c * normalize_cost(pred["cost"].to_numpy(float), lo, hi)


class RouterContract:
    """Subclass as ``Test...`` and implement ``make_router()``; pytest collects the tests below."""

    predicts_unseen: bool = True  # False: route training queries (routers that only know what they saw)

    def make_router(self) -> BaseRouter:
        """A new, unfitted router that trains in a second or two on the contract data."""
        raise NotImplementedError("Subclass RouterContract and return an unfitted router from make_router().")

    # ---- fixtures (one fit per test class) -----------------------------------------------------
    @pytest.fixture(scope="class")
    def data(self) -> ContractData:
        return contract_data()

    @pytest.fixture(scope="class")
    def fitted(self, data: ContractData) -> _Fitted:
        logs = data.train.copy()
        before = logs.copy(deep=True)
        router = self.make_router()
        returned = router.fit(logs, models=data.models, agents=data.agents, tasks=data.tasks)
        return _Fitted(router=router, returned=returned, logs=logs, before=before)

    @pytest.fixture(scope="class")
    def routed(self, data: ContractData) -> tuple[list[str], list[str]]:
        return _first_queries(data.test if self.predicts_unseen else data.train)

    # ---- construction ------------------------------------------------------------------------
    def test_init_only_stores_parameters(self) -> None:
        router = self.make_router()
        params = router.get_params()
        assert isinstance(params, dict)
        # scikit-learn's rule: __init__ stores each argument as given (no validation, no copy, no
        # conversion) under the same name, and sets no other public attribute. Sentinels catch an
        # __init__ that checks, converts or derives anything from its arguments.
        sentinels = {name: _Sentinel(name) for name in params}
        bare = type(router)(**sentinels)
        for name, sentinel in sentinels.items():
            assert getattr(bare, name) is sentinel, f"__init__ changed or dropped its argument {name!r}"
        extra = sorted(k for k in vars(bare) if not k.startswith("_") and k not in params)
        assert not extra, f"__init__ set attributes that are not parameters: {extra}; set them in fit()"
        assert not hasattr(router, "candidates_")
        twin = clone(router)
        assert type(twin) is type(router) and twin is not router
        assert twin.get_params() == params
        assert type(router)(**params).get_params() == params
        assert repr(router).startswith(type(router).__name__ + "(")

    def test_set_params_rejects_unknown_names(self) -> None:
        with pytest.raises(ConfigError, match="no parameter"):
            self.make_router().set_params(no_such_parameter=1)

    def test_unfitted_router_raises_not_fitted(self) -> None:
        router = self.make_router()
        with pytest.raises(NotFittedError):
            router.predict(["How many legs does a spider have?"])
        with pytest.raises(NotFittedError):
            router.select("How many legs does a spider have?")
        with pytest.raises(NotFittedError):
            router.select_many(["How many legs does a spider have?"])

    # ---- fit ---------------------------------------------------------------------------------
    def test_fit_returns_self(self, fitted: _Fitted) -> None:
        assert fitted.returned is fitted.router

    def test_fit_leaves_its_input_alone(self, fitted: _Fitted) -> None:
        pd.testing.assert_frame_equal(fitted.logs, fitted.before)

    def test_fitted_attributes(self, fitted: _Fitted, data: ContractData) -> None:
        router = fitted.router
        cands = router.candidates_
        assert isinstance(cands, pd.DataFrame)
        assert {"model", "agent"} <= set(cands.columns) and len(cands) > 0
        assert not cands.duplicated(["model", "agent"]).any()
        assert set(data.train["model"]) <= set(cands["model"])  # every logged model can be chosen
        assert set(data.train["agent"]) <= set(cands["agent"])
        rng = router.cost_range_
        assert ALL_TASKS in rng
        for task in data.train["task"].unique():
            assert task in rng
        assert all(lo <= hi for lo, hi in rng.values())

    # ---- predict -----------------------------------------------------------------------------
    def test_predict_shape_columns_and_ranges(self, fitted: _Fitted, routed) -> None:
        router = fitted.router
        queries, tasks = routed
        q_copy, t_copy = list(queries), list(tasks)
        pred = router.predict(queries, tasks)
        assert queries == q_copy and tasks == t_copy
        assert list(pred.columns[:7]) == PREDICT_COLUMNS
        n_p = len(router.candidates_)
        assert len(pred) == len(queries) * n_p
        assert pred.groupby("query_index").size().eq(n_p).all()
        assert not pred.duplicated(["query_index", "model", "agent"]).any()
        assert list(pred.drop_duplicates("query_index")["query"]) == queries
        assert list(pred.drop_duplicates("query_index")["task"]) == tasks
        effect, cost = pred["effect"].to_numpy(float), pred["cost"].to_numpy(float)
        assert np.isfinite(effect).all() and ((effect >= 0) & (effect <= 1)).all()
        assert np.isfinite(cost).all() and (cost >= 0).all()

    def test_predict_without_tasks(self, fitted: _Fitted, routed) -> None:
        queries, _ = routed
        pred = fitted.router.predict(queries)
        assert len(pred) == len(queries) * len(fitted.router.candidates_)
        assert pred["task"].map(lambda t: isinstance(t, str)).all()
        assert np.isfinite(pred["effect"].to_numpy(float)).all() and np.isfinite(pred["cost"].to_numpy(float)).all()

    def test_predict_rejects_empty_query(self, fitted: _Fitted) -> None:
        with pytest.raises(ConfigError, match="empty"):
            fitted.router.predict(["  "])

    def test_predictions_are_deterministic_for_a_seed(self, fitted: _Fitted, data: ContractData, routed) -> None:
        queries, tasks = routed
        first = fitted.router.predict(queries, tasks)
        pd.testing.assert_frame_equal(first, fitted.router.predict(queries, tasks))
        again = clone(fitted.router).fit(data.train.copy(), models=data.models, agents=data.agents, tasks=data.tasks)
        second = again.predict(queries, tasks)
        pd.testing.assert_frame_equal(first.drop(columns=["effect", "cost"]), second.drop(columns=["effect", "cost"]))
        np.testing.assert_allclose(second["effect"], first["effect"], rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(second["cost"], first["cost"], rtol=1e-6, atol=1e-12)

    def test_a_query_is_predicted_alike_in_any_batch(self, fitted: _Fitted, routed) -> None:
        queries, tasks = routed
        batch = fitted.router.predict(queries, tasks)
        alone = fitted.router.predict([queries[-1]], [tasks[-1]])
        last = batch[batch["query_index"] == len(queries) - 1].reset_index(drop=True)
        np.testing.assert_allclose(alone["effect"], last["effect"], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone["cost"], last["cost"], rtol=1e-5, atol=1e-9)

    # ---- select ------------------------------------------------------------------------------
    @pytest.mark.parametrize("weights", [(1.0, 0.0), (0.5, 0.5), (0.2, 0.8)])
    def test_select_and_select_many_agree_and_maximise(self, fitted: _Fitted, routed, weights) -> None:
        router = fitted.router
        queries, tasks = routed
        many = router.select_many(queries, tasks, weights=weights)
        assert list(many["query_index"]) == list(range(len(queries)))
        assert not many["fallback"].any()
        pred = router.predict(queries, tasks)
        best = pd.Series(_objective_scores(router, pred, *weights)).groupby(pred["query_index"]).max()
        np.testing.assert_allclose(many["score"].to_numpy(float), best.to_numpy(), rtol=1e-9, atol=1e-9)
        for i in (0, len(queries) // 2, len(queries) - 1):
            one = router.select(queries[i], tasks[i], weights=weights, evidence=0)
            assert (one.model, one.agent) == (many["model"].iloc[i], many["agent"].iloc[i])
            assert one.effect == pytest.approx(float(many["effect"].iloc[i]), rel=1e-5)
            assert one.cost == pytest.approx(float(many["cost"].iloc[i]), rel=1e-5)  # float32 sums differ by batch
            assert len(one.alternatives) == len(router.candidates_)

    def test_budget_is_respected(self, fitted: _Fitted, routed) -> None:
        router = fitted.router
        queries, tasks = routed
        pred = router.predict(queries, tasks)
        budget = float(np.median(pred["cost"]))
        many = router.select_many(queries, tasks, weights=(1.0, 0.0), budget=budget, fallback="cheapest")
        cheapest = pred.groupby("query_index")["cost"].min().to_numpy()
        can = cheapest <= budget
        assert (many["fallback"].to_numpy() == ~can).all()
        assert (many.loc[can, "cost"].to_numpy(float) <= budget).all()
        low = float(pred["cost"].min())
        if low > 0:
            with pytest.raises(InfeasibleError, match="budget"):
                router.select(queries[0], tasks[0], budget=low / 2)

    def test_allow_and_forbid_lists_are_respected(self, fitted: _Fitted, routed) -> None:
        router = fitted.router
        queries, tasks = routed
        models = sorted(router.candidates_["model"].unique())
        agents = sorted(router.candidates_["agent"].unique())
        chosen = router.select_many(queries, tasks, weights=(1.0, 0.0), allowed_models=[models[-1]])
        assert (chosen["model"] == models[-1]).all()
        chosen = router.select_many(queries, tasks, weights=(1.0, 0.0), allowed_agents=[agents[0]])
        assert (chosen["agent"] == agents[0]).all()
        if len(models) > 1:
            chosen = router.select_many(queries, tasks, weights=(0.5, 0.5), forbidden_models=[models[0]])
            assert (chosen["model"] != models[0]).all()
        with pytest.raises(ConfigError, match="Unknown model"):
            router.select_many(queries, tasks, allowed_models=["no-such-model"])

    def test_more_cost_weight_never_picks_a_costlier_prediction(self, fitted: _Fitted, routed) -> None:
        router = fitted.router
        queries, tasks = routed
        previous = None
        for w_c in COST_WEIGHTS:
            cost = router.select_many(queries, tasks, weights={"effect": 1.0, "cost": w_c})["cost"].to_numpy(float)
            if previous is not None:
                assert (cost <= previous + 1e-12).all(), f"cost weight {w_c} raised a chosen cost"
            previous = cost
