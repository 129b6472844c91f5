"""The embedder registry: names a router can store, and how a name becomes an embedder.

``DEFAULT_EMBEDDER`` is the one place the default embedder's name lives. A name may carry
arguments (``"hash:dim=32,seed=1"``), which is how parameterised embedders report themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphroute.embed.base import Embedder
from graphroute.embed.cache import CachedEmbedder
from graphroute.embed.hashing import HashEmbedder
from graphroute.embed.minilm import MiniLMEmbedder
from graphroute.embed.static import STATIC_DEFAULT_NAME, StaticEmbedder
from graphroute.errors import EmbedderError

__all__ = ["EMBEDDERS", "DEFAULT_EMBEDDER", "register_embedder", "get_embedder", "parse_spec"]

DEFAULT_EMBEDDER = MiniLMEmbedder.name  # "minilm": what routers, baselines and the CLI embed with unless told otherwise

EMBEDDERS: dict[str, Callable[..., Embedder]] = {
    "hash": HashEmbedder,
    DEFAULT_EMBEDDER: MiniLMEmbedder,
    STATIC_DEFAULT_NAME: StaticEmbedder,
}


def register_embedder(name: str, factory: Callable[..., Embedder], *, overwrite: bool = False) -> None:
    """Make ``get_embedder(name)`` (and so ``Router(embedder=name)`` and ``graphroute.load``) build ``factory()``.

    The factory's embedders should report ``name`` as their ``.name`` so saved routers find it again.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise EmbedderError(f"An embedder name must be a non-empty string without ':'; got {name!r}. "
                            "Use a plain name such as 'my-embedder' (':' introduces arguments).")
    if not callable(factory):
        raise EmbedderError(f"The factory for embedder {name!r} must be callable; got {type(factory).__name__}.")
    if name in EMBEDDERS and not overwrite:
        raise EmbedderError(f"An embedder named {name!r} is already registered; pick another name or pass "
                            "overwrite=True.")
    EMBEDDERS[name] = factory


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"hash:dim=32,seed=1"`` -> ("hash", {"dim": 32, "seed": 1}): the names parameterised embedders report."""
    base, _, rest = spec.partition(":")
    kwargs: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise EmbedderError(f"Embedder spec {spec!r} is malformed at {item!r}; write name or name:key=value,...")
        try:
            kwargs[key.strip()] = int(value)
        except ValueError:
            kwargs[key.strip()] = value
    return base, kwargs


def get_embedder(spec: str | Embedder, cache_dir: str | Path | None = None) -> Embedder:
    """Resolve a registered name (or pass an Embedder through); with ``cache_dir``, wrap it in a disk cache.

    Embedders that are cheaper than a cache lookup (``cacheable = False``: hash, static) are not wrapped.
    """
    if isinstance(spec, Embedder):
        emb = spec
    elif isinstance(spec, str):
        base, kwargs = parse_spec(spec)
        if base not in EMBEDDERS:
            raise EmbedderError(f"Unknown embedder {spec!r}; valid names: {', '.join(sorted(EMBEDDERS))}. "
                                "Register others with graphroute.embed.register_embedder.")
        try:
            emb = EMBEDDERS[base](**kwargs)
        except TypeError as exc:
            raise EmbedderError(f"Embedder spec {spec!r} has arguments its factory does not take ({exc}).") from None
        if not isinstance(emb, Embedder):
            raise EmbedderError(f"The factory registered as {base!r} returned {type(emb).__name__}, not an Embedder.")
    else:
        raise EmbedderError(f"An embedder is a name ({', '.join(sorted(EMBEDDERS))}) or an Embedder instance; "
                            f"got {type(spec).__name__}.")
    if cache_dir is not None and emb.cacheable and not isinstance(emb, CachedEmbedder):
        emb = CachedEmbedder(emb, cache_dir)
    return emb
