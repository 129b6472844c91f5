"""Shared datasets (graphroute.data.datasets): locating the data, shipped cards, and every dataset loading.

Unit tests run on a fake data directory written in tmp_path; the real-data tests find
../shared/data through ``data_dir()`` and skip with the reason when it is absent.
"""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.data.catalog import read_cards
from graphroute.data.datasets import DATASETS, data_dir, load_dataset
from graphroute.errors import ConfigError, DataNotFoundError
from graphroute.data.loaders import MARBLE_PRICES, ROUTELLM_PRICES, approx_tokens

CARD_FILES = ["routerbench_models.json", "llmrouter_tasks.json", "routellm.json", "tree_of_thoughts.json",
              "marble.json"]


def _shared():
    try:
        return data_dir()
    except DataNotFoundError:
        pytest.skip("../shared/data (or $GRAPHROUTE_DATA) is absent: real-data checks skipped")


def _covered(ds) -> None:
    """Every model / agent / task in the logs (and test logs) has a card with a description."""
    logs = ds.logs if ds.test_logs is None else pd.concat([ds.logs, ds.test_logs])
    for kind in ("model", "agent", "task"):
        cards = read_cards(getattr(ds, f"{kind}s"), kind)  # also validates the card fields
        assert cards, f"{ds.name}: no {kind} cards"
        names = {c.name for c in cards}
        assert set(logs[kind]) <= names, f"{ds.name}: {kind}s without a card: {set(logs[kind]) - names}"
        assert all(c.description.strip() for c in cards), f"{ds.name}: a {kind} card has no description"
    assert all(m.get("price_in") is not None and m.get("price_out") is not None for m in ds.models)


# ------------------------------------------------------------------ data_dir, names
def test_data_dir_follows_env_and_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHROUTE_DATA", str(tmp_path))
    assert data_dir() == tmp_path and gr.data_dir() == tmp_path
    monkeypatch.setenv("GRAPHROUTE_DATA", str(tmp_path / "absent"))
    with pytest.raises(DataNotFoundError, match="GRAPHROUTE_DATA") as err:
        data_dir()
    assert str(tmp_path / "absent") in str(err.value)


def test_unknown_dataset_lists_the_choices():
    with pytest.raises(ConfigError, match="routerbenchh") as err:
        load_dataset("routerbenchh")
    assert all(name in str(err.value) for name in DATASETS)
    assert set(DATASETS) == {"routerbench", "llmrouter", "routellm-gsm8k", "routellm-mmlu", "tree-of-thoughts",
                             "marble", "mmlu-pro", "zeroeval"}


def test_missing_dataset_folder_is_data_not_found(tmp_path, monkeypatch):
    monkeypatch.setenv("GRAPHROUTE_DATA", str(tmp_path))
    with pytest.raises(DataNotFoundError, match="routerbench"):
        load_dataset("routerbench")


# ------------------------------------------------------------------ shipped cards
@pytest.mark.parametrize("filename", CARD_FILES)
def test_shipped_card_files_are_valid_cards(filename):
    d = json.loads(resources.files("graphroute").joinpath("cards", filename).read_text(encoding="utf-8"))
    assert d["source"].strip()
    kinds = [k for k in ("model", "agent", "task") if f"{k}s" in d]
    assert kinds
    for kind in kinds:
        cards = read_cards(d[f"{kind}s"], kind)  # raises on a bad field or a repeated name
        assert cards and all(len(c.description) > 20 for c in cards)


def test_routerbench_cards_hold_the_eleven_models_with_list_prices():
    d = json.loads(resources.files("graphroute").joinpath("cards", "routerbench_models.json").read_text())
    prices = {m["name"]: (m["price_in"], m["price_out"]) for m in d["models"]}
    assert len(prices) == 11
    assert prices["gpt-4-1106-preview"] == (10.0, 30.0) and prices["gpt-3.5-turbo-1106"] == (1.0, 2.0)
    assert {t["name"] for t in d["tasks"]} == {"arc-challenge", "mbpp", "winogrande"}


