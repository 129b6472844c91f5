"""The command line (graphroute.cli): every subcommand's help, clear errors for bad flags, and a
select --json round trip on a small saved router."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import graphroute as gr
from graphroute.cli import COMMANDS, build_parser, main
from graphroute.data.datasets import DATASETS
from graphroute.data.synthetic import make_synthetic
from graphroute.embed import DEFAULT_EMBEDDER
from graphroute.eval.bench import ROUTERS


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny router trained through the CLI (hash embedder, a few epochs), and its logs."""
    syn = make_synthetic(n_queries=40, n_models=3, n_tasks=2, seed=2)
    folder = tmp_path_factory.mktemp("cli")
    logs = folder / "runs.csv"
    syn.logs.to_csv(logs, index=False)
    out = folder / "router"
    rc = main(["train", str(logs), "--out", str(out), "--embedder", "hash", "--epochs", "3", "--seed", "1"])
    assert rc == 0
    return out, syn.logs


@pytest.mark.parametrize("name", [mod.NAME for mod in COMMANDS])
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: graphroute {name}")


def test_top_level_help_lists_every_subcommand_without_declaring_their_flags(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for mod in COMMANDS:
        assert mod.NAME in out and mod.HELP.split()[0] in out
    full = build_parser().format_help()  # every subcommand's flags declared: still a valid parser
    assert "COMMAND" in full


def test_help_texts_come_from_the_registries_and_library_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    out = " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping
    for name in DATASETS:
        assert name in out  # e.g. 'tree-of-thoughts', the registry key (once offered as 'tot')
    for name in ROUTERS:
        assert name in out
    assert f"(default: the library's, {DEFAULT_EMBEDDER})" in out


def test_help_imports_no_heavy_module():
    code = ("import sys\nfrom graphroute.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('torch', 'torch_geometric', 'pandas', 'numpy') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("argv, message", [
    (["select"], "the following arguments are required: query"),
    (["select", "q", "--weights", "cheap"], "Unknown scenario 'cheap'"),
    (["select", "q", "--weights", "effect=-1"], "must be a finite number >= 0"),
    (["select", "q", "--top", "0"], "must be an integer >= 1"),
    (["bench", "--seeds", "0"], "must be an integer >= 1"),
    (["bench", "--protocol", "fast"], "invalid choice: 'fast'"),
    (["app", "--port", "70000"], "a port is an integer in [1, 65535]"),
    (["train", "runs.csv"], "the following arguments are required: --out"),
    (["route", "q"], "invalid choice: 'route'"),
])
def test_bad_flags_give_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_bench_refuses_no_task_with_the_new_models_protocol(capsys):
    assert main(["bench", "--protocol", "new-models", "--no-task"]) == 2
    err = capsys.readouterr().err
    assert "apply to the standard protocol" in err and "Fix:" in err


def test_library_errors_exit_2_with_the_message_and_no_traceback(tmp_path, capsys):
    assert main(["select", "What is 2+2?", "--router", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphroute: error:") and "Traceback" not in err


def test_select_json_round_trip(saved, capsys):
    path, logs = saved
    query = logs["query"].iloc[0]
    assert main(["select", query, "--router", str(path), "--weights", "effect=1,cost=0.3", "--evidence", "2",
                 "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    want = gr.load(path).select(query, weights={"effect": 1, "cost": 0.3})
    assert (got["model"], got["agent"], got["task"]) == (want.model, want.agent, want.task)
    assert got["effect"] == pytest.approx(want.effect) and got["score"] == pytest.approx(want.score)
    assert [a["model"] for a in got["alternatives"]] == list(want.alternatives["model"])
    assert len(got["evidence"]) > 0 and {"query", "similarity"} <= set(got["evidence"][0])


def test_select_constraints_and_text_output(saved, capsys):
    path, logs = saved
    query = logs["query"].iloc[0]
    assert main(["select", query, "--router", str(path), "--allow-model", "model_1", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "model:  model_1" in out and "ranked alternatives:" in out
    assert main(["select", query, "--router", str(path), "--budget", "0"]) == 2  # infeasible: the library's error
    assert "No candidate meets the constraints" in capsys.readouterr().err


def test_info_json(saved, capsys):
    path, logs = saved
    assert main(["info", "--router", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert sorted(info["models"]) == sorted(logs["model"].unique())
    assert info["params"]["embedder"] == "hash" and info["params"]["seed"] == 1 and info["params"]["epochs"] == 3


def test_bench_new_models_protocol_runs_from_the_command_line(saved, tmp_path):
    """`graphroute bench --protocol new-models` writes its table (it once failed on an argument its
    protocol function does not take; --no-task is refused for this protocol, see the bad-flag cases)."""
    logs_csv = tmp_path / "runs.csv"
    saved[1].to_csv(logs_csv, index=False)
    out = tmp_path / "nm"
    args = ["bench", "--dataset", str(logs_csv), "--protocol", "new-models", "--seeds", "1", "--shots", "0",
            "--holdout", "1", "--embedder", "hash", "--param", "graphroute.epochs=3", "--out", str(out), "--quiet"]
    assert main(args) == 0
    rows = json.loads((out / "new_models.json").read_text())
    assert {r["setting"] for r in rows} >= {"dropped", "k=0", "retrained"}
