"""Contract test suites, as pytest classes to subclass (Optuna's ``pytest_samplers`` pattern).

- ``RouterContract`` (``testing.routers``): any router, the graph router, a baseline or your own;
- ``EmbedderContract`` (``testing.embedders``): any text embedder;
- ``LoaderContract`` (``testing.loaders``): any reader of logs into the canonical table.

Subclass one as ``Test...``, implement its factory method, and pytest collects its tests. This
package needs pytest; it is imported by test suites only.
"""

from __future__ import annotations

from graphroute.testing.embedders import EMBEDDER_TEXTS, EmbedderContract
from graphroute.testing.loaders import CANONICAL_COLUMNS, LoaderContract
from graphroute.testing.routers import PREDICT_COLUMNS, ContractData, RouterContract, contract_data

__all__ = ["RouterContract", "ContractData", "contract_data", "PREDICT_COLUMNS", "EmbedderContract", "EMBEDDER_TEXTS",
           "LoaderContract", "CANONICAL_COLUMNS"]
