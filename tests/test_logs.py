"""The canonical table (graphroute.data.logs): validation errors name the row, the column and the fix;
repeated runs are averaged; files are read by suffix."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from graphroute.data.logs import (CANONICAL, DEFAULT_AGENT, DEFAULT_TASK, aggregate_runs, query_hash, read_logs,
                                  validate_logs)
from graphroute.errors import LogsError


def _logs(**overrides) -> pd.DataFrame:
    base = {"query_id": ["q1", "q1", "q2"], "query": ["What is 2+2?", "What is 2+2?", "Name a prime."],
            "task": ["math", "math", "math"], "model": ["a", "b", "a"], "agent": ["direct"] * 3,
            "effect": [1.0, 0.0, 1.0], "cost": [0.1, 0.3, 0.2]}
    base.update(overrides)
    return pd.DataFrame(base)


def test_valid_logs_come_back_canonical_and_the_input_is_untouched():
    raw = _logs().drop(columns=["task", "agent", "query_id"])[["cost", "effect", "model", "query"]]
    before = raw.copy()
    out = validate_logs(raw)
    pd.testing.assert_frame_equal(raw, before)
    assert list(out.columns) == [c for c in CANONICAL if c in out.columns]
    assert set(out["task"]) == {DEFAULT_TASK} and set(out["agent"]) == {DEFAULT_AGENT}
    assert out["query_id"].tolist() == [query_hash(q) for q in raw["query"]]  # ids derived from the text
    assert out["effect"].dtype == np.float64 and list(out.index) == [0, 1, 2]


@pytest.mark.parametrize("column, value, rule, fix", [
    ("effect", 1.7, "effect lies in [0, 1]", "rescale effect"),
    ("effect", "high", "effect is a number", "convert effect to float"),
    ("cost", -0.5, "cost is finite and >= 0", "costs are USD"),
    ("cost", np.nan, "cost is not NaN", "drop runs without a measured cost"),
    ("query", "   ", "query is not empty or whitespace", "give every row a non-empty query"),
    ("model", None, "model is not missing", "fill in model"),
])
def test_a_bad_value_is_named_by_row_column_value_and_fix(column, value, rule, fix):
    logs = _logs()
    logs[column] = logs[column].astype(object)
    logs.loc[2, column] = value
    with pytest.raises(LogsError) as err:
        validate_logs(logs)
    msg = str(err.value)
    assert f"'{rule}'" in msg and "row 2" in msg and f"Fix: {fix}" in msg
    assert f"{column}=" in msg  # the offending value is shown beside its column


def test_missing_column_suggests_the_close_name():
    logs = _logs().rename(columns={"effect": "Effect"})
    with pytest.raises(LogsError, match=r"lack required columns \['effect'\].*Did you mean 'Effect'\?"):
        validate_logs(logs)


def test_one_query_id_one_text_and_task():
    logs = _logs(task=["math", "code", "math"])
    with pytest.raises(LogsError, match="more than one task, e.g. 'q1'.*one query_id names one task"):
        validate_logs(logs)


def test_drop_invalid_drops_and_counts_only_the_bad_rows():
    logs = _logs(effect=[1.0, 2.0, 1.0])
    with pytest.warns(UserWarning, match="dropped 1 of 3 invalid rows"):
        out = validate_logs(logs, drop_invalid=True)
    assert out["model"].tolist() == ["a", "a"]
    with pytest.raises(LogsError, match="every one of the 3 rows is invalid"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            validate_logs(_logs(effect=[2.0, 2.0, 2.0]), drop_invalid=True)


def test_frame_level_faults():
    with pytest.raises(LogsError, match="must be a pandas DataFrame"):
        validate_logs([{"query": "x"}])
    with pytest.raises(LogsError, match="empty"):
        validate_logs(_logs().iloc[:0])


def test_aggregate_runs_averages_repeats_and_counts_them():
    logs = pd.concat([_logs(), _logs(effect=[0.0, 1.0, 1.0], cost=[0.3, 0.1, 0.2])], ignore_index=True)
    logs["latency_s"] = [1.0, 2.0, np.nan, 3.0, np.nan, np.nan]
    agg = aggregate_runs(logs)
    assert agg[["query_id", "model"]].values.tolist() == [["q1", "a"], ["q1", "b"], ["q2", "a"]]  # first appearance
    assert agg["effect"].tolist() == [0.5, 0.5, 1.0]
    np.testing.assert_allclose(agg["cost"], [0.2, 0.2, 0.2])
    assert agg["n_runs"].tolist() == [2, 2, 2]
    assert agg["latency_s"].tolist()[:2] == [2.0, 2.0] and np.isnan(agg["latency_s"].iloc[2])  # NaN = not logged


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".json", ".parquet"])
def test_read_logs_by_suffix(tmp_path, suffix):
    logs = _logs()
    path = tmp_path / f"runs{suffix}"
    {".csv": lambda: logs.to_csv(path, index=False), ".jsonl": lambda: logs.to_json(path, orient="records", lines=True),
     ".json": lambda: logs.to_json(path, orient="records"), ".parquet": lambda: logs.to_parquet(path)}[suffix]()
    pd.testing.assert_frame_equal(read_logs(path), validate_logs(logs))


def test_read_logs_errors_name_the_path_and_the_rule(tmp_path):
    with pytest.raises(LogsError, match="does not exist"):
        read_logs(tmp_path / "nope.csv")
    (tmp_path / "runs.txt").write_text("x")
    with pytest.raises(LogsError, match="cannot tell the format.*Rule: one of"):
        read_logs(tmp_path / "runs.txt")
