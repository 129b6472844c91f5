"""The routing, feedback, decision, model and health endpoints (the proxy lives in proxy.py).

Handlers read the process's parts from ``request.app.state`` (set up by ``app.create_app``):
``config``, ``engine``, ``feedback``, ``metrics``, ``upstreams``, ``keys``.
"""

from __future__ import annotations

import os
import sys

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from .auth import bearer
from .config import OBJECTIVES
from .errors import ApiError
from .metrics import CONTENT_TYPE_LATEST
from .schemas import FeedbackBatchRequest, FeedbackRequest, ModelCardRequest, RouteBatchRequest, RouteRequest

__all__ = ["router", "require_read", "require_write", "check_query"]

router = APIRouter()


# ---------------------------------------------------------------- keys
def _check_key(request: Request, ring, what: str) -> None:
    token = bearer(request.headers.get("authorization"))
    if token is None:
        raise ApiError(401, f"{what} need an API key: send the header 'Authorization: Bearer <key>' with a key the "
                            "server was started with ($GRAPHROUTE_API_KEY or --keys FILE).", "authentication_error")
    if not ring.check(token):
        raise ApiError(403, f"The API key sent is not valid for {what.lower()} (it is not among the keys this server "
                            "was started with). Check the key; keys are never echoed back.", "permission_error")


async def require_write(request: Request) -> None:
    keys = request.app.state.keys
    if keys.write or not request.app.state.config.insecure:
        _check_key(request, keys.write, "Write endpoints (feedback, admin)")


async def require_read(request: Request) -> None:
    keys = request.app.state.keys
    if keys.read:  # a write key reads too
        token = bearer(request.headers.get("authorization"))
        if token is not None and keys.write.check(token):
            return
        _check_key(request, keys.read, "Read endpoints (this server requires a read key)")


def check_query(config, text: str, field: str) -> None:
    if len(text) > config.max_query_chars:
        raise ApiError(422, f"Field {field!r} is {len(text)} characters long; the limit is {config.max_query_chars} "
                            "(--max-query-chars). Send a shorter text (routing reads the gist; the start of a long "
                            "prompt is usually enough).", "invalid_request_error", field)


def _counted(request: Request) -> bool:
    return bool(request.scope.pop("graphroute.counted", False))


# ---------------------------------------------------------------- routing
@router.post("/v1/route", dependencies=[Depends(require_read)])
async def route(body: RouteRequest, request: Request) -> JSONResponse:
    """Choose a (model, agent) for one query; the Selection plus a decision_id."""
    state = request.app.state
    check_query(state.config, body.query, "query")
    objective = body.select_kwargs()
    await _knows_named_models(state.engine, objective)
    res = await state.engine.route([body.query], [body.task], objective, evidence=body.evidence,
                                   counted=_counted(request))
    return JSONResponse(res[0])


@router.post("/v1/route:batch", dependencies=[Depends(require_read)])
async def route_batch(body: RouteBatchRequest, request: Request) -> JSONResponse:
    """Route many queries under one objective; one result (with its decision_id) per query, in order."""
    state = request.app.state
    if len(body.queries) > state.config.max_batch:
        raise ApiError(422, f"Field 'queries' has {len(body.queries)} entries; the limit is {state.config.max_batch} "
                            "per call (--max-batch). Split the batch.", "invalid_request_error", "queries")
    for i, q in enumerate(body.queries):
        check_query(state.config, q, f"queries.{i}")
    tasks = body.tasks or [None] * len(body.queries)
    objective = body.select_kwargs()
    await _knows_named_models(state.engine, objective)
    res = await state.engine.route(body.queries, tasks, objective, counted=_counted(request))
    return JSONResponse({"results": res})


# ---------------------------------------------------------------- feedback and decisions
@router.post("/v1/feedback", status_code=201, dependencies=[Depends(require_write)])
async def feedback(body: FeedbackRequest, request: Request) -> JSONResponse:
    """Store one outcome durably (answered after commit); the learner folds it into the router."""
    if body.query is not None:
        check_query(request.app.state.config, body.query, "query")
    ids = await request.app.state.feedback.submit([body], counted=_counted(request))
    return JSONResponse({"outcome_id": ids[0], "stored": True}, status_code=201)


@router.post("/v1/feedback:batch", status_code=201, dependencies=[Depends(require_write)])
async def feedback_batch(body: FeedbackBatchRequest, request: Request) -> JSONResponse:
    """Store many outcomes in one transaction: all or none."""
    for i, o in enumerate(body.outcomes):
        if o.query is not None:
            check_query(request.app.state.config, o.query, f"outcomes.{i}.query")
    ids = await request.app.state.feedback.submit(body.outcomes, counted=_counted(request))
    return JSONResponse({"outcome_ids": ids, "stored": True}, status_code=201)


