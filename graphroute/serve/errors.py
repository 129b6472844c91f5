"""Error bodies: one shape for every 4xx/5xx, the OpenAI one, so the `openai` client shows the message.

    {"error": {"message": "...names the value, the rule and the fix...", "type": "...", "param": ..., "code": ...}}

graphroute's own errors map to statuses here: ConfigError (a bad argument) 422, InfeasibleError
(nothing meets the constraints) 409, NotFittedError / RouterFileError 503.
"""

from __future__ import annotations

import json
import logging

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

import graphroute as gr

__all__ = ["ApiError", "error_response", "install_handlers"]

log = logging.getLogger("graphroute.serve")

_STATUS = [(gr.InfeasibleError, 409, "infeasible"), (gr.ConfigError, 422, "invalid_request_error"),
           (gr.LogsError, 422, "invalid_request_error"), (gr.CardError, 422, "invalid_request_error"),
           (gr.GraphRouteError, 503, "router_unavailable")]


class ApiError(Exception):
    """An error with its HTTP status, for the routes to raise."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None,
                 **extra) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.extra = status, message, type, param, extra


def error_response(status: int, message: str, type: str, param: str | None = None, headers=None,
                   **extra) -> JSONResponse:
    body = {"error": {"message": message, "type": type, "param": param, "code": status, **extra}}
    return JSONResponse(body, status_code=status, headers=headers)


def graphroute_status(exc: gr.GraphRouteError) -> tuple[int, str]:
    for cls, status, kind in _STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "internal_error"


def _loc(loc) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) if parts else "body"


def _describe(err: dict) -> str:
    """One validation error as 'field: value, rule, fix'."""
    kind, field = err.get("type", ""), _loc(err.get("loc", ()))
    if kind == "json_invalid":
        ctx = err.get("ctx", {}).get("error", "")
        return (f"The body is not valid JSON ({ctx}). Send one JSON object with Content-Type: application/json.")
    if kind == "missing":
        return f"Field {field!r} is required and missing. Add it to the body."
    if kind == "extra_forbidden":
        return (f"Field {field!r} is not a field of this endpoint (got {err.get('input')!r:.80}). Check the "
                "spelling; the valid fields are in docs/serving.md and /docs.")
    value = json.dumps(err.get("input"), default=str)
    value = value if len(value) <= 80 else value[:77] + "..."
    msg = err.get("msg", "is invalid")
    return f"Field {field!r} = {value}: {msg}. Send a value that meets this rule."


async def validation_handler(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = " | ".join(_describe(e) for e in errors[:5])
    if len(errors) > 5:
        message += f" | and {len(errors) - 5} more"
    param = _loc(errors[0].get("loc", ())) if errors and errors[0].get("type") != "json_invalid" else None
    return error_response(422, message, "invalid_request_error", param)


async def api_error_handler(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status, exc.message, exc.type, exc.param, **exc.extra)


async def graphroute_handler(request: Request, exc: gr.GraphRouteError) -> JSONResponse:
    status, kind = graphroute_status(exc)
    return error_response(status, str(exc), kind)


async def http_handler(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    msg = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
    if exc.status_code == 404 and msg == "Not Found":
        msg = (f"No endpoint {request.method} {request.url.path}. The endpoints are listed at /docs "
               "(and in docs/serving.md).")
    elif exc.status_code == 405:
        msg = f"{request.method} is not allowed on {request.url.path}. See /docs for the method of each endpoint."
    return error_response(exc.status_code, msg, "invalid_request_error", headers=getattr(exc, "headers", None))


async def unexpected_handler(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return error_response(500, f"Internal error ({type(exc).__name__}); the server log has the details. The request "
                          "may be retried.", "internal_error")


def install_handlers(app) -> None:
    app.add_exception_handler(RequestValidationError, validation_handler)
    app.add_exception_handler(ApiError, api_error_handler)
    app.add_exception_handler(gr.GraphRouteError, graphroute_handler)
    app.add_exception_handler(StarletteHTTPException, http_handler)
    app.add_exception_handler(Exception, unexpected_handler)
