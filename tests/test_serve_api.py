"""`graphroute serve` as a real process on 127.0.0.1: routing, feedback, decisions, bad input, admin, the
OpenAI-compatible proxy (driven by the `openai` client) against a local fake upstream, upstream faults."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

import graphroute as gr

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

from graphroute.serve.testing import free_port, start_fake_upstream, start_server  # noqa: E402

KEY = "test-write-key-0123456789"
READ = "test-read-key-0123456789"
AUTH = {"authorization": f"Bearer {KEY}"}
NOKEY = {"authorization": ""}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("serve")
    data = gr.make_synthetic(n_queries=60, n_models=3, seed=0)
    gr.Router(embedder="minilm-static", epochs=20, seed=0).fit(data.logs, models=data.models).save(tmp / "router")
    up = start_fake_upstream(tmp / "upstream.log")
    dead = free_port()  # nothing listens here: connection refused
    tables = {f"model_{i}": (f"{up.url}/switch/model_{i}/v1", f"up-model_{i}", 10) for i in range(3)}
    tables.update({"err-model": (f"{up.url}/error/v1", "e", 5), "slow-model": (f"{up.url}/slow/v1", "s", 1),
                   "trunc-model": (f"{up.url}/truncate/v1", "t", 5),
                   "refused-model": (f"http://127.0.0.1:{dead}/v1", "r", 2)})
    (tmp / "upstreams.toml").write_text("".join(
        f'[upstreams."{n}"]\nbase_url = "{u}"\nmodel = "{m}"\ntimeout_s = {t}\nprice_in = 1.0\nprice_out = 2.0\n\n'
        for n, (u, m, t) in tables.items()))
    (tmp / "read").write_text(f"{READ}\n")
    srv = start_server(["--router", str(tmp / "router"), "--db", str(tmp / "o.sqlite"), "--upstreams",
                        str(tmp / "upstreams.toml"), "--max-query-chars", "5000", "--publish-interval", "0.3",
                        "--publish-min-gap", "0.2",
                        "--poll", "0.1", "--workers", "2", "--read-keys", str(tmp / "read")],
                       tmp / "server.log", env={"GRAPHROUTE_API_KEY": KEY})
    # one keep-alive connection: its requests go to one worker, which sees its own admin changes at once
    client = httpx.Client(base_url=srv.url, timeout=30, headers={"authorization": f"Bearer {READ}"})
    yield {"srv": srv, "client": client, "tmp": tmp, "queries": list(data.logs["query"].unique()), "up": up}
    client.close()
    srv.stop()
    up.stop()


def _outcomes(env) -> int:
    con = sqlite3.connect(env["tmp"] / "o.sqlite")
    try:
        return con.execute("SELECT COUNT(*) FROM outcomes").fetchone()[0]
    finally:
        con.close()


def _wait_folded(client, outcome_id: int, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        h = client.get("/health").json()
        if h["outcome_watermark"] >= outcome_id:
            return h
        time.sleep(0.1)
    raise AssertionError(f"outcome {outcome_id} was not published within {timeout} s: {h}")


# ---------------------------------------------------------------- routing and feedback
def test_route_returns_the_selection_and_a_decision(env):
    c = env["client"]
    r = c.post("/v1/route", json={"query": env["queries"][0], "weights": {"effect": 1, "cost": 0.5}})
    assert r.status_code == 200, r.text
    sel = r.json()
    assert sel["decision_id"].startswith("dec_") and len(sel["decision_id"]) > 30
    alts = sel["alternatives"]
    assert len(alts) == 3 and (alts[0]["model"], alts[0]["agent"]) == (sel["model"], sel["agent"])
    assert [a["score"] for a in alts] == sorted((a["score"] for a in alts), reverse=True)
    d = c.get(f"/v1/decisions/{sel['decision_id']}").json()
    assert (d["model"], d["query"], d["outcomes"]) == (sel["model"], env["queries"][0], [])
    assert d["predicted"]["effect"] == pytest.approx(sel["effect"])
    ev = c.post("/v1/route", json={"query": env["queries"][0], "evidence": 2}).json()
    assert ev["model"] == sel["model"] and ev["evidence"] and ev["evidence"][0]["query"] == env["queries"][0]


def test_batch_agrees_with_single_routes(env):
    c = env["client"]
    qs = env["queries"][:8]
    res = c.post("/v1/route:batch", json={"queries": qs, "weights": {"effect": 1, "cost": 2}}).json()["results"]
    assert len(res) == 8 and len({r["decision_id"] for r in res}) == 8
    for q, r in zip(qs, res):
        one = c.post("/v1/route", json={"query": q, "weights": {"effect": 1, "cost": 2}}).json()
        assert (one["model"], one["agent"]) == (r["model"], r["agent"])


def test_feedback_is_stored_then_folded_into_the_router(env):
    c = env["client"]
    q = "a fresh question about rivers and lakes that nobody asked"
    sel = c.post("/v1/route", json={"query": q}).json()
    r = c.post("/v1/feedback", json={"decision_id": sel["decision_id"], "effect": 1.0, "latency_s": 0.5}, headers=AUTH)
    assert r.status_code == 201, r.text
    oid = r.json()["outcome_id"]
    d = c.get(f"/v1/decisions/{sel['decision_id']}").json()
    assert [(o["outcome_id"], o["effect"]) for o in d["outcomes"]] == [(oid, 1.0)]
    assert d["outcomes"][0]["cost"] == pytest.approx(sel["cost"])  # the predicted cost when none is given
    _wait_folded(c, oid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the worker swaps in the new snapshot within a poll
        ev = c.post("/v1/route", json={"query": q, "evidence": 1}).json()["evidence"]
        if ev and ev[0]["query"] == q:
            break
        time.sleep(0.1)
    assert ev[0]["query"] == q and ev[0]["model"] == sel["model"] and ev[0]["effect"] == 1.0
    direct = c.post("/v1/feedback:batch", headers=AUTH, json={"outcomes": [
        {"query": "my own run", "model": "model_2", "effect": 0.25, "cost": 0.01}]})
    assert direct.status_code == 201 and len(direct.json()["outcome_ids"]) == 1


# ---------------------------------------------------------------- bad input: a clear 4xx each, nothing lost
BAD = [
    ("post", "/v1/route", b'{"query": "x",', {}, 422, ["not valid JSON", "Content-Type: application/json"]),
    ("post", "/v1/route", {"query": 5}, {}, 422, ["'query'", "5", "valid string"]),
    ("post", "/v1/route", {"query": "x", "weigths": {"effect": 1}}, {}, 422, ["'weigths'", "not a field", "spelling"]),
    ("post", "/v1/route", {"query": "x", "allowed_models": ["gpt-9"]}, {}, 422, ["gpt-9", "the router knows",
                                                                                 "model_0"]),
    ("post", "/v1/route", {"query": "x", "budget": 1e-9}, {}, 409, ["budget=1e-09", "cheapest predicted",
                                                                    "Relax a constraint"]),
    ("post", "/v1/route", {"query": "x" * 6000}, {}, 422, ["6000 characters", "limit is 5000", "shorter"]),
    ("post", "/v1/route", {"query": "x", "weights": {"effect": -1}}, {}, 422, ["effect", "-1", ">= 0"]),
    ("post", "/v1/route", {"query": "x", "task": "no_such_task"}, {}, 422, ["no_such_task", "task_0", "tasks=None"]),
    ("post", "/v1/route", {"query": "   "}, {}, 422, ["empty or whitespace", "non-empty query"]),
    ("post", "/v1/route", {"query": "x" * 2_000_000}, {}, 413, ["limit is 1000000 bytes", "split a batch"]),
    ("post", "/v1/feedback", {"decision_id": "dec_x", "effect": 1.7}, AUTH, 422, ["'effect'", "1.7",
                                                                                  "less than or equal to 1"]),
    ("post", "/v1/feedback", {"decision_id": "dec_nope", "effect": 0.5}, AUTH, 404, ["dec_nope", "decision_id",
                                                                                     "/v1/route"]),
    ("post", "/v1/feedback", {"query": "q", "model": "gpt-9", "effect": 0.5, "cost": 0.1}, AUTH, 422,
     ["gpt-9", "not one the router knows", "/v1/admin/models"]),
    ("post", "/v1/feedback", {"query": "q", "model": "model_0", "effect": 0.5}, AUTH, 422, ["cost is required"]),
    ("post", "/v1/feedback", {"decision_id": "dec_x", "effect": 0.5}, NOKEY, 401, ["Authorization: Bearer"]),
    ("post", "/v1/feedback", {"decision_id": "dec_x", "effect": 0.5}, {}, 403, ["not valid"]),  # a read key
    ("post", "/v1/route", {"query": "x"}, NOKEY, 401, ["Authorization: Bearer", "read key"]),
    ("post", "/v1/feedback", {"decision_id": "dec_x", "effect": 0.5}, {"authorization": "Bearer wrong-key-123456789"},
     403, ["not valid"]),
    ("get", "/v1/decisions/dec_unknown", None, {}, 404, ["dec_unknown", "/v1/route"]),
    ("post", "/v1/admin/models", {"name": "m"}, NOKEY, 401, ["Authorization: Bearer"]),
    ("post", "/v1/admin/models", {"name": "model_0"}, AUTH, 409, ["already has", "model_0"]),
    ("post", "/v1/chat/completions", {"model": "graphroute:nope", "messages": [{"role": "user", "content": "hi"}]},
     {}, 422, ["nope", "graphroute:cost-first"]),
    ("post", "/v1/chat/completions", {"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}, {}, 404,
     ["gpt-9", "model_0"]),
    ("post", "/v1/chat/completions", {"model": "graphroute", "messages": []}, {}, 422, ["'messages'", "at least 1"]),
]


@pytest.mark.parametrize("method, path, body, headers, status, words", BAD,
                         ids=[f"{b[1]}-{b[4]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input_is_a_clear_4xx(env, method, path, body, headers, status, words):
    c = env["client"]
    before = _outcomes(env)
    kw = {"content": body, "headers": {**headers, "content-type": "application/json"}} if isinstance(body, bytes) \
        else {"json": body, "headers": headers} if body is not None else {"headers": headers}
    r = getattr(c, method)(path, **kw) if method == "get" else c.request(method.upper(), path, **kw)
    assert r.status_code == status, r.text
    msg = r.json()["error"]["message"]
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    assert KEY not in r.text and READ not in r.text
    assert _outcomes(env) == before  # nothing stored by a refused request
    assert c.get("/health").json()["status"] == "ok"  # the server stays up


def test_bad_requests_lose_nothing(env):
    c = env["client"]
    assert c.post("/v1/route", json={"query": " ", "budget": 1.0}).status_code == 422
    assert c.post("/v1/route", json={"query": "fine", "budget": 1.0}).status_code == 200  # same objective, routes
    sel = c.post("/v1/route", json={"query": "after the storm"}).json()
    r = c.post("/v1/feedback", json={"decision_id": sel["decision_id"], "effect": 0.0}, headers=AUTH)
    assert r.status_code == 201
    assert c.get(f"/v1/decisions/{sel['decision_id']}").json()["outcomes"][0]["outcome_id"] == r.json()["outcome_id"]


def test_cors_is_off_by_default(env):
    r = env["client"].options("/v1/route", headers={"origin": "https://evil.example",
                                                    "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = env["client"].post("/v1/route", json={"query": "x"}, headers={"origin": "https://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_workers_route_without_torch_when_the_library_can(env):
    code = ("import sys, graphroute as gr; r = gr.load(sys.argv[1]); r.predict(['x']); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(env["tmp"] / "router")], capture_output=True, text=True,
                         timeout=120)
    assert out.stdout.strip() == "False", out.stderr[-2000:]  # the README: workers import no torch
    assert env["client"].get("/health").json()["torch_imported"] is False


# ---------------------------------------------------------------- models, metrics, admin
def test_models_and_metrics(env):
    c = env["client"]
    ids = {m["id"]: m for m in c.get("/v1/models").json()["data"]}
    assert {"graphroute", "graphroute:cost-first", "model_0", "model_1", "model_2"} <= set(ids)
    assert ids["model_0"]["proxied"] is True
    text = c.get("/metrics").text  # aggregated over both workers
    assert 'graphroute_requests_total{endpoint="/v1/route",status="200"}' in text
    assert "graphroute_chosen_total{" in text and "graphroute_feedback_lag_outcomes" in text
    assert "graphroute_request_seconds_bucket" in text


def test_admin_adds_and_removes_a_model_without_retraining(env):
    c = env["client"]
    gen = c.get("/health").json()["generation"]
    r = c.post("/v1/admin/models", headers=AUTH, json={"name": "new-model", "description": "a strong cheap model",
                                                       "price_in": 0.1, "price_out": 0.2})
    assert r.status_code == 201, r.text
    assert r.json()["generation"] > gen and "new-model" in r.json()["models"]
    sel = c.post("/v1/route", json={"query": env["queries"][1], "allowed_models": ["new-model"]}).json()
    assert sel["model"] == "new-model" and 0 <= sel["effect"] <= 1
    assert c.delete("/v1/admin/models/new-model", headers=AUTH).status_code == 200
    r = c.post("/v1/route", json={"query": env["queries"][1], "allowed_models": ["new-model"]})
    assert r.status_code == 422 and "new-model" in r.json()["error"]["message"]
    assert c.delete("/v1/admin/models/new-model", headers=AUTH).status_code == 404


def test_a_route_naming_a_model_accepted_a_moment_ago_waits_for_it(env):
    """A model op accepted by the store (as another worker does for POST /v1/admin/models) but not yet served
    by the worker a route reaches: the route catches up instead of answering 422 for an unknown model."""
    from graphroute.serve.store import Store

    store = Store(env["tmp"] / "o.sqlite")
    try:
        store.add_model_op("add", "late-model", {"description": "added behind the workers' backs", "price_in": 0.1})
    finally:
        store.close()
    try:
        r = env["client"].post("/v1/route", json={"query": env["queries"][3], "allowed_models": ["late-model"]})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == "late-model"
    finally:  # the module's server is shared: leave its models as they were
        assert env["client"].delete("/v1/admin/models/late-model", headers=AUTH).status_code == 200


def test_two_concurrent_adds_of_one_name_answer_once_added_once_conflict(env):
    """Both requests pass the worker's name check before either is applied; the learner applies the first
    and skips the second, and the second request says so (it answered 'added' before)."""
    from concurrent.futures import ThreadPoolExecutor

    def add(_):
        import httpx

        return httpx.post(env["srv"].url + "/v1/admin/models", headers=AUTH, timeout=90,
                          json={"name": "twin-model", "description": "one of two requests", "price_in": 1.0})

    with ThreadPoolExecutor(2) as pool:
        codes = sorted(r.status_code for r in pool.map(add, range(2)))
    assert codes == [201, 409]
    c = env["client"]
    assert c.delete("/v1/admin/models/twin-model", headers=AUTH).status_code == 200


# ---------------------------------------------------------------- the proxy, through the openai client
@pytest.fixture(scope="module")
def oai(env):
    return openai.OpenAI(base_url=env["srv"].url + "/v1", api_key=READ, max_retries=0, timeout=20)


def test_proxy_non_streaming_agrees_with_route(env, oai):
    q = env["queries"][2]
    raw = oai.chat.completions.with_raw_response.create(model="graphroute", messages=[
        {"role": "system", "content": "be brief"}, {"role": "user", "content": q}])
    done = raw.parse()
    h = raw.headers
    routed = env["client"].post("/v1/route", json={"query": q, "weights": {"effect": 1, "cost": 0.5}}).json()
    assert h["x-graphroute-model"] == routed["model"] and h["x-graphroute-agent"] == routed["agent"]
    assert float(h["x-graphroute-effect"]) == pytest.approx(routed["effect"], rel=1e-4)
    assert float(h["x-graphroute-cost"]) == pytest.approx(routed["cost"], rel=1e-4)
    assert done.choices[0].message.content == f"up-{routed['model']} says: {q}"
    d = env["client"].get(f"/v1/decisions/{h['x-graphroute-decision-id']}").json()
    assert d["source"] == "proxy" and d["model"] == routed["model"]
    assert d["usage"]["tokens_in"] == done.usage.prompt_tokens > 0
    tokens = done.usage.prompt_tokens * 1.0 + done.usage.completion_tokens * 2.0  # price_in 1, price_out 2
    assert d["usage"]["served_cost"] == pytest.approx(tokens / 1e6)


def test_proxy_streaming_and_objectives(env, oai):
    q = env["queries"][3]
    raw = oai.chat.completions.with_raw_response.create(model="graphroute:cost-first", stream=True,
                                                         messages=[{"role": "user", "content": q}])
    text = "".join(ch.choices[0].delta.content or "" for ch in raw.parse() if ch.choices)
    routed = env["client"].post("/v1/route", json={"query": q, "weights": {"effect": 1, "cost": 2}}).json()
    assert raw.headers["x-graphroute-model"] == routed["model"]
    assert text == f"up-{routed['model']} says: {q}"
    did = raw.headers["x-graphroute-decision-id"]
    deadline = time.monotonic() + 5
    while env["client"].get(f"/v1/decisions/{did}").json()["usage"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env["client"].get(f"/v1/decisions/{did}").json()["usage"]["tokens_out"] > 0
    direct = oai.chat.completions.create(model="model_1", messages=[{"role": "user", "content": "hello"}])
    assert direct.choices[0].message.content == "up-model_1 says: hello"


@pytest.mark.parametrize("model, words", [("err-model", ["'err-model'", "HTTP 500"]),
                                          ("refused-model", ["'refused-model'", "Connect"]),
                                          ("slow-model", ["'slow-model'", "no answer within 1 s"])])
def test_upstream_faults_are_a_502_naming_the_upstream(env, oai, model, words):
    t0 = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])
    assert exc.value.status_code == 502
    for w in words:
        assert w in str(exc.value.message)
    assert time.monotonic() - t0 < 8  # never a hang
    with pytest.raises(openai.APIStatusError) as exc:  # the same when streaming
        list(oai.chat.completions.create(model=model, stream=True, messages=[{"role": "user", "content": "hi"}]))
    assert exc.value.status_code == 502


def test_truncated_stream_ends_with_an_error_event(env, oai):
    stream = oai.chat.completions.create(model="trunc-model", stream=True,
                                         messages=[{"role": "user", "content": "tell me more"}])
    got = []
    with pytest.raises(openai.APIError, match="truncated"):
        for ch in stream:
            got.append(ch.choices[0].delta.content if ch.choices else "")
    assert "".join(x or "" for x in got).startswith("t")  # what came before the cut was passed on
    assert env["client"].get("/health").json()["status"] == "ok"


# ---------------------------------------------------------------- fallback and workers
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("weights", ["effect=1,cost=4", "effect=1,cost=0"])
def test_failed_upstreams_fall_back_to_the_next_ranked_model(env, oai, weights, stream):
    q = env["queries"][5]
    w = {k: float(v) for k, v in (p.split("=") for p in weights.split(","))}
    routed = env["client"].post("/v1/route", json={"query": q, "weights": w}).json()
    httpx.post(env["up"].url + "/_modes", json={"model_0": "error", "model_1": "error"})
    try:
        raw = oai.chat.completions.with_raw_response.create(
            model="graphroute", stream=stream, messages=[{"role": "user", "content": q}],
            extra_headers={"x-graphroute-weights": weights})
        out = raw.parse()
        text = "".join(c.choices[0].delta.content or "" for c in out if c.choices) if stream \
            else out.choices[0].message.content
    finally:
        httpx.post(env["up"].url + "/_modes", json={"model_0": "ok", "model_1": "ok"})
    assert raw.headers["x-graphroute-model"] == "model_2" and text == f"up-model_2 says: {q}"
    assert raw.headers["x-graphroute-fallback"] == ("0" if routed["model"] == "model_2" else "1")


def test_workers_share_the_store_and_the_metrics(env):
    url = env["srv"].url
    pids, ids = set(), []
    before = _feedback_total(env["client"].get("/metrics").text)
    for i in range(600):  # a fresh connection each time; the kernel spreads them over the workers (not evenly)
        with httpx.Client(base_url=url, headers=AUTH) as c:
            if i < 20:
                ids.append(c.post("/v1/route", json={"query": env["queries"][i]}).json()["decision_id"])
            pids.add(c.get("/health").json()["pid"])
        if i >= 19 and len(pids) == 2:
            break
    assert len(pids) == 2
    for did in ids:  # decided by one worker, fed back through either
        with httpx.Client(base_url=url, headers=AUTH) as c:
            assert c.post("/v1/feedback", json={"decision_id": did, "effect": 1.0}).status_code == 201
    assert _feedback_total(env["client"].get("/metrics").text) == before + 20  # summed over both workers


def _feedback_total(metrics: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("graphroute_feedback_total"))
