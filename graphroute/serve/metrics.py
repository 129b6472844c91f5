"""Prometheus metrics of a serving process (GET /metrics).

With several workers the supervisor sets ``PROMETHEUS_MULTIPROC_DIR``; each worker then writes its
samples there and /metrics (answered by any worker) aggregates all of them.
"""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "CONTENT_TYPE_LATEST"]

_LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30)


class Metrics:
    """The process's metric families (created once per process: prometheus names are global)."""

    _instance: Metrics | None = None

    def __init__(self) -> None:
        self.requests = Counter("graphroute_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"])
        self.latency = Histogram("graphroute_request_seconds", "request latency by endpoint", ["endpoint"],
                                 buckets=_LATENCY_BUCKETS)
        self.chosen = Counter("graphroute_chosen", "routing decisions by chosen model and agent", ["model", "agent"])
        self.batch = Histogram("graphroute_route_batch_size", "queries per micro-batched predict call",
                               buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.feedback = Counter("graphroute_feedback", "outcomes stored")
        self.feedback_group = Histogram("graphroute_feedback_group_size", "outcomes per committed transaction",
                                        buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024))
        self.upstream = Counter("graphroute_upstream", "proxied upstream calls by model and result",
                                ["model", "result"])
        mode = {"multiprocess_mode": "max"} if os.environ.get("PROMETHEUS_MULTIPROC_DIR") else {}
        self.generation = Gauge("graphroute_snapshot_generation", "router snapshot being served", **mode)
        self.lag_outcomes = Gauge("graphroute_feedback_lag_outcomes",
                                  "outcomes stored but not yet in the served router", **mode)
        self.lag_seconds = Gauge("graphroute_feedback_lag_seconds",
                                 "age of the oldest outcome not yet in the served router", **mode)

    @classmethod
    def get(cls) -> Metrics:
        if cls._instance is None:
            cls._instance = cls()
        return cls._instance

    def render(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest()
