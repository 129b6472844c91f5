"""Load benchmark of `graphroute serve` on loopback (issue 15): bounded in time and count.

Measures, against real server processes on 127.0.0.1:
  1. POST /v1/route throughput and latency over 1, 8, 32, 128 concurrent clients, for a router with the
     static embedder (minilm-static, fitted on synthetic logs with 11 models) and for the shipped default
     router (MiniLM, RouterBench, 11 models); every request carries a query never sent before, so
     MiniLM's embedding cache never answers;
  2. feedback ingestion into SQLite (durability=full): single posts at 32 clients, and :batch posts;
  3. the proxy's overhead: p50 of a chat completion through /v1/chat/completions minus p50 of the same
     call straight to the local fake upstream, one client.

The load generator is a small asyncio HTTP/1.1 keep-alive client (pre-encoded requests, Content-Length
responses only), so that on a 2-core machine it takes as little CPU from the server as it can; it is
the benchmark's client, not part of the service. Results go to benchmarks/serve_results.md.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/serve_load.py         # the committed figures
    OMP_NUM_THREADS=1 python benchmarks/serve_load.py --duration 3 --long 5 --out /tmp/r.md   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import graphroute as gr
from graphroute.serve.testing import start_fake_upstream, start_server

KEY = "bench-key-0123456789abcdef"
CLIENTS = (1, 8, 32, 128)


# ---------------------------------------------------------------- the load generator
class Conn:
    """One keep-alive HTTP/1.1 connection."""

    def __init__(self, reader, writer) -> None:
        self.r, self.w = reader, writer

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def post(self, path: str, body: bytes, headers: str = "") -> tuple[int, bytes]:
        self.w.write(f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n{headers}"
                     f"content-length: {len(body)}\r\n\r\n".encode() + body)
        head = await self.r.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.r.readexactly(length)

    def close(self) -> None:
        self.w.close()


async def _drive(port: int, path: str, bodies, clients: int, duration: float, max_requests: int,
                 headers: str = "") -> dict:
    """``clients`` connections posting back to back for ``duration`` s (or ``max_requests`` in all)."""
    conns = [await Conn.open(port) for _ in range(clients)]
    lat: list[float] = []
    errors = [0]
    sent = [0]
    end = time.perf_counter() + duration

    async def one(c: Conn) -> None:
        while time.perf_counter() < end and sent[0] < max_requests:
            body = bodies(sent[0])
            sent[0] += 1
            t = time.perf_counter()
            try:
                status, _ = await asyncio.wait_for(c.post(path, body, headers), 30)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                errors[0] += 1
                return
            lat.append(time.perf_counter() - t)
            if status >= 300:
                errors[0] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(one(c) for c in conns))
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    a = np.array(lat) * 1000
    return {"clients": clients, "requests": len(lat), "seconds": round(wall, 2), "rps": len(lat) / wall,
            "p50_ms": float(np.percentile(a, 50)) if len(a) else None,
            "p99_ms": float(np.percentile(a, 99)) if len(a) else None, "errors": errors[0],
            "load": os.getloadavg()[0]}


def drive(*args, **kw) -> dict:
    return asyncio.run(_drive(*args, **kw))


# ---------------------------------------------------------------- the routers and queries
def _vocab(router) -> list[str]:
    texts = router.select("warm up", evidence=20).evidence["query"].tolist() + ["what", "which", "the", "is"]
    return sorted({w for t in texts for w in t.split() if w.isalpha()})


def queries_for(router, n: int, seed: int) -> list[bytes]:
    """``n`` distinct route bodies built from words of the router's own logged queries."""
    vocab = _vocab(router)
    rng = np.random.default_rng(seed)
    return [json.dumps({"query": " ".join(rng.choice(vocab, 12)) + f" ({seed}-{i})"}).encode() for i in range(n)]


