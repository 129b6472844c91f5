"""Full-scale reliability run (issue 8): bad inputs, damaged files, interrupted saves, threads.

It replays, at full scale, what the test files check at a size that keeps the suite fast:

* every bad-input case of ``tests/test_reliability.py`` (logs × entry points, calls, unfitted
  router, odd queries that must work) and the hypothesis properties of
  ``tests/test_properties.py`` with many more examples;
* every damage and interruption of ``tests/test_files.py``, a seeded fuzz of random byte damage,
  hard kills (``os._exit``, no handler runs) at each step of a save, and the name-escape checks;
* 8 threads × 2,000 calls of select / select_many against one thread's answers, and rounds of
  observe / add_model / add_agent / remove_model while 8 threads select (no torn state).

It prints a markdown report (what was tried, how many, what held) and exits 1 if anything did
not hold. Run from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/reliability.py

``--quick`` runs every part at a small size (about a minute).
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def test_module(name: str) -> ModuleType:
    """Import tests/<name>.py (the tables of cases live there, once)."""
    spec = importlib.util.spec_from_file_location(f"_rel_{name}", ROOT / "tests" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@dataclass
class Row:
    """One line of the report."""

    area: str
    what: str
    tried: int = 0
    held: int = 0
    notes: str = ""
    failures: list[str] = field(default_factory=list)

    def ok(self, good: bool, label: str) -> None:
        self.tried += 1
        if good:
            self.held += 1
        else:
            self.failures.append(label)


def raises_with(fn, exc_type, needles) -> tuple[bool, str]:
    """Did ``fn()`` raise ``exc_type`` with every needle in its message?"""
    try:
        fn()
    except exc_type as exc:
        missing = [n for n in needles if n not in str(exc)]
        return (not missing, f"message lacks {missing}: {str(exc)[:200]}" if missing else "")
    except BaseException as exc:  # noqa: BLE001 (the report names it)
        return False, f"raised {type(exc).__name__}: {str(exc)[:200]}"
    return False, "raised nothing"


# ------------------------------------------------------------------------------ bad inputs
def bad_inputs(rows: list[Row], examples: int) -> None:
    import graphroute as gr

    rel = test_module("test_reliability")
    logs = rel.tiny_logs()
    r = Row("bad input", "broken logs × {validate_logs, read_logs, Router.fit}: LogsError naming value + fix")
    for case in rel.LOG_CASES:
        for entry, call in rel.LOG_ENTRIES.items():
            good, why = raises_with(lambda: call(case.make(logs)), case.exc, case.needles)
            r.ok(good, f"{case.id} via {entry}: {why}")
    rows.append(r)

    router = gr.Router(**rel.FAST).fit(logs)
    r = Row("bad input", "bad calls on a fitted router (queries, allow-lists, budgets, weights, growth, cards)")
    for case in rel.CALL_CASES:
        good, why = raises_with(lambda: case.call(copy.deepcopy(router)), case.exc, case.needles)
        r.ok(good, f"{case.id}: {why}")
    rows.append(r)

    r = Row("bad input", "every method of an unfitted router: NotFittedError saying 'call fit(logs) first'")
    for name, call in rel.UNFITTED_CALLS.items():
        good, why = raises_with(lambda: call(gr.Router(**rel.FAST)), gr.NotFittedError, ("call fit(logs) first",))
        r.ok(good, f"{name}: {why}")
    rows.append(r)

    r = Row("odd input", "100k-character, non-Latin, emoji, control, lone-surrogate queries route (select + "
            "select_many agree)")
    for kind, q in rel.ODD_QUERIES.items():
        try:
            s = router.select(q)
            m = router.select_many([q, "plain"])
            r.ok(s.model == m["model"].iloc[0] and 0 <= s.effect <= 1 and s.cost >= 0, kind)
        except Exception as exc:  # noqa: BLE001
            r.ok(False, f"{kind}: {type(exc).__name__}: {exc}")
    rows.append(r)

    # the hypothesis properties, run by pytest with many examples; counts parsed from its statistics
    env = {**os.environ, "GRAPHROUTE_PROPERTY_EXAMPLES": str(examples), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--hypothesis-show-statistics", str(ROOT / "tests" / "test_properties.py")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    out = proc.stdout
    blocks = re.split(r"\n(?=tests/test_properties\.py::)", out)
    for block in blocks:
        m = re.match(r"tests/test_properties\.py::(\w+)", block)
        n = re.search(r"(\d+) passing, (\d+) failing", block)
        if not m or not n:
            continue
        r = Row("property", m.group(1).removeprefix("test_").replace("_", " "))
        r.tried, r.held = int(n.group(1)) + int(n.group(2)), int(n.group(1))
        if int(n.group(2)):
            r.failures.append("see pytest output")
        kinds = "LogsError|valid|rows dropped|observed|infeasible|batch rounding decided a knife edge"
        events = re.findall(rf"\* ([\d.]+)%, ({kinds})", block)
        r.notes = ", ".join(f"{name} {pct}%" for pct, name in events)
        rows.append(r)
    if proc.returncode != 0:
        rows.append(Row("property", "pytest run of the properties", 1, 0, failures=[out[-2000:]]))


# ------------------------------------------------------------------------------ files
KILL_SCRIPT = """
import os, sys, safetensors.numpy as st
import graphroute as gr, graphroute.routers.gnn.persistence as rm
target, point = sys.argv[1], sys.argv[2]
def die_on(real, n):
    calls = [0]
    def f(*a, **k):
        calls[0] += 1
        if calls[0] == n:
            os._exit(9)
        return real(*a, **k)
    return f
