"""Format readers (graphroute.data.loaders), on tiny files written in each source's own layout."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from graphroute.errors import ConfigError, DataNotFoundError, LogsError
from graphroute.testing import LoaderContract
from graphroute.data.loaders import (
    LLMROUTER_OUTPUT_TOKENS,
    MARBLE_INPUT_SHARE,
    MARBLE_PRICES,
    ROUTELLM_OUTPUT_TOKENS,
    ROUTELLM_PRICES,
    approx_tokens,
    read_llmrouter,
    read_llmrouter_splits,
    read_marble,
    read_mmlu_pro,
    read_price_cards,
    read_routellm,
    read_routerbench,
    read_tree_of_thoughts,
    read_zeroeval,
)

GPT4, MIXTRAL = "gpt-4-1106-preview", "mistralai/Mixtral-8x7B-Instruct-v0.1"
COLS = ["query_id", "query", "task", "model", "agent", "effect", "cost"]


def test_approx_tokens_rounds_characters_over_four_up():
    assert approx_tokens(["", "abcd", "abcde", None]).tolist() == [0.0, 1.0, 2.0, 0.0]
    assert approx_tokens(pd.Series(["x" * 400])).tolist() == [100.0]


# ------------------------------------------------------------------ RouterBench
def _routerbench_wide() -> pd.DataFrame:
    nan = np.nan
    return pd.DataFrame({
        "sample_id": ["arc.1", "arc.2", "arc.2", "mbpp.1", "arc.3"],
        "prompt": [repr(["Q one"]), repr(["Q two"]), repr(["Q two, other shots"]), "plain prompt", repr(["Q three"])],
        "eval_name": ["arc", "arc", "arc", "mbpp", "arc"],
        "m1": [1.0, 0.0, nan, 1.0, nan], "m1|total_cost": [0.1, 0.2, nan, 0.3, nan],
        "m2": [nan, 1.0, 1.0, 0.0, nan], "m2|total_cost": [nan, 0.4, 0.9, 0.5, nan],
        "m2|model_response": ["['a']", "['b']", "['c']", "['d']", nan],
    })


def test_routerbench_wide_to_long_exact_rows(tmp_path):
    # arc.2 is repeated: the copy with fewer scores is dropped; arc.3 has no score at all: dropped
    wide = _routerbench_wide()
    path = tmp_path / "rb.parquet"
    wide.to_parquet(path)
    logs = read_routerbench(path)
    assert logs[COLS].values.tolist() == [
        ["arc.1", "Q one", "arc", "m1", "direct", 1.0, 0.1],
        ["arc.2", "Q two", "arc", "m1", "direct", 0.0, 0.2],
        ["arc.2", "Q two", "arc", "m2", "direct", 1.0, 0.4],
        ["mbpp.1", "plain prompt", "mbpp", "m1", "direct", 1.0, 0.3],
        ["mbpp.1", "plain prompt", "mbpp", "m2", "direct", 0.0, 0.5],
    ]
    assert logs["effect"].dtype == np.float64


def test_routerbench_reads_a_folder_and_rejects_other_layouts(tmp_path):
    _routerbench_wide().to_parquet(tmp_path / "routerbench_5shot_subset.parquet")
    assert len(read_routerbench(tmp_path)) == 5
    pd.DataFrame({"query": ["q"], "model": ["m"]}).to_parquet(tmp_path / "other.parquet")
    with pytest.raises(LogsError, match="total_cost"):
        read_routerbench(tmp_path / "other.parquet")
    _routerbench_wide().drop(columns="eval_name").to_parquet(tmp_path / "noeval.parquet")
    with pytest.raises(LogsError, match="eval_name"):
        read_routerbench(tmp_path / "noeval.parquet")


def test_routerbench_unparsable_list_prompt_is_kept_raw(tmp_path):
    wide = _routerbench_wide().iloc[:1].assign(prompt="[not a python list")
    wide.to_parquet(tmp_path / "rb.parquet")
    assert read_routerbench(tmp_path / "rb.parquet")["query"].tolist() == ["[not a python list"]


# ------------------------------------------------------------------ LLMRouter
def _write_llmrouter(d, *, labels: bool = True) -> None:
    (d / "default_llm.json").write_text(json.dumps({
        "small": {"size": "7B", "input_price": 0.2, "output_price": 0.4, "feature": "a small model"},
        "big": {"size": "70B", "input_price": 1.0, "output_price": 2.0, "feature": "a big model"},
        "unused": {"size": "1B", "input_price": 9.0, "output_price": 9.0, "feature": "never scored"}}))
    q_sep = "Line one\u2028line two?"  # U+2028 inside a text must not split the JSONL line
    train = [{"question": "What is 2+2?", "scores": {"small": 1.0, "big": 1.0}, "cluster_id": 0},
             {"question": "Prove Fermat.", "scores": {"small": 0.0, "big": 0.5}, "cluster_id": 1},
             {"question": q_sep, "scores": {"small": 0.25, "big": 0.75}, "cluster_id": 2}]
    test = [{"question": "What is 2+2?", "scores": {"small": 1.0, "big": 1.0}},
            {"question": "Name a prime.", "scores": {"small": 1.0, "big": 0.0}}]
    (d / "dcrouter_preprocessed_train.json").write_text(json.dumps(train))
    (d / "dcrouter_preprocessed_test.json").write_text(json.dumps(test))
    if labels:
        (d / "default_query_train.jsonl").write_text(
            json.dumps({"task_name": "arith", "query": "What is 2+2?"}) + "\n"
            + json.dumps({"task_name": "proof", "query": "Prove Fermat."}) + "\n"
            + json.dumps({"task_name": "other", "query": "Prove Fermat."}) + "\n"  # second label: first wins
            + json.dumps({"task_name": "lines", "query": q_sep}, ensure_ascii=False) + "\n")
        (d / "default_query_test.jsonl").write_text(
            json.dumps({"task_name": "arith", "query": "What is 2+2?"}) + "\n")


def test_llmrouter_exact_values_and_derived_cost(tmp_path):
    _write_llmrouter(tmp_path)
    logs = read_llmrouter(tmp_path, "train")
    assert len(logs) == 6 and logs["query_id"].nunique() == 3
    row = logs[(logs["query"] == "Prove Fermat.") & (logs["model"] == "big")].iloc[0]
    tok = np.ceil(len("Prove Fermat.") / 4)  # 13 characters -> 4 tokens
    assert tok == 4 and row["tokens_in"] == tok and row["tokens_out"] == LLMROUTER_OUTPUT_TOKENS
    assert row["cost"] == pytest.approx((4 * 1.0 + LLMROUTER_OUTPUT_TOKENS * 2.0) / 1e6)
    assert (row["task"], row["effect"], row["agent"]) == ("proof", 0.5, "direct")
    assert set(logs.loc[logs["query"].str.contains("\u2028"), "task"]) == {"lines"}
    test = read_llmrouter(tmp_path, "test")
    assert dict(zip(test["query"], test["task"])) == {"What is 2+2?": "arith", "Name a prime.": "default"}


def test_llmrouter_splits_remove_questions_seen_in_train(tmp_path):
    _write_llmrouter(tmp_path)
    train, test = read_llmrouter_splits(tmp_path)
    assert train["query_id"].nunique() == 3
    assert test["query"].tolist() == ["Name a prime.", "Name a prime."]
    assert not set(test["query_id"]) & set(train["query_id"])


def test_llmrouter_errors(tmp_path):
    _write_llmrouter(tmp_path, labels=False)
    with pytest.raises(ConfigError, match="'dev'.*train"):
        read_llmrouter(tmp_path, "dev")
    with pytest.raises(DataNotFoundError, match="default_query_train.jsonl"):
        read_llmrouter(tmp_path, "train")
    _write_llmrouter(tmp_path)
    (tmp_path / "default_llm.json").write_text(json.dumps({"small": {"input_price": 0.2, "output_price": 0.4}}))
    with pytest.raises(LogsError, match=r"\['big'\].*no price"):
        read_llmrouter(tmp_path, "train")


# ------------------------------------------------------------------ RouteLLM
def _write_routellm(d) -> None:
    (d / "gsm8k").mkdir()
    pd.DataFrame({
        "prompt": ["add 1 and 2", "leaked problem", "twelve chars"],
        MIXTRAL: [False, True, True], GPT4: [True, True, False],
        f"{MIXTRAL}_response": ["3?", "x", "abcdefghi"], f"{GPT4}_response": ["It is 3.", "x", ""],
    }).to_csv(d / "gsm8k" / "gsm8k_responses.csv", index=False)
    (d / "gsm8k" / "contaminated_prompts.jsonl").write_text(
        json.dumps({"train_prompt": "t", "eval_prompt": "leaked problem", "train_idx": 0, "eval_idx": 1}) + "\n")
    (d / "mmlu" / "responses").mkdir(parents=True)
    pd.DataFrame({"prompt": ["Q anatomy", "Q shared"], MIXTRAL: [True, False], GPT4: [True, True]}).to_csv(
        d / "mmlu" / "responses" / "mmlu_anatomy.csv", index=False)
    pd.DataFrame({"prompt": ["Q shared", "Q virology"], MIXTRAL: [True, True], GPT4: [False, True]}).to_csv(
        d / "mmlu" / "responses" / "mmlu_virology.csv", index=False)
    (d / "mmlu" / "contaminated_prompts.jsonl").write_text("")


def test_routellm_gsm8k_counts_response_tokens_and_drops_leaked_prompts(tmp_path):
    _write_routellm(tmp_path)
    logs = read_routellm(tmp_path, "gsm8k")
    assert sorted(set(logs["query"])) == ["add 1 and 2", "twelve chars"]
    assert set(logs["task"]) == {"gsm8k"} and set(logs["model"]) == {GPT4, MIXTRAL}
    row = logs[(logs["query"] == "add 1 and 2") & (logs["model"] == GPT4)].iloc[0]
    # 11 characters -> 3 tokens in; "It is 3." 8 characters -> 2 tokens out
    p_in, p_out = ROUTELLM_PRICES[GPT4]
    assert (row["tokens_in"], row["tokens_out"], row["effect"]) == (3.0, 2.0, 1.0)
    assert row["cost"] == pytest.approx((3 * p_in + 2 * p_out) / 1e6)
    empty = logs[(logs["query"] == "twelve chars") & (logs["model"] == GPT4)].iloc[0]
    assert empty["tokens_out"] == 0.0 and empty["effect"] == 0.0


def test_routellm_mmlu_subject_tasks_fixed_output_and_first_duplicate_kept(tmp_path):
    _write_routellm(tmp_path)
    logs = read_routellm(tmp_path, "mmlu")
    assert logs["query_id"].nunique() == 3 and len(logs) == 6
    tasks = dict(zip(logs["query"], logs["task"]))
    assert tasks == {"Q anatomy": "mmlu_anatomy", "Q shared": "mmlu_anatomy", "Q virology": "mmlu_virology"}
    assert (logs["tokens_out"] == ROUTELLM_OUTPUT_TOKENS["mmlu"]).all()
    shared = logs[logs["query"] == "Q shared"].set_index("model")["effect"]
    assert shared.to_dict() == {MIXTRAL: 0.0, GPT4: 1.0}  # the anatomy copy, not the virology one
    p_in, p_out = ROUTELLM_PRICES[MIXTRAL]
    row = logs[(logs["query"] == "Q anatomy") & (logs["model"] == MIXTRAL)].iloc[0]
    assert row["cost"] == pytest.approx((3 * p_in + ROUTELLM_OUTPUT_TOKENS["mmlu"] * p_out) / 1e6)
    with pytest.raises(ConfigError, match="mt_bench.*gsm8k"):
        read_routellm(tmp_path, "mt_bench")


# ------------------------------------------------------------------ Tree of Thoughts
def _write_tot(path) -> None:
    rows = []
    for task, strategies, q in (("game24", ("io_sample100", "cot_sample100", "tot_bfs_b5"), "4 5 6 10"),
                                ("text", ("io_sample10", "cot_sample10", "tot_plan_vote_b5"), "Write it.")):
        for i, s in enumerate(strategies):
            rows.append({"task": task, "query_idx": 7, "query": q, "model": "gpt-4", "temperature": 0.7,
                         "strategy": s, "n_outputs": 5, "score_mean": (0.2 if task == "game24" else 5.5),
                         "score_max": 1.0, "success_any": (i != 0) if task == "game24" else np.nan,
                         "prompt_tokens": 100 * (i + 1), "completion_tokens": 10 * (i + 1),
                         "cost_usd": 0.01 * (i + 1), "usage_counter_reset": False, "source_log": "x.json"})
    rows[-1]["score_mean"] = np.nan  # the text ToT log holds no score
    pd.DataFrame(rows).to_csv(path, index=False, compression="gzip")


def test_tree_of_thoughts_strategies_become_agents(tmp_path):
    _write_tot(tmp_path / "tot_strategy_outcomes.csv.gz")
    logs = read_tree_of_thoughts(tmp_path)
    assert logs[["query_id", "agent", "effect", "cost"]].values.tolist() == [
        ["game24:7", "IO", 0.0, 0.01], ["game24:7", "CoT", 1.0, 0.02], ["game24:7", "ToT", 1.0, 0.03],
        ["text:7", "IO", 0.5, 0.01], ["text:7", "CoT", 0.5, 0.02],  # (5.5 - 1) / 9; unscored ToT run left out
    ]
    assert logs["tokens_in"].tolist() == [100.0, 200.0, 300.0, 100.0, 200.0]
    assert set(logs["model"]) == {"gpt-4"}


# ------------------------------------------------------------------ MARBLE
def _write_marble(d) -> None:
    pd.DataFrame({
        "source_file": "f", "row_in_file": [0, 1, 2, 3],
        "task_md5_12": ["aaa", "aaa", "bbb", "bbb"], "model": ["gpt-4o-mini", "gpt-3.5-turbo", "gpt-4o-mini", "x"],
        "agent": ["chain", "star", "graph", "tree"], "coordination_mode_field": "graph",
        "token_usage": [1000, 2000, 3000, 4000],
        "innovation": [5, 3, np.nan, 1], "safety": [4, 3, 4, 1], "feasibility": [3, 3, 4, 1],
    }).iloc[:3].to_csv(d / "marble_research_topology_outcomes.csv", index=False)
    (d / "marble_research_tasks.jsonl").write_text(
        json.dumps({"task_md5_12": "aaa", "task": "\n    Dear team,\n      write a proposal.\n"}) + "\n"
        + json.dumps({"task_md5_12": "bbb", "task": "Another task."}) + "\n")


def test_marble_topologies_rescaled_scores_and_token_cost(tmp_path):
    _write_marble(tmp_path)
    logs = read_marble(tmp_path)
    assert logs[["query_id", "model", "agent", "effect"]].values.tolist() == [
        ["aaa", "gpt-4o-mini", "chain", 0.75], ["aaa", "gpt-3.5-turbo", "star", 0.5]]  # mean 4 and 3; unjudged run out
    assert logs["query"].iloc[0] == "Dear team,\n  write a proposal."
    p_in, p_out = MARBLE_PRICES["gpt-3.5-turbo"]
    row = logs.iloc[1]
    assert row["tokens_in"] == round(2000 * MARBLE_INPUT_SHARE) and row["tokens_in"] + row["tokens_out"] == 2000
    assert row["cost"] == pytest.approx((row["tokens_in"] * p_in + row["tokens_out"] * p_out) / 1e6)


def test_marble_unpriced_model_is_an_error(tmp_path):
    _write_marble(tmp_path)
    runs = pd.read_csv(tmp_path / "marble_research_topology_outcomes.csv").assign(model="mystery-llm")
    runs.to_csv(tmp_path / "marble_research_topology_outcomes.csv", index=False)
    with pytest.raises(LogsError, match="mystery-llm"):
        read_marble(tmp_path)


# ------------------------------------------------------------------ missing files, every reader
@pytest.mark.parametrize("reader, expected", [
    (lambda p: read_routerbench(p / "rb.parquet"), "RouterBench"),
    (lambda p: read_llmrouter(p), "dcrouter_preprocessed_train"),
    (lambda p: read_routellm(p, "gsm8k"), "gsm8k_responses.csv"),
    (lambda p: read_routellm(p, "mmlu"), "mmlu"),
    (lambda p: read_tree_of_thoughts(p), "tot_strategy_outcomes"),
    (lambda p: read_marble(p), "marble_research_topology_outcomes"),
    (lambda p: read_mmlu_pro(p), "mmlu_pro_5shot.parquet"),
    (lambda p: read_zeroeval(p), "zeroeval_gsm8k_mathl5.parquet"),
    (lambda p: read_price_cards(p), "cards.json"),
])
def test_missing_files_name_the_path_and_what_was_expected(tmp_path, reader, expected):
    with pytest.raises(DataNotFoundError, match=expected) as err:
        reader(tmp_path / "absent")
    assert str(tmp_path / "absent") in str(err.value) and "GRAPHROUTE_DATA" in str(err.value)


# ------------------------------------------------------------------ the loader contract, for every reader
class TestRouterBenchContract(LoaderContract):
    def load(self, folder):
        _routerbench_wide().to_parquet(folder / "rb.parquet")
        return read_routerbench(folder / "rb.parquet")


class TestLLMRouterContract(LoaderContract):
    def load(self, folder):
        _write_llmrouter(folder)
        return read_llmrouter(folder, "train")


class TestRouteLLMContract(LoaderContract):
    def load(self, folder):
        _write_routellm(folder)
        return read_routellm(folder, "mmlu")


class TestTreeOfThoughtsContract(LoaderContract):
    def load(self, folder):
        _write_tot(folder / "tot_strategy_outcomes.csv.gz")
        return read_tree_of_thoughts(folder)


class TestMarbleContract(LoaderContract):
    def load(self, folder):
        _write_marble(folder)
        return read_marble(folder)


# ------------------------------------------------------------------ MMLU-Pro, ZeroEval (long parquet + cards.json)
_PRICED_CARDS = [
    {"model": "big", "description": "A big   model.", "params_b": 70, "price_in": 0.9, "price_out": 0.9,
     "price_source": "size rule", "price_note": None},
    {"model": "api", "description": "An API model.", "params_b": None, "price_in": 1.25, "price_out": 5.0,
     "price_source": "list price", "price_note": "late 2024"},
]


def _priced_rows(models, ids, task_of, text_of) -> pd.DataFrame:
    """Rows in the builds' layout (extra columns included), cost from the cards' prices."""
    price = {c["model"]: (c["price_in"], c["price_out"]) for c in _PRICED_CARDS}
    rows = []
    for q in ids:
        for m in models:
            tok_out = 10.0 + len(m)
            cost = len(text_of(q)) / 4 * price[m][0] / 1e6 + tok_out * price[m][1] / 1e6
            rows.append({"query_id": q, "query": text_of(q), "task": task_of(q), "model": m, "agent": "direct",
                         "effect": float((len(q) + len(m)) % 2), "tokens_out": tok_out, "cost": cost,
                         "answer": "B", "pred": None})
    return pd.DataFrame(rows)


def _write_mmlu_pro(d) -> None:
    ids = [f"mmlu-pro-{i}" for i in range(6)]
    dense = _priced_rows(["api", "big"], ids, lambda q: ["law", "math"][int(q[-1]) % 2],
                         lambda q: f"Question {q}?\n\nOptions:\nA. yes\nB. no")
    dense.to_parquet(d / "mmlu_pro_5shot.parquet")
    extra = _priced_rows(["big"], ids[:3], lambda q: ["law", "math"][int(q[-1]) % 2],
                         lambda q: f"Question {q}?\n\nOptions:\nA. yes\nB. no").assign(model="coder")
    extra.to_parquet(d / "mmlu_pro_5shot_extra_models_sparse.parquet")
    (d / "cards.json").write_text(json.dumps(_PRICED_CARDS))


def _write_zeroeval(d) -> None:
    ids = ["gsm8k-main-test-#0", "gsm8k-main-test-#1", "math-l5-7"]
    _priced_rows(["api", "big"], ids, lambda q: "gsm8k" if q.startswith("gsm8k") else "math-l5",
                 lambda q: f"## Question: {q}\n\n## Instruction\nAnswer in JSON.").to_parquet(
        d / "zeroeval_gsm8k_mathl5.parquet")
    (d / "cards.json").write_text(json.dumps(_PRICED_CARDS))


def test_mmlu_pro_dense_plus_sparse_extra_and_exact_token_cost(tmp_path):
    _write_mmlu_pro(tmp_path)
    logs = read_mmlu_pro(tmp_path)
    assert len(logs) == 6 * 2 + 3 and set(logs["model"]) == {"api", "big", "coder"}
    assert list(logs.columns) == COLS + ["tokens_in", "tokens_out"]  # build-only columns dropped
    np.testing.assert_allclose(logs["tokens_in"], logs["query"].str.len() / 4)
    dense = read_mmlu_pro(tmp_path, extra=False)
    assert len(dense) == 12 and "coder" not in set(dense["model"])
    price = {c["name"]: (c["price_in"], c["price_out"]) for c in read_price_cards(tmp_path)}
    d = dense.assign(pi=dense["model"].map(lambda m: price[m][0]), po=dense["model"].map(lambda m: price[m][1]))
    np.testing.assert_allclose(d["cost"], (d["tokens_in"] * d["pi"] + d["tokens_out"] * d["po"]) / 1e6)


def test_zeroeval_tasks_and_a_wrong_layout_names_the_missing_columns(tmp_path):
    _write_zeroeval(tmp_path)
    logs = read_zeroeval(tmp_path)
    assert set(logs["task"]) == {"gsm8k", "math-l5"} and logs["query_id"].nunique() == 3
    pd.read_parquet(tmp_path / "zeroeval_gsm8k_mathl5.parquet").drop(columns=["tokens_out"]).to_parquet(
        tmp_path / "zeroeval_gsm8k_mathl5.parquet")
    with pytest.raises(LogsError, match="tokens_out"):
        read_zeroeval(tmp_path)


def test_price_cards_keep_prices_and_sizes_and_reject_a_card_without_a_price(tmp_path):
    (tmp_path / "cards.json").write_text(json.dumps(_PRICED_CARDS))
    cards = read_price_cards(tmp_path)
    assert cards == [{"name": "big", "description": "A big model.", "price_in": 0.9, "price_out": 0.9, "params_b": 70.0},
                     {"name": "api", "description": "An API model.", "price_in": 1.25, "price_out": 5.0}]
    (tmp_path / "cards.json").write_text(json.dumps([{"model": "x", "description": "d"}]))
    with pytest.raises(LogsError, match="price_in"):
        read_price_cards(tmp_path / "cards.json")
    (tmp_path / "cards.json").write_text("[]")
    with pytest.raises(LogsError, match="no model cards"):
        read_price_cards(tmp_path)


class TestMMLUProContract(LoaderContract):
    def load(self, folder):
        _write_mmlu_pro(folder)
        return read_mmlu_pro(folder)


class TestZeroEvalContract(LoaderContract):
    def load(self, folder):
        _write_zeroeval(folder)
        return read_zeroeval(folder)
