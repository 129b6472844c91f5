"""Process-wide defaults that several layers read: where the embedding cache lives.

Kept at the data layer (the bottom) so the embedders, the graph router and the baselines all
import it without an upward import.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DEFAULT_CACHE", "resolve_cache"]

# embedding cache: $GRAPHROUTE_CACHE, else ~/.cache/graphroute (read once, at import)
DEFAULT_CACHE = Path(os.environ.get("GRAPHROUTE_CACHE", Path.home() / ".cache" / "graphroute"))


def resolve_cache(cache_dir: str | Path | bool | None) -> str | Path | None:
    """A router's ``cache_dir`` parameter as the embedder's: None → DEFAULT_CACHE, False → no cache."""
    return None if cache_dir is False else (cache_dir or DEFAULT_CACHE)
