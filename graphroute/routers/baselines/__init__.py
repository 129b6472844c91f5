"""Baseline routers: the yardsticks the graph router is measured against, side by side in one bench.

Every baseline is a `BaseRouter`: ``__init__`` only stores keyword arguments, ``fit(logs)``
returns ``self``, and ``predict`` gives an effect in [0, 1] and a cost >= 0 for every candidate
(model, agent) pair. The shared ``select`` / ``select_many`` then turn those predictions into a
choice for any weights, budget or allow-list, exactly as for the graph router, so a difference in
the bench is a difference in predictions, never in selection code.

Candidates are the (model, agent) pairs logged at least once, in name order; a baseline has no
way to predict a pair it never saw (the graph router does, from the pair's cards).

- ``RandomRouter``: seeded random effects (the same text always gets the same scores).
- ``OracleRouter``: the true outcomes of the queries it was fitted on (an upper bound: fit it on
  the test table).
- ``BestSingleRouter``, ``CheapestRouter``, ``PerTaskBestRouter``: per-pair means, overall or per
  task; with the shared selector they reproduce "always the best model", "always the cheapest",
  "the best model of each task".
- ``KNNRouter``: similarity-weighted outcomes of the nearest training queries.
- ``TfidfKNNRouter``, ``TfidfRidgeRouter``: lexical baselines on scikit-learn TF-IDF features,
  kNN (k=30, uniform; within the task when it is given) and one ridge per pair (+ task one-hot).
- ``MLPRouter``: an MLP from the query embedding to every pair's effect and log cost.
- ``MFRouter``: RouteLLM's matrix factorisation, score(q, p) = w^T (v_p ⊙ W q) + b_p.
- ``GraphRouterBaseline``: a re-implementation of GraphRouter (Feng et al., ICLR 2025): one model
  per scenario that scores (query, LLM) edges; see its docstring for how to select with it.

``BASELINES`` maps a short name to each class; ``make_router(name, **params)`` builds one. One
concept per module (``tables``, ``knn``, ``tfidf``, ``mlp``, ``mf``, ``graphrouter``; shared parts in
``common``, the names in ``registry``); a class is imported when first used, so listing the names
(``BASELINE_NAMES``) or building a table baseline needs no torch.
"""

from __future__ import annotations

import importlib

from graphroute.routers.baselines.registry import BASELINE_NAMES, baseline_class, make_router

__all__ = [
    "ALL_TASKS",
    "RandomRouter",
    "OracleRouter",
    "BestSingleRouter",
    "CheapestRouter",
    "PerTaskBestRouter",
    "KNNRouter",
    "TfidfKNNRouter",
    "TfidfRidgeRouter",
    "MLPRouter",
    "MFRouter",
    "GraphRouterBaseline",
    "GraphRouterNet",
    "BASELINES",
    "BASELINE_NAMES",
    "make_router",
]

_HOME = {"ALL_TASKS": "common", "RandomRouter": "tables", "OracleRouter": "tables", "BestSingleRouter": "tables",
         "CheapestRouter": "tables", "PerTaskBestRouter": "tables", "KNNRouter": "knn", "TfidfKNNRouter": "tfidf",
         "TfidfRidgeRouter": "tfidf", "MLPRouter": "mlp",
         "MFRouter": "mf", "GraphRouterBaseline": "graphrouter", "GraphRouterNet": "graphrouter",
         "_best_labels": "graphrouter"}


def __getattr__(name: str):
    if name == "BASELINES":  # every class, by registry name (imports them all, torch included)
        return {n: baseline_class(n) for n in BASELINE_NAMES}
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
