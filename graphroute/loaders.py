"""Readers that map public routing logs onto the canonical table of :mod:`graphroute.logs`.

Every reader returns ``validate_logs`` output. Where a source logs no cost, the derivation is
stated here as named constants, so a reported cost can be traced to its assumption.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import ConfigError, DataNotFoundError
from .logs import validate_logs

__all__ = [
    "read_routerbench", "read_llmrouter", "read_llmrouter_splits", "read_routellm", "read_tree_of_thoughts",
    "read_marble", "approx_tokens", "LLMROUTER_OUTPUT_TOKENS", "ROUTELLM_PRICES", "ROUTELLM_TOKENS",
    "MARBLE_PRICES",
]

# LLMRouter logs no cost. As the GraphRouter paper did, cost = input tokens × input price plus a
# fixed output allowance × output price, prices from default_llm.json (USD per 1M tokens).
LLMROUTER_OUTPUT_TOKENS = 256
# RouteLLM logs correctness only. Prices per 1M tokens (input, output) at the time of the logs
# (Nov 2023 list prices: GPT-4 Turbo 10/30; Mixtral-8x7B on Together/Anyscale ~0.6/0.6).
ROUTELLM_PRICES = {"gpt-4-1106-preview": (10.0, 30.0), "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.6, 0.6)}
ROUTELLM_TOKENS = {"gsm8k": 200, "mmlu": 8}  # output allowance: a worked solution vs a letter and a line
# MARBLE logs total tokens only; one blended price per 1M tokens (input and output averaged).
MARBLE_PRICES = {"gpt-3.5-turbo": 1.0, "gpt-4o-mini": 0.375, "llama-3.1-70b": 0.88}


def approx_tokens(text: pd.Series | list[str]) -> np.ndarray:
    """Token count estimate: characters / 4 (the usual English rule of thumb for BPE tokenizers)."""
    s = pd.Series(text, dtype=object).fillna("").astype(str)
    return np.ceil(s.str.len().to_numpy() / 4.0)


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise DataNotFoundError(f"{what} not found at {str(path)!r}. Fix: point to the folder/file that holds it "
                                "(set GRAPHROUTE_DATA to the shared data directory for the shipped datasets).")
    return path


# ------------------------------------------------------------------ RouterBench
def _first_prompt(raw: str) -> str:
    """RouterBench stores the prompt as the repr of a one-element list; unwrap it when it is one."""
    if isinstance(raw, str) and raw.startswith("["):
        try:
            v = ast.literal_eval(raw)
            if isinstance(v, (list, tuple)) and v and isinstance(v[0], str):
                return v[0]
        except (ValueError, SyntaxError):
            pass
    return raw


def read_routerbench(path: str | Path) -> pd.DataFrame:
    """RouterBench's wide table (one score and one ``<model>|total_cost`` column per model) in long form.

    task = ``eval_name``, query_id = ``sample_id``, one row per non-missing score; rows whose
    scores are missing are dropped, and of a repeated sample id only the row with most scores is kept.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "routerbench_5shot_subset.parquet"
    wide = pd.read_parquet(_need(path, "RouterBench parquet"))
    models = [c[: -len("|total_cost")] for c in wide.columns if c.endswith("|total_cost")]
    if not models:
        raise ConfigError(f"{str(path)!r} has no '<model>|total_cost' columns; it is not RouterBench's wide format.")
    # the subset repeats 14 sample ids in rows that hold a single gpt-3.5 score; keep, per id, the
    # row with the most scores (DESIGN.md's reading: those 14 gpt-3.5 outcomes are missing)
    n_scores = wide[models].notna().sum(axis=1)
    wide = wide.assign(_n=n_scores)[n_scores > 0].sort_values("_n", ascending=False, kind="stable")
    wide = wide.drop_duplicates("sample_id").sort_index().drop(columns="_n")
    base = pd.DataFrame({"query_id": wide["sample_id"].astype(str).to_numpy(),
                         "query": [_first_prompt(p) for p in wide["prompt"]],
                         "task": wide["eval_name"].astype(str).to_numpy()})
    parts = []
    for m in models:
        eff = wide[m].to_numpy(dtype=float)
        ok = ~np.isnan(eff)
        parts.append(base[ok].assign(model=m, effect=eff[ok], cost=wide[f"{m}|total_cost"].to_numpy(dtype=float)[ok]))
    long = pd.concat(parts, ignore_index=True)
    return validate_logs(long)


