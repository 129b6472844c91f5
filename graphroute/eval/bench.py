"""Side-by-side evaluation: every router on the same seeded splits, one run (`graphroute bench`).

Protocol (DESIGN.md): per seed, a per-task stratified 70/10/20 split of queries
(``metrics.split_queries``). Every router is fitted on train + validation (80%; a router that
early-stops carves its own validation share out of it, and ``graphroute tune`` uses the 10%
validation split with train alone), then predicts effect and cost for every test query and
candidate. The choice at each scenario maximises w_e·effect − w_c·cost_norm with cost_norm
from the training costs' per-task range (what a deployed router knows); it is scored on the test
outcomes with cost_norm over each task's range across all splits (DESIGN.md: "min–max per task over
all (query, model) rows of that task"), so the scale a choice is scored on does not depend on which
queries a seed put in the test split (since 4738505; the test rows' own range before). The oracle,
which knows the test outcomes, also decides on that scale. The oracle is fitted
on the test table itself, as a ceiling. GraphRouter is one model per scenario, so it is fitted
three times per seed and scored at its own scenario only (its AIQ is not defined).

Every table also reports ``gap_<scenario>`` = (router − best single) / (oracle − best single), per
seed against that seed's ``best_single`` and ``oracle`` rows (so those two always run).

Two protocols mirror production (DESIGN.md, "Evaluation"); they change what routers see, never
how a choice is scored: ``observed=K`` keeps K seeded random (model, agent) outcomes per training
query (``splits.keep_observed``; test queries stay fully logged, and choices still normalise cost
with the full training split's per-task range), and ``task_labels=False`` routes every test query
with task None (each router infers what it needs). ``meta["protocol"]`` records both.
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

from graphroute.data.logs import DEFAULT_AGENT, aggregate_runs, validate_logs
from graphroute.embed import DEFAULT_EMBEDDER
from graphroute.errors import ConfigError
from graphroute.eval.metrics import apgr, cpt, reward, rewards, single_choices, summarize, sweep
from graphroute.eval.report import json_default, markdown_table, mean_std, pareto_plot, rank_summary
from graphroute.eval.splits import DEFAULT_SEEDS, SPLIT_FRACTIONS, keep_observed, split_queries
from graphroute.routers.base import BaseRouter
from graphroute.routers.baselines.registry import BASELINE_NAMES, baseline_class, make_router
from graphroute.selection import SCENARIOS, cost_ranges

__all__ = ["BenchResult", "run_bench", "ROUTERS", "load_bench_data", "make_bench_router", "protocol_label",
           "load_results", "summarize_results"]

ROUTERS = ("graphroute", *BASELINE_NAMES)  # every router the bench knows, in the order it runs them
DEFAULT_DATASET = "routerbench"  # what `graphroute bench` and `graphroute tune` run on unless told
METRIC_COLUMNS = [f"reward_{s}" for s in SCENARIOS] + ["aiq", "cost_to_match"]
GAP_COLUMNS = [f"gap_{s}" for s in SCENARIOS]  # share of the best single -> oracle gap closed, per scenario
REFERENCES = ("oracle", "best_single")  # always run: gap closed is measured between them
# a bench table's columns, in order (those a run has)
TABLE_COLUMNS = METRIC_COLUMNS[:3] + GAP_COLUMNS + METRIC_COLUMNS[3:] + ["apgr", "cpt50", "cpt80", "fit_s"]


def make_bench_router(name: str, embedder: str, seed: int, params: dict | None = None,
                      scenario: str | None = None) -> BaseRouter:
    """An unfitted router for the bench by name (``graphroute`` is the GNN Router)."""
    params = dict(params or {})
    if name == "graphroute":
        from graphroute.routers.gnn import Router

        return Router(**{"embedder": embedder, "seed": seed, "progress": False, **params})
    if name not in BASELINE_NAMES:
        raise ConfigError(f"Unknown router {name!r}; valid names are {list(ROUTERS)}.")
    valid = baseline_class(name)._param_names()
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
        cols = [c for c in TABLE_COLUMNS if c in self.rows]
        order = list(dict.fromkeys(self.rows["router"]))
        out = {}
        for r in order:
            g = self.rows[self.rows["router"] == r]
            out[r] = {c: mean_std(g[c]) for c in cols}
        return pd.DataFrame(out).T[cols]

    def means(self) -> pd.DataFrame:
        cols = [c for c in TABLE_COLUMNS if c in self.rows]
        return self.rows.groupby("router", sort=False)[cols].mean()

    def singles_table(self) -> pd.DataFrame:
        """Mean ± std over seeds of each "always this (model, agent)" policy: rewards, mean effect and cost."""
        cols = [c for c in METRIC_COLUMNS[:3] + ["effect", "cost"] if c in self.singles]
        out = {}
        for (m, a), g in self.singles.groupby(["model", "agent"], sort=True):
            label = m if a == DEFAULT_AGENT else f"{m} / {a}"
            out[label] = {c: mean_std(g[c]) for c in cols}
        return pd.DataFrame(out).T[cols]

    @property
    def protocol(self) -> str:
        """The protocol label (``standard``, ``observed=2``, ``no-task``, ...); older results are standard."""
        return self.meta.get("protocol", {}).get("label", "standard")

    def to_markdown(self) -> str:
        """The protocol, the routers' table, then (under its own header) the single (model, agent) policies."""
        parts = [f"Protocol: {self.protocol}. gap_<scenario> = (router − best single) / (oracle − best single).",
                 markdown_table(self.table(), "router")]
        if len(self.singles):
            parts.append(markdown_table(self.singles_table(), "always this (model, agent)"))
        return "\n\n".join(parts)

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        payload = {"dataset": self.dataset, "meta": self.meta, "rows": self.rows.to_dict(orient="records"),
                   "sweeps": self.sweeps.to_dict(orient="records"), "singles": self.singles.to_dict(orient="records")}
        path.write_text(json.dumps(payload, indent=1, default=json_default))
        return path

    @classmethod
    def from_json(cls, path: str | Path) -> BenchResult:
        """A result saved by ``to_json`` (gap columns added when an older file lacks them)."""
        d = json.loads(Path(path).read_text())
        rows = pd.DataFrame(d["rows"])
        if not set(GAP_COLUMNS) <= set(rows.columns) and set(REFERENCES) <= set(rows.get("router", [])):
            rows = _with_gaps(rows)
        return cls(d["dataset"], rows, pd.DataFrame(d["sweeps"]), pd.DataFrame(d["singles"]), d.get("meta", {}))

    def plot(self, path: str | Path, seed: int | None = None) -> Path:
        """Pareto plot of quality vs cost: each router's λ sweep, the single models, on one seed's test split."""
        seed = int(self.rows["seed"].min()) if seed is None else seed
        return pareto_plot(self.dataset, self.sweeps, self.singles, seed, path)


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


