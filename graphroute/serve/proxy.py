"""POST /v1/chat/completions: an OpenAI-compatible proxy that routes, forwards and falls back.

``model`` is "graphroute" (the balanced objective), "graphroute:<objective>" (config.OBJECTIVES), or
a real model name with an upstream (forwarded as is, no routing). Weights can also come in an
``x-graphroute-weights`` header ("effect=1,cost=0.5" or JSON). The last user message is routed among
the models that have an upstream; the request goes to the chosen model's endpoint (httpx, with that
upstream's timeout on connect and on every read, so nothing hangs); when the upstream refuses, times
out or answers 5xx (or 401/403/404/429), the next-ranked feasible model is tried, up to
``max_fallbacks`` more, and when all fail the answer is a 502 naming each upstream and its error.
A streamed answer is committed to an upstream once its first chunk arrived; a stream cut after that
ends with an SSE error event (an answer cannot change model half-way).
"""

from __future__ import annotations

import asyncio
import json
import time

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

import graphroute as gr
from graphroute.selection import parse_weights

from .config import OBJECTIVES
from .errors import ApiError
from .routes import check_query, require_read
from .schemas import ChatRequest
from .upstreams import Upstream

__all__ = ["router", "parse_weights_header"]

router = APIRouter()
_FALLBACK_STATUS = {401, 403, 404, 408, 409, 429}  # the upstream's problem, not the request's: try the next


class _Failed(Exception):
    """One upstream attempt failed; ``reason`` never holds the API key (httpx errors do not carry headers)."""

    def __init__(self, upstream: Upstream, reason: str) -> None:
        super().__init__(reason)
        self.upstream, self.reason = upstream, reason

    def as_dict(self) -> dict:
        return {"model": self.upstream.name, "base_url": self.upstream.base_url, "error": self.reason}


def parse_weights_header(text: str) -> dict[str, float]:
    """'effect=1,cost=0.5' or '{"effect": 1, "cost": 0.5}' -> the library's weights (``selection.parse_weights``:
    every name checked, finite and >= 0), or a 422 naming the header and the library's rule."""
    try:
        raw = json.loads(text) if text.strip().startswith("{") else text
        return parse_weights(raw)
    except (ValueError, gr.ConfigError) as exc:
        raise ApiError(422, f"Header x-graphroute-weights = {text[:80]!r} is not valid weights: {exc} Send e.g. "
                            "'effect=1,cost=0.5' or '{\"effect\": 1, \"cost\": 0.5}'.", "invalid_request_error",
                       "x-graphroute-weights") from None


def _last_user_text(body: ChatRequest) -> str:
    for m in reversed(body.messages):
        if m.role == "user" and m.content:
            if isinstance(m.content, str):
                return m.content
            text = " ".join(p.get("text", "") for p in m.content if isinstance(p, dict) and p.get("type") == "text")
            if text.strip():
                return text
    raise ApiError(422, "Field 'messages' has no user message with text; graphroute routes on the last user "
                        "message. Add one (role 'user', content a string or text parts).", "invalid_request_error",
                   "messages")


def _objective(body: ChatRequest, request: Request, routable: list[str]) -> dict:
    name = body.model.split(":", 1)[1] if ":" in body.model else "balanced"
    if name not in OBJECTIVES:
        raise ApiError(422, f"Field 'model' = {body.model!r}: unknown objective {name!r}; valid are "
                            f"{['graphroute'] + [f'graphroute:{k}' for k in OBJECTIVES]} or a model name with an "
                            "upstream.", "invalid_request_error", "model")
    header = request.headers.get("x-graphroute-weights")
    weights = parse_weights_header(header) if header else dict(OBJECTIVES[name])
    return {"weights": weights, "allowed_models": routable}