# ------------------------------------------------------------------ LLMRouter (DC-router data)
def _llmrouter_prices(directory: Path) -> dict[str, tuple[float, float]]:
    cfg = json.loads(_need(directory / "default_llm.json", "LLMRouter default_llm.json").read_text())
    return {name: (float(c["input_price"]), float(c["output_price"])) for name, c in cfg.items()}


def read_llmrouter(directory: str | Path, split: str = "train") -> pd.DataFrame:
    """LLMRouter's DC-router outcome table (``dcrouter_preprocessed_<split>.json``) in long form.

    Task labels come from joining ``default_query_<split>.jsonl`` on the question text (queries
    without a label get task "default"). Cost is derived (none is logged): approx_tokens(question)
    × input price + LLMROUTER_OUTPUT_TOKENS × output price, prices from ``default_llm.json``.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split={split!r}; use 'train' or 'test'.")
    d = Path(directory)
    recs = json.loads(_need(d / f"dcrouter_preprocessed_{split}.json", "LLMRouter DC-router table").read_text())
    labels: dict[str, str] = {}
    qfile = d / f"default_query_{split}.jsonl"
    if qfile.exists():
        for line in qfile.read_text(encoding="utf-8").split("\n"):  # not splitlines: texts hold U+2028
            if line.strip():
                r = json.loads(line)
                labels.setdefault(r["query"], r["task_name"])
    prices = _llmrouter_prices(d)
    rows = [(r["question"], m, float(s)) for r in recs for m, s in r["scores"].items()]
    df = pd.DataFrame(rows, columns=["query", "model", "effect"])
    unknown = sorted(set(df["model"]) - set(prices))
    if unknown:
        raise ConfigError(f"LLMRouter models {unknown} have no price in default_llm.json; cannot derive cost.")
    df["task"] = df["query"].map(labels).fillna("default")
    tok = approx_tokens(df["query"])
    pin = df["model"].map(lambda m: prices[m][0]).to_numpy()
    pout = df["model"].map(lambda m: prices[m][1]).to_numpy()
    df["tokens_in"] = tok
    df["tokens_out"] = float(LLMROUTER_OUTPUT_TOKENS)
    df["cost"] = (tok * pin + LLMROUTER_OUTPUT_TOKENS * pout) / 1e6
    return validate_logs(df)


def read_llmrouter_splits(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test) with test questions that also appear in train removed (119 in the shipped data)."""
    train = read_llmrouter(directory, "train")
    test = read_llmrouter(directory, "test")
    test = test[~test["query_id"].isin(set(train["query_id"]))].reset_index(drop=True)
    return train, test


