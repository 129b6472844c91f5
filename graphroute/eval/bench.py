"""Side-by-side evaluation: every router on the same seeded splits, one run (`graphroute bench`).

Protocol (DESIGN.md): per seed, a per-task stratified 70/10/20 split of queries
(``metrics.split_queries``). Every router is fitted on train + validation (80%; a router that
early-stops carves its own validation share out of it, and ``graphroute tune`` uses the 10%
validation split with train alone), then predicts effect and cost for every test query and
candidate. The choice at each scenario maximises w_e·effect − w_c·cost_norm with cost_norm
from the training costs' per-task range; it is scored on the test outcomes. The oracle is fitted
on the test table itself, as a ceiling. GraphRouter is one model per scenario, so it is fitted
three times per seed and scored at its own scenario only (its AIQ is not defined).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from graphroute.routers.base import BaseRouter, cost_ranges
from graphroute.errors import ConfigError
from graphroute.data.logs import DEFAULT_AGENT, aggregate_runs, validate_logs
from graphroute.eval.metrics import SCENARIOS, apgr, cpt, lambda_grid, rewards, single_choices, split_queries, summarize, sweep

__all__ = ["BenchResult", "run_bench", "ROUTERS", "DEFAULT_ROUTERS", "add_bench", "cmd_bench"]

ROUTERS = ("graphroute", "oracle", "best_single", "per_task_best", "cheapest", "random", "knn", "mlp", "mf",
           "graphrouter")
DEFAULT_ROUTERS = ROUTERS
METRIC_COLUMNS = [f"reward_{s}" for s in SCENARIOS] + ["aiq", "cost_to_match"]


def make_bench_router(name: str, embedder: str, seed: int, params: dict | None = None,
                      scenario: str | None = None) -> BaseRouter:
    """An unfitted router for the bench by name (``graphroute`` is the GNN Router)."""
    from graphroute.routers.baselines import BASELINES, make_router
    from graphroute.routers.gnn import Router

    params = dict(params or {})
    if name == "graphroute":
        return Router(**{"embedder": embedder, "seed": seed, "progress": False, **params})
    if name not in BASELINES:
        raise ConfigError(f"Unknown router {name!r}; valid names are {list(ROUTERS)}.")
    valid = BASELINES[name]._param_names()
    extra = {k: v for k, v in (("embedder", embedder), ("seed", seed), ("scenario", scenario)) if k in valid and v is not None}
    return make_router(name, **{**extra, **params})


@dataclass
class BenchResult:
    """Per-seed rows, λ sweeps and single-model points of one bench run."""

    dataset: str
    rows: pd.DataFrame  # one row per (router, seed): METRIC_COLUMNS, fit_s, (apgr, cpt50, cpt80)
    sweeps: pd.DataFrame  # router, seed, lambda, cost, effect
    singles: pd.DataFrame  # seed, model, agent, cost, effect (test means)
    meta: dict = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Mean ± std over seeds per router, as strings, in the order routers were run."""
        cols = [c for c in METRIC_COLUMNS + ["apgr", "cpt50", "cpt80", "fit_s"] if c in self.rows]
        order = list(dict.fromkeys(self.rows["router"]))
        out = {}
        for r in order:
            g = self.rows[self.rows["router"] == r]
            out[r] = {c: _mean_std(g[c]) for c in cols}
        return pd.DataFrame(out).T[cols]

    def means(self) -> pd.DataFrame:
        cols = [c for c in METRIC_COLUMNS + ["apgr", "cpt50", "cpt80", "fit_s"] if c in self.rows]
        return self.rows.groupby("router", sort=False)[cols].mean()

    def singles_table(self) -> pd.DataFrame:
        """Mean ± std over seeds of each "always this (model, agent)" policy: rewards, mean effect and cost."""
        cols = [c for c in METRIC_COLUMNS[:3] + ["effect", "cost"] if c in self.singles]
        out = {}
        for (m, a), g in self.singles.groupby(["model", "agent"], sort=True):
            label = m if a == DEFAULT_AGENT else f"{m} / {a}"
            out[label] = {c: _mean_std(g[c]) for c in cols}
        return pd.DataFrame(out).T[cols]

    def to_markdown(self) -> str:
        """The routers' table, then (under its own header) the single (model, agent) policies."""
        parts = [_markdown(self.table(), "router")]
        if len(self.singles):
            parts.append(_markdown(self.singles_table(), "always this (model, agent)"))
        return "\n\n".join(parts)

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {"dataset": self.dataset, "meta": self.meta, "rows": self.rows.to_dict(orient="records"),
                   "sweeps": self.sweeps.to_dict(orient="records"), "singles": self.singles.to_dict(orient="records")}
        path.write_text(json.dumps(payload, indent=1, default=_json_default))
        return path

    def plot(self, path: str | Path, seed: int | None = None) -> Path:
        """Pareto plot of quality vs cost: each router's λ sweep, the single models, on one seed's test split."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        seed = int(self.rows["seed"].min()) if seed is None else seed
        fig, ax = plt.subplots(figsize=(8, 5.5))
        sw = self.sweeps[self.sweeps["seed"] == seed]
        for name, g in sw.groupby("router", sort=False):
            g = g.sort_values("cost")
            style = dict(marker="*", markersize=12, linestyle="none") if name == "oracle" else dict(marker=".")
            ax.plot(g["cost"], g["effect"], label=name, linewidth=2.2 if name == "graphroute" else 1.0, **style)
        sg = self.singles[self.singles["seed"] == seed]
        ax.scatter(sg["cost"], sg["effect"], c="k", marker="x", zorder=5, label="single models")
        for _, r in sg.iterrows():
            ax.annotate(str(r["model"])[-18:], (r["cost"], r["effect"]), fontsize=6, alpha=0.7,
                        xytext=(3, -3), textcoords="offset points")
        ax.set_xscale("symlog", linthresh=max(float(sg["cost"].min()), 1e-9))
        ax.set_xlabel("mean cost per query (USD, symlog)")
        ax.set_ylabel("mean effect (quality)")
        ax.set_title(f"{self.dataset}: quality vs cost on the test split (seed {seed})")
        ax.legend(fontsize=7, loc="lower right")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)
        return Path(path)


def _markdown(t: pd.DataFrame, first: str) -> str:
    head = f"| {first} | " + " | ".join(t.columns) + " |"
    sep = "| --- " * (len(t.columns) + 1) + "|"
    return "\n".join([head, sep] + ["| " + r + " | " + " | ".join(str(v) for v in row) + " |" for r, row in t.iterrows()])


def _mean_std(s: pd.Series) -> str:
    s = pd.to_numeric(s, errors="coerce")
    if s.isna().all():
        return "n/a"
    if s.isna().any():
        return f"{s.mean():.3f} ± {s.std(ddof=0):.3f} ({int(s.notna().sum())}/{len(s)} reached)"
    return f"{s.mean():.3f} ± {s.std(ddof=0):.3f}"


def _json_default(o):
    if isinstance(o, np.integer | np.floating):
        return o.item()
    if isinstance(o, float) and math.isnan(o):
        return None
    return str(o)


def _log(msg: str, progress: bool) -> None:
    if progress:
        print(msg, file=sys.stderr, flush=True)


def load_bench_data(dataset: str | pd.DataFrame) -> tuple[str, pd.DataFrame, dict]:
    """(name, logs, cards) for a named dataset, a logs file path, or a DataFrame."""
    if isinstance(dataset, pd.DataFrame):
        return "user logs", validate_logs(dataset), {}
    from graphroute.data.datasets import DATASETS, load_dataset

    if dataset in DATASETS:
        ds = load_dataset(dataset)
        logs = ds.logs
        if getattr(ds, "test_logs", None) is not None:  # one pool; the bench makes its own seeded splits
            logs = pd.concat([logs, ds.test_logs], ignore_index=True)
        return dataset, validate_logs(logs), {"models": ds.models, "agents": ds.agents, "tasks": ds.tasks}
    path = Path(dataset)
    if path.exists():
        from graphroute.data.logs import read_logs

        return path.name, read_logs(path), {}
    raise ConfigError(f"Unknown dataset {dataset!r}: not one of {list(DATASETS)} and not an existing logs file.")


def run_bench(dataset: str | pd.DataFrame = "routerbench", routers: Sequence[str] = DEFAULT_ROUTERS,
              seeds: int | Sequence[int] = 5, *, embedder: str = "minilm", router_params: dict | None = None,
              cards: dict | None = None, fractions=(0.7, 0.1, 0.2), progress: bool = True) -> BenchResult:
    """Evaluate ``routers`` side by side on ``dataset`` over ``seeds``; see the module docstring.

    router_params: {router name: {param: value}} overrides (e.g. {"graphroute": {"epochs": 100}}).
    """
    name, logs, ds_cards = load_bench_data(dataset)
    cards = {**ds_cards, **(cards or {})}
    unknown = [r for r in routers if r not in ROUTERS]
    if unknown:
        raise ConfigError(f"Unknown router(s) {unknown}; valid names are {list(ROUTERS)}.")
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    router_params = router_params or {}
    agg = aggregate_runs(logs)
    pairs = agg[["model", "agent"]].drop_duplicates()
    two_models = len(pairs) == 2
    rows, sweeps, singles = [], [], []
    t_start = time.perf_counter()
    for si, seed in enumerate(seeds):
        train_ids, val_ids, test_ids = split_queries(agg, seed, fractions)
        fit_logs = logs[logs["query_id"].isin(np.concatenate([train_ids, val_ids]))].reset_index(drop=True)
        test_logs = logs[logs["query_id"].isin(test_ids)].reset_index(drop=True)
        table = aggregate_runs(test_logs)
        qframe = table.drop_duplicates("query_id")[["query_id", "query", "task"]].reset_index(drop=True)
        crange = cost_ranges(fit_logs)
        for (m, a), g in table.groupby(["model", "agent"]):
            rec = {"seed": seed, "model": m, "agent": a, "cost": g["cost"].mean(), "effect": g["effect"].mean(),
                   "coverage": g["query_id"].nunique() / len(qframe)}
            if rec["coverage"] == 1.0:  # "always this pair" is a policy only where the pair answered every query
                rec.update({f"reward_{k}": v for k, v in rewards(table, single_choices(table, m, a)).items()})
            singles.append(rec)
        for rname in routers:
            t0 = time.perf_counter()
            row = {"router": rname, "seed": seed}
            if rname == "graphrouter":
                fit_s = 0.0
                for scen, w in SCENARIOS.items():
                    r = make_bench_router(rname, embedder, seed, router_params.get(rname), scenario=scen)
                    t1 = time.perf_counter()
                    r.fit(fit_logs, **cards)
                    fit_s += time.perf_counter() - t1
                    pred = _predict(r, qframe)
                    row[f"reward_{scen}"] = _reward_at(table, pred, scen, r)
                row.update(aiq=float("nan"), cost_to_match=float("nan"), fit_s=fit_s)
            else:
                r = make_bench_router(rname, embedder, seed, router_params.get(rname))
                t1 = time.perf_counter()
                r.fit(test_logs if rname == "oracle" else fit_logs, **cards)
                row["fit_s"] = time.perf_counter() - t1
                pred = _predict(r, qframe)
                lambdas = lambda_grid(pred, table)
                res = summarize(table, pred, crange, lambdas=lambdas)
                row.update({k: res[k] for k in METRIC_COLUMNS})
                row["cost_to_match"] = np.nan if res["cost_to_match"] is None else res["cost_to_match"]
                sw = sweep(pred, table, lambdas)
                sweeps.extend({"router": rname, "seed": seed, **rec} for rec in sw.to_dict(orient="records"))
                if two_models:
                    row.update(_two_model_metrics(table, pred, pairs))
            rows.append(row)
            _log(f"[{name}] seed {seed} ({si + 1}/{len(seeds)}) {rname:14s} "
                 + " ".join(f"{k.replace('reward_', '')}={row[k]:.3f}" for k in METRIC_COLUMNS[:4]
                            if isinstance(row.get(k), float) and not math.isnan(row[k]))
                 + f"  ({time.perf_counter() - t0:.1f} s)", progress)
    meta = {"seeds": seeds, "fractions": list(fractions), "embedder": embedder, "routers": list(routers),
            "router_params": router_params, "n_queries": int(agg["query_id"].nunique()),
            "n_pairs": int(len(pairs)), "n_runs": int(len(logs)), "wall_s": time.perf_counter() - t_start}
    return BenchResult(name, pd.DataFrame(rows), pd.DataFrame(sweeps), pd.DataFrame(singles), meta)


def _predict(router: BaseRouter, qframe: pd.DataFrame) -> pd.DataFrame:
    pred = router.predict(qframe["query"].tolist(), tasks=qframe["task"].tolist())
    pred["query_id"] = qframe["query_id"].to_numpy()[pred["query_index"].to_numpy()]
    return pred


def _reward_at(table: pd.DataFrame, pred: pd.DataFrame, scenario: str, router) -> float:
    """Reward at one scenario of a router whose predicted 'effect' already prices cost in (GraphRouter)."""
    from graphroute.eval.metrics import reward

    w = getattr(router, "scenario_weights_", {"effect": 1.0, "cost": 0.0})
    p = pred.assign(score=w.get("effect", 1.0) * pred["effect"])
    logged = set(zip(table["query_id"], table["model"], table["agent"]))
    p = p[[k in logged for k in zip(p["query_id"], p["model"], p["agent"])]]
    p = p.sort_values(["query_id", "score", "cost", "model"], ascending=[True, False, True, True], kind="mergesort")
    choices = p.groupby("query_id", sort=False).head(1)[["query_id", "model", "agent"]]
    return reward(table, choices, SCENARIOS[scenario])


def _two_model_metrics(table: pd.DataFrame, pred: pd.DataFrame, pairs: pd.DataFrame) -> dict:
    """APGR and CPT(50%/80%) with the router's score = predicted effect gap strong − weak."""
    means = table.groupby(["model", "agent"])["effect"].mean()
    (sm, sa), (wm, wa) = sorted(means.index, key=lambda k: -means[k])
    p = pred.set_index(["query_id", "model", "agent"])["effect"]
    ids = table["query_id"].unique()
    scores = pd.Series({q: p.get((q, sm, sa), np.nan) - p.get((q, wm, wa), np.nan) for q in ids})
    out = {"apgr": apgr(table, scores, (sm, sa), (wm, wa))}
    for level, key in ((0.5, "cpt50"), (0.8, "cpt80")):
        v = cpt(table, scores, (sm, sa), (wm, wa), pgr=level)
        out[key] = np.nan if v is None else v
    return out


