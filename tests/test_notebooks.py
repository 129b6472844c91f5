"""The notebooks run top to bottom, offline, as a person runs them: a fresh kernel of this
interpreter, the working directory notebooks/, every cell in order. Each must say what it set out
to show (a line printed by its last cells), and the committed files carry no outputs."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT = 600  # seconds; a notebook takes about a minute on 2 idle CPU cores, several when they are shared
# what each notebook must print (and one output type it must show)
EXPECTED = {
    "01_quickstart.ipynb": ["chosen:", "round trip identical: True", "InfeasibleError: No candidate meets"],
    "02_evaluate.ipynb": ["graphroute", "per task (graph router vs the best single model", "overall: "],
    "03_new_models_and_agents.ipynb": ["added model_4 with 30 runs", "added agent_2", "parameters unchanged: True"],
}


@pytest.fixture(scope="module")
def kernel_dir(tmp_path_factory):
    """A kernel spec that starts this interpreter (not whatever 'python3' a machine has installed)."""
    root = tmp_path_factory.mktemp("kernels")
    spec = root / "graphroute-test"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "graphroute tests", "language": "python"}))
    return root


def _texts(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            if o.get("output_type") == "stream":
                out.append(o.get("text", ""))
            elif "data" in o:
                out.append(o["data"].get("text/plain", ""))
    return "\n".join(out)


def test_committed_without_outputs():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
    assert names == sorted(EXPECTED)
    for name in names:
        nb = nbformat.read(NOTEBOOKS / name, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(not c.outputs and c.execution_count is None for c in code), f"{name} has outputs"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs_top_to_bottom(name, kernel_dir, monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    km = KernelManager(kernel_name="graphroute-test",
                       kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]))
    client = nbclient.NotebookClient(nb, km=km, timeout=CELL_TIMEOUT,
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    t0 = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, if any cell fails
    seconds = time.perf_counter() - t0
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = _texts(nb)
    for expected in EXPECTED[name]:
        assert expected in text, f"{name} did not print {expected!r}"
    if name == "02_evaluate.ipynb":  # the Pareto plot is shown
        assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
    print(f"{name}: {seconds:.0f} s")