def protocol_label(observed: int | None, task_labels: bool) -> str:
    """The protocol's short name in tables: ``standard``, ``observed=2``, ``no-task``, ``observed=2, no-task``."""
    parts = ([f"observed={observed}"] if observed else []) + ([] if task_labels else ["no-task"])
    return ", ".join(parts) or "standard"


@dataclass
class _Split:
    """One seed's data: what routers fit on, the scored test table and the queries they route."""

    seed: int
    fit_logs: pd.DataFrame  # train + validation (after --observed subsampling)
    test_logs: pd.DataFrame  # fully logged, for scoring (and the oracle)
    table: pd.DataFrame  # aggregated test outcomes
    qframe: pd.DataFrame  # query_id, query, task of each test query
    crange: dict  # per-task training cost range the choices normalise with (from the full fit split)
    srange: dict  # per-task cost range over every split, which the rewards are scored with
    task_labels: bool  # whether routers are told each test query's task


def run_bench(dataset: str | pd.DataFrame = DEFAULT_DATASET, routers: Sequence[str] = ROUTERS,
              seeds: int | Sequence[int] = DEFAULT_SEEDS, *, embedder: str = DEFAULT_EMBEDDER,
              router_params: dict | None = None, cards: dict | None = None, fractions=SPLIT_FRACTIONS,
              observed: int | None = None, task_labels: bool = True, progress: bool = True) -> BenchResult:
    """Evaluate ``routers`` side by side on ``dataset`` over ``seeds``; see the module docstring.

    router_params: {router name: {param: value}} overrides (e.g. {"graphroute": {"epochs": 100}}).
    observed: keep only this many random (model, agent) outcomes per training query
    (``splits.keep_observed``, seeded by the split's seed); test queries stay fully logged.
    task_labels: False routes every test query without its task (routers infer what they need).
    The reference routers (oracle, best_single) always run, since gap closed is measured against them.
    """
    name, logs, ds_cards = load_bench_data(dataset)
    cards = {**ds_cards, **(cards or {})}
    unknown = [r for r in routers if r not in ROUTERS]
    if unknown:
        raise ConfigError(f"Unknown router(s) {unknown}; valid names are {list(ROUTERS)}.")
    routers = list(dict.fromkeys([*routers, *(r for r in REFERENCES if r not in routers)]))
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    router_params = router_params or {}
    agg = aggregate_runs(logs)
    pairs = agg[["model", "agent"]].drop_duplicates()
    rows, sweeps, singles = [], [], []
    t_start = time.perf_counter()
    for si, seed in enumerate(seeds):
        split = _make_split(logs, agg, seed, fractions, observed, task_labels)
        singles.extend(_single_policies(split))
        for rname in routers:
            t0 = time.perf_counter()
            row, sw = _run_router(rname, split, embedder, router_params.get(rname), cards, pairs)
            rows.append(row)
            sweeps.extend(sw)
            _log(f"[{name}] seed {seed} ({si + 1}/{len(seeds)}) {rname:14s} "
                 + " ".join(f"{k.replace('reward_', '')}={row[k]:.3f}" for k in METRIC_COLUMNS[:4]
                            if isinstance(row.get(k), float) and not math.isnan(row[k]))
                 + f"  ({time.perf_counter() - t0:.1f} s)", progress)
    meta = {"seeds": seeds, "fractions": list(fractions), "embedder": embedder, "routers": list(routers),
            "router_params": router_params, "n_queries": int(agg["query_id"].nunique()),
            "n_pairs": int(len(pairs)), "n_runs": int(len(logs)), "wall_s": time.perf_counter() - t_start,
            "protocol": {"observed": observed, "task_labels": bool(task_labels),
                         "label": protocol_label(observed, task_labels)}}
    return BenchResult(name, _with_gaps(pd.DataFrame(rows)), pd.DataFrame(sweeps), pd.DataFrame(singles), meta)