# ---------------------------------------------------------------- CLI
def add_bench(sub) -> None:
    p = sub.add_parser("bench", help="evaluate routers side by side (rewards, AIQ, cost to match)",
                       description="Run every router on the same seeded 70/10/20 splits and report the three "
                                   "GraphRouter scenarios' rewards, AIQ and the cost to match the best single model; "
                                   "writes a table (Markdown), JSON and a Pareto plot.")
    p.add_argument("--dataset", default="routerbench",
                   help="routerbench (default), llmrouter, routellm-gsm8k, routellm-mmlu, tot, marble, or a logs file")
    p.add_argument("--routers", default=",".join(DEFAULT_ROUTERS),
                   help=f"comma-separated router names (default: all): {','.join(ROUTERS)}")
    p.add_argument("--seeds", type=int, default=5, help="number of seeds / splits (default 5)")
    p.add_argument("--embedder", default="minilm", help="text embedder for every router (default minilm)")
    p.add_argument("--param", action="append", default=[], metavar="ROUTER.NAME=VALUE",
                   help="override a router parameter, e.g. graphroute.epochs=100 (repeatable; value parsed as JSON)")
    p.add_argument("--out", default="bench_out", help="directory for table.md, results.json and pareto.png")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--protocol", choices=["standard", "new-models"], default="standard",
                   help="standard: every router side by side (default). new-models: hold models out of training, "
                        "add them with add_model and k logged runs, compare with retraining (graphroute Router only)")
    p.add_argument("--shots", default="0,10,50", help="new-models: logged runs per added model (default 0,10,50)")
    p.add_argument("--holdout", type=int, default=3, help="new-models: models held out per seed (default 3)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: the bench fits many small models, and on a machine with "
                        "other work more threads spin-wait on each other; one thread was up to 100x faster here)")
    p.set_defaults(func=cmd_bench)


