"""The contract suites themselves: the built-in embedders pass EmbedderContract, and each suite
catches what it exists to catch (a router whose __init__ converts an argument, a loader that
returns a value out of range, an embedder that returns unnormalised rows)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graphroute.embed import Embedder, HashEmbedder, StaticEmbedder
from graphroute.routers.baselines import KNNRouter
from graphroute.testing import EmbedderContract, LoaderContract, RouterContract
from graphroute.testing.loaders import CANONICAL_COLUMNS


class TestHashEmbedder(EmbedderContract):
    def make_embedder(self):
        return HashEmbedder()


class TestStaticEmbedder(EmbedderContract):
    def make_embedder(self):
        return StaticEmbedder()


# ------------------------------------------------------------ the suites can fail
class _ConvertingKNN(KNNRouter):
    """Breaks scikit-learn's rule: converts k in __init__."""

    def __init__(self, *, k=10, embedder="hash", strip_boilerplate=True, cache_dir=None):
        super().__init__(k=int(k) if isinstance(k, int | float | str) else k, embedder=embedder,
                         strip_boilerplate=strip_boilerplate, cache_dir=cache_dir)
        self.k_squared = None  # and sets a public attribute that is not a parameter


def test_router_contract_catches_an_init_that_does_more_than_store():
    suite = RouterContract()
    suite.make_router = lambda: KNNRouter(embedder="hash")
    suite.test_init_only_stores_parameters()  # the real one passes
    suite.make_router = lambda: _ConvertingKNN()
    with pytest.raises(AssertionError, match="not parameters"):
        suite.test_init_only_stores_parameters()


class _Unnormalised(Embedder):
    name, dim = "unnormalised", 4

    def encode(self, texts):
        return np.ones((len(list(texts)), self.dim), dtype=np.float32)


def test_embedder_contract_catches_rows_that_are_not_unit_length():
    with pytest.raises(AssertionError, match="row norms"):
        EmbedderContract().test_shape_dtype_and_unit_rows(_Unnormalised())


def test_loader_contract_catches_an_effect_out_of_range():
    logs = pd.DataFrame([["q1", "Q?", "t", "m", "direct", 1.7, 0.1]], columns=CANONICAL_COLUMNS)
    with pytest.raises(AssertionError):
        LoaderContract().test_values_in_range(logs)
