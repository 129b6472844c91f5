"""Saved routers: atomic save, loud load, no pickle, no path escapes.

* ``save`` writes into a temporary directory and swaps it in (one atomic exchange on Linux; two
  renames elsewhere, undone on failure): a save interrupted at any step leaves the previous router
  loadable with identical predictions, and no temporary directory behind.
* ``load`` of a truncated, corrupted, version-mismatched, tampered (sha256 manifest) or incomplete
  directory raises ``RouterFileError`` naming the file and the fix, never another exception.
* Nothing is unpickled: the package source has no pickle / unguarded ``torch.load``, saved
  directories hold JSON + safetensors only, and loading works with pickle disabled.
* Names read from a saved directory (manifest entries, embedder spec, cache path) cannot reach
  outside it.

``DAMAGES`` and ``INTERRUPTIONS`` are plain tables that ``benchmarks/reliability.py`` replays.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import load_file, save_file

import graphroute as gr
import graphroute.routers.gnn.persistence as router_mod
from graphroute.routers.gnn.persistence import _sha256
from graphroute.data.synthetic import make_synthetic

FAST = dict(embedder="hash", cache_dir=False, progress=False, hidden=16, epochs=10, patience=10, seed=0)
QUERIES = ["what is the kalo of mine", "how to solve ruvo", "a plain question", "日本語の質問"]
PACKAGE = Path(gr.__file__).parent


@pytest.fixture(scope="module")
def router() -> gr.Router:
    syn = make_synthetic(n_queries=40, n_models=3, n_agents=2, n_tasks=2, seed=0)
    return gr.Router(**FAST).fit(syn.logs, models=syn.models, agents=syn.agents, tasks=syn.tasks)


@pytest.fixture(scope="module")
def saved(router: gr.Router, tmp_path_factory) -> Path:
    return router.save(tmp_path_factory.mktemp("saved") / "router")


def predictions(r: gr.Router) -> pd.DataFrame:
    return r.predict(QUERIES)


def fresh_copy(saved: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "router"
    shutil.copytree(saved, dst)
    return dst


def rewrite_manifest(d: Path) -> None:
    """Recompute every hash, as someone tampering on purpose would (the manifest is not a signature)."""
    m = json.loads((d / "manifest.json").read_text())
    m["files"] = {f: _sha256(d / f) for f in m["files"] if (d / f).is_file()}
    (d / "manifest.json").write_text(json.dumps(m))


def edit_config(d: Path, change: Callable[[dict], None]) -> None:
    cfg = json.loads((d / "config.json").read_text())
    change(cfg)
    (d / "config.json").write_text(json.dumps(cfg))
    rewrite_manifest(d)


def edit_manifest(d: Path, change: Callable[[dict], None]) -> None:
    m = json.loads((d / "manifest.json").read_text())
    change(m)
    (d / "manifest.json").write_text(json.dumps(m))


def edit_tensor(d: Path, file: str, key: str, change: Callable[[torch.Tensor], torch.Tensor]) -> None:
    tensors = load_file(str(d / file))
    tensors[key] = change(tensors[key]).contiguous()
    save_file(tensors, str(d / file))
    rewrite_manifest(d)


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def flip_byte(path: Path, where: float = 0.5) -> None:
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


# ------------------------------------------------------------------------------ round trip
def test_round_trip_gives_identical_predictions_and_only_safe_files(router: gr.Router, saved: Path) -> None:
    loaded = gr.load(saved)
    # in memory vs loaded: equal up to float32 rounding (~6e-8: kernels may sum in another order);
    # loaded vs loaded: bit for bit
    pd.testing.assert_frame_equal(predictions(loaded), predictions(router), check_exact=False, rtol=1e-6)
    pd.testing.assert_frame_equal(predictions(gr.load(saved)), predictions(loaded), check_exact=True)
    assert sorted(p.name for p in saved.iterdir()) == ["config.json", "graph.safetensors", "manifest.json",
                                                       "net_0.safetensors", "nodes_0.safetensors"]


def test_version_1_router_still_loads(router: gr.Router, saved: Path, tmp_path: Path) -> None:
    """Format 1 saved no node states: load() encodes the graph (with torch) and routes the same."""
    d = fresh_copy(saved, tmp_path)
    (d / "nodes_0.safetensors").unlink()
    edit_config(d, lambda c: (c.update(format_version=1), c.pop("index")))
    pd.testing.assert_frame_equal(predictions(gr.load(d)), predictions(router), check_exact=False, rtol=1e-6)
    assert router_mod.FORMAT_VERSION == 4


# ------------------------------------------------------------------------------ interrupted saves
class Boom(OSError):
    """The fault injected into a save step."""


def fail_on_call(real: Callable, n: int, exc: BaseException) -> Callable:
    """``real``, except that its n-th call (1-based) raises ``exc``."""
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == n:
            raise exc
        return real(*args, **kwargs)

    return wrapper


# step name -> patch(monkeypatch) that makes that step of save() fail
INTERRUPTIONS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "writing graph tensors": lambda mp: mp.setattr(
        "safetensors.numpy.save_file", fail_on_call(save_numpy, 1, Boom("disk full"))),
    "writing network weights": lambda mp: mp.setattr(
        "safetensors.numpy.save_file", fail_on_call(save_numpy, 2, Boom("disk full"))),
    "Ctrl-C while writing weights": lambda mp: mp.setattr(
        "safetensors.numpy.save_file", fail_on_call(save_numpy, 2, KeyboardInterrupt())),
    "writing node states": lambda mp: mp.setattr(
        "safetensors.numpy.save_file", fail_on_call(save_numpy, 3, Boom("disk full"))),
    "hashing the manifest": lambda mp: mp.setattr(
        router_mod, "_sha256", fail_on_call(_sha256, 2, Boom("read error"))),
    "atomic exchange": lambda mp: mp.setattr(
        router_mod, "_exchange", fail_on_call(router_mod._exchange, 1, Boom("exchange failed"))),
    "fallback: moving the old aside": lambda mp: (
        mp.setattr(router_mod, "_exchange", lambda a, b: False),
        mp.setattr(router_mod.os, "replace", fail_on_call(os.replace, 1, Boom("rename failed")))),
    "fallback: moving the new in": lambda mp: (
        mp.setattr(router_mod, "_exchange", lambda a, b: False),
        mp.setattr(router_mod.os, "replace", fail_on_call(os.replace, 2, Boom("rename failed")))),
}


@pytest.mark.parametrize("step", list(INTERRUPTIONS))
def test_interrupted_save_leaves_the_old_router_intact(step: str, router: gr.Router, saved: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    target = fresh_copy(saved, tmp_path)
    old = predictions(gr.load(saved))
    grown = gr.load(saved).add_model("newcomer", "a model added after the first save", price_in=0.1, price_out=0.2)
    assert len(predictions(grown)) > len(old)  # the new save would really change what loads
    with monkeypatch.context() as mp:
        INTERRUPTIONS[step](mp)
        with pytest.raises((Boom, KeyboardInterrupt)):
            grown.save(target)
    pd.testing.assert_frame_equal(predictions(gr.load(target)), old, check_exact=True)  # bit for bit
    assert sorted(p.name for p in tmp_path.iterdir()) == ["router"]  # no temporary or old directory left
    grown.save(target)  # and the next save goes through
    pd.testing.assert_frame_equal(predictions(gr.load(target)), predictions(grown), check_exact=False, rtol=1e-6)


def test_save_killed_mid_write_leaves_the_old_router(saved: Path, tmp_path: Path) -> None:
    """A hard kill (no exception handler runs) while the new weights are written."""
    target = fresh_copy(saved, tmp_path)
    script = f"""
