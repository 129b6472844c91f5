"""The baselines by short name: ``make_router("knn", k=20)``, and the names for help texts and choices.

Each name points at its module and class, imported on first use: ``BASELINE_NAMES`` and the table
baselines need no torch.
"""

from __future__ import annotations

import importlib

from graphroute.errors import ConfigError

__all__ = ["BASELINE_NAMES", "baseline_class", "make_router"]

# name -> (module under graphroute.routers.baselines, class); the bench runs them in this order
_WHERE: dict[str, tuple[str, str]] = {
    "oracle": ("tables", "OracleRouter"),
    "best_single": ("tables", "BestSingleRouter"),
    "per_task_best": ("tables", "PerTaskBestRouter"),
    "cheapest": ("tables", "CheapestRouter"),
    "random": ("tables", "RandomRouter"),
    "knn": ("knn", "KNNRouter"),
    "tfidf_knn": ("tfidf", "TfidfKNNRouter"),
    "tfidf_ridge": ("tfidf", "TfidfRidgeRouter"),
    "mlp": ("mlp", "MLPRouter"),
    "mf": ("mf", "MFRouter"),
    "graphrouter": ("graphrouter", "GraphRouterBaseline"),
}
BASELINE_NAMES: tuple[str, ...] = tuple(_WHERE)


def baseline_class(name: str) -> type:
    """The class registered under ``name``; an unknown name lists the valid ones."""
    if name not in _WHERE:
        raise ConfigError(f"Unknown baseline {name!r}; valid names are {list(BASELINE_NAMES)}.")
    module, cls = _WHERE[name]
    return getattr(importlib.import_module(f"graphroute.routers.baselines.{module}"), cls)


def make_router(name: str, **params):
    """An unfitted baseline by its registry name, e.g. ``make_router("knn", k=20)``."""
    cls = baseline_class(name)
    valid = cls._param_names()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ConfigError(f"Baseline {name!r} ({cls.__name__}) has no parameter(s) {unknown}; "
                          f"its parameters are {valid}.")
    return cls(**params)
