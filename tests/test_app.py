"""The explorer (graphroute.app) driven headless as a person uses it, and the `graphroute app` command.

Streamlit's AppTest runs the launcher `graphroute app` hands to Streamlit in-process: each test
types, clicks and uploads, then checks what the page shows against what the library says for the
same input. tests/test_browser.py runs the real command in Chromium.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import graphroute as gr
from graphroute.app import compute, launch, page
from graphroute.cli import build_parser, main
from graphroute.routers.default import default_router_path

AppTest = pytest.importorskip("streamlit.testing.v1").AppTest

SCRIPT = str(launch.SCRIPT)  # the file `graphroute app` runs
TIMEOUT = 90  # seconds per rerun: the first one loads MiniLM and the router
QUERY = "Which gas do plants take in for photosynthesis? A) oxygen B) carbon dioxide C) nitrogen D) helium"

needs_default = pytest.mark.skipif(not (default_router_path() / "manifest.json").is_file(),
                                   reason="default router not built (python data/train_default_router.py)")


def _has_data() -> bool:
    try:
        gr.data_dir()
    except gr.DataNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """A small router saved to disk (3 models, 2 agents, latency), its held-out logs and some runs of a 4th model."""
    syn = gr.make_synthetic(n_queries=80, n_models=4, n_agents=2, n_tasks=2, seed=3)
    logs = syn.logs
    ids = np.sort(logs["query_id"].unique())
    test_ids = set(np.random.default_rng(0).choice(ids, 20, replace=False))
    is_test = logs["query_id"].isin(test_ids)
    known = logs["model"] != "model_3"
    router = gr.Router(embedder="hash", hidden=16, epochs=6, seed=0, progress=False, cache_dir=False)
    router.fit(logs[~is_test & known], models=[m for m in syn.models if m["name"] != "model_3"],
               agents=syn.agents, tasks=syn.tasks)
    path = router.save(tmp_path_factory.mktemp("routers") / "syn")
    heldout = logs[is_test & known][["query_id", "query", "task", "model", "agent", "effect", "cost"]]
    runs = logs[~is_test & ~known].head(24)[["query_id", "query", "task", "agent", "effect", "cost", "latency_s"]]
    return {"path": str(path), "router": gr.load(path), "heldout_csv": heldout.to_csv(index=False).encode(),
            "runs_csv": runs.to_csv(index=False).encode(), "n_runs": len(runs)}


def _app() -> AppTest:
    at = AppTest.from_file(SCRIPT, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _submit(at: AppTest, field, value: str, button: str) -> AppTest:
    """Type ``value`` into ``field``, click ``button``, rerun the page; it must not raise."""
    field.input(value)
    at.button(key=button).click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _route(at: AppTest, query: str) -> AppTest:
    return _submit(at, at.text_area(key="query"), query, "route")


def _chosen(at: AppTest) -> str:
    texts = [s.value for s in at.success if s.value.startswith("Chosen:")]
    assert texts, f"no choice shown; errors: {[e.value for e in at.error]}"
    return texts[0]


def _errors(at: AppTest) -> str:
    return " | ".join(e.value for e in at.error)


def _load(at: AppTest, path: str) -> AppTest:
    return _submit(at, at.text_input(key="router_path"), path, "load_router")


@needs_default
def test_route_weights_budget_and_bad_input_on_the_default_router():
    at = _app()
    n_models = len(compute.open_router("").graph_.model_names)
    assert f"{n_models} models" in at.sidebar.caption[0].value
    assert at.slider(key="w_latency").disabled  # the shipped router predicts no latency
    _route(at, QUERY)
    expected = compute.open_router("").select(QUERY, weights={"effect": 1.0, "cost": 0.5})
    assert f"**{expected.model}**" in _chosen(at)
    table = at.dataframe[0].value
    assert len(table) == len(compute.open_router("").candidates_) and int(table["chosen"].sum()) == 1
    assert table.loc[table["chosen"], "model"].item() == expected.model
    assert len(at.dataframe[1].value) == compute.EVIDENCE_K  # one evidence row per nearest past query

    at.slider(key="w_cost").set_value(1.0).run()  # the choice follows the weights without pressing Route again
    dear_first = compute.open_router("").select(QUERY, weights={"effect": 1.0, "cost": 1.0})
    assert f"**{dear_first.model}**" in _chosen(at)

    at.selectbox(key="task").set_value("routerbench/mbpp").run()  # a task named by the user, not inferred
    as_code = compute.open_router("").select(QUERY, task="routerbench/mbpp", weights={"effect": 1.0, "cost": 1.0})
    assert f"**{as_code.model}**" in _chosen(at) and "(task routerbench/mbpp)" in _chosen(at)
    at.selectbox(key="task").set_value(at.selectbox(key="task").options[0]).run()
    inferred = compute.open_router("").select(QUERY, weights={"effect": 1.0, "cost": 1.0}).task
    assert "arc" in inferred and f"(task {inferred})" in _chosen(at)

    at.number_input(key="budget").set_value(1e-7).run()  # cheaper than any model
    assert "No candidate meets the constraints" in _errors(at) and "budget=1e-07" in _errors(at)
    at.number_input(key="budget").set_value(None).run()
    assert not at.error

    at.slider(key="w_effect").set_value(0.0)
    at.slider(key="w_cost").set_value(0.0).run()
    assert "At least one weight must be > 0" in _errors(at)
    at.slider(key="w_effect").set_value(1.0).run()

    _route(at, "   ")
    assert "empty or whitespace" in _errors(at)
    assert not [s for s in at.success if s.value.startswith("Chosen:")]


@needs_default
@pytest.mark.skipif(not _has_data(), reason="RouterBench not found (../shared/data or $GRAPHROUTE_DATA)")
def test_pareto_on_routerbench_says_it_is_in_sample():
    at = _app()
    assert at.radio(key="pareto_source").value == "RouterBench held-out split"
    labels = {m.label: m.value for m in at.metric}
    assert int(labels["queries"]) > 500 and 0 < float(labels["AIQ (router)"]) <= 1
    assert any("in-sample" in w.value for w in at.warning)  # the shipped router saw a sample of RouterBench


def test_saved_router_latency_pareto_upload_and_graph(synthetic):
    at = _app()
    _load(at, synthetic["path"])
    assert "3 models" in at.sidebar.caption[0].value and "predicts latency" in at.sidebar.caption[0].value
    at.slider(key="w_latency").set_value(0.5)
    _route(at, "the what of kalo mire sati vozeru")
    expected = synthetic["router"].select("the what of kalo mire sati vozeru",
                                          weights={"effect": 1.0, "cost": 0.5, "latency": 0.5})
    assert f"**{expected.model}** with agent **{expected.agent}**" in _chosen(at)
    assert "predicted latency" in {m.label for m in at.metric}

    at.radio(key="pareto_source").set_value("Upload held-out logs (CSV)").run()
    assert any("Upload logged runs" in i.value for i in at.info)
    at.file_uploader(key="pareto_upload").set_value(("heldout.csv", synthetic["heldout_csv"], "text/csv"))
    at.run()
    labels = {m.label: m.value for m in at.metric}
    assert labels["queries"] == "20" and 0 < float(labels["AIQ (router)"]) <= 1
    assert not any("in-sample" in w.value for w in at.warning)  # these queries were held out of the fit

    at.file_uploader(key="pareto_upload").set_value(("broken.csv", b"a,b\n1,2\n3,4,5\n", "text/csv")).run()
    assert "broken.csv could not be read as CSV" in _errors(at) and "Expected 2 fields" in _errors(at)
    at.file_uploader(key="pareto_upload").set_value(("cols.csv", b"a,b\n1,2\n", "text/csv")).run()
    assert "lack required columns" in _errors(at)

    at.selectbox(key="graph_color").set_value("mean_cost").run()
    assert not at.exception
    edges = [d.value for d in at.dataframe if "runs" in d.value.columns][0]
    assert set(edges["model"]) == {"model_0", "model_1", "model_2"}


def test_bad_router_path_keeps_the_app_alive(synthetic, tmp_path):
    at = _app()
    _load(at, synthetic["path"])
    _load(at, str(tmp_path / "nowhere"))
    assert "No saved router at" in _errors(at)
    assert "3 models" in at.sidebar.caption[0].value  # still the router loaded before


def test_add_model_form(synthetic):
    at = _app()
    _load(at, synthetic["path"])
    at.text_input(key="new_name").input("model_3")
    at.text_area(key="new_description").input("a strong new model, priced like model_2")
    at.number_input(key="new_price_in").set_value(0.3)
    at.number_input(key="new_price_out").set_value(1.2)
    at.file_uploader(key="new_runs").set_value(("runs.csv", synthetic["runs_csv"], "text/csv"))
    at.button(key="add_model").click().run()
    assert not at.exception and not at.error, _errors(at)
    done = [s.value for s in at.success if s.value.startswith("Added")]
    assert done and f"**model_3** ({synthetic['n_runs']} logged runs) without retraining" in done[0]
    standing = [d.value for d in at.dataframe if "chosen_share" in d.value.columns][0]
    assert "model_3" in set(standing["model"]) and set(standing["task"]) == {"task_0", "task_1"}
    assert "4 models" in at.sidebar.caption[0].value and "model_3" in at.sidebar.caption[1].value
    assert "model_3" not in synthetic["router"].graph_.model_names  # only the session's copy grew

    # the new model is a candidate when routing, at once
    _route(at, "the what of kalo mire sati vozeru")
    assert "model_3" in set(at.dataframe[0].value["model"])

    # the same name again: the library's message, and the router keeps one model_3
    at.button(key="add_model").click().run()
    assert "already has a model named 'model_3'" in _errors(at)

    # a CSV that is not CSV, then one that lacks a required column: the library's messages
    at.text_input(key="new_name").input("model_4")
    at.file_uploader(key="new_runs").set_value(("bad.csv", b"query,effect\n\"unterminated,1\n", "text/csv"))
    at.button(key="add_model").click().run()
    assert "bad.csv could not be read as CSV (Error tokenizing data" in _errors(at)
    at.file_uploader(key="new_runs").set_value(("bad.csv", b"query,effect\nhello,1\n", "text/csv"))
    at.button(key="add_model").click().run()
    assert "lack required columns ['cost']" in _errors(at)
    assert "model_4" not in at.sidebar.caption[1].value  # a failed add leaves the router as it was

    at.button(key="reset_added").click().run()
    assert "3 models" in at.sidebar.caption[0].value


def test_read_runs_csv_names_the_fix():
    with pytest.raises(gr.LogsError, match="could not be read as CSV.*header row: query, effect, cost"):
        compute.read_runs_csv(b"a,b\n1,2\n3,4,5\n", "x.csv")
    with pytest.raises(gr.LogsError, match="could not be read as CSV"):
        compute.read_runs_csv(b"\xff\xfe\x00\x81", "x.csv")
    with pytest.raises(gr.LogsError, match="holds no rows"):
        compute.read_runs_csv(b"query,effect,cost\n", "x.csv")


def test_app_command_runs_the_lone_launcher_without_cwd_on_sys_path(synthetic):
    cmd = launch.app_command(synthetic["path"], 8642)
    at = cmd.index("streamlit")
    assert cmd[0] == sys.executable and cmd[at - 1:at + 3] == ["-m", "streamlit", "run", str(launch.SCRIPT)]
    if sys.version_info >= (3, 11):
        assert "-P" in cmd[1:at - 1]  # python puts no working directory on sys.path
    assert cmd[cmd.index("--server.port") + 1] == "8642"
    assert cmd[-3:] == ["--", "--router", str(Path(synthetic["path"]).resolve())]
    assert page.parse_args(cmd[cmd.index("--") + 1:]).router == str(Path(synthetic["path"]).resolve())
    assert "--server.port" not in launch.app_command() and "--" not in launch.app_command()


def test_the_launchers_folder_shadows_nothing():
    """Streamlit puts the script's folder first on sys.path: the launcher must be the only module there
    (graphroute/datasets.py there once hid Hugging Face's `datasets` from sentence-transformers)."""
    for script in (launch.SCRIPT, Path(__file__).resolve().parents[1] / "app" / "explorer.py"):
        assert script.is_file()
        assert [m.name for m in pkgutil.iter_modules([str(script.parent)])] == [script.stem]


@needs_default
def test_the_clone_shim_draws_the_same_page():
    """`streamlit run app/explorer.py` from a clone runs the same page as `graphroute app`."""
    at = AppTest.from_file(str(Path(__file__).resolve().parents[1] / "app" / "explorer.py"), default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    n_models = len(compute.open_router("").graph_.model_names)
    assert at.title[0].value == "graphroute explorer" and f"{n_models} models" in at.sidebar.caption[0].value


def test_the_launcher_module_imports_neither_streamlit_nor_the_page():
    code = ("import sys, graphroute.app.launch; "
            "print(sorted(m for m in ('streamlit', 'graphroute.app.page', 'graphroute.app.compute') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_app_delegates_to_the_launcher(synthetic, monkeypatch):
    ran = []
    monkeypatch.setattr("os.execv", lambda exe, argv: ran.append((exe, argv)))
    assert main(["app", "--router", synthetic["path"], "--port", "8642"]) == 0
    assert ran == [(sys.executable, launch.app_command(synthetic["path"], 8642))]
    assert main(["app", "--router", "/no/such/router"]) == 2 and len(ran) == 1
    with pytest.raises(SystemExit):
        build_parser().parse_args(["app", "--port", "70000"])