# ------------------------------------------------------------------ RouteLLM (two models)
def read_routellm(directory: str | Path, benchmark: str = "gsm8k") -> pd.DataFrame:
    """RouteLLM's GPT-4 vs Mixtral correctness on GSM8K or MMLU, contaminated prompts removed.

    Cost: approx_tokens(prompt) × input price + output tokens × output price (ROUTELLM_PRICES).
    For GSM8K the output tokens are counted from the logged responses; MMLU logs none, so a fixed
    ROUTELLM_TOKENS["mmlu"] is used. task = the benchmark (MMLU: "mmlu_<domain>").
    """
    d = Path(directory)
    if benchmark not in ROUTELLM_TOKENS:
        raise ConfigError(f"benchmark={benchmark!r}; use one of {list(ROUTELLM_TOKENS)}.")
    if benchmark == "gsm8k":
        wide = pd.read_csv(_need(d / "gsm8k" / "gsm8k_responses.csv", "RouteLLM GSM8K responses"))
        wide["task"] = "gsm8k"
        contaminated = d / "gsm8k" / "contaminated_prompts.jsonl"
    else:
        files = sorted(_need(d / "mmlu" / "responses", "RouteLLM MMLU responses").glob("mmlu_*.csv"))
        if not files:
            raise DataNotFoundError(f"no mmlu_*.csv files in {str(d / 'mmlu' / 'responses')!r}.")
        wide = pd.concat([pd.read_csv(f).assign(task=f.stem) for f in files], ignore_index=True)
        contaminated = d / "mmlu" / "contaminated_prompts.jsonl"
    if contaminated.exists():
        # each line pairs a training prompt with the eval prompt it leaks into; drop the eval prompt
        bad = {json.loads(line)["eval_prompt"] for line in contaminated.read_text(encoding="utf-8").split("\n") if line.strip()}
        wide = wide[~wide["prompt"].isin(bad)]
    wide = wide.drop_duplicates("prompt")
    parts = []
    for m, (pin, pout) in ROUTELLM_PRICES.items():
        if m not in wide.columns:
            raise ConfigError(f"RouteLLM table lacks the column {m!r} (has {list(wide.columns)[:6]}).")
        out_tok = (approx_tokens(wide[f"{m}_response"]) if f"{m}_response" in wide.columns
                   else np.full(len(wide), float(ROUTELLM_TOKENS[benchmark])))
        in_tok = approx_tokens(wide["prompt"])
        parts.append(pd.DataFrame({"query": wide["prompt"].to_numpy(), "task": wide["task"].to_numpy(), "model": m,
                                   "effect": wide[m].astype(float).to_numpy(), "tokens_in": in_tok,
                                   "tokens_out": out_tok, "cost": (in_tok * pin + out_tok * pout) / 1e6}))
    return validate_logs(pd.concat(parts, ignore_index=True))


# ------------------------------------------------------------------ agents: Tree of Thoughts, MARBLE
_TOT_AGENT = {"io": "io", "cot": "cot", "tot": "tot"}


def read_tree_of_thoughts(path: str | Path) -> pd.DataFrame:
    """Tree-of-Thoughts logs: agent = strategy (io / cot / tot), model = gpt-4, real tokens and USD.

    effect: game24 → ``success_any`` (some candidate solves the puzzle); text → (coherency − 1) / 9.
    The text task's ToT rows have no score in the log and are left out (sparse logs).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "tot_strategy_outcomes.csv.gz"
    df = pd.read_csv(_need(p, "Tree-of-Thoughts outcomes"))
    agent = df["strategy"].str.split("_").str[0].map(_TOT_AGENT)
    effect = np.where(df["task"] == "game24", df["success_any"].astype(float), (df["score_mean"] - 1.0) / 9.0)
    out = pd.DataFrame({"query_id": df["task"] + ":" + df["query_idx"].astype(str), "query": df["query"].astype(str),
                        "task": df["task"], "model": df["model"], "agent": agent, "effect": effect,
                        "cost": df["cost_usd"], "tokens_in": df["prompt_tokens"], "tokens_out": df["completion_tokens"]})
    return validate_logs(out[~np.isnan(out["effect"].to_numpy(dtype=float))])


def read_marble(directory: str | Path) -> pd.DataFrame:
    """MARBLE research tasks: agent = collaboration topology; effect = (mean judge score − 1) / 4 over
    innovation, safety and feasibility; cost = total tokens × MARBLE_PRICES[model] / 1M.
    Rows without a judge score are left out; duplicate (task, model, topology) runs are kept (averaged later)."""
    d = Path(directory)
    runs = pd.read_csv(_need(d / "marble_research_topology_outcomes.csv", "MARBLE outcomes"))
    tasks = pd.read_json(_need(d / "marble_research_tasks.jsonl", "MARBLE tasks"), lines=True)
    text = dict(zip(tasks["task_md5_12"], tasks["task"].str.strip()))
    score = runs[["innovation", "safety", "feasibility"]].apply(pd.to_numeric, errors="coerce").mean(axis=1,
                                                                                                  skipna=False)
    out = pd.DataFrame({"query_id": runs["task_md5_12"], "query": runs["task_md5_12"].map(text),
                        "task": "research_proposal", "model": runs["model"], "agent": runs["agent"],
                        "effect": (score - 1.0) / 4.0,
                        "cost": runs["token_usage"] * runs["model"].map(MARBLE_PRICES) / 1e6,
                        "tokens_in": runs["token_usage"]})
    keep = out["effect"].notna() & out["query"].notna() & out["cost"].notna()
    return validate_logs(out[keep])
