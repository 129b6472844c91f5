"""Format readers (graphroute.loaders) and the shared datasets (graphroute.datasets)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.errors import ConfigError, DataNotFoundError
from graphroute.loaders import LLMROUTER_OUTPUT_TOKENS, approx_tokens, read_llmrouter, read_llmrouter_splits, \
    read_routerbench


def _shared():
    try:
        return gr.data_dir()
    except DataNotFoundError:
        pytest.skip("../shared/data (or $GRAPHROUTE_DATA) is absent: real-data checks skipped")


def test_routerbench_wide_to_long(tmp_path):
    wide = pd.DataFrame({
        "sample_id": ["a.1", "a.2", "a.2"],
        "prompt": [repr(["Q one"]), repr(["Q two"]), repr(["Q two"])],
        "eval_name": ["arc", "arc", "arc"],
        "m1": [1.0, 0.0, np.nan], "m1|total_cost": [0.1, 0.2, np.nan],
        "m2": [np.nan, 1.0, np.nan], "m2|total_cost": [np.nan, 0.4, np.nan],
    })
    wide.loc[2, "m1"] = np.nan  # a repeated id holding fewer scores: dropped
    path = tmp_path / "rb.parquet"
    wide.to_parquet(path)
    before = wide.copy()
    logs = read_routerbench(path)
    pd.testing.assert_frame_equal(wide, before)
    got = logs.sort_values(["query_id", "model"])[["query_id", "query", "task", "model", "effect", "cost"]]
    assert got.values.tolist() == [["a.1", "Q one", "arc", "m1", 1.0, 0.1],
                                   ["a.2", "Q two", "arc", "m1", 0.0, 0.2],
                                   ["a.2", "Q two", "arc", "m2", 1.0, 0.4]]
    assert (logs["agent"] == "direct").all()


def test_llmrouter_cost_is_derived_and_overlap_removed(tmp_path):
    (tmp_path / "default_llm.json").write_text(json.dumps({
        "small": {"input_price": 0.2, "output_price": 0.4, "feature": "a small model"},
        "big": {"input_price": 1.0, "output_price": 2.0, "feature": "a big model"}}))
    train = [{"question": "What is 2+2?", "scores": {"small": 1.0, "big": 1.0}},
             {"question": "Prove Fermat.", "scores": {"small": 0.0, "big": 0.5}}]
    test = [{"question": "What is 2+2?", "scores": {"small": 1.0, "big": 1.0}},
            {"question": "Name a prime.", "scores": {"small": 1.0, "big": 1.0}}]
    (tmp_path / "dcrouter_preprocessed_train.json").write_text(json.dumps(train))
    (tmp_path / "dcrouter_preprocessed_test.json").write_text(json.dumps(test))
    (tmp_path / "default_query_train.jsonl").write_text(
        json.dumps({"task_name": "math", "query": "What is 2+2?\u2028"}) + "\n"
        + json.dumps({"task_name": "proof", "query": "Prove Fermat."}) + "\n")
    logs = read_llmrouter(tmp_path, "train")
    row = logs[(logs["query"] == "Prove Fermat.") & (logs["model"] == "big")].iloc[0]
    tok = approx_tokens(["Prove Fermat."])[0]
    assert row["cost"] == pytest.approx((tok * 1.0 + LLMROUTER_OUTPUT_TOKENS * 2.0) / 1e6)
    assert row["task"] == "proof" and row["effect"] == 0.5
    tr, te = read_llmrouter_splits(tmp_path)
    assert set(te["query"]) == {"Name a prime."}  # the question also in train is gone
    with pytest.raises(ConfigError, match="split"):
        read_llmrouter(tmp_path, "dev")


def test_missing_files_and_unknown_dataset(tmp_path, monkeypatch):
    with pytest.raises(DataNotFoundError, match="RouterBench"):
        read_routerbench(tmp_path / "nope.parquet")
    monkeypatch.setenv("GRAPHROUTE_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataNotFoundError, match="GRAPHROUTE_DATA"):
        gr.data_dir()
    with pytest.raises(ConfigError, match="routerbench"):
        gr.load_dataset("routerbenchh")


def test_real_routerbench_counts():
    _shared()
    ds = gr.load_dataset("routerbench")
    assert ds.logs["query_id"].nunique() == 3164 and len(ds.logs) == 34790
    assert set(ds.logs["model"]) == {m["name"] for m in ds.models}
    assert set(ds.logs["task"]) == {t["name"] for t in ds.tasks}


@pytest.mark.parametrize("name", sorted(gr.DATASETS))
def test_real_datasets_load_with_cards(name):
    _shared()
    ds = gr.load_dataset(name)
    assert len(ds.logs) > 0 and ds.logs["effect"].between(0, 1).all() and (ds.logs["cost"] >= 0).all()
    assert set(ds.logs["model"]) <= {m["name"] for m in ds.models}
    if ds.agents:
        assert set(ds.logs["agent"]) <= {a["name"] for a in ds.agents}
    if name == "llmrouter":
        assert ds.logs["query_id"].nunique() == 5608
        assert not set(ds.test_logs["query_id"]) & set(ds.logs["query_id"])
