"""The ASGI layer in front of every route: body-size limit (413), request metrics, arrival counting.

Written as plain ASGI (no BaseHTTPMiddleware, which copies every body and costs ~0.1 ms a call).
Route requests are counted as they arrive, before their body is read, so the micro-batcher knows
when more requests are on the way and waiting a little for them pays.
"""

from __future__ import annotations

import json
import time

from fastapi import HTTPException

__all__ = ["GuardMiddleware"]

_ENDPOINTS = ("/v1/route:batch", "/v1/route", "/v1/feedback:batch", "/v1/feedback", "/v1/chat/completions",
              "/v1/decisions", "/v1/models", "/v1/admin/models", "/health", "/metrics")


def _endpoint(path: str) -> str:
    """A bounded label for metrics (never the raw path: ids would explode the label set)."""
    for e in _ENDPOINTS:
        if path == e or path.startswith(e + "/"):
            return e
    return "other"


class GuardMiddleware:
    def __init__(self, app, *, max_body_bytes: int, counters: dict, metrics) -> None:
        # counters: {endpoint: object with an ``incoming`` count} for the batching endpoints
        self.app, self.max, self.counters, self.metrics = app, max_body_bytes, counters, metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        endpoint = _endpoint(scope["path"])
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and (not length.isdigit() or int(length) > self.max):
            if length.isdigit() and int(length) <= _DRAIN_MAX:  # read it away, so the client sees the 413
                await _drain(receive)                              # instead of a reset connection
            return await _too_large(send, length.decode("latin-1"), self.max, endpoint, self.metrics)
        counter = self.counters.get(endpoint)
        if counter is not None:
            counter.incoming += 1
            scope["graphroute.counted"] = True
        status = [500]
        seen = [0]

        async def limited_receive():
            msg = await receive()
            if msg["type"] == "http.request":
                seen[0] += len(msg.get("body", b""))
                if seen[0] > self.max:
                    raise HTTPException(413, _limit_message(f"more than {self.max}", self.max))
            return msg

        async def send_status(msg):
            if msg["type"] == "http.response.start":
                status[0] = msg["status"]
            await send(msg)

        t0 = time.perf_counter()
        try:
            await self.app(scope, limited_receive, send_status)
        finally:
            if counter is not None and scope.get("graphroute.counted"):  # never queued (a 4xx before it)
                counter.incoming -= 1
            self.metrics.requests.labels(endpoint, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - t0)


_DRAIN_MAX = 64 * 1024 * 1024  # a larger refused body is not read: the connection is closed on it


async def _drain(receive) -> None:
    while True:
        msg = await receive()
        if msg["type"] != "http.request" or not msg.get("more_body"):
            return


def _limit_message(got: str, limit: int) -> str:
    return (f"The request body is {got} bytes; the limit is {limit} bytes (--max-body-bytes). Send fewer queries "
            "per call (e.g. split a batch) or shorter texts.")


async def _too_large(send, got: str, limit: int, endpoint: str, metrics) -> None:
    body = json.dumps({"error": {"message": _limit_message(got, limit), "type": "request_too_large", "param": None,
                                 "code": 413}}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
    metrics.requests.labels(endpoint, "413").inc()
