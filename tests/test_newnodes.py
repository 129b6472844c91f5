"""The new-models protocol: held-out models join by add_model and are scored beside retraining."""

from __future__ import annotations

import pytest

from graphroute.errors import ConfigError
from graphroute.eval.newnodes import new_models_markdown, run_new_models
from graphroute.data.synthetic import make_synthetic

FAST = dict(epochs=15, patience=15, hidden=16, cache_dir=False)


@pytest.fixture(scope="module")
def data():
    return make_synthetic(n_queries=150, n_models=5, n_tasks=2, seed=8)


@pytest.fixture(scope="module")
def result(data):
    return run_new_models(data.logs, {"models": data.models, "tasks": data.tasks}, seeds=[0], shots=(0, 20),
                          n_holdout=2, embedder="hash", router_params=FAST, progress=False)


def test_protocol_rows_and_shares(result):
    assert list(result["setting"]) == ["dropped", "k=0", "k=20", "retrained"]
    held = result["held_out"].iloc[0].split(",")
    assert len(held) == 2 and result["held_out"].nunique() == 1
    retrained = result[result["setting"] == "retrained"].iloc[0]
    assert retrained["share_balance"] == pytest.approx(1.0)
    dropped = result[result["setting"] == "dropped"].iloc[0]
    assert dropped["held_share_balance"] == 0.0  # a router without them can never choose them
    for col in ("reward_performance_first", "reward_balance", "reward_cost_first"):
        assert result[col].between(-1, 1).all()
    # models added with runs are chosen somewhere; adding takes no fit
    added = result[result["setting"].str.startswith("k=")]
    assert (added["fit_s"] == 0).all() and (added["add_s"] > 0).all()


def test_holdout_must_leave_models(data):
    with pytest.raises(ConfigError, match="n_holdout"):
        run_new_models(data.logs, seeds=[0], n_holdout=5, embedder="hash", router_params=FAST, progress=False)


def test_markdown_lists_every_setting(result):
    md = new_models_markdown(result)
    for s in ("dropped", "k=0", "k=20", "retrained"):
        assert f"| {s} |" in md


class _TiedRouter:
    """Predicts the same effect for both models of every query; the held-out one is cheaper, listed second."""

    def predict(self, queries, tasks=None):
        import pandas as pd

        n = len(queries)
        return pd.DataFrame({"query_index": [i for i in range(n) for _ in range(2)], "model": ["old", "new"] * n,
                             "agent": ["none"] * (2 * n), "effect": [0.7] * (2 * n), "cost": [2.0, 1.0] * n})


def test_held_share_breaks_ties_as_select_does():
    import pandas as pd

    from graphroute.eval.newnodes import _scores

    rows = [{"query_id": f"q{i}", "query": f"question {i}", "task": "t", "model": m, "agent": "none",
             "effect": 1.0, "cost": c} for i in range(4) for m, c in (("old", 2.0), ("new", 1.0))]
    table = pd.DataFrame(rows)
    out = _scores(_TiedRouter(), table, table, ["new"], {"t": (0.0, 2.0)})
    # equal predicted effect at Performance First (cost has no weight there): the cheaper pair wins, not the
    # first row (at Balance it would win on score anyway)
    assert out["held_share_performance_first"] == 1.0