# ------------------------------------------------------------------ load_dataset on a fake data dir
def test_llmrouter_cards_from_its_model_list_with_graphrouter_fallback(tmp_path, monkeypatch):
    folder = tmp_path / "graphrouter" / "related_llmrouter"
    folder.mkdir(parents=True)
    (folder / "default_llm.json").write_text(json.dumps({
        "small": {"size": "7B", "input_price": 0.2, "output_price": 0.4, "feature": "A small\nmodel.",
                  "model": "org/small"},
        "mistral-7b-instruct-v0.3": {"size": "7B", "input_price": 0.2, "output_price": 0.2, "feature": "",
                                     "model": "mistralai/mistral-7b-instruct-v0.3"},
        "unused": {"size": "1B", "input_price": 9.0, "output_price": 9.0, "feature": "never scored"}}))
    (tmp_path / "graphrouter" / "graphrouter_LLM_Descriptions.json").write_text(json.dumps({
        "Mistral-7b": {"feature": "GraphRouter's text\nfor Mistral.", "input_price": 0.2, "output_price": 0.2,
                       "model": "together_ai/mistralai/Mistral-7B-Instruct-v0.3"}}))
    for split, qs in (("train", ["Solve x+1=2.", "Name a river."]), ("test", ["Solve x+1=2.", "Spell cat."])):
        recs = [{"question": q, "scores": {"small": 1.0, "mistral-7b-instruct-v0.3": 0.0}} for q in qs]
        (folder / f"dcrouter_preprocessed_{split}.json").write_text(json.dumps(recs))
        (folder / f"default_query_{split}.jsonl").write_text(
            "\n".join(json.dumps({"task_name": t, "query": q}) for q, t in zip(qs, ["math", "trivia_qa"])) + "\n")
    monkeypatch.setenv("GRAPHROUTE_DATA", str(tmp_path))
    ds = load_dataset("llmrouter")
    assert ds.test_logs["query"].unique().tolist() == ["Spell cat."]  # the train question left test
    models = {m["name"]: m for m in ds.models}
    assert set(models) == {"small", "mistral-7b-instruct-v0.3"}
    assert models["small"] == {"name": "small", "description": "A small model.", "price_in": 0.2,
                               "price_out": 0.4, "params_b": 7.0}
    assert models["mistral-7b-instruct-v0.3"]["description"] == "GraphRouter's text for Mistral."
    assert [t["name"] for t in ds.tasks] == ["math", "trivia_qa"]
    assert ds.agents == [{"name": "direct", "description": ds.agents[0]["description"]}]
    _covered(ds)


def test_marble_cards_take_prices_from_the_loader(tmp_path, monkeypatch):
    folder = tmp_path / "marble_multiagentbench"
    folder.mkdir()
    pd.DataFrame({"task_md5_12": ["aaa", "aaa"], "model": ["gpt-4o-mini", "llama-3.1-70b"],
                  "agent": ["chain", "graph"], "token_usage": [1000, 5000], "innovation": [5, 4],
                  "safety": [4, 4], "feasibility": [3, 4]}).to_csv(folder / "marble_research_topology_outcomes.csv",
                                                                    index=False)
    (folder / "marble_research_tasks.jsonl").write_text(json.dumps({"task_md5_12": "aaa", "task": "Propose."}))
    monkeypatch.setenv("GRAPHROUTE_DATA", str(tmp_path))
    ds = load_dataset("marble")
    assert {m["name"]: (m["price_in"], m["price_out"]) for m in ds.models} == MARBLE_PRICES
    assert {a["name"] for a in ds.agents} == {"chain", "star", "tree", "graph"}
    assert ds.test_logs is None and ds.cards()["agents"] is ds.agents
    _covered(ds)


# ------------------------------------------------------------------ real data
def test_real_routerbench_counts_and_cards():
    _shared()
    ds = load_dataset("routerbench")
    assert ds.logs["query_id"].nunique() == 3164 and len(ds.logs) == 34790
    assert ds.logs.groupby("task")["query_id"].nunique().to_dict() == {"arc-challenge": 1470, "mbpp": 427,
                                                                        "winogrande": 1267}
    assert (ds.logs.groupby("model").size() == 3164).sum() == 10  # gpt-3.5 misses 14 outcomes
    assert set(ds.logs["model"]) == {m["name"] for m in ds.models}
    assert set(ds.logs["task"]) == {t["name"] for t in ds.tasks}


