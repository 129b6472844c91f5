"""Performance benchmark of graphroute (issue 7): training, routing and scale, in one run.

    python benchmarks/perf.py              # full run (about 1 h on 2 cores); writes benchmarks/perf_results.md
    python benchmarks/perf.py --quick      # smoke sizes (a few minutes); writes into --workdir
    python benchmarks/perf.py --sections train,route --skip-headline

What it measures (every measurement runs in a fresh subprocess, so peak RSS is that process's
``resource.getrusage(RUSAGE_SELF).ru_maxrss``; tracemalloc does not see torch's allocations):

* training: on the RouterBench subset (``gr.load_dataset("routerbench")``, the bench's seed-0 70/10/20
  split, fitted on train + validation as ``graphroute bench`` does) with every embedding already in
  the cache: graphroute's Router, the GraphRouter re-implementation (``baselines.GraphRouterBaseline``,
  scenario "balance"; timed to its own best validation score, i.e. to the epoch whose weights it keeps)
  and the kNN baseline. Wall time, CPU time, peak RSS, and the test reward at "balance" as a sanity check.
* routing: warm ``select()`` latency (p50 / p99) for distinct unseen queries (the test split) with the
  MiniLM and the static embedder, split into embedding time, graph + decoder time and the rest
  (neighbour search, ranking, the Selection's frames); ``select_many`` throughput on 10k distinct
  unseen queries with the static embedder. The MiniLM router embeds through an empty disk cache, so
  every query is a real MiniLM call (the default setup, cache writes included).
* scale: ``gr.make_synthetic`` logs (8 tasks) with the "hash" embedder (64-d hashed words, so that
  text embedding is not what is measured): fit time, peak RSS and select latency as the logged
  queries grow (10k, 30k, 100k at 20 models x 3 agents; 100k x 20 x 3 = 6M runs is the headline) and
  as the models grow (5, 20, 80 at 10k queries x 3 agents). Plot: benchmarks/perf_scale.png.

The machine may be shared: its load average is recorded before and after, and every comparison is
a ratio of numbers measured in the same run. Worker processes get ``OMP_WAIT_POLICY=PASSIVE`` unless
``--omp-wait-policy inherit`` (see the note written into the results: with OpenMP's default busy
waiting, a loaded 2-core machine stalls every parallel torch op).
"""

from __future__ import annotations

import argparse
import copy
import datetime as _dt
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULT_TAG = "PERF_RESULT "

# targets from the issue
TARGETS = {"fit_s": 60.0, "speedup_vs_graphrouter": 5.0, "p50_minilm_ms": 15.0, "p50_static_ms": 2.0,
           "select_many_qps": 5000.0, "headline_fit_s": 15 * 60.0, "headline_rss_gb": 8.0, "flat_tolerance": 0.20}


