"""The contract every text embedder honours, as a pytest class to subclass.

::

    from graphroute.testing import EmbedderContract

    class TestMyEmbedder(EmbedderContract):
        def make_embedder(self):
            return MyEmbedder()

Checks what routers rely on (``graphroute.embed.Embedder``): a stable ``name`` and a positive
``dim``; ``encode`` gives float32 [n, dim] rows of unit length (all-zero rows allowed for texts
with nothing to embed), shape (0, dim) for no texts; the same text always gets the same vector,
whatever else is in the batch; different texts get different vectors; a non-string entry or a
bare string raises EmbedderError naming the problem. This module needs pytest.
"""

from __future__ import annotations

import numpy as np
import pytest

from graphroute.embed import Embedder
from graphroute.errors import EmbedderError

__all__ = ["EmbedderContract", "EMBEDDER_TEXTS"]

EMBEDDER_TEXTS = [  # short, long, repeated words, digits, non-ASCII: what real queries look like
    "What is the capital of Australia? A) Sydney B) Canberra",
    "Write a Python function that returns the n-th Fibonacci number.",
    "Solve for x: 3x + 7 = 22.",
    "Résumé the plot of Les Misérables in two sentences, s'il vous plaît.",
    "the the the the",
    "How many legs does a spider have? " * 20,
]


class EmbedderContract:
    """Subclass as ``Test...`` and implement ``make_embedder()``; pytest collects the tests below."""

    def make_embedder(self) -> Embedder:
        """A ready embedder (cheap to build; it is built once per test class)."""
        raise NotImplementedError("Subclass EmbedderContract and return an Embedder from make_embedder().")

    @pytest.fixture(scope="class")
    def embedder(self) -> Embedder:
        return self.make_embedder()

    def test_name_and_dim(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert isinstance(embedder.name, str) and embedder.name.strip()
        assert isinstance(embedder.dim, int) and embedder.dim > 0

    def test_shape_dtype_and_unit_rows(self, embedder: Embedder) -> None:
        x = embedder.encode(EMBEDDER_TEXTS)
        assert isinstance(x, np.ndarray) and x.dtype == np.float32
        assert x.shape == (len(EMBEDDER_TEXTS), embedder.dim)
        assert np.isfinite(x).all()
        norms = np.linalg.norm(x, axis=1)
        assert np.all((np.abs(norms - 1.0) < 1e-3) | (norms < 1e-6)), f"row norms {norms}"
        assert embedder.encode([]).shape == (0, embedder.dim)

    def test_same_text_same_vector_in_any_batch(self, embedder: Embedder) -> None:
        batch = embedder.encode(EMBEDDER_TEXTS)
        alone = embedder.encode([EMBEDDER_TEXTS[2]])
        np.testing.assert_allclose(alone[0], batch[2], atol=1e-5)
        np.testing.assert_allclose(embedder.encode(EMBEDDER_TEXTS), batch, atol=1e-6)
        twice = embedder.encode([EMBEDDER_TEXTS[0], EMBEDDER_TEXTS[0]])
        np.testing.assert_allclose(twice[0], twice[1], atol=1e-6)

    def test_different_texts_differ(self, embedder: Embedder) -> None:
        x = embedder.encode(EMBEDDER_TEXTS[:4])
        sims = x @ x.T
        off = sims[~np.eye(len(x), dtype=bool)]
        assert (off < 0.9999).all(), "distinct texts got the same vector"

    def test_bad_input_raises_embedder_error(self, embedder: Embedder) -> None:
        with pytest.raises(EmbedderError):
            embedder.encode("a bare string is not a batch")
        with pytest.raises(EmbedderError):
            embedder.encode(["fine", None])  # type: ignore[list-item]