import os, safetensors.numpy as st
import graphroute as gr
real, calls = st.save_file, [0]
def dying(*a, **k):
    calls[0] += 1
    if calls[0] == 2:
        os._exit(9)  # the process dies: no except, no finally
    return real(*a, **k)
st.save_file = dying
r = gr.load({str(target)!r}).add_model("newcomer", price_in=0.1)
r.save({str(target)!r})
"""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    pd.testing.assert_frame_equal(predictions(gr.load(target)), predictions(gr.load(saved)), check_exact=True)


# ------------------------------------------------------------------------------ damaged directories
# damage name -> (how to damage a copy of the saved directory, substrings its error must hold)
DAMAGES: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "truncated graph tensors": (lambda d: truncate(d / "graph.safetensors"),
                                ("graph.safetensors", "does not match its recorded hash", "save the router again")),
    "truncated weights": (lambda d: truncate(d / "net_0.safetensors", 0.9),
                          ("net_0.safetensors", "truncated, corrupted or edited", "save the router again")),
    "truncated config": (lambda d: truncate(d / "config.json"), ("config.json", "recorded hash")),
    "truncated manifest": (lambda d: truncate(d / "manifest.json"),
                           ("manifest.json", "missing or unreadable", "Save it again")),
    "empty manifest": (lambda d: (d / "manifest.json").write_text(""), ("manifest.json", "Save it again")),
    "corrupted weight byte": (lambda d: flip_byte(d / "net_0.safetensors", 0.7),
                              ("net_0.safetensors", "recorded hash", "Restore it")),
    "corrupted graph header": (lambda d: flip_byte(d / "graph.safetensors", 0.0001),
                               ("graph.safetensors", "recorded hash")),
    "corrupted config": (lambda d: flip_byte(d / "config.json", 0.5), ("config.json", "recorded hash")),
    "version mismatch": (lambda d: edit_config(d, lambda c: c.update(format_version=99)),
                         ("version 99", "reads 'graphroute-router' version 4 (and 1, 2, 3)", "Re-save it")),
    "format mismatch": (lambda d: edit_config(d, lambda c: c.update(format="sklearn-pickle")),
                        ("'sklearn-pickle'", "Re-save it")),
    "missing weights file": (lambda d: (d / "net_0.safetensors").unlink(),
                             ("net_0.safetensors is missing", "Save it again")),
    "missing node states": (lambda d: (d / "nodes_0.safetensors").unlink(),
                            ("nodes_0.safetensors is missing", "Save it again")),
    "manifest omits node states": (lambda d: edit_manifest(d, lambda m: m["files"].pop("nodes_0.safetensors")),
                                   ("does not cover", "nodes_0.safetensors")),
    "tampered: node states wrong shape": (
        lambda d: edit_tensor(d, "nodes_0.safetensors", "query", lambda t: t[:-1]),
        ("could not be rebuilt", "query node states have shape")),
    "tampered: NaN node states": (
        lambda d: edit_tensor(d, "nodes_0.safetensors", "model", lambda t: t * float("nan")),
        ("could not be rebuilt", "NaN")),
    "missing config": (lambda d: (d / "config.json").unlink(), ("config.json is missing",)),
    "missing manifest": (lambda d: (d / "manifest.json").unlink(), ("manifest.json is missing", "Save it again")),
    "empty directory": (lambda d: [p.unlink() for p in d.iterdir()], ("manifest.json is missing",)),
    "path is a file": (lambda d: (shutil.rmtree(d), d.write_text("not a router")),
                       ("not a directory", "router.save(path)")),
    "manifest is a list": (lambda d: (d / "manifest.json").write_text("[]"), ("manifest.json", "Save it again")),
    "manifest omits config": (lambda d: edit_manifest(d, lambda m: m["files"].pop("config.json")),
                              ("does not cover ['config.json']", "unverified", "Save it again")),
    "manifest omits weights": (lambda d: edit_manifest(d, lambda m: m["files"].pop("net_0.safetensors")),
                               ("does not cover", "net_0.safetensors")),
    "tampered: huge n_members": (lambda d: edit_config(d, lambda c: c.update(n_members=10**9)),
                                 ("n_members=1000000000", "Save it again")),
    "tampered: config not an object": (lambda d: ((d / "config.json").write_text("[1, 2]"), rewrite_manifest(d)),
                                       ("config.json is unreadable", "Save the router again")),
    "tampered: deeply nested config": (lambda d: ((d / "config.json").write_text("[" * 100_000 + "]" * 100_000),
                                                  rewrite_manifest(d)), ("config.json is unreadable",)),
    "tampered: unknown parameter": (lambda d: edit_config(d, lambda c: c["params"].update(evil=1)),
                                    ("could not be rebuilt", "evil", "Save it again")),
    "tampered: index out of range": (
        lambda d: edit_tensor(d, "graph.safetensors", "out_query", lambda t: t + 10_000),
        ("out_query points outside", "Save it again")),
    "tampered: shapes disagree": (
        lambda d: edit_tensor(d, "graph.safetensors", "out_cost", lambda t: t[:-1]),
        ("out_cost has", "Save it again")),
    "tampered: NaN embeddings": (
        lambda d: edit_tensor(d, "graph.safetensors", "query_x", lambda t: t * float("nan")),
        ("query_x holds NaN",)),
    "tampered: NaN weights": (
        lambda d: edit_tensor(d, "net_0.safetensors", next(iter(load_file(str(d / "net_0.safetensors")))),
                              lambda t: t * float("nan") if t.is_floating_point() else t),
        ("NaN or infinite weights",)),
    "tampered: wrong weight shape": (
        lambda d: edit_tensor(d, "net_0.safetensors", next(k for k, v in load_file(str(d / "net_0.safetensors")).items()
                                                           if v.dim() == 2), lambda t: t[:, :-1]),
        ("could not be rebuilt", "size mismatch")),
    "tampered: catalog": (lambda d: edit_config(d, lambda c: c["catalog"].pop("models")),
                          ("could not be rebuilt", "Save it again")),
    "tampered: embedder not registered": (lambda d: edit_config(d, lambda c: c["params"].update(embedder="evil")),
                                          ("'evil'", "not registered", "register_embedder", "embedder=")),
    "tampered: weights replaced by a symlink": (
        lambda d: (shutil.copy(d / "net_0.safetensors", d.parent / "outside.safetensors"),
                   (d / "net_0.safetensors").unlink(),
                   (d / "net_0.safetensors").symlink_to(d.parent / "outside.safetensors")),
        ("symbolic link", "Replace it with the file itself")),
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_directory_raises_router_file_error(damage: str, saved: Path, tmp_path: Path) -> None:
    d = fresh_copy(saved, tmp_path)
    hurt, needles = DAMAGES[damage]
    hurt(d)
    with pytest.raises(gr.RouterFileError) as info:
        gr.load(d)
    msg = str(info.value)
    for n in needles:
        assert n in msg, f"{n!r} is missing from: {msg!r}"


def test_random_byte_damage_never_escapes_as_another_error(saved: Path, tmp_path: Path) -> None:
    """Seeded fuzz: truncations and byte flips anywhere, with the manifest recomputed half the time."""
    rng = np.random.default_rng(0)
    files = ["config.json", "graph.safetensors", "net_0.safetensors", "manifest.json"]
    outcomes = {"RouterFileError": 0, "loaded": 0}
    for trial in range(40):
        d = tmp_path / f"t{trial}"
        shutil.copytree(saved, d)
        f = d / files[trial % 4]
        data = bytearray(f.read_bytes())
        if rng.random() < 0.3:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for i in rng.integers(0, min(len(data), 600) if rng.random() < 0.6 else len(data), 3):
                data[i] = int(rng.integers(0, 256))
        f.write_bytes(bytes(data))
        if f.name != "manifest.json" and rng.random() < 0.5:
            rewrite_manifest(d)
        try:
            gr.load(d).select_many(QUERIES)
            outcomes["loaded"] += 1  # a consistent edit of numbers: a valid (different) router
        except gr.RouterFileError:
            outcomes["RouterFileError"] += 1
    assert outcomes["RouterFileError"] >= 30


# ------------------------------------------------------------------------------ no pickle
_UNSAFE = [
    (re.compile(r"\bimport\s+(c?pickle|dill|cloudpickle|joblib|shelve|marshal)\b|\bfrom\s+(c?pickle|dill|joblib)\b"),
     "a pickle-family module"),
    (re.compile(r"\bpickle\.|\bjoblib\.load\b"), "a pickle call"),
    (re.compile(r"allow_pickle\s*=\s*True"), "numpy allow_pickle=True"),
    (re.compile(r"(?<![\w.])(eval|exec)\s*\("), "eval/exec"),
]


def test_no_pickle_anywhere_in_the_package_source() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for pattern, what in _UNSAFE:
            offenders += [f"{path.name}: {what}: {m.group(0)!r}" for m in pattern.finditer(text)]
        for m in re.finditer(r"torch\.load\(([^)]*)\)", text):  # torch.load unpickles unless weights_only=True
            if "weights_only=True" not in m.group(1):
                offenders.append(f"{path.name}: torch.load without weights_only=True")
    assert offenders == []


def test_saved_and_shipped_routers_hold_json_and_safetensors_only(saved: Path) -> None:
    shipped = PACKAGE / "default_router"
    for d in [saved, *([shipped] if shipped.is_dir() else [])]:
        assert {p.suffix for p in d.iterdir()} <= {".json", ".safetensors"}, d


def test_load_works_with_unpickling_disabled(saved: Path, router: gr.Router, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    pd.testing.assert_frame_equal(predictions(gr.load(saved)), predictions(router))


# ------------------------------------------------------------------------------ names cannot escape
ESCAPES = ["../outside.json", "/etc/hostname", "sub/config.json", ".hidden", "..", "./config.json"]


@pytest.mark.parametrize("name", ESCAPES)
def test_manifest_names_cannot_escape_the_directory(name: str, saved: Path, tmp_path: Path) -> None:
    d = fresh_copy(saved, tmp_path)
    (tmp_path / "outside.json").write_text("{}")  # a real file, with the right hash, just outside
    digest = _sha256(tmp_path / "outside.json")
    edit_manifest(d, lambda m: m["files"].update({name: digest}))
    with pytest.raises(gr.RouterFileError) as info:
        gr.load(d)
    msg = str(info.value)
    assert "not a plain file name" in msg and repr(name) in msg and "Save the router again" in msg


def test_saved_embedder_spec_cannot_name_a_path(saved: Path, tmp_path: Path) -> None:
    d = fresh_copy(saved, tmp_path)
    edit_config(d, lambda c: c["params"].update(embedder=f"minilm-static:path={tmp_path}"))
    with pytest.raises(gr.RouterFileError) as info:
        gr.load(d)
    assert "non-numeric options ['path']" in str(info.value) and "embedder=" in str(info.value)
    loaded = gr.load(d, embedder="hash")  # the caller may still choose the embedder explicitly
    assert loaded.embedder == "hash"


def test_saved_cache_path_is_never_used(saved: Path, tmp_path: Path) -> None:
    d = fresh_copy(saved, tmp_path)
    elsewhere = tmp_path / "elsewhere"
    edit_config(d, lambda c: c["params"].update(cache_dir=str(elsewhere), embedder="minilm"))
    loaded = gr.load(d)
    assert loaded.cache_dir is None  # the default cache of this machine, not a path from the file
    assert gr.load(d, cache_dir=str(tmp_path / "mine")).cache_dir == str(tmp_path / "mine")
    assert not elsewhere.exists()


def test_weight_shapes_checked_at_load_are_the_networks() -> None:
    """load() checks saved weights without building torch modules: NetConfig.param_shapes must be
    exactly RouterNet's state_dict (names and shapes), for any width, depth and target count."""
    from graphroute.graph.schema import EDGE_DIMS, EDGE_TYPES
    from graphroute.nn import NetConfig, RouterNet

    for cfg in (NetConfig(text_dim=16, hidden=8, layers=1), NetConfig(text_dim=24, hidden=4, layers=3, n_targets=3)):
        net = RouterNet(cfg, EDGE_TYPES, EDGE_DIMS)
        assert cfg.param_shapes(EDGE_TYPES, EDGE_DIMS) == {k: tuple(v.shape) for k, v in net.state_dict().items()}


def test_half_save_stores_the_node_states_of_the_rounded_graph(router: gr.Router, tmp_path: Path) -> None:
    """With half=True the graph is stored rounded; its saved node states are the ones that graph encodes
    to (what a version-1 load, or observe(), computes), so a later re-encode changes nothing."""
    d = router.save(tmp_path / "half", half=True)
    loaded = gr.load(d)
    v1 = fresh_copy(d, tmp_path / "v1")
    (v1 / "nodes_0.safetensors").unlink()
    edit_config(v1, lambda c: (c.update(format_version=1), c.pop("index")))
    pd.testing.assert_frame_equal(predictions(loaded), predictions(gr.load(v1)), check_exact=True)
    pd.testing.assert_frame_equal(predictions(loaded), predictions(router), check_exact=False, atol=5e-3)