# =============================================================================================
# worker side: one measurement per process
# =============================================================================================
class _Clock:
    """Wall and CPU time (all threads) since start."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), self._cpu()

    @staticmethod
    def _cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def cpu(self) -> float:
        return self._cpu() - self.cpu0


def _maxrss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def _best_state_hook() -> list[float]:
    """Record when a training loop keeps a new best state: Router and GraphRouterBaseline both do
    ``copy.deepcopy(net.state_dict())`` exactly when validation improves."""
    stamps: list[float] = []
    original = copy.deepcopy

    def deepcopy(obj, memo=None, _nil=[]):  # noqa: B006 (copy.deepcopy's own signature)
        if isinstance(obj, dict) and obj and all(hasattr(v, "dtype") for v in obj.values()):
            stamps.append(time.perf_counter())
        return original(obj, memo)

    copy.deepcopy = deepcopy
    return stamps


def _phase_timer(targets: list[tuple[object, str]]) -> dict[str, float]:
    """Wrap methods/functions to accumulate their wall time under their name (or a target's third entry)."""
    spent: dict[str, float] = {}
    for owner, attr, *label in targets:
        fn, name = getattr(owner, attr), (label[0] if label else attr)

        def wrapped(*a, _fn=fn, _name=name, **k):
            t = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                spent[_name] = spent.get(_name, 0.0) + time.perf_counter() - t

        setattr(owner, attr, wrapped)
    return spent


def _fit_phases():
    from graphroute.graph import state as G
    from graphroute.routers.gnn import router as R
    from graphroute.routers.gnn import training as T

    # (owner, attribute[, name in the report]): the report keeps the names of the single-file router
    return [(R, "validate_logs"), (R, "aggregate_runs"), (R.Catalog, "from_logs"), (T, "new_state", "_new_state"),
            (G.GraphState, "refresh_neighbors"), (T, "train_member", "_train_member"),
            (R.Router, "_publish_state", "_publish")]


def _routerbench_split(seed: int = 0):
    """(logs for fit, test query frame, test table, train cost ranges, cards, scoring cost ranges) as
    ``graphroute bench`` (the scoring ranges: each task's over every split)."""
    from graphroute.routers.base import cost_ranges
    from graphroute.eval.bench import load_bench_data
    from graphroute.data.logs import aggregate_runs
    from graphroute.eval.metrics import split_queries

    _, logs, cards = load_bench_data("routerbench")
    agg = aggregate_runs(logs)
    train_ids, val_ids, test_ids = split_queries(agg, seed, (0.7, 0.1, 0.2))
    fit_logs = logs[logs["query_id"].isin(np.concatenate([train_ids, val_ids]))].reset_index(drop=True)
    test_logs = logs[logs["query_id"].isin(test_ids)].reset_index(drop=True)
    table = aggregate_runs(test_logs)
    qframe = table.drop_duplicates("query_id")[["query_id", "query", "task"]].reset_index(drop=True)
    return fit_logs, qframe, table, cost_ranges(fit_logs), cards, cost_ranges(agg)


def _make_bench_router(name: str, embedder: str, epochs: int | None, cache_dir: str):
    import graphroute as gr
    from graphroute.routers import baselines as bl

    if name == "graphroute":
        return gr.Router(embedder=embedder, seed=0, progress=False, cache_dir=cache_dir,
                         **({"epochs": epochs} if epochs else {}))
    if name == "graphrouter":
        return bl.GraphRouterBaseline(scenario="balance", embedder=embedder, seed=0, cache_dir=cache_dir,
                                      **({"epochs": epochs} if epochs else {}))
    if name == "knn":
        return bl.KNNRouter(embedder=embedder, cache_dir=cache_dir)
    raise ValueError(name)


def work_warm_cache(cfg: dict) -> dict:
    """Fill the embedding cache with every text the bench routers embed (one short fit of each)."""
    clock = _Clock()
    fit_logs, qframe, _, _, cards, _ = _routerbench_split()
    for name in ("graphroute", "graphrouter", "knn"):
        r = _make_bench_router(name, cfg["embedder"], 1, cfg["cache_dir"])
        r.fit(fit_logs, **cards)
        r.predict(qframe["query"].tolist()[:5], tasks=qframe["task"].tolist()[:5])
    return {"wall_s": clock.wall()}


def work_fit_bench(cfg: dict) -> dict:
    """Fit one router on the RouterBench split (embeddings cached); time, memory, test reward."""
    import torch

    from graphroute.eval.bench import _reward_at
    from graphroute.eval.metrics import summarize

    fit_logs, qframe, table, crange, cards, srange = _routerbench_split()
    r = _make_bench_router(cfg["router"], cfg["embedder"], cfg.get("epochs"), cfg["cache_dir"])
    spent = {}
    if cfg["router"] == "graphroute":
        from graphroute.graph import state as G
        from graphroute.nn.modules import RouterNet
        from graphroute.routers.gnn import router as R
        from graphroute.routers.gnn import training as T

        spent = _phase_timer(_fit_phases() + [(T, "_episode"), (RouterNet, "encode"), (RouterNet, "decode"),
                                           (torch.Tensor, "backward"), (torch.optim.AdamW, "step"),
                                           (G.GraphState, "hetero_data"), (G.GraphState, "pair_features")])
        publish = R.Router._publish_state

        def _publish(self, state, *a, _f=publish, **kw):  # keep the final full-graph encode out of the training shares
            before = {k: spent.get(k, 0.0) for k in ("encode", "hetero_data")}
            try:
                return _f(self, state, *a, **kw)
            finally:
                for k, v in before.items():
                    spent[k] = v
        R.Router._publish_state = _publish
    stamps = _best_state_hook()
    rss0 = _maxrss_gb()
    clock = _Clock()
    r.fit(fit_logs, **cards)
    wall, cpu = clock.wall(), clock.cpu()
    out = {"router": cfg["router"], "embedder": cfg["embedder"], "fit_s": wall, "cpu_s": cpu,
           "rss_before_gb": rss0, "peak_rss_gb": _maxrss_gb(), "threads": torch.get_num_threads(),
           "phases": dict(spent)}
    hist = getattr(r, "history_", None)
    if hist:
        h = hist[0] if isinstance(hist[0], list) else hist
        out["epochs"] = len(h)
        key = "val_loss" if "val_loss" in h[0] else "val_reward" if "val_reward" in h[0] else None
        if key:
            vals = [e[key] for e in h]
            out["best_epoch"] = int(np.argmin(vals) if key == "val_loss" else np.argmax(vals))
    if stamps:
        out["to_best_s"] = stamps[-1] - clock.wall0
    pred = r.predict(qframe["query"].tolist(), tasks=qframe["task"].tolist())
    pred["query_id"] = qframe["query_id"].to_numpy()[pred["query_index"].to_numpy()]
    if cfg["router"] == "graphrouter":
        out["reward_balance"] = _reward_at(table, pred, "balance", r, srange)
    else:
        out["reward_balance"] = float(summarize(table, pred, crange, score_range=srange)["reward_balance"])
    if cfg.get("save"):
        r.save(cfg["save"])
    return out


def _latency(router, queries: list[str], warm: list[str]) -> dict:
    """select() latency per query, split into embedding, graph + decoder, and the rest."""
    from graphroute.routers.gnn import Router, serving

    for q in warm:
        router.select(q)
    spent = _phase_timer([(Router, "_embed"), (serving, "predict_block")])
    total, emb, dec = [], [], []
    for q in queries:
        spent.clear()
        t = time.perf_counter()
        router.select(q)
        total.append(time.perf_counter() - t)
        emb.append(spent.get("_embed", 0.0))
        dec.append(spent.get("predict_block", 0.0))
    total, emb, dec = (np.array(v) * 1e3 for v in (total, emb, dec))
    other = total - emb - dec
    pct = {"p50": 50, "p99": 99}
    out = {f"{k}_ms": float(np.percentile(total, p)) for k, p in pct.items()}
    for name, arr in (("embed", emb), ("graph", dec), ("other", other)):
        for k, p in pct.items():
            out[f"{name}_{k}_ms"] = float(np.percentile(arr, p))
    out["n"] = len(queries)
    return out


def work_route(cfg: dict) -> dict:
    """Warm select latency and select_many throughput of a saved router."""
    import torch

    import graphroute as gr

    _, qframe, _, _, _, _ = _routerbench_split()
    test_q = qframe["query"].tolist()
    n = cfg["n_latency"]
    r = gr.load(cfg["router_path"], cache_dir=cfg["cache_dir"])  # an empty cache: every query embeds for real
    out = {"embedder": r.embedder, "threads": torch.get_num_threads(), "n_known": r.graph_.n_queries}
    emb = r._embedder()
    out["backend"] = getattr(getattr(emb, "inner", emb), "backend", "–")
    out.update(_latency(r, test_q[:n], warm=test_q[n:n + 20]))
    if cfg.get("n_many"):
        k = cfg["n_many"]
        many = [f"{test_q[i % len(test_q)]} [variant {i}]" for i in range(k)]  # distinct unseen texts
        r.select_many(many[:50])
        t = time.perf_counter()
        res = r.select_many(many)
        dt = time.perf_counter() - t
        assert len(res) == k
        out.update(many_n=k, many_s=dt, many_qps=k / dt)
    return out


def work_scale_gen(cfg: dict) -> dict:
    """Generate synthetic logs (+ 200 held-out queries) to parquet, outside the measured process."""
    import graphroute as gr

    clock = _Clock()
    n, hold = cfg["n_queries"], cfg["n_holdout"]
    d = gr.make_synthetic(n_queries=n + hold, n_models=cfg["n_models"], n_agents=cfg["n_agents"],
                          n_tasks=cfg["n_tasks"], seed=cfg["seed"])
    ids = d.logs["query_id"].drop_duplicates()
    held = set(ids.iloc[n:])
    is_held = d.logs["query_id"].isin(held)
    path = Path(cfg["path"])
    path.mkdir(parents=True, exist_ok=True)
    d.logs[~is_held].reset_index(drop=True).to_parquet(path / "logs.parquet")
    d.logs[is_held].reset_index(drop=True).to_parquet(path / "holdout.parquet")
    (path / "cards.json").write_text(json.dumps({"models": d.models, "agents": d.agents, "tasks": d.tasks}))
    return {"runs": int((~is_held).sum()), "gen_s": clock.wall()}


def work_scale_fit(cfg: dict) -> dict:
    """Fit on synthetic logs (hash embedder), then select latency on held-out queries."""
    import pandas as pd
    import torch

    import graphroute as gr

    path = Path(cfg["path"])
    logs = pd.read_parquet(path / "logs.parquet")
    cards = json.loads((path / "cards.json").read_text())
    hold = pd.read_parquet(path / "holdout.parquet")
    rss0 = _maxrss_gb()
    spent = _phase_timer(_fit_phases())
    r = gr.Router(embedder=cfg["embedder"], seed=0, progress=False, cache_dir=False, **cfg.get("params", {}))
    clock = _Clock()
    r.fit(logs, **cards)
    wall, cpu = clock.wall(), clock.cpu()
    phases = dict(spent)
    out = {"n_queries": cfg["n_queries"], "n_models": cfg["n_models"], "n_agents": cfg["n_agents"],
           "runs": len(logs), "fit_s": wall, "cpu_s": cpu, "rss_before_gb": rss0, "peak_rss_gb": _maxrss_gb(),
           "epochs": len(r.history_[0]), "phases": phases, "threads": torch.get_num_threads()}
    del logs
    hq = hold.drop_duplicates("query_id")
    queries = hq["query"].tolist()
    out.update(_latency(r, queries[20:], warm=queries[:20]))
    # sanity: mean logged effect of the chosen pair on the held-out queries, vs the best single pair
    choice = r.select_many(queries, weights={"effect": 1.0})
    got = hold.merge(choice[["query", "model", "agent"]], on=["query", "model", "agent"])
    out["holdout_effect"] = float(got["effect"].mean())
    out["best_single_effect"] = float(hold.groupby(["model", "agent"])["effect"].mean().max())
    out["search"] = r._search_mode()
    if out["search"] != "exact":  # what the approximate index costs against the exact scan, same router
        from graphroute.graph.index import nearest

        x, keys = r._embed(queries), r.graph_.query_x
        approx, _ = nearest(x, keys, r.k_neighbors, out["search"], r.seed, index=r._live.index)
        exact, _ = nearest(x, keys, r.k_neighbors, "exact")
        out["search_recall"] = float(np.mean([len(set(a) & set(b)) / len(b)
                                               for a, b in zip(approx.tolist(), exact.tolist())]))
        r.set_params(neighbor_search="exact")
        same = r.select_many(queries, weights={"effect": 1.0})
        out["search_same_choice"] = float((same[["model", "agent"]].to_numpy()
                                           == choice[["model", "agent"]].to_numpy()).all(1).mean())
        ex = _latency(r, queries[20:], warm=queries[:20])
        out["exact_p50_ms"], out["exact_other_p50_ms"] = ex["p50_ms"], ex["other_p50_ms"]
        r.set_params(neighbor_search="auto")
    return out


WORKERS = {"warm_cache": work_warm_cache, "fit_bench": work_fit_bench, "route": work_route,
           "scale_gen": work_scale_gen, "scale_fit": work_scale_fit}


def worker_main(spec: str) -> None:
    cfg = json.loads(spec)
    if cfg.get("profile"):
        from pyinstrument import Profiler

        prof = Profiler(interval=0.005)
        prof.start()
    res = WORKERS[cfg["kind"]](cfg)
    if cfg.get("profile"):
        prof.stop()
        Path(cfg["profile"]).write_text(prof.output_text(unicode=False, color=False))
    print(RESULT_TAG + json.dumps(res), flush=True)


# =============================================================================================
# parent side: orchestration and the report
# =============================================================================================
class Runner:
    def __init__(self, args) -> None:
        self.args = args
        self.env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        if args.omp_wait_policy != "inherit":
            self.env["OMP_WAIT_POLICY"] = args.omp_wait_policy
        self.log = open(Path(args.workdir) / "perf.log", "a")

    def run(self, cfg: dict, timeout: float = 7200) -> dict:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(cfg)]
        label = cfg["kind"] + " " + " ".join(f"{k}={v}" for k, v in cfg.items()
                                             if k in ("router", "embedder", "n_queries", "n_models"))
        print(f"[perf] {label} ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        try:
            p = subprocess.run(cmd, env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            print(f"[perf] {label}: timed out after {timeout:.0f} s", file=sys.stderr, flush=True)
            return {"error": f"timed out after {timeout:.0f} s"}
        self.log.write(f"=== {label}\n{p.stdout}\n{p.stderr[-5000:]}\n")
        self.log.flush()
        for line in p.stdout.splitlines():
            if line.startswith(RESULT_TAG):
                res = json.loads(line[len(RESULT_TAG):])
                print(f"[perf] {label}: done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
                return res
        err = (p.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"[perf] {label}: FAILED ({err})", file=sys.stderr, flush=True)
        return {"error": err}


def machine_info() -> dict:
    import torch

    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "graphroute"], cwd=ROOT, capture_output=True,
                                    text=True).stdout.strip())
    except OSError:
        commit, dirty = "?", False
    return {"cores": os.cpu_count(), "ram_gb": ram, "cpu": cpu, "python": platform.python_version(),
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "commit": commit + (" + uncommitted changes in graphroute/" if dirty else "")}


