"""Train the default router shipped inside the package (graphroute/default_router/).

It is fitted on the permissively licensed development data in ../shared/data: RouterBench (MIT),
LLMRouter (MIT, from the GraphRouter repository), MMLU-Pro (Apache-2.0 repository, MIT dataset card) and
ZeroEval (Apache-2.0); see each folder's README for the licence
and source. To stay small enough to ship (<= 15 MB), at most ``--per-dataset`` queries are kept from
each dataset (a seeded sample, stratified by task, every logged outcome of a kept query kept). Task
names are prefixed with their dataset ("mmlu-pro/math", "zeroeval/gsm8k"): the same name in two
datasets is not the same task (other prompts, other scoring, other cost conventions). A model logged
in several datasets is one model node (its first card wins). The router uses the library's defaults
(MiniLM embedder, text evidence) and is saved with float16 embeddings and query texts cut to 300
characters (they only serve as evidence).

    python data/train_default_router.py [--out graphroute/default_router] [--seed 0] [--per-dataset 1500]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

import graphroute as gr
from graphroute.data.datasets import load_dataset, prefixed

DATASETS = ("routerbench", "llmrouter", "mmlu-pro", "zeroeval")


def sample(logs: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """The logs of at most ``n`` queries, drawn per task in proportion to its size (seeded)."""
    first = logs.drop_duplicates("query_id")[["query_id", "task"]]
    if len(first) <= n:
        return logs
    rng = np.random.default_rng(seed)
    keep = []
    for _, g in first.groupby("task", sort=True):
        k = max(1, round(n * len(g) / len(first)))
        keep.extend(rng.choice(g["query_id"].to_numpy(), size=min(k, len(g)), replace=False).tolist())
    return logs[logs["query_id"].isin(set(keep))]


def combined(per_dataset: int, seed: int) -> tuple[pd.DataFrame, dict[str, list[dict]]]:
    """The four datasets' logs (sampled, tasks and query ids prefixed) and their merged cards."""
    parts, models, tasks, agents = [], {}, [], {}
    for name in DATASETS:
        ds = load_dataset(name)
        logs = prefixed(sample(ds.logs, per_dataset, seed), name)
        parts.append(logs[["query_id", "query", "task", "model", "agent", "effect", "cost"]])
        for card in ds.models:
            models.setdefault(card["name"], card)
        for card in ds.agents:
            agents.setdefault(card["name"], card)
        tasks += [{**card, "name": f"{name}/{card['name']}"} for card in ds.tasks]
        print(f"{name}: {logs['query_id'].nunique()} of {ds.logs['query_id'].nunique()} queries, "
              f"{logs['model'].nunique()} models, {logs['task'].nunique()} tasks")
    logs = pd.concat(parts, ignore_index=True)
    used = set(logs["task"])
    return logs, {"models": list(models.values()), "agents": list(agents.values()),
                  "tasks": [t for t in tasks if t["name"] in used]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "graphroute" / "default_router"),
                    help="where to write the router (default: inside the package)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--per-dataset", type=int, default=1500, help="queries kept per dataset (default 1500)")
    args = ap.parse_args()

    logs, cards = combined(args.per_dataset, args.seed)
    t0 = time.perf_counter()
    router = gr.Router(seed=args.seed, progress=True).fit(logs, **cards)
    print(f"fit: {time.perf_counter() - t0:.1f} s on {len(logs)} runs, {logs['query_id'].nunique()} queries, "
          f"{logs['model'].nunique()} models, {logs['task'].nunique()} tasks")
    ev = router.text_evidence_
    print(f"text evidence in {0 if ev is None else len(ev.tasks)} tasks: {ev.summary() if ev else {}}")
    path = router.save(args.out, max_text_chars=300, half=True)
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"saved to {path} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