def static_router(path: Path) -> Path:
    data = gr.make_synthetic(n_queries=1500, n_models=11, n_tasks=3, seed=0)
    gr.Router(embedder="minilm-static", epochs=30, seed=0).fit(data.logs, models=data.models).save(path)
    return path


# ---------------------------------------------------------------- the measurements
def route_curve(name: str, router_dir: Path | None, tmp: Path, args) -> list[dict]:
    router = gr.load(router_dir) if router_dir else gr.default_router()
    srv_args = ["--db", str(tmp / f"{name}.sqlite"), "--workers", str(args.workers), "--log-level", "error"]
    if router_dir:
        srv_args += ["--router", str(router_dir)]
    srv = start_server(srv_args, tmp / f"{name}.log", env={"GRAPHROUTE_API_KEY": KEY}, timeout=300)
    rows = []
    try:
        warm = queries_for(router, 200, seed=99)
        drive(srv.port, "/v1/route", lambda i: warm[i % len(warm)], 8, 3.0, 200)  # load, JIT, first batches
        for k, clients in enumerate(CLIENTS):
            duration = args.long if clients == 32 else args.duration
            bodies = queries_for(router, args.max_requests, seed=k)
            res = drive(srv.port, "/v1/route", lambda i, b=bodies: b[i % len(b)], clients, duration,
                        args.max_requests)
            res["router"] = name
            rows.append(res)
            print(json.dumps(res), flush=True)
    finally:
        srv.stop()
    return rows


def feedback_rate(tmp: Path, router_dir: Path, args) -> list[dict]:
    srv = start_server(["--router", str(router_dir), "--db", str(tmp / "fb.sqlite"), "--log-level", "error"],
                       tmp / "fb.log", env={"GRAPHROUTE_API_KEY": KEY}, timeout=300)
    auth = f"authorization: Bearer {KEY}\r\n"
    out = []
    try:
        import httpx

        qs = [f"feedback probe {i} about rivers" for i in range(250)]
        ids = [r["decision_id"] for r in httpx.post(srv.url + "/v1/route:batch", json={"queries": qs},
                                                    timeout=120).json()["results"]]
        for clients in (32, 128):  # closed-loop clients: a commit's group is about half of them (see docs)
            single = drive(srv.port, "/v1/feedback",
                           lambda i: json.dumps({"decision_id": ids[i % len(ids)], "effect": 1.0}).encode(), clients,
                           args.duration, 50_000, headers=auth)
            single.update(kind=f"single posts, {clients} clients", outcomes_per_s=single["rps"])
            out.append(single)
        batch_body = json.dumps({"outcomes": [{"decision_id": d, "effect": 0.5} for d in ids] * 2}).encode()
        batch = drive(srv.port, "/v1/feedback:batch", lambda i: batch_body, 4, args.duration, 2000, headers=auth)
        batch.update(kind="batches of 500, 4 clients", outcomes_per_s=batch["rps"] * 500)
        out.append(batch)
        for r in out:
            print(json.dumps(r), flush=True)
    finally:
        srv.stop()
    return out


def proxy_overhead(tmp: Path, router_dir: Path, args) -> dict:
    up = start_fake_upstream(tmp / "up.log")
    names = gr.load(router_dir).candidates_["model"].unique()
    (tmp / "up.toml").write_text("".join(f'[upstreams."{m}"]\nbase_url = "{up.url}/ok/v1"\n\n' for m in names))
    srv = start_server(["--router", str(router_dir), "--db", str(tmp / "px.sqlite"), "--upstreams",
                        str(tmp / "up.toml"), "--log-level", "error"], tmp / "px.log",
                       env={"GRAPHROUTE_API_KEY": KEY}, timeout=300)
    try:
        def body(model):
            return lambda i: json.dumps({"model": model, "messages": [
                {"role": "user", "content": f"what is the capital of country number {i}?"}]}).encode()

        n = args.proxy_requests
        res = {}
        for _ in range(2):  # the second round is the one reported (both warm)
            res["direct"] = drive(up.port, "/ok/v1/chat/completions", body(names[0]), 1, 60, n)
            res["explicit"] = drive(srv.port, "/v1/chat/completions", body(names[0]), 1, 60, n)
            res["routed"] = drive(srv.port, "/v1/chat/completions", body("graphroute"), 1, 60, n)
        out = {k: v for k, v in res.items()}
        out["overhead_routed_p50_ms"] = res["routed"]["p50_ms"] - res["direct"]["p50_ms"]
        out["overhead_explicit_p50_ms"] = res["explicit"]["p50_ms"] - res["direct"]["p50_ms"]
        print(json.dumps(out), flush=True)
        return out
    finally:
        srv.stop()
        up.stop()


