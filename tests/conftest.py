"""Suite-wide settings: offline, and torch on one passive CPU thread.

The suite fits many tiny models. On a small machine shared with other work, torch's OpenMP
threads busy-wait on each other and a fit can take ten times longer (benchmarks/perf_results.md),
so the tests run single-threaded. Notebooks, the app and the browser test start their own
processes, which inherit these environment variables.
"""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402

torch.set_num_threads(1)


import json  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture
def edit_saved_config():
    """``edit(path, change)``: apply ``change(config)`` to a saved router's config.json and re-record its hash
    in the manifest, as someone editing the file by hand would (so the load sees the edit, not a bad hash)."""
    from graphroute.routers.gnn.persistence import _sha256

    def edit(path, change) -> None:
        cfg = json.loads((path / "config.json").read_text())
        change(cfg)
        (path / "config.json").write_text(json.dumps(cfg))
        manifest = json.loads((path / "manifest.json").read_text())
        manifest["files"]["config.json"] = _sha256(path / "config.json")
        (path / "manifest.json").write_text(json.dumps(manifest))

    return edit


@pytest.fixture
def route_without_torch():
    """``run(code)``: run ``code`` (which loads and routes a router) in a fresh interpreter and assert it
    succeeds without importing torch, torch_geometric or transformers."""
    import subprocess
    import sys

    check = ("\nimport sys\nbad = [m for m in ('torch', 'torch_geometric', 'transformers') if m in sys.modules]\n"
             "assert not bad, bad\n")

    def run(code: str) -> None:
        proc = subprocess.run([sys.executable, "-c", code + check], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert proc.returncode == 0, proc.stderr[-2000:]

    return run
