"""Feedback survives `kill -9`: 1,000 posts, then the whole server (supervisor, learner, worker) is killed in
the middle of a second burst; after a restart every acknowledged outcome is in the store and, exactly once,
in the router's graph, and the predictions for the fed-back pairs moved toward what was fed back."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import numpy as np
import pytest

import graphroute as gr

pytest.importorskip("fastapi")
httpx = pytest.importorskip("httpx")

from graphroute.serve.testing import start_server  # noqa: E402

KEY = "crash-test-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}


async def _post_feedback(url: str, items: list[tuple[str, float]], kill_after: int | None, srv) -> list[tuple]:
    """POST each (decision_id, effect), 32 at a time; the (outcome_id, decision_id, effect) acknowledged (201).
    With ``kill_after``, the server is killed with SIGKILL once that many were acknowledged."""
    acked: list[tuple] = []
    sem = asyncio.Semaphore(32)
    killed = asyncio.Event()
    loop = asyncio.get_running_loop()

    async with httpx.AsyncClient(base_url=url, headers=AUTH, timeout=10,
                                 limits=httpx.Limits(max_connections=32)) as client:
        async def one(did: str, effect: float) -> None:
            async with sem:
                if killed.is_set():
                    return
                try:
                    r = await client.post("/v1/feedback", json={"decision_id": did, "effect": effect})
                except httpx.HTTPError:
                    return  # in flight when the server died: not acknowledged
                if r.status_code == 201:
                    acked.append((r.json()["outcome_id"], did, effect))
                    if kill_after is not None and len(acked) == kill_after and not killed.is_set():
                        killed.set()
                        await loop.run_in_executor(None, srv.kill9)

        await asyncio.gather(*(one(d, e) for d, e in items))
    return acked


def _wait_watermark(srv, target: int, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = httpx.get(srv.url + "/health").json()
        if h["outcome_watermark"] >= target:
            return h
        time.sleep(0.2)
    raise AssertionError(f"the learner did not publish outcome {target} within {timeout} s: {h}")


def test_acknowledged_feedback_survives_kill_9_exactly_once(tmp_path):
    data = gr.make_synthetic(n_queries=60, n_models=3, seed=0)
    gr.Router(embedder="minilm-static", epochs=20, seed=0).fit(data.logs, models=data.models).save(tmp_path / "r")
    base = gr.load(tmp_path / "r")
    vocab = sorted({w for q in data.logs["query"] for w in q.split()})
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(vocab, 9)) + f" probe{i}" for i in range(2000)]  # unique, in-domain
    args = ["--router", str(tmp_path / "r"), "--db", str(tmp_path / "o.sqlite"), "--publish-every", "500",
            "--publish-interval", "0.5", "--publish-min-gap", "0.3", "--poll", "0.1"]
    srv = start_server(args, tmp_path / "server.log", env={"GRAPHROUTE_API_KEY": KEY})
    try:
        chosen = []
        for s in range(0, len(texts), 250):
            r = httpx.post(srv.url + "/v1/route:batch", json={"queries": texts[s:s + 250]}, timeout=60)
            chosen += [(x["decision_id"], x["model"]) for x in r.json()["results"]]
        pred = base.predict(texts).set_index(["query_index", "model"])["effect"]
        before = np.array([pred[(i, m)] for i, (_, m) in enumerate(chosen)])
        target = np.where(before < 0.5, 1.0, 0.0)  # feed back the opposite of the prediction: it must move
        items = [(d, float(t)) for (d, _), t in zip(chosen, target)]
        t0 = time.perf_counter()
        acked1 = asyncio.run(_post_feedback(srv.url, items[:1000], None, srv))
        rate = 1000 / (time.perf_counter() - t0)
        assert len(acked1) == 1000, f"only {len(acked1)} of the first burst were acknowledged"
        acked2 = asyncio.run(_post_feedback(srv.url, items[1000:], 300, srv))
        assert srv.proc.poll() is not None  # it was killed mid-burst
        assert 300 <= len(acked2) < 1000, len(acked2)
    finally:
        srv.stop()

    srv = start_server(args, tmp_path / "server2.log", env={"GRAPHROUTE_API_KEY": KEY})
    try:
        con = sqlite3.connect(tmp_path / "o.sqlite")
        rows = con.execute("SELECT id, decision_id, effect FROM outcomes ORDER BY id").fetchall()
        con.close()
        stored = {i: (d, e) for i, d, e in rows}
        acked = acked1 + acked2
        missing = [a for a in acked if stored.get(a[0]) != (a[1], a[2])]
        assert not missing, f"{len(missing)} acknowledged outcomes are not in the store, e.g. {missing[:3]}"
        assert len({d for _, d, _ in rows}) == len(rows)  # no outcome stored twice
        h = _wait_watermark(srv, rows[-1][0])
        pointer = json.loads((tmp_path / "o.sqlite.snapshots" / "CURRENT").read_text())
        assert pointer["outcome_watermark"] == h["outcome_watermark"] == rows[-1][0]
    finally:
        srv.stop()

    final = gr.load(tmp_path / "o.sqlite.snapshots" / pointer["path"])
    index = {d: i for i, (d, _) in enumerate(chosen)}
    fed = [(index[d], e) for _, d, e in rows]
    for i, e in fed:  # in the graph exactly once: one outcome edge for (query, model), with the value fed back
        ev = final.select(texts[i], evidence=2).evidence
        mine = ev[(ev["query"] == texts[i]) & (ev["model"] == chosen[i][1])]
        assert len(mine) == 1 and mine["effect"].iloc[0] == e, (texts[i], mine)
    after_pred = final.predict(texts).set_index(["query_index", "model"])["effect"]
    moved = [(after_pred[(i, chosen[i][1])] - before[i]) * (1 if e == 1.0 else -1) for i, e in fed]
    assert np.mean(np.array(moved) > 0) == 1.0, f"{np.mean(np.array(moved) > 0):.3f} of the predictions moved"
    print(f"feedback ingestion: {rate:.0f} outcomes/s over HTTP (32 concurrent posts, durability=full); "
          f"{len(acked2)} acknowledged before the kill, {len(rows)} stored")


def test_serve_refuses_a_db_started_from_another_router(tmp_path):
    """`graphroute serve --db D --router B` where D's snapshots grew from router A exits at once and says
    so, instead of serving A's snapshots under B's name."""
    import os
    import subprocess

    from graphroute.serve.snapshots import SnapshotDir, router_digest
    from graphroute.serve.testing import _console_script

    data = gr.make_synthetic(n_queries=30, n_models=2, seed=0)
    a = gr.Router(embedder="hash", epochs=2, seed=0).fit(data.logs).save(tmp_path / "a")
    b = gr.Router(embedder="hash", epochs=2, seed=1).fit(data.logs).save(tmp_path / "b")
    SnapshotDir(tmp_path / "o.sqlite.snapshots").publish(gr.load(a), 0, 0, base=router_digest(a))
    proc = subprocess.run([_console_script(), "serve", "--router", str(b), "--db", str(tmp_path / "o.sqlite"),
                           "--insecure", "--port", "0"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode != 0
    assert "started from another router" in proc.stderr and "--router they were started with" in proc.stderr
