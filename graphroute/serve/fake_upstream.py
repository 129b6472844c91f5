"""A local OpenAI-compatible endpoint that stands in for a provider (tests, benchmarks, trying the proxy).

The first path segment picks a behaviour, so one process serves every fault::

    http://127.0.0.1:PORT/ok/v1        answers (streaming or not) "<model> says: <last user message>"
    http://127.0.0.1:PORT/slow/v1      waits 30 s before answering (a timeout)
    http://127.0.0.1:PORT/error/v1     answers 500
    http://127.0.0.1:PORT/truncate/v1  streams one chunk, then closes without [DONE]
    http://127.0.0.1:PORT/switch/NAME/v1   behaves as the mode last set for NAME (POST /_modes {"NAME": "error"};
                                           default "ok"), so a test can break and mend an upstream at run time

Every answer reports ``usage`` (prompt and completion tokens, counted as words). Run with
``python -m graphroute.serve.fake_upstream --port 9001``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

__all__ = ["app", "main"]

app = FastAPI(title="graphroute fake upstream")
_MODES: dict[str, str] = {}  # /switch/NAME/v1 -> mode
_KNOWN = ("ok", "slow", "error", "truncate")


@app.post("/_modes")
async def set_modes(modes: dict[str, str]):
    bad = {k: v for k, v in modes.items() if v not in _KNOWN}
    if bad:
        return JSONResponse({"error": f"unknown modes {bad}; valid: {list(_KNOWN)}"}, status_code=422)
    _MODES.update(modes)
    return _MODES


@app.post("/switch/{name}/v1/chat/completions")
async def switched(name: str, request: Request):
    return await completions(_MODES.get(name, "ok"), request)


def _text(body: dict) -> str:
    for m in reversed(body.get("messages", [])):
        if m.get("role") == "user":
            c = m.get("content")
            return c if isinstance(c, str) else " ".join(p.get("text", "") for p in c or [])
    return ""


def _usage(prompt: str, answer: str) -> dict:
    p, c = len(prompt.split()), len(answer.split())
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _chunk(cid: str, model: str, delta: dict, finish=None, usage=None) -> str:
    choices = [] if usage is not None and not delta else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return f"data: {json.dumps(body)}\n\n"


@app.post("/{mode}/v1/chat/completions")
async def completions(mode: str, request: Request):
    body = await request.json()
    model, prompt = body.get("model", "?"), _text(body)
    answer = f"{model} says: {prompt}"
    if mode == "error":
        return JSONResponse({"error": {"message": "upstream exploded", "type": "server_error"}}, status_code=500)
    if mode == "slow":
        await asyncio.sleep(30)
    cid = f"chatcmpl-{int(time.time() * 1e6)}"
    if not body.get("stream"):
        return {"id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer},
                             "finish_reason": "stop"}], "usage": _usage(prompt, answer)}

    async def events():
        words = answer.split(" ")
        yield _chunk(cid, model, {"role": "assistant", "content": ""})
        for i, w in enumerate(words):
            yield _chunk(cid, model, {"content": w if i == 0 else " " + w})
            if mode == "truncate":
                return  # the connection ends without finish_reason or [DONE]
        yield _chunk(cid, model, {}, finish="stop")
        if (body.get("stream_options") or {}).get("include_usage"):
            yield _chunk(cid, model, {}, usage=_usage(prompt, answer))
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    p = argparse.ArgumentParser(prog="python -m graphroute.serve.fake_upstream")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001)
    args = p.parse_args(argv)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
