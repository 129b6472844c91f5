"""The router shipped in the package: gr.select() and the CLI work offline with no argument."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

import graphroute as gr
from graphroute.cli import main
from graphroute.routers.default import default_router_path

pytestmark = pytest.mark.skipif(not (default_router_path() / "manifest.json").is_file(),
                                reason="default router not built (python data/train_default_router.py)")

ARC = ("Which gas do plants take in for photosynthesis? A) oxygen B) carbon dioxide C) nitrogen D) helium")
CODE = "Write a python function to find the maximum of three numbers."


def test_module_select_uses_the_shipped_router():
    sel = gr.select(ARC)
    router = gr.default_router()
    assert sel.model in set(router.candidates_["model"])
    assert set(router.candidates_["model"]) >= {"gpt-4-1106-preview", "mistralai/mixtral-8x7b-chat"}
    assert 0 <= sel.effect <= 1 and sel.cost > 0
    assert len(sel.alternatives) == len(router.candidates_)
    assert len(sel.evidence) > 0
    # a cost-first trade-off never chooses a dearer model than a quality-first one
    q = gr.select(ARC, weights={"effect": 1.0, "cost": 0.0})
    c = gr.select(ARC, weights={"effect": 0.2, "cost": 0.8})
    assert c.cost <= q.cost


def test_task_is_inferred_from_neighbours():
    many = gr.select_many([ARC, CODE])
    assert list(many["query"]) == [ARC, CODE]
    assert "arc" in many["task"].iloc[0] and ("mbpp" in many["task"].iloc[1] or "human_eval" in many["task"].iloc[1])
    pred = gr.default_router().predict([CODE])
    assert len(pred) == len(gr.default_router().candidates_) and pred["effect"].between(0, 1).all()


def test_the_default_knows_the_four_datasets():
    """Trained on RouterBench, LLMRouter, MMLU-Pro and ZeroEval (data/train_default_router.py)."""
    g = gr.default_router().graph_
    assert {t.split("/")[0] for t in g.task_names} == {"routerbench", "llmrouter", "mmlu-pro", "zeroeval"}
    assert len(g.task_names) >= 30 and len(g.model_names) >= 90
    size = sum(p.stat().st_size for p in default_router_path().iterdir())
    assert size <= 15e6  # small enough to ship


def test_cli_select_and_info_default(capsys):
    assert main(["select", CODE, "--json"]) == 0
    sel = json.loads(capsys.readouterr().out)
    assert sel["model"] in set(gr.default_router().candidates_["model"])
    assert main(["info"]) == 0
    info = capsys.readouterr().out
    assert "routerbench/arc-challenge" in info and "mmlu-pro/math" in info


def test_default_router_routes_without_torch():
    """``import graphroute as gr; gr.default_router().select(...)``: numpy and the embedder, no torch.

    This process embeds first, so MiniLM's ONNX graph is in the cache (building it is the one step that
    needs torch, once per machine); the child routes a query no cache has seen."""
    gr.select(ARC)
    fresh = f"{CODE} (asked at {time.time_ns()})"
    script = (f"import sys\nimport graphroute as gr\nassert 'torch' not in sys.modules\n"
              f"r = gr.default_router()\nr.select({fresh!r})\nr.select_many([{ARC!r}, {fresh!r}])\n"
              "heavy = [m for m in ('torch', 'torch_geometric') if m in sys.modules]\n"
              "assert not heavy, f'routing imported {heavy}'\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
