"""The embedder contract: texts in, unit-length float32 vectors out, deterministically.

Every embedder subclasses ``Embedder``; ``check_texts`` and ``normalise_rows`` are the two rules
they all share (what counts as a batch of texts, and how a row becomes unit length).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graphroute.errors import EmbedderError

__all__ = ["Embedder", "check_texts", "normalise_rows"]

_EPS = 1e-12  # below this a row counts as all-zero and is left as it is


def check_texts(texts: Sequence[str], who: str) -> list[str]:
    """Return ``texts`` as a list, or raise naming the first entry that is not a string."""
    if isinstance(texts, str):
        raise EmbedderError(f"{who}.encode expects a sequence of strings, got one string ({texts[:40]!r}...); "
                            "wrap it in a list: encode([text]).")
    try:
        out = list(texts)
    except TypeError:
        raise EmbedderError(f"{who}.encode expects a sequence of strings, got {type(texts).__name__}; "
                            "pass a list of texts.") from None
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise EmbedderError(f"{who}.encode needs strings; entry {i} is {type(t).__name__} ({t!r:.60}). "
                                "Convert or drop non-text entries (e.g. NaN for a missing query) first.")
    return out


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """L2-normalise the rows of ``x`` [N, D] in place (float32); all-zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)  # [N, 1]
    x /= np.maximum(norms, _EPS)
    return x


class Embedder(ABC):
    """Maps texts to L2-normalised float32 vectors, deterministically.

    Subclasses set ``name`` (a stable id: it keys the disk cache and is written into saved
    routers, so two embedders with one name must give the same vectors) and ``dim``, and
    implement ``encode``. ``version`` also enters cache keys: bump it when the vectors change.
    ``cacheable`` says whether a disk cache can beat recomputing (False for cheap embedders).
    """

    name: str
    dim: int
    version: str = ""
    cacheable: bool = True

    @abstractmethod
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``: float32 array [len(texts), dim] with unit-length rows.

        An empty sequence gives shape (0, dim); an entry that is not a string raises EmbedderError.
        """

    def use_cache_dir(self, cache_dir: Path) -> None:
        """Told by ``CachedEmbedder`` which folder caches its vectors.

        An embedder that keeps files of its own (MiniLM keeps its ONNX graph) may keep them there
        too, so one folder holds everything a machine has computed. The default keeps nothing.
        """

    def embed(self, texts: Sequence[str], batch_size: int = 1024) -> np.ndarray:
        """``encode`` in batches of ``batch_size``, checking the result against the contract.

        Use it with a custom embedder to catch a wrong shape, dtype or norm early, naming it.
        """
        if not isinstance(batch_size, int) or batch_size < 1:
            raise EmbedderError(f"batch_size must be a positive integer; got {batch_size!r}. Use e.g. 1024.")
        texts = check_texts(texts, type(self).__name__)
        parts = [np.asarray(self.encode(texts[i: i + batch_size])) for i in range(0, len(texts), batch_size)]
        out = np.concatenate(parts) if parts else np.zeros((0, self.dim), np.float32)  # [N, dim]
        if out.shape != (len(texts), self.dim) or out.dtype != np.float32:
            raise EmbedderError(f"Embedder {self.name!r} returned {out.dtype} {out.shape} for {len(texts)} texts; "
                                f"the contract is float32 ({len(texts)}, {self.dim}). Fix its encode().")
        if len(out) and not np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-3):
            raise EmbedderError(f"Embedder {self.name!r} returned rows that are not unit length; "
                                "L2-normalise them in its encode().")
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
