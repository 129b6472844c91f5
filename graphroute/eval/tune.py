"""Hyperparameter search for :class:`~graphroute.Router` with Optuna (``graphroute tune``).

The search never sees a test query: per seed it takes the bench's per-task stratified
70/10/20 split (:func:`graphroute.eval.metrics.split_queries`), fits on the 70% train share and scores
on the 10% validation share. The score of a trial is the mean, over the seeds, of four shares:
the validation reward at each of the three GraphRouter scenarios as a share of the oracle's
reward there, and the AIQ of the router's trade-off sweep as a share of the best effect any
policy could reach on those queries (the oracle's mean effect, which bounds AIQ). The three
trade-offs count alike although their rewards differ in scale; the AIQ share is there because on
data where the rewards stop at per-task routing (the RouterBench subset: every setting picks the
same model per task at the three fixed weights) the sweep is what still tells settings apart.

Studies use a seeded TPE sampler and live in SQLite, so a search can be stopped, resumed and
inspected (``optuna-dashboard sqlite:///tune.db`` or :func:`study_summary`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from graphroute.data.logs import aggregate_runs
from graphroute.errors import ConfigError
from graphroute.eval.metrics import oracle_choices, reward, summarize
from graphroute.eval.splits import SPLIT_FRACTIONS, split_queries
from graphroute.selection import SCENARIOS, cost_ranges

__all__ = ["SEARCH_SPACE", "DEFAULT_SEEDS", "DEFAULT_TRIALS", "DEFAULT_STORAGE", "DEFAULT_STUDY", "suggest_params", "validation_score",
           "tune", "study_summary"]

DEFAULT_TRIALS = 20  # trials per `tune` call
DEFAULT_SEEDS = (0,)  # split seeds a trial averages over (one: a trial costs one fit)
DEFAULT_STORAGE = "sqlite:///graphroute_tune.db"  # where `graphroute tune` keeps its study (resumable)
DEFAULT_STUDY = "graphroute"  # the study's name in that storage

# name -> (kind, low, high[, log]) or ("categorical", choices)
SEARCH_SPACE: dict[str, tuple] = {
    "hidden": ("categorical", [32, 64, 128]),
    "layers": ("int", 1, 3),
    "k_neighbors": ("int", 5, 40),
    "knn_temperature": ("float", 0.01, 0.5, True),
    "lr": ("float", 1e-3, 1e-2, True),
    "weight_decay": ("float", 1e-6, 1e-3, True),
    "dropout": ("float", 0.0, 0.3),
    "target_fraction": ("float", 0.1, 0.5),
    "fewshot_fraction": ("float", 0.0, 0.4),
}


def suggest_params(trial, space: dict[str, tuple] | None = None) -> dict[str, Any]:
    """Router keyword arguments drawn by an Optuna ``trial`` from ``space`` (default SEARCH_SPACE)."""
    out: dict[str, Any] = {}
    for name, spec in (space or SEARCH_SPACE).items():
        kind = spec[0]
        if kind == "categorical":
            out[name] = trial.suggest_categorical(name, spec[1])
        elif kind == "int":
            out[name] = trial.suggest_int(name, spec[1], spec[2])
        elif kind == "float":
            out[name] = trial.suggest_float(name, spec[1], spec[2], log=len(spec) > 3 and spec[3])
        else:
            raise ConfigError(f"search space entry {name!r} has kind {kind!r}; use 'int', 'float' or 'categorical'.")
    return out


def validation_score(logs: pd.DataFrame, params: dict[str, Any], seeds: Sequence[int] = DEFAULT_SEEDS, *,
                     cards: dict | None = None, fractions=SPLIT_FRACTIONS) -> dict[str, float]:
    """Fit ``Router(**params)`` on each seed's train share; score it on the validation share.

    Returns ``{"score": mean share (see the module doc), "reward_<scenario>": mean reward, ...,
    "aiq": mean AIQ}``.
    """
    from graphroute.routers.gnn import Router

    agg = aggregate_runs(logs)
    per: dict[str, list[float]] = {**{f"reward_{s}": [] for s in SCENARIOS}, "aiq": []}
    shares: list[float] = []
    for seed in seeds:
        train_ids, val_ids, _ = split_queries(agg, seed, fractions)
        train = logs[logs["query_id"].isin(train_ids)].reset_index(drop=True)
        val = aggregate_runs(logs[logs["query_id"].isin(val_ids)])
        router = Router(**{**params, "seed": seed, "progress": False}).fit(train, **(cards or {}))
        q = val.drop_duplicates("query_id")
        pred = router.predict(q["query"].tolist(), tasks=q["task"].tolist())
        pred["query_id"] = q["query_id"].to_numpy()[pred["query_index"].to_numpy()]
        # scored as the bench scores: cost_norm over each task's range in every split the tuner sees
        seen = cost_ranges(agg[agg["query_id"].isin(np.concatenate([train_ids, val_ids]))])
        res = summarize(val, pred, cost_ranges(train), score_range=seen)
        for scen, w in SCENARIOS.items():
            r = float(res[f"reward_{scen}"])
            per[f"reward_{scen}"].append(r)
            best = reward(val, oracle_choices(val, w, score_range=seen), w, score_range=seen)
            shares.append(r / best if best > 0 else r)
        per["aiq"].append(float(res["aiq"]))
        ceiling = float(val.groupby("query_id")["effect"].max().mean())
        shares.append(per["aiq"][-1] / ceiling if ceiling > 0 else per["aiq"][-1])
    return {"score": float(np.mean(shares)), **{k: float(np.mean(v)) for k, v in per.items()}}


def tune(logs: pd.DataFrame, *, n_trials: int = DEFAULT_TRIALS, seeds: Sequence[int] = DEFAULT_SEEDS,
         storage: str | None = None, study_name: str = DEFAULT_STUDY, sampler_seed: int = 0, base_params: dict | None = None,
         space: dict[str, tuple] | None = None, cards: dict | None = None, timeout: float | None = None,
         callback: Callable[[Any, Any], None] | None = None):
    """Run (or resume) an Optuna study maximising :func:`validation_score`; returns the study.

    storage: e.g. ``"sqlite:///tune.db"``; None keeps the study in memory. A study of the same
    name in the same storage is resumed, its earlier trials kept.
    base_params: fixed Router arguments (e.g. ``{"embedder": "minilm-static", "epochs": 200}``).
    """
    import optuna

    if n_trials < 1:
        raise ConfigError(f"n_trials={n_trials!r} must be >= 1.")
    base = dict(base_params or {})
    study = optuna.create_study(study_name=study_name, storage=storage, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed), load_if_exists=True)
    if not study.trials:  # start from the shipped defaults, so the search can only confirm or improve them
        from graphroute.routers.gnn import Router

        defaults = Router().get_params()
        study.enqueue_trial({k: defaults[k] for k in (space or SEARCH_SPACE) if k in defaults})

    def objective(trial) -> float:
        params = {**base, **suggest_params(trial, space)}
        t0 = time.perf_counter()
        res = validation_score(logs, params, seeds, cards=cards)
        for k, v in res.items():
            trial.set_user_attr(k, v)
        trial.set_user_attr("fit_eval_s", time.perf_counter() - t0)
        return res["score"]

    cbs = [callback] if callback else []
    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=cbs, gc_after_trial=True)
    return study


def study_summary(study) -> dict[str, Any]:
    """A JSON-ready summary: best params and score, every finished trial's params and rewards."""
    done = [t for t in study.trials if t.value is not None]
    if not done:
        raise ConfigError(f"study {study.study_name!r} has no finished trial yet; run graphroute tune first.")
    best = study.best_trial
    return {
        "study": study.study_name, "n_trials": len(done), "best_score": best.value, "best_params": best.params,
        "best_rewards": {k: v for k, v in best.user_attrs.items() if k.startswith("reward_") or k == "aiq"},
        "trials": [{"number": t.number, "score": t.value, "params": t.params,
                    **{k: v for k, v in t.user_attrs.items() if k.startswith("reward_") or k == "aiq"}}
                   for t in done],
    }
