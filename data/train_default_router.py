"""Train the default router shipped inside the package (graphroute/default_router/).

It is fitted on the whole RouterBench subset in ../shared/data (3,164 queries × 11 models,
ARC-Challenge, MBPP, Winogrande) with the Router's defaults and the MiniLM embedder, and saved
with float16 embeddings and query texts cut to 400 characters (they only serve as evidence),
so that it stays a few MB.

    python data/train_default_router.py [--out graphroute/default_router] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import graphroute as gr
from graphroute.data.datasets import load_dataset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "graphroute" / "default_router"),
                    help="where to write the router (default: inside the package)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = ap.parse_args()

    ds = load_dataset("routerbench")
    t0 = time.perf_counter()
    router = gr.Router(seed=args.seed, progress=True).fit(ds.logs, models=ds.models, tasks=ds.tasks)
    print(f"fit: {time.perf_counter() - t0:.1f} s on {len(ds.logs)} runs")
    path = router.save(args.out, max_text_chars=400, half=True)
    size = sum(p.stat().st_size for p in path.iterdir())
    print(f"saved to {path} ({size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
