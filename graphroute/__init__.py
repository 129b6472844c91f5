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
from .logs import aggregate_runs, read_logs, validate_logs  # noqa: E402
from .synthetic import make_synthetic  # noqa: E402
from .router import Router, load  # noqa: E402
from .selection import DEFAULT_WEIGHTS, Selection  # noqa: E402
from .default import default_router, select, select_many  # noqa: E402

__all__ = [
    "__version__",
    "Router", "BaseRouter", "clone", "load", "Selection", "DEFAULT_WEIGHTS",
    "select", "select_many", "default_router",
    "read_logs", "read_routerbench", "read_llmrouter", "read_llmrouter_splits", "read_routellm",
    "read_tree_of_thoughts", "read_marble", "validate_logs", "aggregate_runs", "make_synthetic",
    "load_dataset", "DATASETS", "data_dir",
    "ModelCard", "AgentCard", "TaskCard", "Catalog", "read_cards",
    "GraphRouteError", "LogsError", "CardError", "ConfigError", "NotFittedError", "InfeasibleError",
    "RouterFileError", "EmbedderError", "DataNotFoundError",
]


# Format readers and shared datasets import pandas/pyarrow paths lazily: most callers never need them.
_LAZY = {
    "read_routerbench": "loaders", "read_llmrouter": "loaders", "read_llmrouter_splits": "loaders",
    "read_routellm": "loaders", "read_tree_of_thoughts": "loaders", "read_marble": "loaders",
    "load_dataset": "datasets", "DATASETS": "datasets", "data_dir": "datasets",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'graphroute' has no attribute {name!r}")
