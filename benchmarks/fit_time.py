"""Wall time of ``Router(seed=0).fit`` on whole datasets, as a user meets it (shipped defaults, MiniLM).

Each dataset is fitted once, in a fresh process, on all its logs with the cards of
``Dataset.cards()``, with one torch thread (as ``graphroute bench``: on a machine with other work,
more threads spin-wait on each other). The query embeddings come from the embedding cache, so
run it once first on a cold cache. Reports the fit's wall time, the epochs early stopping ran,
whether the epochs trained on sampled subgraphs (``max_epoch_edges``), and the seconds per epoch
(the training loop's share of the fit over its epochs). Writes benchmarks/fit_time_results.md.

    python benchmarks/fit_time.py [--datasets mmlu-pro,routerbench] [--also NAME=VALUE ...]

Each ``--also`` adds a run of every dataset with that Router parameter changed (JSON value), e.g.
``--also max_epoch_edges=250000`` for the default before it was 100_000.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

CHILD = r"""
import json, sys, time
import torch
torch.set_num_threads(1)
import graphroute as gr
from graphroute.routers.gnn import training

ds = gr.load_dataset(sys.argv[1])
params = json.loads(sys.argv[2])
spent = {"train": 0.0}
train_member = training.train_member

def timed(*a, **k):
    t = time.perf_counter()
    try:
        return train_member(*a, **k)
    finally:
        spent["train"] += time.perf_counter() - t

training.train_member = timed
t = time.perf_counter()
r = gr.Router(seed=0, **params).fit(ds.logs, **ds.cards())
fit_s = time.perf_counter() - t
cfg = r.config
epochs = [len(h) for h in r.history_]
print(json.dumps({"dataset": sys.argv[1], "runs": len(ds.logs), "queries": int(ds.logs["query_id"].nunique()),
                  "fit_s": fit_s, "train_s": spent["train"], "epochs": epochs,
                  "best_val_loss": [min(x["val_loss"] for x in h) if h and "val_loss" in h[0] else None
                                    for h in r.history_],
                  "max_epoch_edges": cfg.max_epoch_edges, "params": params}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", default="mmlu-pro,routerbench")
    ap.add_argument("--also", action="append", default=[], help="also fit with Router parameter NAME=VALUE (JSON)")
    ap.add_argument("--out", default=str(HERE / "fit_time_results.md"))
    args = ap.parse_args()
    variants = [{}] + [{k: json.loads(v)} for k, v in (p.split("=", 1) for p in args.also)]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "graphroute"], capture_output=True, text=True,
                           cwd=HERE.parent).stdout.strip()
    rows = []
    for name, params in [(n, v) for v in variants for n in args.datasets.split(",")]:
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(params)], capture_output=True,
                             text=True, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        rec["process_s"] = time.perf_counter() - t
        rows.append(rec)
        print(json.dumps(rec), flush=True)
    lines = [
        "# Router.fit wall time on whole datasets",
        "",
        f"`python benchmarks/fit_time.py --datasets {args.datasets}{''.join(' --also ' + p for p in args.also)}` at {commit}"
        f"{' (with uncommitted changes under graphroute/)' if dirty else ''}: `Router(seed=0)` with the shipped "
        "defaults (MiniLM, embeddings from the cache), fitted on every run of the dataset with its cards, one "
        "torch thread, on a 2-core machine shared with other work (figures vary with its load). The best "
        "validation loss is comparable only between fits with the same `max_epoch_edges` (sampled fits validate "
        "on a sampled subgraph). "
        "Where the training queries carry more than `max_epoch_edges` outcome edges, each epoch trains on a "
        "sampled subgraph of about that many edges; s / epoch is the training loop's time over its epochs (validation included).",
        "",
        "| dataset | runs | queries | max_epoch_edges | fit (s) | training (s) | epochs | s / epoch | best val loss |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        ep = sum(r["epochs"])
        lines.append(f"| {r['dataset']} | {r['runs']:,} | {r['queries']:,} | {'None' if r['max_epoch_edges'] is None else format(r['max_epoch_edges'], ',')} | "
                     f"{r['fit_s']:.1f} | {r['train_s']:.1f} | {ep} | {r['train_s'] / max(ep, 1):.2f} | "
                     f"{'–' if r['best_val_loss'][0] is None else format(r['best_val_loss'][0], '.4f')} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
