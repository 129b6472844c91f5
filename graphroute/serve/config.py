"""`ServeConfig`: every setting of `graphroute serve`, each default in one place.

The supervisor builds it from the command line and hands it to the worker processes as JSON in
an environment variable (uvicorn starts workers from an import string), so it holds only plain
values: paths, numbers, names. Secrets (API keys) are never put in it; each process reads them
from the environment or the keys file itself.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import graphroute as gr

__all__ = ["ServeConfig", "OBJECTIVES", "ENV_CONFIG"]

ENV_CONFIG = "GRAPHROUTE_SERVE_CONFIG"

# Named objectives a client can ask for as model "graphroute:<name>" ("graphroute" alone: "balanced").
OBJECTIVES: dict[str, dict[str, float]] = {
    "balanced": {"effect": 1.0, "cost": 0.5},  # gr.DEFAULT_WEIGHTS
    "quality-first": {"effect": 1.0, "cost": 0.05},
    "cost-first": {"effect": 1.0, "cost": 2.0},
    "fast": {"effect": 1.0, "cost": 0.5, "latency": 0.2},  # needs a router that predicts latency
}


@dataclass
class ServeConfig:
    """Settings of one `graphroute serve` deployment (see `graphroute serve --help`)."""

    router: str | None = None  # base router directory; None: the shipped default router
    db: str = "graphroute-outcomes.sqlite"  # the outcome store
    snapshots: str | None = None  # published routers; None: "<db>.snapshots" beside the store
    upstreams: str | None = None  # upstreams.toml; None: routing only, no proxy
    host: str = "127.0.0.1"
    port: int = 8700
    workers: int = 1  # serving processes (share the port)
    keys_file: str | None = None  # write keys, one per line (plain or sha256:<hex>); plus $GRAPHROUTE_API_KEY
    read_keys_file: str | None = None  # optional read keys; plus $GRAPHROUTE_READ_KEY
    insecure: bool = False  # allow write endpoints without any key (local experiments only)
    cors_origins: list[str] = field(default_factory=list)  # CORS is off unless origins are listed
    max_body_bytes: int = 1_000_000  # larger request bodies get 413
    max_query_chars: int = 20_000  # longer queries get 422
    max_batch: int = 256  # queries per /v1/route:batch call and per micro-batch
    batch_wait_ms: float = 2.0  # how long a micro-batch waits for requests already arriving
    durability: str = "full"  # SQLite synchronous level of outcome commits: "full" or "normal"
    publish_every: int = 200  # the learner publishes after this many folded outcomes ...
    publish_interval_s: float = 2.0  # ... or this long after the first unpublished one
    publish_min_gap_s: float = 1.0  # but never more often than this (each publish is a reload in every worker)
    poll_s: float = 0.25  # how often the learner reads new outcomes and workers look for a new snapshot
    max_fallbacks: int = 2  # upstreams the proxy tries after the first fails
    log_level: str = "warning"

    def snapshot_dir(self) -> Path:
        return Path(self.snapshots) if self.snapshots else Path(f"{self.db}.snapshots")

    def checked(self) -> ServeConfig:
        """Raise ConfigError naming the first bad setting."""
        rules = [("workers", self.workers >= 1, "an integer >= 1"), ("port", 0 <= self.port <= 65535, "in [0, 65535]"),
                 ("max_body_bytes", self.max_body_bytes >= 1024, ">= 1024"),
                 ("max_query_chars", self.max_query_chars >= 1, ">= 1"), ("max_batch", self.max_batch >= 1, ">= 1"),
                 ("batch_wait_ms", 0 <= self.batch_wait_ms <= 100, "in [0, 100] ms"),
                 ("publish_every", self.publish_every >= 1, ">= 1"),
                 ("publish_interval_s", self.publish_interval_s > 0, "> 0"),
                 ("publish_min_gap_s", self.publish_min_gap_s >= 0, ">= 0"),
                 ("poll_s", 0 < self.poll_s <= 10, "in (0, 10]"),
                 ("max_fallbacks", self.max_fallbacks >= 0, ">= 0"),
                 ("durability", self.durability in ("full", "normal"), "'full' or 'normal'")]
        for name, ok, rule in rules:
            if not ok:
                raise gr.ConfigError(f"--{name.replace('_', '-')} must be {rule}; got {getattr(self, name)!r}.")
        if self.router is not None and not Path(self.router).is_dir():
            raise gr.ConfigError(f"--router {self.router!r} is not a directory. Pass a router saved with "
                                 "router.save(path) (or `graphroute train --out`), or omit it for the shipped one.")
        return self

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(ENV_CONFIG)
        if not raw:
            raise gr.ConfigError(f"${ENV_CONFIG} is not set; serving workers are started by `graphroute serve`.")
        return cls(**json.loads(raw))
