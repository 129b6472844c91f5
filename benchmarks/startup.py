"""Whole-process start-up cost of the README's commands (issue 13), as a user meets it.

Each command runs as a fresh process ``--repeat`` times (default 5); the median wall time and the
peak RSS of the process are reported beside ``python -c pass`` on the same machine in the same run,
so the figures read as ratios on a noisy machine. Writes benchmarks/startup_results.md.

    python benchmarks/startup.py [--repeat 5] [--out benchmarks/startup_results.md]

Commands: ``graphroute --help``; ``graphroute select "<new query>"`` cold (the shipped default
router, MiniLM; a fresh embedding cache each run except for the ONNX graph, which a first run
builds once); and a Python serving process: ``import graphroute as gr; gr.default_router().select(q)``,
which also reports whether torch was imported.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVE = ("import sys, graphroute as gr; r = gr.default_router(); r.select(sys.argv[1]); "
         "print('torch imported' if 'torch' in sys.modules else 'torch not imported')")


def _exe(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"{name!r} is not on PATH; install the package first (pip install -e '.[test]')")
    return found


def _rss(cmd: list[str], env: dict[str, str]) -> float:
    """Peak RSS (MB) of one run, measured alone through /usr/bin/time-free wait4 accounting."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed")
    return usage.ru_maxrss / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="fresh processes per command (default 5; the median is kept)")
    ap.add_argument("--out", default=str(HERE / "startup_results.md"), help="markdown report to write")
    args = ap.parse_args()
    gr_cli = _exe("graphroute")
    base_env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    onnx_cache = Path(tempfile.mkdtemp(prefix="gr-startup-"))
    warm_env = {**base_env, "GRAPHROUTE_CACHE": str(onnx_cache)}
    subprocess.run([gr_cli, "select", "warm-up query " + uuid.uuid4().hex], env=warm_env, capture_output=True)

    def fresh_cache_env() -> dict[str, str]:
        d = Path(tempfile.mkdtemp(prefix="gr-startup-q-"))
        for f in onnx_cache.iterdir():  # keep built model files (e.g. the ONNX graph), drop cached embeddings
            if f.is_file() and not f.name.startswith("embeddings"):
                shutil.copy(f, d / f.name)
            elif f.is_dir():
                shutil.copytree(f, d / f.name)
        return {**base_env, "GRAPHROUTE_CACHE": str(d)}

    rows = []
    commands = [
        ("python -c pass", lambda: [sys.executable, "-c", "pass"]),
        ("graphroute --help", lambda: [gr_cli, "--help"]),
        ('graphroute select "<new query>" (cold)', lambda: [gr_cli, "select", f"What is {uuid.uuid4().hex}?"]),
        ("python: gr.default_router().select(q) (cold)", lambda: [sys.executable, "-c", SERVE,
                                                                   f"Name a {uuid.uuid4().hex}"]),
    ]
    notes = {}
    for label, make in commands:
        walls, rss = [], []
        for _ in range(args.repeat):
            env = fresh_cache_env()
            cmd = make()
            t0 = time.perf_counter()
            out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
            walls.append(time.perf_counter() - t0)
            if out.returncode != 0:
                raise SystemExit(f"{label} failed: {out.stderr[-2000:]}")
            if "torch" in out.stdout:
                notes[label] = out.stdout.strip().splitlines()[-1]
            rss.append(_rss(make(), fresh_cache_env()))
        rows.append((label, statistics.median(walls), min(walls), max(walls), statistics.median(rss)))
        print(f"{label}: median {rows[-1][1]:.3f} s, RSS {rows[-1][4]:.0f} MB", flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    lines = [f"# Start-up cost (median of {args.repeat} fresh processes)", "",
             f"Command: `python benchmarks/startup.py --repeat {args.repeat}` at commit {commit}, "
             f"{os.cpu_count()} CPUs, OMP_NUM_THREADS=1; an empty embedding cache per run (the ONNX graph, where the "
             "embedder caches one, built once beforehand).", "",
             "| command | median s | min s | max s | × `python -c pass` | peak RSS MB |", "| --- | --- | --- | --- | --- | --- |"]
    base = rows[0][1]
    for label, med, lo, hi, mb in rows:
        lines.append(f"| {label} | {med:.3f} | {lo:.3f} | {hi:.3f} | {med / base:.1f} | {mb:.0f} |")
    for label, note in notes.items():
        lines += ["", f"{label}: {note}."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