if point == "graph tensors":
    st.save_file = die_on(st.save_file, 1)
elif point == "network weights":
    st.save_file = die_on(st.save_file, 2)
elif point == "manifest hashes":
    rm._sha256 = die_on(rm._sha256, 3)
elif point == "after the swap, before cleanup":
    rm.shutil.rmtree = die_on(rm.shutil.rmtree, 1)
r = gr.load(target).add_model("newcomer", "added before the killed save", price_in=0.1, price_out=0.2)
r.save(target)
"""
KILL_POINTS = ["graph tensors", "network weights", "manifest hashes", "after the swap, before cleanup"]


def files(rows: list[Row], fuzz: int) -> None:
    import numpy as np
    import pytest

    import graphroute as gr

    tf = test_module("test_files")
    syn = tf.make_synthetic(n_queries=40, n_models=3, n_agents=2, n_tasks=2, seed=0)
    router = gr.Router(**tf.FAST).fit(syn.logs, models=syn.models, agents=syn.agents, tasks=syn.tasks)
    work = Path(tempfile.mkdtemp(prefix="graphroute-reliability-"))
    try:
        saved = router.save(work / "saved" / "router")
        old = tf.predictions(gr.load(saved))  # what the directory gives, bit for bit

        r = Row("files", "damaged directories (truncated, corrupted, version, tampered, missing, symlink): "
                "RouterFileError naming file + fix")
        for i, (name, (hurt, needles)) in enumerate(tf.DAMAGES.items()):
            d = work / f"damage{i}"
            d.mkdir()
            target = tf.fresh_copy(saved, d)
            hurt(target)
            good, why = raises_with(lambda: gr.load(target), gr.RouterFileError, needles)
            r.ok(good, f"{name}: {why}")
        rows.append(r)

        r = Row("files", "random byte damage (truncate / overwrite any file, manifest recomputed half the time): "
                "RouterFileError or a consistent router, nothing else")
        rng = np.random.default_rng(0)
        names = ["config.json", "graph.safetensors", "net_0.safetensors", "manifest.json"]
        caught = 0
        for trial in range(fuzz):
            d = work / "fuzz"
            shutil.rmtree(d, ignore_errors=True)
            shutil.copytree(saved, d)
            f = d / names[trial % 4]
            data = bytearray(f.read_bytes())
            if rng.random() < 0.3:
                data = data[: int(rng.integers(0, len(data)))]
            else:
                for i in rng.integers(0, min(len(data), 600) if rng.random() < 0.6 else len(data), 3):
                    data[i] = int(rng.integers(0, 256))
            f.write_bytes(bytes(data))
            if f.name != "manifest.json" and rng.random() < 0.5:
                tf.rewrite_manifest(d)
            try:
                gr.load(d).select_many(tf.QUERIES)
                r.ok(True, "")
            except gr.RouterFileError:
                caught += 1
                r.ok(True, "")
            except Exception as exc:  # noqa: BLE001
                r.ok(False, f"trial {trial} ({f.name}): {type(exc).__name__}: {exc}")
        r.notes = f"{caught} refused with RouterFileError, {r.tried - caught} loaded (a consistent edit of numbers)"
        rows.append(r)

        r = Row("files", "save interrupted by an exception at each step: old router loads with identical "
                "predictions, no temp dir left, next save works")
        grown = gr.load(saved).add_model("newcomer", "added before the killed save", price_in=0.1, price_out=0.2)
        grown_dir = grown.save(work / "grown" / "router")
        new = tf.predictions(gr.load(grown_dir))  # what a completed save gives, bit for bit
        for i, (step, patch) in enumerate(tf.INTERRUPTIONS.items()):
            d = work / f"interrupt{i}"
            d.mkdir()
            target = tf.fresh_copy(saved, d)
            with pytest.MonkeyPatch.context() as mp:
                patch(mp)
                try:
                    grown.save(target)
                    raised = False
                except (tf.Boom, KeyboardInterrupt):
                    raised = True
            intact = raised and tf.predictions(gr.load(target)).equals(old)
            clean = sorted(p.name for p in d.iterdir()) == ["router"]
            grown.save(target)
            retried = tf.predictions(gr.load(target)).equals(new)
            r.ok(intact and clean and retried, f"{step}: intact={intact} clean={clean} retried={retried}")
        rows.append(r)

        r = Row("files", "save killed (os._exit, no handler runs) at each step: the directory holds the old or "
                "the new router, complete")
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        for i, point in enumerate(KILL_POINTS):
            d = work / f"kill{i}"
            d.mkdir()
            target = tf.fresh_copy(saved, d)
            proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(target), point], env=env,
                                  capture_output=True, text=True, timeout=300)
            try:
                got = tf.predictions(gr.load(target))
                state = "old" if got.equals(old) else "new" if got.equals(new) else "other"
            except gr.RouterFileError as exc:
                state = f"unloadable: {exc}"
            r.ok(proc.returncode == 9 and state in ("old", "new"), f"{point}: rc={proc.returncode} {state} "
                 f"{proc.stderr[-300:]}")
            left = sum(1 for q in d.iterdir() if q.name != "router")
            r.notes += f"{point}: {state}" + (f" (+{left} stale temp dir)" if left else "") + "; "
        rows.append(r)

        r = Row("files", "names from the file cannot escape (manifest '../x', absolute, nested, hidden; "
                "embedder path option; cache path)")
        for i, name in enumerate(["../outside.json", "/etc/hostname", "sub/config.json", ".hidden", "..",
                                  "./config.json", "../../../../etc/passwd"]):
            d = work / f"escape{i}"
            d.mkdir()
            target = tf.fresh_copy(saved, d)
            (d / "outside.json").write_text("{}")
            digest = tf._sha256(d / "outside.json")
            tf.edit_manifest(target, lambda m: m["files"].update({name: digest}))
            good, why = raises_with(lambda: gr.load(target), gr.RouterFileError, ("not a plain file name",))
            r.ok(good, f"{name}: {why}")
        d = work / "escape-embedder"
        d.mkdir()
        target = tf.fresh_copy(saved, d)
        tf.edit_config(target, lambda c: c["params"].update(embedder=f"minilm-static:path={work}"))
        good, why = raises_with(lambda: gr.load(target), gr.RouterFileError, ("non-numeric options",))
        r.ok(good, f"embedder path: {why}")
        d = work / "escape-cache"
        d.mkdir()
        target = tf.fresh_copy(saved, d)
        tf.edit_config(target, lambda c: c["params"].update(cache_dir=str(work / "elsewhere")))
        r.ok(gr.load(target).cache_dir is None, "cache path from the file was used")
        rows.append(r)

        r = Row("files", "no pickle: package source scanned, saved + shipped routers hold JSON/safetensors only, "
                "load with pickle disabled")
        n_src = len(list(tf.PACKAGE.rglob("*.py")))
        for check in (tf.test_no_pickle_anywhere_in_the_package_source,
                      lambda: tf.test_saved_and_shipped_routers_hold_json_and_safetensors_only(saved)):
            try:
                check()
                r.ok(True, "")
            except AssertionError as exc:
                r.ok(False, str(exc)[:300])
        with pytest.MonkeyPatch.context() as mp:
            try:
                tf.test_load_works_with_unpickling_disabled(saved, router, mp)
                r.ok(True, "")
            except AssertionError as exc:
                r.ok(False, str(exc)[:300])
        r.notes = f"{n_src} source files scanned"
        rows.append(r)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------------------ threads
def threads(rows: list[Row], n_threads: int, n_calls: int, rounds: int, each_side: int) -> None:
    th = test_module("test_threads")
    router = th.make_router()
    r = Row("threads", f"{n_threads} threads × {n_calls:,} calls of select / select_many (1 in 10 a batch of 5) "
            "= one thread's answers, exactly")
    t0 = time.perf_counter()
    try:
        n = th.check_many_threads_match_one(router, n_threads, n_calls)
        r.tried = r.held = n
    except AssertionError as exc:
        r.tried, r.failures = n_threads * n_calls, [str(exc)[:300]]
    r.notes = f"{time.perf_counter() - t0:.0f} s wall"
    rows.append(r)

    for name, change in th.CHANGES.items():
        r = Row("threads", f"{name} while {n_threads} threads select: every answer = before or after, never a mix")
        before = after = 0
        for _ in range(rounds):
            try:
                tally = th.check_no_torn_state(router, change, n_threads, each_side)
                before, after = before + tally["before"], after + tally["after"]
                r.ok(True, "")
            except AssertionError as exc:
                r.ok(False, str(exc)[:300])
        r.notes = f"{rounds} rounds; {before:,} answers from the old state, {after:,} from the new"
        rows.append(r)


# ------------------------------------------------------------------------------ report
def report(rows: list[Row], args: argparse.Namespace, seconds: float) -> str:
    import torch

    import graphroute as gr

    lines = [
        "| area | what was tried | tried | held | notes |",
        "| --- | --- | ---: | ---: | --- |",
    ]
    for r in rows:
        lines.append(f"| {r.area} | {r.what} | {r.tried:,} | {r.held:,} | {r.notes} |")
    total_t, total_h = sum(r.tried for r in rows), sum(r.held for r in rows)
    lines.append(f"| **all** | | **{total_t:,}** | **{total_h:,}** | |")
    head = (f"graphroute {gr.__version__}, torch {torch.__version__}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs; {seconds:.0f} s. "
            f"Arguments: threads={args.threads} calls={args.calls} examples={args.examples} fuzz={args.fuzz} "
            f"rounds={args.rounds} each_side={args.each_side}.")
    fails = [f"- {r.what}: {f}" for r in rows for f in r.failures]
    tail = ["", "**Everything held.**"] if not fails else ["", "**Did not hold:**", *fails]
    return "\n".join([head, "", *lines, *tail])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--calls", type=int, default=2000, help="calls per thread")
    p.add_argument("--examples", type=int, default=2000, help="hypothesis examples per property")
    p.add_argument("--fuzz", type=int, default=1000, help="random byte-damage trials")
    p.add_argument("--rounds", type=int, default=5, help="rounds of each change while threads select")
    p.add_argument("--each-side", type=int, default=40, help="calls per thread before and after each change")
    p.add_argument("--quick", action="store_true", help="small sizes everywhere (about a minute)")
    args = p.parse_args(argv)
    if args.quick:
        args.calls, args.examples, args.fuzz, args.rounds, args.each_side = 100, 100, 60, 1, 8
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    rows: list[Row] = []
    bad_inputs(rows, args.examples)
    files(rows, args.fuzz)
    threads(rows, args.threads, args.calls, args.rounds, args.each_side)
    print(report(rows, args, time.perf_counter() - t0))
    return 0 if all(not r.failures and r.tried == r.held for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