# ---------------------------------------------------------------- the report
def _fmt(v, nd=1) -> str:
    return "–" if v is None else f"{v:,.{nd}f}"


def report(curves: list[dict], fb: list[dict], px: dict, args, started: float) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# `graphroute serve` load benchmark", "",
        f"`OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')} nice -n {os.nice(0)} "
        f"{' '.join(['python', 'benchmarks/serve_load.py'] + sys.argv[1:])}` at commit {commit}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))}; {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
        f"`--workers {args.workers}`, loopback only. The load generator runs on the same cores as the server. "
        "The `load` column is the 1-minute load average when the point ended: this machine is shared with other "
        "engineers' builds and tests, so a load above 2 means the server had less than the 2 cores.", "",
        "## POST /v1/route", "",
        "| router | clients | requests | s | req/s | p50 ms | p99 ms | errors | load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in curves:
        lines.append(f"| {r['router']} | {r['clients']} | {r['requests']:,} | {r['seconds']} | {_fmt(r['rps'], 0)} | "
                     f"{_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} | {r['errors']} | {r['load']:.1f} |")
    lines += ["", "## Feedback ingestion (SQLite WAL, durability=full: every commit fsynced)", "",
              "| how | requests | s | outcomes/s | p50 ms | p99 ms | errors | load |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in fb:
        lines.append(f"| {r['kind']} | {r['requests']:,} | {r['seconds']} | {_fmt(r['outcomes_per_s'], 0)} | "
                     f"{_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} | {r['errors']} | {r['load']:.1f} |")
    lines += ["", "## Proxy overhead (non-streaming chat completion, one client, local fake upstream)", "",
              "| path | requests | p50 ms | p99 ms | errors |", "| --- | ---: | ---: | ---: | ---: |"]
    for k, label in (("direct", "straight to the upstream"), ("explicit", "through the proxy, explicit model"),
                     ("routed", "through the proxy, model=graphroute (routed)")):
        r = px[k]
        lines.append(f"| {label} | {r['requests']} | {_fmt(r['p50_ms'], 2)} | {_fmt(r['p99_ms'], 2)} | {r['errors']} |")
    lines += ["", f"Overhead at p50: routed {px['overhead_routed_p50_ms']:.2f} ms, explicit "
              f"{px['overhead_explicit_p50_ms']:.2f} ms.", ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--duration", type=float, default=15.0, help="seconds per point (1, 8, 128 clients)")
    p.add_argument("--long", type=float, default=60.0, help="seconds of the 32-client point")
    p.add_argument("--max-requests", type=int, default=200_000, help="cap on requests per point")
    p.add_argument("--proxy-requests", type=int, default=300)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--skip-minilm", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).with_name("serve_results.md")))
    args = p.parse_args()
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="graphroute-serve-bench-") as t:
        tmp = Path(t)
        static = static_router(tmp / "static")
        curves = route_curve("minilm-static (synthetic, 11 models)", static, tmp, args)
        if not args.skip_minilm:
            curves += route_curve("minilm (default router, 11 models)", None, tmp, args)
        fb = feedback_rate(tmp, static, args)
        px = proxy_overhead(tmp, static, args)
    Path(args.out).write_text(report(curves, fb, px, args, started))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