@router.post("/v1/chat/completions", dependencies=[Depends(require_read)])
async def chat_completions(body: ChatRequest, request: Request):
    state = request.app.state
    ups: dict[str, Upstream] = state.upstreams
    if not ups:
        raise ApiError(503, "This server has no upstreams, so it cannot proxy completions. Start it with "
                            "--upstreams upstreams.toml (see docs/serving.md), or use /v1/route to route only.",
                       "no_upstreams")
    live = state.engine.live
    if body.model in ups:  # an explicit model: no routing
        return await _forward(request, body, [(ups[body.model], None)], None)
    if body.model != "graphroute" and not body.model.startswith("graphroute:"):
        raise ApiError(404, f"Field 'model' = {body.model!r} is neither 'graphroute[:objective]' nor a model with an "
                            f"upstream ({sorted(ups)}).", "model_not_found", "model")
    routable = sorted(set(ups) & live.models)
    if not routable:
        raise ApiError(503, f"None of the router's models has an upstream (upstreams: {sorted(ups)}; router models: "
                            f"{sorted(live.models)}). Name the tables of upstreams.toml as the router's models.",
                       "no_upstreams")
    query = _last_user_text(body)
    check_query(state.config, query, "messages")
    objective = _objective(body, request, routable)
    # the decision is stored with the routing batch, so its id is valid before the answer reaches the client
    res = (await state.engine.route([query], [None], objective, source="proxy"))[0]
    chain = [res] + [a for a in res["alternatives"] if a["feasible"] and a["model"] != res["model"]]
    chain = chain[:1 + state.config.max_fallbacks]
    return await _forward(request, body, [(ups[c["model"]], c) for c in chain], res)


def _headers(up: Upstream, choice: dict | None, decision_id: str | None, fallback: bool) -> dict[str, str]:
    h = {"x-graphroute-model": up.name}
    if choice is not None:
        h.update({"x-graphroute-agent": choice["agent"], "x-graphroute-effect": f"{choice['effect']:.6g}",
                  "x-graphroute-cost": f"{choice['cost']:.6g}", "x-graphroute-fallback": "1" if fallback else "0"})
    if decision_id:
        h["x-graphroute-decision-id"] = decision_id
    return h


async def _forward(request: Request, body: ChatRequest, chain: list, res: dict | None):
    state = request.app.state
    failures: list[_Failed] = []
    for k, (up, choice) in enumerate(chain):
        t0 = time.perf_counter()
        try:
            if body.stream:
                return await _stream(request, body, up, choice, res, k > 0, t0)
            raw, data = await _call(state.http, body, up)
        except _Failed as f:
            state.metrics.upstream.labels(up.name, "failed").inc()
            failures.append(f)
            continue
        state.metrics.upstream.labels(up.name, "ok").inc()
        decision_id = await _served(state, res, choice, k > 0)
        usage = data.get("usage") if isinstance(data, dict) else None
        _record_usage(state, decision_id, usage, up, time.perf_counter() - t0)
        return Response(raw, media_type="application/json", headers=_headers(up, choice, decision_id, k > 0))
    first = failures[0]
    raise ApiError(502, f"Upstream {first.upstream.name!r} ({first.upstream.base_url}) failed: {first.reason}"
                        + (f"; the fallbacks failed too: {[f.upstream.name for f in failures[1:]]}" if failures[1:]
                           else "") + ". Check that the upstream is up (upstreams.toml), or retry.",
                   "upstream_error", upstreams=[f.as_dict() for f in failures])


async def _served(state, res: dict | None, choice: dict | None, fallback: bool) -> str | None:
    """The decision id of a routed call; after a fallback the stored decision becomes the model that answered."""
    if res is None or choice is None:
        return None
    did = res["decision_id"]
    if fallback:
        c = choice
        await run_in_threadpool(lambda: state.engine.store_sync().reassign(
            did, c["model"], c["agent"], c["effect"], c["cost"], c.get("latency_s"), c["score"]))
    return did


_BACKGROUND: set = set()  # usage writes in flight (a reference keeps each task alive)


def _record_usage(state, decision_id: str | None, usage, up: Upstream, latency: float) -> None:
    """Store what the upstream reported, off the answer's path (the decision itself is already stored)."""
    if not decision_id:
        return
    tin = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    tout = usage.get("completion_tokens") if isinstance(usage, dict) else None

    async def write() -> None:
        try:
            await run_in_threadpool(lambda: state.engine.store_sync().record_usage(
                decision_id, tin, tout, latency, up.cost(tin, tout)))
        except Exception:  # usage is informational; the answer has gone out
            pass

    task = asyncio.get_running_loop().create_task(write())
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)


def _payload(body: ChatRequest, up: Upstream) -> dict:
    payload = body.model_dump(exclude_none=True)
    payload["model"] = up.model
    if body.stream:  # ask for usage so tokens and cost can be recorded; stripped unless the client asked
        payload["stream_options"] = {**(payload.get("stream_options") or {}), "include_usage": True}
    return payload


def _auth(up: Upstream) -> dict[str, str]:
    return {"authorization": f"Bearer {up.api_key}"} if up.api_key else {}


