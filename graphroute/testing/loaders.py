"""The contract every log reader honours, as a pytest class to subclass.

A reader maps some source's layout onto graphroute's canonical table (``graphroute.data.logs``).
A subclass writes a tiny file in the source's own layout and reads it back::

    from graphroute.testing import LoaderContract

    class TestMyFormat(LoaderContract):
        def load(self, folder):
            (folder / "runs.json").write_text(...)
            return read_my_format(folder / "runs.json")

Checks: the canonical columns come first, in order; every value passes ``validate_logs``
unchanged (no row dropped or rewritten); a query id has one text and one task; effect is in
[0, 1] and cost >= 0 (when a reader derives cost, it derives a number); reading twice gives
the same frame (no dependence on time, order of a set or a random state). This module needs pytest.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from graphroute.data.logs import validate_logs

__all__ = ["LoaderContract", "CANONICAL_COLUMNS"]

CANONICAL_COLUMNS = ["query_id", "query", "task", "model", "agent", "effect", "cost"]


class LoaderContract:
    """Subclass as ``Test...`` and implement ``load(folder)``; pytest collects the tests below."""

    def load(self, folder: Path) -> pd.DataFrame:
        """Write a tiny source file under ``folder`` and return what the reader makes of it."""
        raise NotImplementedError("Subclass LoaderContract and implement load(folder).")

    @pytest.fixture(scope="class")
    def logs(self, tmp_path_factory) -> pd.DataFrame:
        return self.load(tmp_path_factory.mktemp("loader"))

    def test_canonical_columns_first(self, logs: pd.DataFrame) -> None:
        assert list(logs.columns[:len(CANONICAL_COLUMNS)]) == CANONICAL_COLUMNS
        assert len(logs) > 0

    def test_rows_pass_validation_unchanged(self, logs: pd.DataFrame) -> None:
        valid = validate_logs(logs)
        assert len(valid) == len(logs), "validate_logs dropped rows the reader produced"
        pd.testing.assert_frame_equal(valid[CANONICAL_COLUMNS].reset_index(drop=True),
                                      logs[CANONICAL_COLUMNS].reset_index(drop=True), check_dtype=False)

    def test_values_in_range(self, logs: pd.DataFrame) -> None:
        assert logs["effect"].between(0.0, 1.0).all()
        assert (logs["cost"] >= 0).all() and logs["cost"].notna().all()
        for col in ("query_id", "query", "task", "model", "agent"):
            assert logs[col].map(lambda v: isinstance(v, str) and bool(v)).all(), f"{col} holds a non-text value"

    def test_one_text_and_task_per_query(self, logs: pd.DataFrame) -> None:
        per = logs.groupby("query_id")[["query", "task"]].nunique()
        assert (per <= 1).all().all(), "a query id carries several texts or tasks"

    def test_reading_twice_gives_the_same_frame(self, logs: pd.DataFrame, tmp_path: Path) -> None:
        pd.testing.assert_frame_equal(self.load(tmp_path).reset_index(drop=True), logs.reset_index(drop=True))
