"""graphroute: route each LLM query to the best (model, agent) pair, learned from logged runs.

A heterogeneous graph of task, query, model and agent nodes is built from the logs; a graph
neural network predicts the effect (quality) and cost of pairs never run; a selector picks the
pair that best serves weights given at query time. New models and agents join without retraining.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .base import BaseRouter, clone  # noqa: E402
from .catalog import AgentCard, Catalog, ModelCard, TaskCard, read_cards  # noqa: E402
from .errors import (  # noqa: E402
    CardError,
    ConfigError,
    DataNotFoundError,
    EmbedderError,
    GraphRouteError,
    InfeasibleError,
    LogsError,
    NotFittedError,
    RouterFileError,
)
from .logs import aggregate_runs, read_llmrouter, read_logs, read_routerbench, validate_logs  # noqa: E402
from .router import Router, load  # noqa: E402
from .selection import DEFAULT_WEIGHTS, Selection  # noqa: E402
from .default import default_router, select, select_many  # noqa: E402

__all__ = [
    "__version__",
    "Router", "BaseRouter", "clone", "load", "Selection", "DEFAULT_WEIGHTS",
    "select", "select_many", "default_router",
    "read_logs", "read_routerbench", "read_llmrouter", "validate_logs", "aggregate_runs",
    "ModelCard", "AgentCard", "TaskCard", "Catalog", "read_cards",
    "GraphRouteError", "LogsError", "CardError", "ConfigError", "NotFittedError", "InfeasibleError",
    "RouterFileError", "EmbedderError", "DataNotFoundError",
]
