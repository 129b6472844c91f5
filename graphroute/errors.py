"""The one exception hierarchy of graphroute.

Every error names the value, the rule it broke and the fix. Each class also
derives from the builtin it refines (``ValueError``, ``RuntimeError``, ``OSError``)
so callers that catch builtins keep working.
"""

from __future__ import annotations

__all__ = [
    "GraphRouteError",
    "LogsError",
    "CardError",
    "ConfigError",
    "NotFittedError",
    "InfeasibleError",
    "RouterFileError",
    "EmbedderError",
    "DataNotFoundError",
]


class GraphRouteError(Exception):
    """Base class of every error graphroute raises on purpose."""


class LogsError(GraphRouteError, ValueError):
    """Logged runs break the canonical schema (a column, a type, a range)."""


class CardError(GraphRouteError, ValueError):
    """A model, agent or task card is malformed or unknown."""


class ConfigError(GraphRouteError, ValueError):
    """An argument or hyperparameter is out of its allowed range or choices."""


class NotFittedError(GraphRouteError, RuntimeError):
    """A method that needs a fitted router was called before ``fit``."""


class InfeasibleError(GraphRouteError, ValueError):
    """No candidate meets the constraints (budget, latency, allow-lists, minimum effect)."""


class RouterFileError(GraphRouteError, OSError):
    """A saved router directory is missing, truncated, corrupted, tampered or of another version."""


class EmbedderError(GraphRouteError, RuntimeError):
    """An embedder could not be found or loaded."""


class DataNotFoundError(GraphRouteError, FileNotFoundError):
    """A shipped or shared dataset could not be located."""
