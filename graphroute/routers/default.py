"""The default router shipped inside the package, and the module-level ``select``.

It is trained by ``data/train_default_router.py`` on samples of RouterBench, LLMRouter, MMLU-Pro and
ZeroEval (1,500 queries each: 99 models, 33 tasks named "<dataset>/<task>") and stored under
``graphroute/default_router/`` (JSON + safetensors, format version 3: the node states and the text
evidence are saved, so loading it and routing with it import no torch). It is loaded once, on first use.
"""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from graphroute.errors import RouterFileError

if TYPE_CHECKING:  # selection imports pandas; this module is imported by ``import graphroute`` users only on use
    from graphroute.selection import Selection

__all__ = ["default_router", "default_router_path", "select", "select_many"]

_lock = threading.Lock()
_router = None


def default_router_path() -> Path:
    """Where the shipped default router lives (inside the installed package)."""
    return Path(str(resources.files("graphroute") / "default_router"))


def default_router():
    """The shipped default router, loaded on first call and reused."""
    global _router
    with _lock:
        if _router is None:
            from graphroute.routers.gnn import load

            path = default_router_path()
            if not (path / "manifest.json").is_file():
                raise RouterFileError(f"The default router is missing from the package ({path}). Reinstall graphroute, "
                                      "or build it with `python data/train_default_router.py`.")
            _router = load(path)
        return _router


def select(query: str, router=None, **objective) -> Selection:
    """Choose a (model, agent) for ``query``; ``router`` defaults to the shipped default router.

    Keyword arguments are those of ``Router.select`` (task, weights, budget, allowed_models, ...).
    """
    return (router or default_router()).select(query, **objective)


def select_many(queries, router=None, **objective):
    """Vectorised ``select`` over many queries; returns a DataFrame (see ``Router.select_many``)."""
    return (router or default_router()).select_many(queries, **objective)
