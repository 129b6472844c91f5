"""graphroute: route each LLM query to the best (model, agent) pair, learned from logged runs.

A heterogeneous graph of task, query, model and agent nodes is built from the logs; a graph
neural network predicts the effect (quality) and cost of pairs never run; a selector picks the
pair that best serves weights given at query time. New models and agents join without retraining.
"""

from __future__ import annotations

from graphroute.version import __version__
from graphroute.routers.base import BaseRouter, clone
from graphroute.data.catalog import AgentCard, Catalog, ModelCard, TaskCard, read_cards
from graphroute.errors import (
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
from graphroute.data.logs import aggregate_runs, read_logs, validate_logs
from graphroute.data.synthetic import make_synthetic
from graphroute.routers.gnn import Router, load
from graphroute.selection import DEFAULT_WEIGHTS, Selection
from graphroute.routers.default import default_router, select, select_many

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
    "read_routerbench": "data.loaders", "read_llmrouter": "data.loaders", "read_llmrouter_splits": "data.loaders",
    "read_routellm": "data.loaders", "read_tree_of_thoughts": "data.loaders", "read_marble": "data.loaders",
    "load_dataset": "data.datasets", "DATASETS": "data.datasets", "data_dir": "data.datasets",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'graphroute' has no attribute {name!r}")
