"""graphroute: route each LLM query to the best (model, agent) pair, learned from logged runs.

A heterogeneous graph of task, query, model and agent nodes is built from the logs; a graph
neural network predicts the effect (quality) and cost of pairs never run; a selector picks the
pair that best serves weights given at query time. New models and agents join without retraining.

``import graphroute`` loads only this surface; each name is imported on first use (pandas with the
data helpers, torch only to train or grow a router: loading one and routing with it is numpy).
"""

from __future__ import annotations

import importlib

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
from graphroute.version import __version__

__all__ = [
    "__version__",
    "Router", "BaseRouter", "clone", "load", "Selection", "DEFAULT_WEIGHTS",
    "select", "select_many", "default_router",
    "read_logs", "read_routerbench", "read_llmrouter", "read_llmrouter_splits", "read_routellm",
    "read_tree_of_thoughts", "read_marble", "read_mmlu_pro", "read_zeroeval", "validate_logs", "aggregate_runs", "make_synthetic",
    "load_dataset", "DATASETS", "data_dir",
    "ModelCard", "AgentCard", "TaskCard", "Catalog", "read_cards",
    "GraphRouteError", "LogsError", "CardError", "ConfigError", "NotFittedError", "InfeasibleError",
    "RouterFileError", "EmbedderError", "DataNotFoundError",
]

# public name -> the module that defines it (imported on first access)
_LAZY = {
    "Router": "routers.gnn", "load": "routers.gnn",
    "BaseRouter": "routers.base", "clone": "routers.base",
    "Selection": "selection", "DEFAULT_WEIGHTS": "selection",
    "select": "routers.default", "select_many": "routers.default", "default_router": "routers.default",
    "read_logs": "data.logs", "validate_logs": "data.logs", "aggregate_runs": "data.logs",
    "make_synthetic": "data.synthetic",
    "ModelCard": "data.catalog", "AgentCard": "data.catalog", "TaskCard": "data.catalog", "Catalog": "data.catalog",
    "read_cards": "data.catalog",
    "read_routerbench": "data.loaders", "read_llmrouter": "data.loaders", "read_llmrouter_splits": "data.loaders",
    "read_routellm": "data.loaders", "read_tree_of_thoughts": "data.loaders", "read_marble": "data.loaders",
    "read_mmlu_pro": "data.loaders", "read_zeroeval": "data.loaders",
    "load_dataset": "data.datasets", "DATASETS": "data.datasets", "data_dir": "data.datasets",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip this hook
        return value
    raise AttributeError(f"module 'graphroute' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
