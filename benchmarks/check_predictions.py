"""Check that routing decisions are unchanged: ``predict()`` on RouterBench against a saved reference.

A refactor must not change a single routing decision. This script fits ``Router(seed=0)`` (shipped
defaults, MiniLM) on a seeded 80 % of the RouterBench subset's queries, predicts the other 20 %, and
also predicts a fixed set of queries with the shipped default router. It compares both with the
reference arrays in ``benchmarks/results/predict_reference.npz`` (written with ``--write`` from the
commit named in that file) and exits 1 on any difference larger than ``--atol`` (default 0: bitwise),
or when any query's choice (the model of highest predicted effect) differs. It prints the largest
difference of every array either way.

The reference is written by the numpy routing path (issue 13: no torch to route). Since f259a3c, training
runs on torch's deterministic kernels, so a rerun with the same thread count, machine and packages matches
it bit for bit. Another thread count, machine or package version may round differently; ``--atol`` allows
for that:

    python benchmarks/check_predictions.py               # bitwise (same machine and packages)
    python benchmarks/check_predictions.py --atol 1e-5   # the same choices, every value within 1e-5
    python benchmarks/check_predictions.py --write       # record a new reference (say why in the commit)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

import graphroute as gr

REFERENCE = Path(__file__).resolve().parent / "results" / "predict_reference.npz"
FIXED_QUERIES = [
    "What is the capital of Australia? A) Sydney B) Canberra C) Melbourne D) Perth",
    "Write a python function that returns the n-th Fibonacci number.",
    "The trophy doesn't fit into the suitcase because _ is too small. Option1: trophy Option2: suitcase",
    "Write a haiku about the sea.",
    "Which gas do plants absorb from the air? (A) oxygen (B) carbon dioxide (C) nitrogen (D) helium",
]


def _arrays(frame, prefix: str) -> dict[str, np.ndarray]:
    out = {f"{prefix}_effect": frame["effect"].to_numpy(np.float64),
           f"{prefix}_cost": frame["cost"].to_numpy(np.float64),
           f"{prefix}_model": frame["model"].to_numpy(str), f"{prefix}_agent": frame["agent"].to_numpy(str)}
    if "latency_s" in frame:
        out[f"{prefix}_latency_s"] = frame["latency_s"].to_numpy(np.float64)
    return out


def compute() -> dict[str, np.ndarray]:
    import torch

    torch.set_num_threads(1)  # float sums in a fixed order: bitwise-repeatable fits (as `graphroute bench`)
    ds = gr.load_dataset("routerbench")
    ids = np.array(sorted(ds.logs["query_id"].unique()))
    test = set(np.random.default_rng(0).permutation(ids)[: len(ids) // 5].tolist())
    train_logs = ds.logs[~ds.logs["query_id"].isin(test)]
    test_q = ds.logs[ds.logs["query_id"].isin(test)].drop_duplicates("query_id").sort_values("query_id")
    router = gr.Router(seed=0).fit(train_logs, models=ds.models, tasks=ds.tasks)
    out = _arrays(router.predict(list(test_q["query"]), tasks=list(test_q["task"])), "fit")
    out.update(_arrays(router.predict(list(test_q["query"])), "fit_notask"))
    out.update(_arrays(gr.default_router().predict(FIXED_QUERIES), "default"))
    return out


def _choices_differ(ref, got) -> list[str]:
    """Per prefix, the queries whose highest-effect candidate (the Performance-First choice) moved."""
    out = []
    for prefix in sorted({k.rsplit("_", 1)[0] for k in ref.files if k.endswith("_effect")}):
        if f"{prefix}_effect" not in got or ref[f"{prefix}_effect"].shape != got[f"{prefix}_effect"].shape:
            continue
        n_p = len(set(zip(ref[f"{prefix}_model"].tolist(), ref[f"{prefix}_agent"].tolist())))  # candidates
        a, b = ref[f"{prefix}_effect"].reshape(-1, n_p), got[f"{prefix}_effect"].reshape(-1, n_p)
        moved = int((a.argmax(1) != b.argmax(1)).sum())
        if moved:
            out.append(f"{prefix}: the highest-effect candidate differs for {moved} of {len(a)} queries")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="record the current predictions as the reference")
    ap.add_argument("--atol", type=float, default=0.0, help="largest absolute difference allowed (default 0)")
    args = ap.parse_args()
    got = compute()
    if args.write:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(REFERENCE, commit=np.array(commit), **got)
        print(f"wrote {REFERENCE} ({len(got)} arrays, commit {commit})")
        return 0
    ref = np.load(REFERENCE)
    bad, report = [], []
    for key in sorted(set(ref.files) - {"commit"} | set(got)):
        if key not in ref.files or key not in got:
            bad.append(f"{key}: present in only one of reference / current")
        elif ref[key].dtype.kind in "fc":
            if ref[key].shape != got[key].shape:
                bad.append(f"{key}: shape {got[key].shape} vs reference {ref[key].shape}")
            else:
                diff = float(np.max(np.abs(ref[key] - got[key]))) if ref[key].size else 0.0
                report.append(f"{key}: max |difference| {diff:.3g}")
                if diff > args.atol:
                    bad.append(f"{key}: max |difference| {diff:.3g} > {args.atol}")
        elif not np.array_equal(ref[key], got[key]):
            bad.append(f"{key}: names differ")
    bad += _choices_differ(ref, got)
    within = f" within atol={args.atol:g}" if args.atol else ""
    print(f"reference from commit {ref['commit']}: " + (f"identical{within}" if not bad else "DIFFERENT"))
    for line in report:
        print("  " + line)
    for line in bad:
        print("  " + line)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