def _make_split(logs: pd.DataFrame, agg: pd.DataFrame, seed: int, fractions, observed: int | None,
                task_labels: bool) -> _Split:
    train_ids, val_ids, test_ids = split_queries(agg, seed, fractions)
    fit_logs = logs[logs["query_id"].isin(np.concatenate([train_ids, val_ids]))].reset_index(drop=True)
    crange = cost_ranges(fit_logs)  # the scoring convention does not change with the protocol
    if observed:
        fit_logs = keep_observed(fit_logs, observed, seed)
    test_logs = logs[logs["query_id"].isin(test_ids)].reset_index(drop=True)
    table = aggregate_runs(test_logs)
    qframe = table.drop_duplicates("query_id")[["query_id", "query", "task"]].reset_index(drop=True)
    return _Split(seed, fit_logs, test_logs, table, qframe, crange, cost_ranges(agg), task_labels)


def _single_policies(split: _Split) -> list[dict]:
    """Test mean effect and cost of each "always this (model, agent)" policy (rewards where it ran every query)."""
    out = []
    for (m, a), g in split.table.groupby(["model", "agent"]):
        rec = {"seed": split.seed, "model": m, "agent": a, "cost": g["cost"].mean(), "effect": g["effect"].mean(),
               "coverage": g["query_id"].nunique() / len(split.qframe)}
        if rec["coverage"] == 1.0:  # "always this pair" is a policy only where the pair answered every query
            rec.update({f"reward_{k}": v for k, v in rewards(split.table, single_choices(split.table, m, a),
                                                              score_range=split.srange).items()})
        out.append(rec)
    return out