def test_real_routerbench_card_prices_explain_the_logged_costs():
    root = _shared()
    wide = pd.read_parquet(root / "routerbench" / "routerbench_5shot_subset.parquet")
    tok_in = approx_tokens(wide["prompt"])
    for card in load_dataset("routerbench").models:
        ok = wide[card["name"]].notna().to_numpy()
        tok_out = approx_tokens(wide[card["name"] + "|model_response"])
        estimate = (tok_in * card["price_in"] + tok_out * card["price_out"])[ok].sum() / 1e6
        ratio = wide[card["name"] + "|total_cost"].to_numpy()[ok].sum() / estimate
        assert 0.9 < ratio < 1.1, (card["name"], ratio)


def test_real_llmrouter_splits():
    _shared()
    ds = load_dataset("llmrouter")
    assert ds.logs["query_id"].nunique() == 5608 and len(ds.logs) == 5608 * 9
    assert ds.test_logs["query_id"].nunique() == 500 - 119
    assert not set(ds.test_logs["query_id"]) & set(ds.logs["query_id"])
    assert ds.logs["task"].nunique() == 14 and "default" not in set(ds.logs["task"])
    assert {m["name"] for m in ds.models} == set(ds.logs["model"])


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_real_dataset_loads_with_cards_for_everything_in_its_logs(name):
    _shared()
    ds = load_dataset(name)
    assert ds.name == name and ds.description == DATASETS[name]
    assert len(ds.logs) > 0 and ds.logs["effect"].between(0, 1).all() and (ds.logs["cost"] >= 0).all()
    assert np.isfinite(ds.logs["cost"]).all()
    _covered(ds)
    if name.startswith("routellm"):
        assert {m["name"]: (m["price_in"], m["price_out"]) for m in ds.models} == ROUTELLM_PRICES
    if name == "tree-of-thoughts":
        assert ds.logs["query_id"].nunique() == 200 and set(ds.logs["agent"]) == {"IO", "CoT", "ToT"}


def test_real_mmlu_pro_counts_cards_and_costs():
    _shared()
    ds = load_dataset("mmlu-pro")
    assert ds.logs["query_id"].nunique() == 11954 and ds.logs["task"].nunique() == 14
    assert ds.logs["model"].nunique() == 29 and len(ds.logs) == 334712 + 10279
    per_model = ds.logs.groupby("model")["query_id"].nunique()
    assert (per_model.drop("DeepSeek-Coder-V2") == 11954).all()  # the dense file
    best = ds.logs.groupby("model")["effect"].mean().drop("DeepSeek-Coder-V2")
    assert best.idxmax() == "gemini-1.5-pro-002" and abs(best.max() - 0.7025) < 5e-4  # the folder's README
    _explained_by_cards(ds)


def test_real_zeroeval_counts_cards_and_costs():
    _shared()
    ds = load_dataset("zeroeval")
    q = ds.logs.groupby("task")["query_id"].nunique()
    assert q.to_dict() == {"gsm8k": 1319, "math-l5": 721} and len(ds.logs) == 86984
    assert ds.logs["model"].nunique() == 55 and {t["name"] for t in ds.tasks} == {"gsm8k", "math-l5"}
    _explained_by_cards(ds)


def _explained_by_cards(ds) -> None:
    """Every logged cost is tokens x the card's prices (the dataset's own derivation)."""
    price = {m["name"]: (m["price_in"], m["price_out"]) for m in ds.models}
    lg = ds.logs
    expect = (lg["tokens_in"] * lg["model"].map(lambda m: price[m][0])
              + lg["tokens_out"] * lg["model"].map(lambda m: price[m][1])) / 1e6
    np.testing.assert_allclose(lg["cost"].to_numpy(float), expect.to_numpy(float), rtol=1e-9, atol=1e-15)
