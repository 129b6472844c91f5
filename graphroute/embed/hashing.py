"""``"hash"``: signed feature hashing of word unigrams and bigrams; instant and deterministic, for tests."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence

import numpy as np

from graphroute.embed.base import Embedder, check_texts, normalise_rows
from graphroute.errors import EmbedderError

__all__ = ["HashEmbedder"]

_WORD = re.compile(r"\w+")


class HashEmbedder(Embedder):
    """Signed feature hashing of lower-cased word unigrams and bigrams (blake2b, seeded).

    No model, no state: texts that share words share buckets, so they are close. Good enough for
    tests and smoke runs; it knows nothing about meaning (synonyms are unrelated).
    """

    version = "1"
    cacheable = False  # hashing is faster than a cache lookup

    def __init__(self, dim: int = 64, seed: int = 0) -> None:
        if not isinstance(dim, int) or dim < 1:
            raise EmbedderError(f"HashEmbedder dim must be a positive integer; got {dim!r}. Use e.g. dim=64.")
        if not isinstance(seed, int):
            raise EmbedderError(f"HashEmbedder seed must be an integer; got {seed!r}. Use e.g. seed=0.")
        self.dim = dim
        self.seed = seed
        # the name must tell apart every configuration, since it keys caches and saved routers
        self.name = "hash" if (dim, seed) == (64, 0) else f"hash:dim={dim},seed={seed}"
        self._salt = seed.to_bytes(16, "little", signed=True)

    def _features(self, text: str) -> Iterator[tuple[str, float]]:
        words = _WORD.findall(text.lower())
        if not words:
            yield "\x00empty", 1.0  # every wordless text maps to one fixed unit vector
        for w in words:
            yield w, 1.0
        for a, b in zip(words, words[1:]):
            yield f"{a} {b}", 0.5  # bigrams: word order matters a little

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts, "HashEmbedder")
        out = np.zeros((len(texts), self.dim), np.float32)  # [N, dim]
        for i, text in enumerate(texts):
            for feat, weight in self._features(text):
                digest = hashlib.blake2b(feat.encode("utf-8", "surrogatepass"), digest_size=8, salt=self._salt)
                h = int.from_bytes(digest.digest(), "little")
                out[i, h % self.dim] += weight if (h >> 63) & 1 else -weight
        out = normalise_rows(out)
        zero = ~np.any(out, axis=1)  # features cancelled out exactly (rare): fall back to one fixed axis
        out[zero, 0] = 1.0
        return out