@router.get("/v1/decisions/{decision_id}", dependencies=[Depends(require_read)])
async def decision(decision_id: str, request: Request) -> JSONResponse:
    """What was chosen (and predicted) and every outcome fed back for it."""
    engine = request.app.state.engine
    d = await run_in_threadpool(lambda: engine.store_sync().decision(decision_id))
    if d is None:
        raise ApiError(404, f"No decision has id {decision_id[:100]!r}. Decision ids come from /v1/route (field "
                            "decision_id) or the x-graphroute-decision-id header of a proxied call.", "not_found",
                       "decision_id")
    return JSONResponse(d)


# ---------------------------------------------------------------- models and admin
@router.get("/v1/models", dependencies=[Depends(require_read)])
async def models(request: Request) -> JSONResponse:
    """OpenAI shape: the objectives ('graphroute', 'graphroute:<name>') and every routable model."""
    state = request.app.state
    live = state.engine.live
    data = [{"id": "graphroute", "object": "model", "owned_by": "graphroute", "objective": OBJECTIVES["balanced"]}]
    data += [{"id": f"graphroute:{k}", "object": "model", "owned_by": "graphroute", "objective": w}
             for k, w in OBJECTIVES.items()]
    data += [{"id": m, "object": "model", "owned_by": "upstream" if m in state.upstreams else "graphroute",
              "proxied": m in state.upstreams} for m in sorted(live.models)]
    return JSONResponse({"object": "list", "data": data})


@router.post("/v1/admin/models", status_code=201, dependencies=[Depends(require_write)])
async def add_model(body: ModelCardRequest, request: Request) -> JSONResponse:
    """Add a model card (no retraining); answered once a snapshot holding it is served (202 if that takes > 60 s)."""
    engine = request.app.state.engine
    if body.name in (await _models_now(engine)):
        raise ApiError(409, f"The router already has a model named {body.name!r}. Remove it first (DELETE "
                            f"/v1/admin/models/{body.name}) or pick another name.", "conflict", "name")
    card = body.model_dump(exclude={"name"}, exclude_none=True)
    op = await run_in_threadpool(lambda: engine.store_sync().add_model_op("add", body.name, card))
    return await _applied(engine, op, body.name, "added", 201)


@router.delete("/v1/admin/models/{name}", dependencies=[Depends(require_write)])
async def remove_model(name: str, request: Request) -> JSONResponse:
    """Remove a model (it will not be chosen); answered once the snapshot without it is served."""
    engine = request.app.state.engine
    models = await _models_now(engine)
    if name not in models:
        raise ApiError(404, f"The router has no model named {name[:200]!r}; it has {sorted(models)}.",
                       "not_found", "name")
    if len(models) == 1:
        raise ApiError(409, f"Cannot remove {name!r}: it is the router's only model. Add another first.", "conflict")
    op = await run_in_threadpool(lambda: engine.store_sync().add_model_op("remove", name, {}))
    return await _applied(engine, op, name, "removed", 200)


async def _models_now(engine) -> frozenset:
    """The models once this worker serves every model op accepted so far (another worker may have taken one a
    moment ago): an add answered 201 by one worker is seen by a remove sent to the next."""
    last = await run_in_threadpool(lambda: engine.store_sync().last_model_op())
    if engine.live.pointer.op_watermark < last:
        await engine.wait_for_op(last, 60.0)  # on timeout, the snapshot this worker has
    return engine.live.models


async def _knows_named_models(engine, objective: dict) -> None:
    """A route whose ``allowed_models`` or ``forbidden_models`` names a model this worker does not serve first
    catches up with the model ops accepted so far (``_models_now``): a model another worker just answered 201
    for is known here too. Only that request reads the store; a route naming known models does not wait."""
    names = [*(objective.get("allowed_models") or ()), *(objective.get("forbidden_models") or ())]
    if any(m not in engine.live.models for m in names):
        await _models_now(engine)


async def _applied(engine, op: int, name: str, verb: str, status: int) -> JSONResponse:
    pointer = await engine.wait_for_op(op, 60.0)
    if pointer is None:
        return JSONResponse({"name": name, "status": "pending", "op_id": op}, status_code=202)
    result = await run_in_threadpool(lambda: engine.store_sync().op_result(op))
    if result is not None and result[0] == "skipped":  # e.g. a concurrent request already added the name
        action = {"added": "add", "removed": "remove"}[verb]
        raise ApiError(409, f"The request to {action} model {name!r} was not applied: {result[1]}", "conflict",
                       "name")
    live = engine.live
    return JSONResponse({"name": name, "status": verb, "generation": pointer.generation,
                         "models": sorted(live.models)}, status_code=status)


# ---------------------------------------------------------------- health and metrics
@router.get("/health")
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    p = state.engine.live.pointer
    return JSONResponse({"status": "ok", "generation": p.generation, "outcome_watermark": p.outcome_watermark,
                         "op_watermark": p.op_watermark, "published_at": p.published_at,
                         "models": len(state.engine.live.models), "upstreams": sorted(state.upstreams),
                         "pid": os.getpid(), "torch_imported": "torch" in sys.modules})


@router.get("/metrics", dependencies=[Depends(require_read)])
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
