"""The FastAPI application of one serving worker (``create_app``), started by uvicorn.

A worker routes from the published snapshot (no torch of its own: ``gr.load`` + ``predict``), writes
decisions and outcomes to the store, and proxies completions. It never changes the router; the
learner does, and the worker swaps in each new snapshot (engine.py).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import httpx
from fastapi import FastAPI

import graphroute as gr

from .auth import ENV_KEY, ENV_READ_KEY, KeyRing
from .config import ServeConfig
from .engine import RoutingEngine
from .errors import install_handlers
from .feedback import FeedbackWriter
from .lifecycle import exit_with_parent
from .metrics import Metrics
from .middleware import GuardMiddleware
from .proxy import router as proxy_router
from .routes import router as api_router
from .upstreams import read_upstreams

__all__ = ["create_app", "Keys", "load_keys"]

log = logging.getLogger("graphroute.serve")


@dataclass(frozen=True)
class Keys:
    write: KeyRing
    read: KeyRing


def load_keys(config: ServeConfig) -> Keys:
    """The write and read key rings; refuses to run write endpoints open unless ``insecure``."""
    keys = Keys(write=KeyRing.from_sources(ENV_KEY, config.keys_file),
                read=KeyRing.from_sources(ENV_READ_KEY, config.read_keys_file))
    if not keys.write and not config.insecure:
        raise gr.ConfigError(f"No API key is configured, so the write endpoints (feedback, admin) would be open to "
                             f"anyone. Set ${ENV_KEY} (a key of 16+ characters, or sha256:<hex>), or pass --keys FILE; "
                             "for a local experiment only, pass --insecure.")
    return keys


def create_app(config: ServeConfig | None = None) -> FastAPI:
    """The app of one worker (``config`` from $GRAPHROUTE_SERVE_CONFIG when None, as uvicorn's factory)."""
    config = (config or ServeConfig.from_env()).checked()
    metrics = Metrics.get()
    engine = RoutingEngine(config, metrics)
    keys = load_keys(config)
    upstreams = read_upstreams(config.upstreams)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        engine.start()
        app.state.feedback.start()
        try:
            limits = httpx.Limits(max_connections=512, max_keepalive_connections=64)
            async with httpx.AsyncClient(limits=limits, trust_env=False) as client:
                app.state.http = client
                yield
        finally:  # a failed start-up or a cancelled shutdown still stops the batcher and the feedback writer
            engine.stop()
            app.state.feedback.stop()

    app = FastAPI(title="graphroute serve", version=gr.__version__, lifespan=lifespan,
                  description="Routes each query to the best (model, agent); an OpenAI-compatible proxy that "
                              "learns from the outcomes it is told. See docs/serving.md.")
    app.state.config, app.state.engine, app.state.metrics = config, engine, metrics
    app.state.keys, app.state.upstreams = keys, upstreams
    app.state.feedback = FeedbackWriter(config, engine, metrics)
    install_handlers(app)
    app.include_router(api_router)
    app.include_router(proxy_router)
    if config.cors_origins:  # off by default: a browser page on another origin cannot call the API
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=config.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["authorization", "content-type", "x-graphroute-weights"])
    counters = {"/v1/route": engine, "/v1/route:batch": engine, "/v1/feedback": app.state.feedback,
                "/v1/feedback:batch": app.state.feedback}
    app.add_middleware(GuardMiddleware, max_body_bytes=config.max_body_bytes, counters=counters, metrics=metrics)
    if config.workers > 1:
        exit_with_parent("worker")
    return app