def _run_router(rname: str, split: _Split, embedder: str, params: dict | None, cards: dict,
                pairs: pd.DataFrame) -> tuple[dict, list[dict]]:
    """One router's bench row on one split, and its λ sweep points."""
    row: dict = {"router": rname, "seed": split.seed}
    if rname == "graphrouter":  # one model per scenario, scored at its own scenario only
        fit_s = 0.0
        for scen in SCENARIOS:
            r = make_bench_router(rname, embedder, split.seed, params, scenario=scen)
            t1 = time.perf_counter()
            r.fit(split.fit_logs, **cards)
            fit_s += time.perf_counter() - t1
            row[f"reward_{scen}"] = _reward_at(split.table, _predict(r, split), scen, r, split.srange)
        row.update(aiq=float("nan"), cost_to_match=float("nan"), fit_s=fit_s)
        return row, []
    r = make_bench_router(rname, embedder, split.seed, params)
    t1 = time.perf_counter()
    r.fit(split.test_logs if rname == "oracle" else split.fit_logs, **cards)
    row["fit_s"] = time.perf_counter() - t1
    pred = _predict(r, split)
    # the oracle knows the test outcomes, so it also decides on the scale they are scored on; AIQ and
    # cost to match come from the exact sweep, the stored sweep (for plots) from the default grid
    res = summarize(split.table, pred, split.srange if rname == "oracle" else split.crange, score_range=split.srange)
    row.update({k: res[k] for k in METRIC_COLUMNS})
    row["cost_to_match"] = np.nan if res["cost_to_match"] is None else res["cost_to_match"]
    sw = sweep(pred, split.table)
    if len(pairs) == 2:
        row.update(_two_model_metrics(split.table, pred, pairs))
    return row, [{"router": rname, "seed": split.seed, **rec} for rec in sw.to_dict(orient="records")]


def _with_gaps(rows: pd.DataFrame) -> pd.DataFrame:
    """``gap_<scenario>`` = (router − best single) / (oracle − best single) per seed (NaN when oracle = best single)."""
    rows = rows.copy()
    for scen in SCENARIOS:
        col = f"reward_{scen}"
        ref = rows.pivot_table(index="seed", columns="router", values=col, aggfunc="first")
        best, oracle = rows["seed"].map(ref["best_single"]), rows["seed"].map(ref["oracle"])
        room = (oracle - best).astype(float)
        rows[f"gap_{scen}"] = np.where(room.abs() > 1e-12, (rows[col].astype(float) - best) / room.where(room != 0, 1),
                                       np.nan)
    return rows


def _predict(router: BaseRouter, split: _Split) -> pd.DataFrame:
    qframe = split.qframe
    pred = router.predict(qframe["query"].tolist(), tasks=qframe["task"].tolist() if split.task_labels else None)
    pred["query_id"] = qframe["query_id"].to_numpy()[pred["query_index"].to_numpy()]
    return pred


def _reward_at(table: pd.DataFrame, pred: pd.DataFrame, scenario: str, router, score_range: dict) -> float:
    """Reward at one scenario of a router whose predicted 'effect' already prices cost in (GraphRouter)."""
    w = getattr(router, "scenario_weights_", {"effect": 1.0, "cost": 0.0})
    p = pred.assign(score=w.get("effect", 1.0) * pred["effect"])
    logged = set(zip(table["query_id"], table["model"], table["agent"]))
    p = p[[k in logged for k in zip(p["query_id"], p["model"], p["agent"])]]
    p = p.sort_values(["query_id", "score", "cost", "model"], ascending=[True, False, True, True], kind="mergesort")
    choices = p.groupby("query_id", sort=False).head(1)[["query_id", "model", "agent"]]
    return reward(table, choices, SCENARIOS[scenario], score_range=score_range)


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


def load_results(root: str | Path) -> list[BenchResult]:
    """Every standard-protocol bench result (``results.json``) under ``root``, in path order.

    Files of the new-models protocol (``new_models.json``) are not bench results and are skipped.
    """
    root = Path(root)
    if not root.exists():
        raise ConfigError(f"results directory {str(root)!r} does not exist. Fix: pass a folder that holds bench "
                          "results (results.json files written by `graphroute bench --out DIR`).")
    files = [root] if root.is_file() else sorted(root.rglob("results.json"))
    if not files:
        raise ConfigError(f"no results.json under {str(root)!r}. Fix: run `graphroute bench --out "
                          f"{root}/<name>` first, or pass the folder that holds its results.")
    return [BenchResult.from_json(f) for f in files]


def summarize_results(results: Sequence[BenchResult], router: str = "graphroute") -> pd.DataFrame:
    """One row per (dataset, protocol): ``router``'s rank, its gap closed and the best other router per scenario
    (``report.rank_summary``)."""
    runs = [(r.dataset, r.protocol, r.rows) for r in results]
    return rank_summary(runs, router=router)
