"""`graphroute serve`: a routing service and OpenAI-compatible proxy that learns from feedback.

Worker processes (FastAPI, uvicorn) route from a published router snapshot with micro-batched
``predict`` calls and store every decision and outcome in SQLite (WAL); one learner process folds
outcomes into the router (``observe``, no gradient step) and publishes new snapshots atomically.
See docs/serving.md for the design, the endpoints and deployment.

Needs the ``serve`` extra (``pip install "graphroute[serve]"``). Modules: config (settings),
schemas (request bodies), store (SQLite), snapshots (publishing), ranking (batched ranking),
engine (micro-batching), feedback (group commit), auth (keys), upstreams (upstreams.toml),
proxy (chat completions), routes, middleware, errors, metrics, app (one worker), learner,
server (the supervisor), fake_upstream (a local stand-in for a provider, for tests and benchmarks).
"""

from __future__ import annotations

from .config import OBJECTIVES, ServeConfig

__all__ = ["ServeConfig", "OBJECTIVES", "serve", "create_app"]


def serve(config: ServeConfig) -> int:
    """Run `graphroute serve` in the foreground (see server.serve)."""
    from .server import serve as _serve

    return _serve(config)


def create_app(config: ServeConfig | None = None):
    """The FastAPI app of one worker (see app.create_app)."""
    from .app import create_app as _create

    return _create(config)
