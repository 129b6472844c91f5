"""The new-models protocol (``graphroute bench --protocol new-models``).

Can a model released this morning be routed this morning? Per seed, on the bench's 70/10/20
split (train + validation fit, test scored):

1. pick ``n_holdout`` models at random (seeded) and remove every run of theirs from training;
2. fit a Router on the remaining models (the *base* router);
3. for each k in ``shots``: add the held-out models with ``add_model`` (card: description and
   prices; runs: k logged runs each, on training queries drawn at random), no gradient step;
   score on the test split with every model a candidate; then remove them again;
4. fit a Router on all models (the *retrained* router) and score it the same way.

Reported per seed and k: reward at the three scenarios, the share of the retrained router's
reward, how often a held-out model is chosen, the reward of the base router choosing only among
the models it was trained on ("dropped"), the seconds to add the models and to retrain.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from graphroute.data.logs import aggregate_runs
from graphroute.embed import DEFAULT_EMBEDDER
from graphroute.errors import ConfigError
from graphroute.eval.metrics import summarize
from graphroute.eval.report import new_models_markdown
from graphroute.eval.splits import DEFAULT_SEEDS, SPLIT_FRACTIONS, split_queries
from graphroute.selection import SCENARIOS, Objective, cost_ranges, rank_candidates

__all__ = ["run_new_models", "new_models_markdown", "DEFAULT_SHOTS", "DEFAULT_HOLDOUT"]

DEFAULT_SHOTS = (0, 10, 50)  # logged runs per added model
DEFAULT_HOLDOUT = 3  # models held out of training per seed


def _scores(router, table: pd.DataFrame, fit_logs: pd.DataFrame, held: Sequence[str], score_range: dict
            ) -> dict[str, float]:
    q = table.drop_duplicates("query_id")
    pred = router.predict(q["query"].tolist(), tasks=q["task"].tolist())
    pred["query_id"] = q["query_id"].to_numpy()[pred["query_index"].to_numpy()]
    pred["task"] = q["task"].to_numpy()[pred["query_index"].to_numpy()]
    pred = pred[pred.set_index(["query_id", "model", "agent"]).index.isin(
        table.set_index(["query_id", "model", "agent"]).index)]  # only pairs with a logged test outcome
    crange = cost_ranges(fit_logs)
    res = summarize(table, pred, crange, score_range=score_range)
    out = {f"reward_{s}": float(res[f"reward_{s}"]) for s in SCENARIOS}
    models, agents = sorted(pred["model"].unique()), sorted(pred["agent"].unique())
    for scen, (we, wc) in SCENARIOS.items():  # how often a held-out model wins at this scenario
        # each query's pick as select() makes it (the one ranking kernel: score, then cost, then names)
        obj = Objective(weights={"effect": we, "cost": wc}).checked(models, agents, has_latency=False)
        best = rank_candidates(pred, obj, crange).groupby("query_index", sort=False).head(1)
        out[f"held_share_{scen}"] = float(best["model"].isin(held).mean()) if len(held) else 0.0
    return out


def run_new_models(logs: pd.DataFrame, cards: dict | None = None, *, seeds: int | Sequence[int] = DEFAULT_SEEDS,
                   shots: Sequence[int] = DEFAULT_SHOTS, n_holdout: int = DEFAULT_HOLDOUT,
                   router_params: dict | None = None, embedder: str = DEFAULT_EMBEDDER, fractions=SPLIT_FRACTIONS,
                   progress: bool = True) -> pd.DataFrame:
    """Run the protocol above; one row per (seed, setting) with setting in
    ``"dropped"``, ``"k=<k>"`` for each k, and ``"retrained"``."""
    from graphroute.routers.gnn import Router

    cards = cards or {}
    models = sorted(logs["model"].unique())
    if not 1 <= n_holdout < len(models):
        raise ConfigError(f"n_holdout={n_holdout} must be between 1 and the number of models minus one "
                          f"({len(models) - 1}); the logs have {len(models)} models.")
    model_cards = {c["name"] if isinstance(c, dict) else c.name: c for c in (cards.get("models") or [])}
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    params = {"embedder": embedder, "progress": False, **(router_params or {})}
    agg = aggregate_runs(logs)
    srange = cost_ranges(agg)  # rewards are scored on each task's cost range over every split, as in the bench
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        train_ids, val_ids, test_ids = split_queries(agg, seed, fractions)
        fit_logs = logs[logs["query_id"].isin(np.concatenate([train_ids, val_ids]))].reset_index(drop=True)
        table = aggregate_runs(logs[logs["query_id"].isin(test_ids)])
        held = sorted(rng.choice(models, n_holdout, replace=False).tolist())
        base_logs = fit_logs[~fit_logs["model"].isin(held)].reset_index(drop=True)
        base_cards = {**cards, "models": [c for n, c in model_cards.items() if n not in held] or None}

        t0 = time.perf_counter()
        router = Router(**{**params, "seed": seed}).fit(base_logs, **base_cards)
        base_fit_s = time.perf_counter() - t0
        kept = table[~table["model"].isin(held)]
        rows.append({"seed": seed, "setting": "dropped", "held_out": ",".join(held), "add_s": 0.0,
                     "fit_s": base_fit_s, **_scores(router, kept, fit_logs, held, srange)})
        for k in shots:
            t0 = time.perf_counter()
            for m in held:
                card = model_cards.get(m)
                card = card if isinstance(card, dict) or card is None else card.to_dict()
                card = {kk: v for kk, v in (card or {}).items() if kk in ("description", "price_in", "price_out",
                                                                           "params_b")}
                runs = None
                if k > 0:
                    pool = fit_logs[fit_logs["model"] == m]
                    ids = pool["query_id"].unique()
                    pick = rng.choice(ids, min(k, len(ids)), replace=False)
                    runs = pool[pool["query_id"].isin(pick)]
                router.add_model(m, runs=runs, **card)
            add_s = time.perf_counter() - t0
            rows.append({"seed": seed, "setting": f"k={k}", "held_out": ",".join(held), "add_s": add_s,
                         "fit_s": 0.0, **_scores(router, table, fit_logs, held, srange)})
            for m in held:
                router.remove_model(m)
        t0 = time.perf_counter()
        full = Router(**{**params, "seed": seed}).fit(fit_logs, **cards)
        fit_s = time.perf_counter() - t0
        rows.append({"seed": seed, "setting": "retrained", "held_out": ",".join(held), "add_s": 0.0,
                     "fit_s": fit_s, **_scores(full, table, fit_logs, held, srange)})
        if progress:
            last = rows[-(len(shots) + 2):]
            print(f"[new-models] seed {seed}: held out {held}; "
                  + "; ".join(f"{r['setting']} {r['reward_balance']:.3f}" for r in last), flush=True)
    out = pd.DataFrame(rows)
    ref = out[out["setting"] == "retrained"].set_index("seed")
    for s in SCENARIOS:
        out[f"share_{s}"] = out[f"reward_{s}"] / out["seed"].map(ref[f"reward_{s}"])
    return out