def _fmt(v, spec=".1f", na="–") -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return na
    return format(v, spec)


def _ok(flag: bool | None) -> str:
    return "–" if flag is None else ("yes" if flag else "**no**")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--quick", action="store_true", help="smoke sizes: short fits, small synthetic logs (minutes)")
    ap.add_argument("--sections", default="train,route,scale", help="comma-separated subset of train,route,scale")
    ap.add_argument("--skip-headline", action="store_true", help="leave out the 100k-query (6M-run) scale point")
    ap.add_argument("--out", default=None, help="markdown output (default: benchmarks/perf_results.md; "
                                                "with --quick: <workdir>/perf_results.md)")
    ap.add_argument("--plot", default=None, help="scale plot (default: next to --out as perf_scale.png)")
    ap.add_argument("--workdir", default=None, help="scratch folder for data, routers and caches "
                                                    "(default: a new folder under the system temp dir)")
    ap.add_argument("--omp-wait-policy", default="PASSIVE", help="OMP_WAIT_POLICY for the measured processes, "
                                                                 "or 'inherit' (default PASSIVE)")
    ap.add_argument("--profile", action="store_true", help="also write pyinstrument profiles of the fits to workdir")
    ap.add_argument("--from-json", metavar="PATH", help="only re-render the report and plot from a previous run's "
                                                          "perf_results.json (kept in its workdir)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker_main(args.worker)
        return 0
    if args.from_json:
        res = json.loads(Path(args.from_json).read_text())
        out_md = Path(args.out) if args.out else (Path(args.from_json).with_name("perf_results.md")
                                                  if res["meta"]["quick"] else HERE / "perf_results.md")
        return _write(res, out_md, Path(args.plot) if args.plot else out_md.with_name("perf_scale.png"))

    args.workdir = args.workdir or tempfile.mkdtemp(prefix="graphroute-perf-")
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    out_md = Path(args.out) if args.out else (Path(args.workdir) / "perf_results.md" if args.quick
                                              else HERE / "perf_results.md")
    out_png = Path(args.plot) if args.plot else out_md.with_name("perf_scale.png")
    sections = {s.strip() for s in args.sections.split(",") if s.strip()}
    runner = Runner(args)
    work = Path(args.workdir)
    cache = str(work / "embed_cache")
    quick = args.quick
    started = _dt.datetime.now().astimezone()
    load0 = os.getloadavg()
    info = machine_info()
    res: dict = {"train": {}, "route": {}, "scale": []}
    prof = (lambda name: str(work / f"profile_{name}.txt")) if args.profile else (lambda name: None)

    if sections & {"train", "route"}:
        runner.run({"kind": "warm_cache", "embedder": "minilm", "cache_dir": cache})
    if "train" in sections or "route" in sections:
        ep = 5 if quick else None
        for name, emb in (("graphroute", "minilm"), ("graphrouter", "minilm"), ("knn", "minilm"),
                          ("graphroute", "minilm-static")):
            if name != "graphroute" and "train" not in sections:
                continue
            key = name if emb == "minilm" else f"{name} ({emb})"
            save = str(work / f"router_{emb}") if name == "graphroute" else None
            res["train"][key] = runner.run({"kind": "fit_bench", "router": name, "embedder": emb, "epochs": ep,
                                            "cache_dir": cache, "save": save, "profile": prof(f"fit_{name}_{emb}")})
    if "route" in sections:
        for emb in ("minilm", "minilm-static"):
            n_many = (1000 if quick else 10_000) if emb == "minilm-static" else 0
            res["route"][emb] = runner.run({"kind": "route", "router_path": str(work / f"router_{emb}"),
                                            "cache_dir": str(work / f"route_cache_{emb}"),
                                            "n_latency": 50 if quick else 200, "n_many": n_many})
    if "scale" in sections:
        base_q, base_m = (2000, 6) if quick else (10_000, 20)
        grid = ([(q, base_m) for q in ((1000, 2000, 4000) if quick else (10_000, 30_000, 100_000))]
                + [(base_q, m) for m in ((3, 12) if quick else (5, 80))])
        if args.skip_headline:
            grid = [g for g in grid if g[0] < 100_000]
        for nq, nm in grid:
            path = str(work / f"syn_{nq}_{nm}")
            gen = runner.run({"kind": "scale_gen", "n_queries": nq, "n_models": nm, "n_agents": 3, "n_tasks": 8,
                              "n_holdout": 220, "seed": 0, "path": path})
            if "error" in gen:
                res["scale"].append({"n_queries": nq, "n_models": nm, "n_agents": 3, **gen})
                continue
            fit = runner.run({"kind": "scale_fit", "path": path, "n_queries": nq, "n_models": nm, "n_agents": 3,
                              "embedder": "hash", "profile": prof(f"scale_{nq}_{nm}"),
                              "params": {"epochs": 5} if quick else {}}, timeout=4 * 3600)
            res["scale"].append({"n_queries": nq, "n_models": nm, "n_agents": 3, **gen, **fit})

    finished = _dt.datetime.now().astimezone()
    load1 = os.getloadavg()
    res["meta"] = {"info": info, "started": started.isoformat(), "finished": finished.isoformat(), "load0": load0,
                   "load1": load1, "quick": quick, "omp_wait_policy": args.omp_wait_policy,
                   "argv": sys.argv[1:] if argv is None else argv}
    (work / "perf_results.json").write_text(json.dumps(res, indent=1, default=str))
    print(f"[perf] raw results and worker logs in {work}", file=sys.stderr)
    return _write(res, out_md, out_png)


def _write(res: dict, out_md: Path, out_png: Path) -> int:
    m = res["meta"]
    args = argparse.Namespace(quick=m["quick"], omp_wait_policy=m["omp_wait_policy"])
    started, finished = (_dt.datetime.fromisoformat(m[k]) for k in ("started", "finished"))
    md = report(res, args, m["info"], started, finished, m["load0"], m["load1"], out_png if res["scale"] else None,
                m["argv"])
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(md)
    if res["scale"]:
        plot_scale(res["scale"], out_png, args.quick)
    print(md)
    print(f"\n[perf] wrote {out_md}" + (f" and {out_png}" if res["scale"] else ""), file=sys.stderr)
    return 0


def report(res, args, info, started, finished, load0, load1, png, argv) -> str:
    cmd = " ".join(["python benchmarks/perf.py", *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    L = ["# graphroute performance benchmark", "",
         f"- command: `{cmd}`",
         f"- date: {started:%Y-%m-%d %H:%M %Z} (took {(finished - started).total_seconds() / 60:.0f} min)",
         f"- machine: {info['cores']} cores ({info['cpu']}), {info['ram_gb']:.0f} GB RAM; Python {info['python']}, "
         f"torch {info['torch']} ({info['torch_threads']} threads); graphroute at {info['commit']}",
         f"- load average (1/5/15 min) at start {'/'.join(f'{x:.1f}' for x in load0)}, at end "
         f"{'/'.join(f'{x:.1f}' for x in load1)}: the machine is shared, so absolute times are noisy; "
         "compare ratios within this file",
         f"- measured processes run with OMP_WAIT_POLICY={args.omp_wait_policy}"
         + (" (see the note at the end)" if args.omp_wait_policy != "inherit" else ""),
         f"- mode: {'--quick (smoke sizes; not the targets)' if args.quick else 'full'}", ""]
    tr, ro, sc = res["train"], res["route"], res["scale"]

    # ---------------------------------------------------------------- summary
    g, grr = tr.get("graphroute", {}), tr.get("graphrouter", {})
    speed = (grr.get("to_best_s") / g["fit_s"]) if g.get("fit_s") and grr.get("to_best_s") else None
    head = next((s for s in sc if s.get("n_queries") == 100_000 and s.get("n_models") == 20), None)
    qsweep = sorted((s for s in sc if s.get("n_models") == (6 if args.quick else 20) and "p50_ms" in s),
                    key=lambda s: s["n_queries"])
    flat = None
    if len(qsweep) >= 2:
        flat = qsweep[-1]["p50_ms"] / qsweep[0]["p50_ms"] - 1
    def target(what: str, goal: str, value, fmt: str, unit: str, met) -> tuple[str, str, str, str]:
        """One summary row; ``met`` is a function of the value (not called when the value is missing)."""
        missing = value is None or (isinstance(value, float) and not np.isfinite(value))
        return what, goal, ("n/a" if missing else format(value, fmt) + unit), "–" if missing else _ok(met(value))

    mini, static = ro.get("minilm", {}), ro.get("minilm-static", {})
    head = head or {}
    span = f"{qsweep[0]['n_queries'] // 1000}k → {qsweep[-1]['n_queries'] // 1000}k" if qsweep else "?"
    rows = [
        target("RouterBench: Router fit (embeddings cached)", f"≤ {TARGETS['fit_s']:.0f} s", g.get("fit_s"),
               ".1f", " s", lambda v: v <= TARGETS["fit_s"]),
        target("RouterBench: GraphRouter time-to-best ÷ Router fit", f"≥ {TARGETS['speedup_vs_graphrouter']:.0f}×",
               speed, ".2f", "×", lambda v: v >= TARGETS["speedup_vs_graphrouter"]),
        target("select() p50, MiniLM", f"≤ {TARGETS['p50_minilm_ms']:.0f} ms", mini.get("p50_ms"), ".2f", " ms",
               lambda v: v <= TARGETS["p50_minilm_ms"]),
        target("select() p50, static", f"≤ {TARGETS['p50_static_ms']:.0f} ms", static.get("p50_ms"), ".2f", " ms",
               lambda v: v <= TARGETS["p50_static_ms"]),
        target("select_many throughput, static", f"≥ {TARGETS['select_many_qps']:,.0f} q/s", static.get("many_qps"),
               ",.0f", " q/s", lambda v: v >= TARGETS["select_many_qps"]),
        target("100k queries × 20 models × 3 agents: fit", f"≤ {TARGETS['headline_fit_s'] / 60:.0f} min",
               head["fit_s"] / 60 if "fit_s" in head else None, ".1f", " min",
               lambda v: v * 60 <= TARGETS["headline_fit_s"]),
        target("100k × 20 × 3: peak RSS of the fitting process", f"≤ {TARGETS['headline_rss_gb']:.0f} GB",
               head.get("peak_rss_gb"), ".2f", " GB", lambda v: v <= TARGETS["headline_rss_gb"]),
        target(f"select() p50 growth, {span} logged queries", f"within ±{TARGETS['flat_tolerance']:.0%}",
               None if flat is None else 100 * flat, "+.0f", " %", lambda v: abs(v) <= 100 * TARGETS["flat_tolerance"]),
    ]
    L += ["## Targets", "", "| what | target | measured | met |", "| --- | --- | --- | --- |"]
    L += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    L.append("")

    # ---------------------------------------------------------------- training
    if tr:
        L += ["## Training on RouterBench (3,164 queries × 11 models; fit on the 80% train + validation split)", "",
              "Embeddings already cached (a warm-up process fitted each router once). One process per row; "
              "peak RSS is that whole process (Python, torch, the dataset and the fit). "
              "\"to best\" is the time at which the training loop kept the weights it ends with "
              "(its best validation score); GraphRouter is trained for the \"balance\" scenario "
              "(the bench trains one per scenario, 3×).", "",
              "| router | fit (s) | to best val (s) | epochs (best) | CPU (s) | peak RSS (GB) | test reward, balance "
              "| fit ÷ Router fit |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        base = g.get("fit_s")
        for name, r in tr.items():
            if "error" in r:
                L.append(f"| {name} | failed: {r['error']} | | | | | | |")
                continue
            ep = f"{r['epochs']} ({r['best_epoch'] + 1})" if "epochs" in r and "best_epoch" in r else "–"
            ratio = _fmt(r["fit_s"] / base, ".2f") + "×" if base else "–"
            L.append(f"| {name} | {r['fit_s']:.1f} | {_fmt(r.get('to_best_s'))} | {ep} | {r['cpu_s']:.1f} | "
                     f"{r['peak_rss_gb']:.2f} | {r['reward_balance']:.3f} | {ratio} |")
        ph = g.get("phases") or {}
        if ph.get("_train_member"):
            tm = ph["_train_member"]
            parts = [("encoder forward (training episode + validation graph)", ph.get("encode", 0)),
                     ("backward", ph.get("backward", 0)), ("decoder forward", ph.get("decode", 0)),
                     ("optimizer step", ph.get("step", 0)), ("graph views (HeteroData)", ph.get("hetero_data", 0)),
                     ("pair statistics", ph.get("pair_features", 0)), ("episode sampling", ph.get("_episode", 0))]
            rest = tm - sum(v for _, v in parts)
            L += ["", f"Where the Router's {g['fit_s']:.1f} s go: training loop {tm:.1f} s ("
                  + ", ".join(f"{n} {v / tm:.0%}" for n, v in parts) + f", other {rest / tm:.0%}); "
                  f"graph state incl. embedding lookups {ph.get('_new_state', 0):.1f} s, neighbour lists "
                  f"{ph.get('refresh_neighbors', 0):.1f} s, final full-graph encode {ph.get('_publish', 0):.1f} s, "
                  f"log validation + aggregation {ph.get('validate_logs', 0) + ph.get('aggregate_runs', 0):.1f} s."]
        if speed:
            L += ["", f"GraphRouter reaches its best validation score in {grr['to_best_s']:.1f} s, "
                      f"{speed:.2f}× the Router's whole fit ({g['fit_s']:.1f} s); target ≥ 5×."]
        L.append("")

    # ---------------------------------------------------------------- routing
    if ro:
        L += ["## Routing latency (Router fitted on RouterBench, warm, one unseen test query per call)", "",
              "`select(query)` with default options (5 evidence rows). \"embed\" is `Router._embed` (prefix "
              "stripping + the embedder; MiniLM through an empty disk cache, so every call runs the model and "
              "writes the cache); \"graph + decoder\" is neighbour weights, pair statistics, readout and decoder "
              "(`Router._predict_block`); \"other\" is the rest: neighbour search over the known queries, ranking, "
              "the Selection's frames and evidence.", "",
              "| embedder | queries | p50 (ms) | p99 (ms) | embed p50 | graph + decoder p50 | other p50 | "
              "select_many (queries/s) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for emb, r in ro.items():
            if "error" in r:
                L.append(f"| {emb} | failed: {r['error']} | | | | | | |")
                continue
            many = f"{r['many_qps']:,.0f} ({r['many_n']:,} queries in {r['many_s']:.2f} s)" if "many_qps" in r else "–"
            L.append(f"| {emb} ({r.get('backend', '–')}) | {r['n']} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['embed_p50_ms']:.2f} | "
                     f"{r['graph_p50_ms']:.2f} | {r['other_p50_ms']:.2f} | {many} |")
        L.append("")

    # ---------------------------------------------------------------- scale
    if sc:
        from graphroute.routers.gnn.config import RouterConfig

        L += ["## Scale (synthetic logs, `gr.make_synthetic`, 8 tasks, \"hash\" embedder)", "",
              "The hash embedder (64-d hashed words) keeps text embedding out of the measurement; the default "
              f"Router parameters otherwise (300 epochs max, patience 40, `max_epoch_edges={RouterConfig.max_epoch_edges:_}`: "
              "logs with more "
              "training edges than that train each epoch on a sampled subgraph). Select latency is measured as "
              "above on 200 held-out queries of the same generator; \"held-out effect\" is the mean logged effect "
              "of the pair `select_many(weights={'effect': 1})` chose for them (vs the best single pair), a "
              "sanity check that the fitted router routes. Fit time follows the number of epochs early stopping "
              "runs; the cost of one epoch is what `max_epoch_edges` bounds. \"search\" is how `select()` finds "
              "a new query's logged neighbours (`Router(neighbor_search='auto')`: an exact scan below 50k logged "
              "queries, the IVF index of `graphroute.graph.index` from there).", "",
              "| queries | models × agents | runs | fit (min) | CPU (min) | epochs | s / epoch | peak RSS (GB) "
              "| select p50 (ms) | p99 (ms) | embed / graph / other p50 (ms) | held-out effect (best single) |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
        for r in sc:
            if "error" in r:
                L.append(f"| {r['n_queries']:,} | {r['n_models']} × {r['n_agents']} | | failed: {r['error']} "
                         "| | | | | | | | |")
                continue
            L.append(f"| {r['n_queries']:,} | {r['n_models']} × {r['n_agents']} | {r['runs']:,} | {r['fit_s'] / 60:.2f} | "
                     f"{r['cpu_s'] / 60:.2f} | {r['epochs']} | {r['phases']['_train_member'] / r['epochs']:.2f} | "
                     f"{r['peak_rss_gb']:.2f} | {r['p50_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['embed_p50_ms']:.2f} / {r['graph_p50_ms']:.2f} / {r['other_p50_ms']:.2f} | "
                     f"{r['holdout_effect']:.3f} ({r['best_single_effect']:.3f}) |")
        L += ["", "| queries | models | search | neighbour recall vs exact | same choice as exact | "
              "select p50 with the exact scan (ms) | exact: other p50 (ms) |", "| ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
        for r in sc:
            if "error" in r:
                continue
            L.append(f"| {r['n_queries']:,} | {r['n_models']} | {r.get('search', 'exact')} | "
                     f"{_fmt(r.get('search_recall'), '.3f')} | {_fmt(r.get('search_same_choice'), '.3f')} | "
                     f"{_fmt(r.get('exact_p50_ms'), '.2f')} | {_fmt(r.get('exact_other_p50_ms'), '.2f')} |")
        L += ["", "Where the fit time goes (seconds per phase, same runs):", "",
              "| queries | models | validate logs | aggregate runs | catalog | graph state (+ embed) | "
              "neighbour lists | training | publish (full-graph encode) |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in sc:
            ph = r.get("phases")
            if not ph:
                continue
            L.append(f"| {r['n_queries']:,} | {r['n_models']} | " + " | ".join(
                _fmt(ph.get(k)) for k in ("validate_logs", "aggregate_runs", "from_logs", "_new_state",
                                          "refresh_neighbors", "_train_member", "_publish")) + " |")
        if png:
            L += ["", f"![scale]({png.name})"]
        L.append("")
    L += shortfalls(res, speed, head, qsweep)
    L += [NOTES.strip(), ""]
    return "\n".join(L)


def shortfalls(res: dict, speed, head, qsweep) -> list[str]:
    """Why each missed target is missed, from this run's numbers (plus the measurements named)."""
    tr, ro = res["train"], res["route"]
    g, grr = tr.get("graphroute", {}), tr.get("graphrouter", {})
    out = []
    if speed is not None and speed < TARGETS["speedup_vs_graphrouter"]:
        ph = g.get("phases") or {}
        tm = ph.get("_train_member") or float("nan")
        out.append(f"- **Router vs GraphRouter ({speed:.2f}×, target ≥ 5×).** The GraphRouter re-implementation's "
                   f"validation reward peaks at epoch {grr.get('best_epoch', -1) + 1} ({grr.get('to_best_s', 0):.1f} s) "
                   f"and patience stops it at {grr.get('epochs')} epochs (test reward {grr.get('reward_balance', 0):.3f} "
                   f"vs the Router's {g.get('reward_balance', 0):.3f}). The Router's {g.get('fit_s', 0):.1f} s are "
                   f"{g.get('epochs')} epochs of its own network: encoder forward "
                   f"{ph.get('encode', 0) / tm:.0%} and backward {ph.get('backward', 0) / tm:.0%} of the training loop "
                   "(graphroute/nn.py); the plumbing around it is a few %. GraphRouter's best comes this early "
                   "because its argmax-of-reward labels mostly name a cheap model, which it learns in a few epochs "
                   "and then overfits. A 5× gap the other way would need the Router to fit in a fraction of a "
                   "second, i.e. not to train its network at all.")
    mini = ro.get("minilm", {})
    if mini.get("p50_ms", 0) > TARGETS["p50_minilm_ms"]:
        out.append(f"- **select() with MiniLM ({mini['p50_ms']:.1f} ms p50, target ≤ 15 ms).** MiniLM's forward pass "
                   f"({mini.get('backend', '?')} backend) on the query is {mini['embed_p50_ms']:.1f} ms of it; the "
                   f"router's own part is {mini['p50_ms'] - mini['embed_p50_ms']:.1f} ms. Below 15 ms needs a cheaper "
                   f"text encoder (the static one: {ro.get('minilm-static', {}).get('p50_ms', float('nan')):.1f} ms).")
    if head and head.get("peak_rss_gb", 0) > TARGETS["headline_rss_gb"]:
        ph = head.get("phases", {})
        out.append(f"- **Peak memory at 6M runs ({head['peak_rss_gb']:.1f} GB, target ≤ 8 GB)**, "
                   f"{head['peak_rss_gb'] - head.get('rss_before_gb', 0):.1f} GB above the process before the fit "
                   f"(the logs frame included); final full-graph encode {ph.get('_publish', 0):.0f} s.")
    if len(qsweep) >= 2 and abs(qsweep[-1]["p50_ms"] / qsweep[0]["p50_ms"] - 1) > TARGETS["flat_tolerance"]:
        a, b = qsweep[0], qsweep[-1]
        out.append(f"- **select() growth with the logs ({a['p50_ms']:.2f} → {b['p50_ms']:.2f} ms p50, "
                   f"{a['n_queries'] // 1000}k → {b['n_queries'] // 1000}k queries; target ±20%).** Neighbour search "
                   f"{a.get('search', 'exact')} → {b.get('search', 'exact')}; \"other\" (search, ranking, frames, "
                   f"evidence) {a['other_p50_ms']:.2f} → {b['other_p50_ms']:.2f} ms, graph + decoder "
                   f"{a['graph_p50_ms']:.2f} → {b['graph_p50_ms']:.2f} ms.")
    return (["## Targets missed, and why", ""] + out + [""]) if out else []


NOTES = """
## Notes

**OpenMP waiting.** torch's CPU ops run on an OpenMP pool whose idle threads busy-wait by default.
On a 2-core machine that other processes also load, a parallel op then waits for a descheduled
thread: we measured a 3-layer MLP on one query at ~24 ms per call instead of ~0.03 ms for the
first seconds of a process, and 6 epochs of a 30k-query fit at 114 s instead of 36 s (same code,
same load, OMP_WAIT_POLICY unset vs PASSIVE; OMP_NUM_THREADS=1 also gives 36 s). The measured
processes therefore run with OMP_WAIT_POLICY=PASSIVE (`--omp-wait-policy inherit` measures the
environment as is). Deployments on shared or small machines should set it too.

**Where the time went before the changes** (pyinstrument and per-phase timers, same machine):
- `select()`: outside the network and the embedder, most of the time was pandas (the [P]-row
  prediction frame, `rank_candidates`' copy and 6-key sort, dropping columns, the evidence rows);
  the decoder statistics recomputed every query-independent per-pair and per-task record over all
  N × P logged outcomes on every call (O(N·P), so latency grew with the logs); evidence scanned every
  outcome edge once per neighbour (O(K·E)); the query was embedded and searched twice (prediction
  and evidence); with MiniLM, the disk cache opened and closed SQLite per call (~15 ms per new query).
- `select_many` (10k queries, static): building and sorting the [Q × P]-row frames (the query text
  repeated P times) was over half of its 2 s.
- Router fit on RouterBench: the heterogeneous GNN itself (EdgeSAGE messages on ~28k outcome edges,
  4 outcome edge types × 2 layers, forward on the training episode and on the validation graph, and
  the backward pass) is > 80% of the fit; MiniLM embedding only when the cache is cold.
- Fit at 10k+ queries × 60 pairs: every epoch encoded the whole training graph twice (training
  episode, validation), so an epoch grew linearly with the runs (15 s per epoch at 600k runs with the
  default OpenMP waiting; 6M runs would not have fit in memory); the neighbour lists are an O(N²)
  similarity scan; pandas validation / aggregation of the runs is O(runs).

**What changed** (graphroute/router.py, graph.py, embed.py; predictions, selections, evidence and the
training of logs below `max_epoch_edges` are bit-for-bit unchanged, checked against the previous code):
- query-independent decoder statistics (`GraphState.pair_tables`) are computed once per published
  state, so a query costs O(K·P) instead of O(N·P);
- `Router._select` embeds and searches once, ranks in numpy (same order and ties as
  `rank_candidates`) and builds only the two frames a Selection returns; `Router._select_many`
  ranks all queries in numpy and builds only the Q chosen rows (the base method still handles
  fallbacks and infeasible queries); candidate names, their sort ranks and the objective's name
  lists are cached per state; the neighbours' task vote is one scatter for all queries;
- evidence reads an edge index by query (built once, on first use) instead of scanning all edges;
- the embedding cache keeps one SQLite connection per thread: opening and closing one per call made
  SQLite checkpoint its WAL on every close (~15 ms per cache miss, i.e. per new query routed);
- training on logs with more than `max_epoch_edges` (default 250k) training edges samples a subgraph
  per epoch (random queries plus their nearest neighbours) and validates on one fixed sampled
  subgraph, so an epoch costs the same at 600k and 6M runs (at 10k queries × 60 pairs: 443 s vs
  1,194 s for the whole-graph fit, held-out chosen effect 0.945 vs 0.947, held-out log loss 0.5494
  vs 0.5493); the validation graph and its pair statistics are built once, not every epoch;
- the neighbour scan reuses one similarity buffer (fresh multi-GB blocks cost page faults, ~30%);
  the frames of the logs are released once the graph is built; the cost ranges and node indices
  are computed without per-row Python.

**Second round** (2026-11-23, from the misses of the first run of this file: MiniLM select 21.9 ms,
6M-run peak 11.0 GB, select p50 +111% from 10k to 100k queries):
- `EdgeSAGE` (graphroute/nn.py) applies its message Linear to the source *nodes* and gathers the
  result, adding the edge-attribute term per edge: the same function and parameters, without the
  [E, H + edge_dim] concatenation and [E, H] Linear output per edge type; without autograd it sums
  messages 1M edges at a time. The 6M-run full-graph encode went from +6.8 GB to +0.7 GB over the
  process (phase-sampled RSS), and RouterBench fits got faster.
- MiniLM runs on ONNX Runtime (graphroute/embed.py; the torch module exported in memory on first
  use, vectors equal to 1.6e-7): 19.2 ms → about 9 ms per query embedding. Dynamic int8
  quantisation of the torch model was measured and rejected (3× faster but cosine 0.92–0.98 to the
  fp32 vectors; top-10 neighbour overlap 0.5).
- `Router(neighbor_search="auto")` (graphroute/index.py): from 50k logged queries a new query's
  neighbours come from an IVF index (seeded spherical k-means, ~√N cells, the best tenth scanned
  exactly) instead of a scan of every logged vector. The scale table reports its recall against
  the exact scan and how often the chosen pair differs.
"""


def plot_scale(rows: list[dict], path: Path, quick: bool) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if "fit_s" in r]
    base_m, base_q = (6, 2000) if quick else (20, 10_000)
    by_q = sorted((r for r in ok if r["n_models"] == base_m), key=lambda r: r["n_queries"])
    by_m = sorted((r for r in ok if r["n_queries"] == base_q), key=lambda r: r["n_models"])
    fig, axes = plt.subplots(2, 3, figsize=(13, 7.5))
    for row, (series, key, label) in enumerate(((by_q, "n_queries", f"logged queries ({base_m} models × 3 agents)"),
                                                 (by_m, "n_models", f"models ({base_q:,} queries × 3 agents)"))):
        x = [r[key] for r in series]
        for col, (ys, ylabel) in enumerate((
                ([r["fit_s"] / 60 for r in series], "fit time (min; target ≤ 15 at 100k)"),
                ([r["peak_rss_gb"] for r in series], "peak RSS (GB)"),
                (None, "select() latency (ms)"))):
            ax = axes[row, col]
            if ys is not None:
                ax.plot(x, ys, "o-")
                ax.set_ylim(bottom=0)
            else:
                ax.plot(x, [r["p50_ms"] for r in series], "o-", label="p50")
                ax.plot(x, [r["p99_ms"] for r in series], "s--", label="p99", alpha=0.7)
                ax.plot(x, [r["embed_p50_ms"] for r in series], ".:", label="embed p50")
                ax.set_ylim(bottom=0)
                ax.legend(fontsize=7)
            ax.set_xscale("log")
            ax.set_xticks(x)
            ax.set_xticklabels([f"{v // 1000}k" if v >= 1000 else str(v) for v in x])
            ax.minorticks_off()
            ax.set_xlabel(label)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
    if not quick:
        axes[0, 1].axhline(8, color="r", lw=0.8, ls="--")
    fig.suptitle("graphroute scale: synthetic logs, hash embedder (targets dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
