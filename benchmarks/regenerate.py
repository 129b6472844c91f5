"""Regenerate BENCHMARKS.md: run each ``graphroute bench`` below and gather its tables and plots.

Each run writes into ``benchmarks/results/<name>/`` (table.md or new_models.md, JSON, pareto.png)
plus ``run.json`` (the exact command, the date, the wall time, the machine). BENCHMARKS.md is then
assembled from those folders, so a run can be redone alone and the page rebuilt::

    HF_HUB_OFFLINE=1 python benchmarks/regenerate.py                  # every run, then the page
    HF_HUB_OFFLINE=1 python benchmarks/regenerate.py --only tot       # one run, then the page
    python benchmarks/regenerate.py --assemble                        # the page from what is there

Runs are sequential: the machine has 2 cores and every run uses both.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"

# the two issue-14 protocols, as (name suffix, title, bench flags, note)
PROTOCOLS = {
    "no-task": ("test queries routed without their task label", ["--no-task"],
                "Every router infers what it needs from the text; the training logs keep their task labels."),
    "observed-2": ("production-shaped logs: 2 random outcomes per training query", ["--observed", "2"],
                   "Each training query keeps 2 random (model, agent) outcomes; test queries stay fully logged for "
                   "scoring."),
}


def _variant(dataset: str, title: str, seeds: int, protocol: str) -> tuple[str, str, list[str], str]:
    """A RUNS entry: ``dataset`` under one of PROTOCOLS."""
    label, flags, note = PROTOCOLS[protocol]
    return (f"{dataset}-{protocol}", f"{title} ({label})", ["--dataset", dataset, "--seeds", str(seeds), *flags],
            note)


# name, title, bench arguments, what the reader should know about the run
RUNS: list[tuple[str, str, list[str], str]] = [
    ("routerbench", "RouterBench subset (11 models; ARC-Challenge, MBPP, Winogrande)",
     ["--dataset", "routerbench", "--seeds", "5"],
     "Costs are the logged USD per call. `graphrouter` is the GraphRouter (ICLR 2025) re-implementation: one "
     "model per scenario, so it has no λ sweep (AIQ and cost to match are blank)."),
    ("llmrouter", "LLMRouter DC-router data (9 models, 14 tasks)",
     ["--dataset", "llmrouter", "--seeds", "5"],
     "No cost is logged: cost = the query's tokens (characters / 4) × input price + 256 output tokens × output "
     "price, prices from the data's `default_llm.json`, as the GraphRouter paper derives it. Test-file queries "
     "that also appear in the train file are dropped; the bench splits the remaining pool with its own seeds."),
    ("routellm-gsm8k", "RouteLLM GSM8K (two models: GPT-4 vs Mixtral)",
     ["--dataset", "routellm-gsm8k", "--seeds", "5"],
     "Prices: the RouteLLM paper's blended estimates ($24.7 and $0.24 per 1M tokens); output tokens counted "
     "from the logged responses. APGR and CPT are RouteLLM's two-model metrics (score = predicted effect gap)."),
    ("routellm-mmlu", "RouteLLM MMLU (two models: GPT-4 vs Mixtral; 57 subjects)",
     ["--dataset", "routellm-mmlu", "--seeds", "5"],
     "Prices as for GSM8K; 13,932 questions, each subject a task. APGR and CPT as above."),
    ("mmlu-pro", "MMLU-Pro 5-shot CoT (28 dense models + 1 sparse, 14 categories)",
     ["--dataset", "mmlu-pro", "--seeds", "3"],
     "0/1 correctness; cost = logged tokens x the documented price table (`cards.json`). Per-task routing closes "
     "little of the best-single → oracle gap here: most of it is per question."),
    ("zeroeval", "ZeroEval zero-shot maths (GSM8K, MATH level 5; 42-43 models each)",
     ["--dataset", "zeroeval", "--seeds", "5"],
     "0/1 correctness; cost = logged tokens x the documented price table. The task label (GSM8K vs MATH level 5) "
     "is the strongest signal."),
    ("tree-of-thoughts", "Tree of Thoughts (200 queries; strategies IO, CoT, ToT as agents)",
     ["--dataset", "tree-of-thoughts", "--seeds", "5"],
     "One model, three strategies: the router chooses the strategy per query. Costs are the logged USD."),
    ("marble", "MARBLE multi-agent research tasks (3 models x 4 collaboration topologies as agents)",
     ["--dataset", "marble", "--seeds", "5"],
     "The router chooses a (model, topology) pair per task. Effect = (mean of the innovation, safety and feasibility judge scores − 1) / 4; cost "
     "is logged total tokens x list price, assuming 80% of tokens are input (the split is not logged)."),
    ("new-models-routerbench", "New models without retraining: RouterBench (3 of 11 held out)",
     ["--dataset", "routerbench", "--protocol", "new-models", "--seeds", "5", "--shots", "0,10,50"],
     "Per seed, 3 models are held out of training, then added with `add_model` (card + k logged runs on "
     "training queries, no gradient step) and compared with a router retrained on all models."),
    ("new-models-llmrouter", "New models without retraining: LLMRouter (3 of 9 held out)",
     ["--dataset", "llmrouter", "--protocol", "new-models", "--seeds", "5", "--shots", "0,10,50"],
     "As above, on the LLMRouter data."),
]
# with and without task labels, and with production-shaped logs, on every dataset of >= 500 queries
# (two-model RouteLLM logs have nothing to keep 2 of; MMLU-Pro and RouteLLM MMLU at 2 seeds: fit time)
RUNS += [_variant(d, t, n, p) for d, t, n, protocols in (
    ("routerbench", "RouterBench", 5, ("no-task", "observed-2")),
    ("llmrouter", "LLMRouter", 5, ("no-task", "observed-2")),
    ("routellm-gsm8k", "RouteLLM GSM8K", 5, ("no-task",)),
    ("zeroeval", "ZeroEval", 5, ("no-task", "observed-2")),
    ("routellm-mmlu", "RouteLLM MMLU", 2, ("no-task",)),
    ("mmlu-pro", "MMLU-Pro", 2, ("no-task", "observed-2")),
) for p in protocols]


def _command(name: str, args: list[str]) -> list[str]:
    return ["graphroute", "bench", *args, "--out", f"benchmarks/results/{name}"]


# the packages whose versions move a fit or a score (unchanged code fits differently under other versions)
RECORDED_PACKAGES = ("numpy", "scipy", "pandas", "scikit-learn", "torch", "torch-geometric", "onnxruntime", "tokenizers")


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def run(name: str, args: list[str]) -> None:
    out = RESULTS / name
    out.mkdir(parents=True, exist_ok=True)
    cmd = _command(name, args)
    exe = Path(sys.executable).with_name("graphroute")
    # the code the run starts on (the run imports it at once): HEAD, and whether the package had
    # uncommitted changes then
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "graphroute"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    t0 = time.perf_counter()
    print(f"$ {shlex.join(cmd)}", flush=True)
    subprocess.run([str(exe), *cmd[1:]], cwd=ROOT, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    meta = {"command": "HF_HUB_OFFLINE=1 " + shlex.join(cmd), "date": dt.date.today().isoformat(),
            "commit": (commit.stdout.strip() or "unknown") + (" + uncommitted changes" if dirty else ""),
            "wall_s": round(time.perf_counter() - t0, 1), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "python": platform.python_version(), "packages": _versions()}
    (out / "run.json").write_text(json.dumps(meta, indent=1) + "\n")


def assemble() -> Path:
    lines = ["# Benchmarks", "",
             "Every table below was produced by the command above it, on this repository's code at the date given, "
             "offline, on a 2-core CPU machine. Rewards are on the test split (20% of queries, per-task "
             "stratified, seeds 0 to n-1 for the `--seeds n` of each command), mean ± std over seeds: "
             "Performance First w=(1, 0), Balance (0.5, 0.5), "
             "Cost First (0.2, 0.8), cost min–max normalised per task: routers decide with the training split's "
             "range, and choices are scored with each task's range over every split (runs before commit 4738505 "
             "scored on the test split's own range, which moved with the seed). AIQ is RouterBench's area under the "
             "non-decreasing concave hull of the router's whole λ sweep (every operating point, from the λs at which "
             "each query's pick changes; runs before commit b15cee2 swept a 40-point grid that could step over "
             "points), and `cost_to_match` the cost of its cheapest point reaching the "
             "best single model's test quality (within 0.5 pt) as a fraction of its cost (blank: never reached). "
             "`fit_s` is wall time to fit, on a machine shared with other work: compare within a run only (since "
             "commit dea6bca graphroute fits its text evidence and task classifier beside training, with the same "
             "result in less time: the runs below that predate it show the older times; `benchmarks/fit_time_results.md` "
             "has current ones). Each run "
             "names the commit it ran on where it was recorded (the others ran on the code of their date); runs use one "
             "torch thread (`--threads 1`, the default).",
             "", "Regenerate everything with `HF_HUB_OFFLINE=1 python benchmarks/regenerate.py` "
             "(one run: `--only NAME`).", ""]
    from graphroute.eval.bench import load_results, summarize_results
    from graphroute.eval.report import summary_markdown

    found = load_results(RESULTS)
    if found:  # what `graphroute bench --summary benchmarks/results` prints (and writes to results/summary.md)
        summary = summary_markdown(summarize_results(found)).rstrip()
        (RESULTS / "summary.md").write_text(summary + "\n")
        lines += ["## Summary: graphroute's rank per dataset x protocol x scenario", "",
                  "`graphroute bench --summary benchmarks/results`", "", summary, ""]
    for name, title, _, note in RUNS:
        out = RESULTS / name
        meta_path = out / "run.json"
        lines += [f"## {title}", ""]
        if not meta_path.exists():
            lines += ["Not run yet.", ""]
            continue
        meta = json.loads(meta_path.read_text())
        at = f", graphroute at {meta['commit']}" if meta.get("commit") else ""
        lines += [f"`{meta['command']}`  ", f"{meta['date']}{at}, {meta['wall_s'] / 60:.1f} min, {meta['machine']}."
                  + (f"  \nPackages: {', '.join(f'{k} {v}' for k, v in meta['packages'].items())}."
                     if meta.get("packages") else ""), "", note, ""]
        for table in ("table.md", "new_models.md"):
            if (out / table).exists():
                lines += [(out / table).read_text().rstrip(), ""]
        if (out / "pareto.png").exists():
            lines += [f"![{name} Pareto plot](benchmarks/results/{name}/pareto.png)", ""]
    perf = ROOT / "benchmarks" / "perf_results.md"
    if perf.exists():
        lines += ["## Performance", "", f"See [benchmarks/perf_results.md](benchmarks/perf_results.md) "
                  "(`python benchmarks/perf.py`).", ""]
    for section in ("serving.md", "startup.md"):  # measured by their own scripts (named inside), kept as written
        if (RESULTS / section).exists():
            lines += [(RESULTS / section).read_text().rstrip(), ""]
    path = ROOT / "BENCHMARKS.md"
    path.write_text("\n".join(lines))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=[r[0] for r in RUNS], help="run only this one (repeatable)")
    ap.add_argument("--assemble", action="store_true", help="run nothing; rebuild BENCHMARKS.md from results/")
    args = ap.parse_args(argv)
    if not args.assemble:
        for name, _, bench_args, _ in RUNS:
            if not args.only or name in args.only:
                run(name, bench_args)
    print(f"wrote {assemble()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
