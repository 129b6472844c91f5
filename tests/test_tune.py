"""graphroute.eval.tune: seeded, resumable Optuna search on the validation split only."""

from __future__ import annotations

import json

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from graphroute.eval import metrics
from graphroute.cli import main
from graphroute.errors import ConfigError
from graphroute.data.logs import aggregate_runs
from graphroute.data.synthetic import make_synthetic
from graphroute.eval.tune import study_summary, tune, validation_score

BASE = dict(embedder="hash", cache_dir=False, epochs=6, patience=6, hidden=16)
SPACE = {"k_neighbors": ("int", 3, 12), "dropout": ("float", 0.0, 0.3)}


@pytest.fixture(scope="module")
def logs():
    return make_synthetic(n_queries=90, n_models=3, n_tasks=2, seed=4).logs


def test_validation_score_never_sees_test_queries(logs, monkeypatch):
    seen = []
    import graphroute.routers.gnn as router_mod

    real_fit = router_mod.Router.fit

    def spy(self, lg, *a, **k):
        seen.append(set(lg["query_id"]))
        return real_fit(self, lg, *a, **k)

    monkeypatch.setattr(router_mod.Router, "fit", spy)
    res = validation_score(logs, BASE, seeds=[0])
    _, val_ids, test_ids = metrics.split_queries(aggregate_runs(logs), 0)
    assert seen and not (seen[0] & set(test_ids)) and not (seen[0] & set(val_ids))
    assert set(res) == {"score", "aiq"} | {f"reward_{s}" for s in metrics.SCENARIOS}
    assert 0 < res["score"] <= 1.0 + 1e-9 and 0 < res["aiq"] <= 1.0


def test_tune_is_seeded_and_resumes_from_sqlite(logs, tmp_path):
    url = f"sqlite:///{tmp_path / 't.db'}"
    a = tune(logs, n_trials=3, storage=url, study_name="s", base_params=BASE, space=SPACE)
    assert len(a.trials) == 3
    a2 = tune(logs, n_trials=1, storage=url, study_name="s", base_params=BASE, space=SPACE)
    assert len(a2.trials) == 4  # resumed, not restarted
    b = tune(logs, n_trials=3, base_params=BASE, space=SPACE)  # in memory, same sampler seed
    assert [t.params for t in a.trials[:3]] == [t.params for t in b.trials]
    np.testing.assert_allclose([t.value for t in a.trials[:3]], [t.value for t in b.trials])
    s = study_summary(a2)
    assert s["n_trials"] == 4 and s["best_score"] == max(t["score"] for t in s["trials"])


def test_errors_name_the_fix(logs):
    with pytest.raises(ConfigError, match="n_trials"):
        tune(logs, n_trials=0)
    with pytest.raises(ConfigError, match="kind"):
        tune(logs, n_trials=1, base_params=BASE, space={"hidden": ("normal", 1, 2)})


def test_cli_tune_writes_summary(logs, tmp_path, capsys):
    path = tmp_path / "logs.csv"
    logs.to_csv(path, index=False)
    out = tmp_path / "summary.json"
    rc = main(["tune", "--dataset", str(path), "--trials", "1", "--embedder", "hash", "--epochs", "4",
               "--storage", f"sqlite:///{tmp_path / 'c.db'}", "--summary", str(out)])
    assert rc == 0
    summary = json.loads(out.read_text())
    assert summary["n_trials"] == 1 and "hidden" in summary["best_params"]
    assert "trial 0" in capsys.readouterr().out