def _parse_params(items: list[str]) -> dict:
    out: dict[str, dict] = {}
    for item in items:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ConfigError(f"--param must look like ROUTER.NAME=VALUE (e.g. graphroute.epochs=100); got {item!r}.")
        key, val = item.split("=", 1)
        router, pname = key.split(".", 1)
        try:
            v = json.loads(val)
        except json.JSONDecodeError:
            v = val
        out.setdefault(router, {})[pname] = v
    return out


def cmd_bench(args) -> int:
    if args.threads < 1:
        raise ConfigError(f"--threads must be an integer >= 1; got {args.threads}. Use 1 unless the machine is idle.")
    import torch

    torch.set_num_threads(args.threads)
    if args.protocol == "new-models":
        return _cmd_new_models(args)
    routers = [r.strip() for r in args.routers.split(",") if r.strip()]
    res = run_bench(args.dataset, routers, args.seeds, embedder=args.embedder,
                    router_params=_parse_params(args.param), progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = res.to_markdown()
    (out / "table.md").write_text(md + "\n")
    res.to_json(out / "results.json")
    res.plot(out / "pareto.png")
    print(md)
    print(f"\nwrote {out / 'table.md'}, {out / 'results.json'}, {out / 'pareto.png'} "
          f"({res.meta['wall_s']:.0f} s)")
    return 0


def _cmd_new_models(args) -> int:
    from graphroute.eval.newnodes import new_models_markdown, run_new_models

    try:
        shots = [int(k) for k in args.shots.split(",") if k.strip()]
    except ValueError as e:
        raise ConfigError(f"--shots must be comma-separated integers such as 0,10,50; got {args.shots!r}.") from e
    name, logs, cards = load_bench_data(args.dataset)
    res = run_new_models(logs, cards, seeds=args.seeds, shots=shots, n_holdout=args.holdout,
                         router_params=_parse_params(args.param).get("graphroute"), embedder=args.embedder,
                         progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    md = new_models_markdown(res)
    (out / "new_models.md").write_text(md + "\n")
    res.to_json(out / "new_models.json", orient="records", indent=2)
    print(md)
    print(f"\nwrote {out / 'new_models.md'}, {out / 'new_models.json'}")
    return 0