async def _call(client: httpx.AsyncClient, body: ChatRequest, up: Upstream) -> tuple[bytes, dict]:
    try:
        r = await client.post(f"{up.base_url}/chat/completions", json=_payload(body, up), headers=_auth(up),
                              timeout=httpx.Timeout(up.timeout_s))
    except httpx.TimeoutException:
        raise _Failed(up, f"no answer within {up.timeout_s:g} s (timeout_s)") from None
    except httpx.HTTPError as exc:
        raise _Failed(up, f"{type(exc).__name__}: {exc}") from None
    if r.status_code >= 500 or r.status_code in _FALLBACK_STATUS:
        raise _Failed(up, f"HTTP {r.status_code}: {r.text[:200]}")
    if r.status_code >= 400:  # the request's own fault: the client sees the upstream's answer
        raise ApiError(r.status_code, f"Upstream {up.name!r} refused the request: {r.text[:500]}", "upstream_refused")
    try:
        return r.content, json.loads(r.content)
    except ValueError:
        raise _Failed(up, f"the answer is not JSON ({r.text[:80]!r})") from None


async def _stream(request, body, up: Upstream, choice, res, fallback: bool, t0: float):
    """Open the upstream stream and read its first line before answering (so a dead upstream can still fall back)."""
    state = request.app.state
    client: httpx.AsyncClient = state.http
    req = client.build_request("POST", f"{up.base_url}/chat/completions", json=_payload(body, up), headers=_auth(up),
                               timeout=httpx.Timeout(up.timeout_s))
    try:
        resp = await client.send(req, stream=True)
    except httpx.TimeoutException:
        raise _Failed(up, f"no answer within {up.timeout_s:g} s (timeout_s)") from None
    except httpx.HTTPError as exc:
        raise _Failed(up, f"{type(exc).__name__}: {exc}") from None
    if resp.status_code != 200:
        text = (await resp.aread()).decode("utf-8", "replace")[:200]
        await resp.aclose()
        if resp.status_code >= 500 or resp.status_code in _FALLBACK_STATUS:
            raise _Failed(up, f"HTTP {resp.status_code}: {text}")
        raise ApiError(resp.status_code, f"Upstream {up.name!r} refused the request: {text}", "upstream_refused")
    lines = resp.aiter_lines()
    try:
        first = await lines.__anext__()
    except (httpx.HTTPError, StopAsyncIteration) as exc:
        await resp.aclose()
        raise _Failed(up, f"the stream ended before its first chunk ({type(exc).__name__})") from None
    state.metrics.upstream.labels(up.name, "ok").inc()
    decision_id = await _served(state, res, choice, fallback)
    options = (body.model_extra or {}).get("stream_options")
    want_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    relay = _relay(state, resp, first, lines, up, decision_id, want_usage, t0)
    return StreamingResponse(relay, media_type="text/event-stream",
                             headers=_headers(up, choice, decision_id, fallback))


async def _relay(state, resp, first: str, lines, up: Upstream, decision_id, want_usage: bool, t0: float):
    usage, done = None, False
    try:
        line = first
        while True:
            if line.startswith("data:"):
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                else:
                    usage, keep = _usage_of(data, usage, want_usage)
                    if not keep:
                        line = await lines.__anext__()
                        continue
            yield line + "\n"
            line = await lines.__anext__()
    except StopAsyncIteration:
        pass
    except httpx.HTTPError as exc:
        state.metrics.upstream.labels(up.name, "cut").inc()
        yield _sse_error(up, f"{type(exc).__name__} while streaming")
        done = True  # reported
    finally:
        await resp.aclose()
    if not done:
        state.metrics.upstream.labels(up.name, "cut").inc()
        yield _sse_error(up, "the stream ended without [DONE] (truncated)")
    _record_usage(state, decision_id, usage, up, time.perf_counter() - t0)


def _usage_of(data: str, usage, want_usage: bool):
    """(usage so far, whether to pass this chunk on): a usage-only chunk is dropped unless asked for."""
    try:
        chunk = json.loads(data)
    except ValueError:
        return usage, True
    if isinstance(chunk, dict) and isinstance(chunk.get("usage"), dict):
        usage = chunk["usage"]
        if not chunk.get("choices") and not want_usage:
            return usage, False
    return usage, True


def _sse_error(up: Upstream, reason: str) -> str:
    err = {"error": {"message": f"Upstream {up.name!r} ({up.base_url}) failed mid-stream: {reason}. The answer is "
                                "incomplete; retry the request.", "type": "upstream_error", "code": 502}}
    return f"data: {json.dumps(err)}\n\n"
