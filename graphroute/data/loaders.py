"""Readers that map public routing logs onto the canonical table of :mod:`graphroute.data.logs`.

Each reader knows one published layout (RouterBench's wide parquet, LLMRouter's DC-router JSON,
RouteLLM's two-model CSVs, the Tree-of-Thoughts and MARBLE extracts, the MMLU-Pro and ZeroEval
long parquets with their ``cards.json`` price tables) and returns
``validate_logs`` output: one row per logged run, ``query_id, query, task, model, agent, effect,
cost`` (+ ``tokens_in``, ``tokens_out`` where known).

Where a source logs no cost, the derivation is spelled out by the named constants below, so every
reported dollar can be traced to its assumption. Token counts that are not logged are estimated
by :func:`approx_tokens` (characters / ``CHARS_PER_TOKEN``, rounded up): deterministic, needs no
tokenizer, and within a few percent of BPE counts on English text.

A missing file raises :class:`~graphroute.errors.DataNotFoundError` naming the path and what was
expected there; a file of the wrong layout raises :class:`~graphroute.errors.LogsError`.
"""

from __future__ import annotations

import ast
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from graphroute.errors import ConfigError, DataNotFoundError, LogsError
from graphroute.data.logs import DEFAULT_TASK, validate_logs

__all__ = [
    "read_routerbench", "read_llmrouter", "read_llmrouter_splits", "read_routellm", "read_tree_of_thoughts",
    "read_marble", "read_mmlu_pro", "read_zeroeval", "read_price_cards", "approx_tokens",
    "CHARS_PER_TOKEN", "LLMROUTER_OUTPUT_TOKENS", "ROUTELLM_PRICES", "ROUTELLM_OUTPUT_TOKENS", "MARBLE_PRICES",
    "MARBLE_INPUT_SHARE", "ROUTERBENCH_FILE", "ROUTELLM_BENCHMARKS", "MMLU_PRO_FILES", "ZEROEVAL_FILE", "CARDS_FILE",
]

# Token estimate for text whose tokens were not logged: ceil(characters / 4), the usual rule of
# thumb for BPE tokenizers on English (on RouterBench's logged costs it overcounts by about 3.5%).
CHARS_PER_TOKEN = 4.0

# LLMRouter logs no cost. As in the GraphRouter paper, cost = tokens_in × price_in + a fixed output
# allowance × price_out (prices from the data's default_llm.json, USD per 1M tokens). The fixed
# allowance means queries differ in cost only through their length and the model's price, not
# through how much a model chose to write (which was not logged).
LLMROUTER_OUTPUT_TOKENS = 256

# RouteLLM logs correctness only. Prices: the per-token cost estimates of the RouteLLM paper's cost
# analysis (Ong et al. 2024, arXiv 2406.18665): GPT-4 Turbo $24.7 and Mixtral-8x7B $0.24 per 1M
# tokens, one blended price for input and output. (input, output) USD per 1M tokens.
ROUTELLM_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4-1106-preview": (24.7, 24.7),
    "mistralai/Mixtral-8x7B-Instruct-v0.1": (0.24, 0.24),
}
# Output tokens when the responses are not logged (MMLU): a letter and a short line. GSM8K logs the
# responses, so its output tokens are counted; the GSM8K value is used only if they are absent.
ROUTELLM_OUTPUT_TOKENS: dict[str, int] = {"gsm8k": 200, "mmlu": 8}
ROUTELLM_BENCHMARKS = tuple(ROUTELLM_OUTPUT_TOKENS)

# MARBLE logs total tokens per run, not the input/output split. Multi-agent runs re-read the shared
# history at every step, so most tokens are prompt tokens; we assume 80% input (an assumption, not
# logged). (input, output) list prices in USD per 1M tokens when the runs were logged (late 2024).
MARBLE_INPUT_SHARE = 0.8
MARBLE_PRICES: dict[str, tuple[float, float]] = {
    "gpt-3.5-turbo": (0.5, 1.5),
    "gpt-4o-mini": (0.15, 0.6),
    "llama-3.1-70b": (0.88, 0.88),
}

ROUTERBENCH_FILE = "routerbench_5shot_subset.parquet"
_COST_SUFFIX = "|total_cost"
_TOT_FILE = "tot_strategy_outcomes.csv.gz"
_TOT_AGENTS = {"io": "IO", "cot": "CoT", "tot": "ToT"}  # strategy prefix in the log -> agent name
_MARBLE_RUNS = "marble_research_topology_outcomes.csv"
_MARBLE_TASKS = "marble_research_tasks.jsonl"
_MARBLE_JUDGED = ("innovation", "safety", "feasibility")
# MMLU-Pro: the dense 28-model file, then the 29th model's sparse file (same columns)
MMLU_PRO_FILES = ("mmlu_pro_5shot.parquet", "mmlu_pro_5shot_extra_models_sparse.parquet")
ZEROEVAL_FILE = "zeroeval_gsm8k_mathl5.parquet"
CARDS_FILE = "cards.json"  # the price table that MMLU-Pro's and ZeroEval's logged costs were computed from
_PRICED_COLUMNS = ["query_id", "query", "task", "model", "agent", "effect", "cost", "tokens_out"]


def approx_tokens(text: pd.Series | list[str]) -> np.ndarray:
    """Estimated token counts, ``ceil(len(text) / CHARS_PER_TOKEN)``; missing text counts 0. Shape [n]."""
    s = pd.Series(text, dtype=object).fillna("").astype(str)
    return np.ceil(s.str.len().to_numpy(dtype=float) / CHARS_PER_TOKEN)


def _need(path: Path, what: str) -> Path:
    """``path`` if it exists, else a DataNotFoundError naming it, what belongs there, and the fix."""
    if not path.exists():
        raise DataNotFoundError(
            f"{what} not found: {str(path)!r} does not exist. Fix: pass the file or folder that holds it "
            "(for the shared datasets, set GRAPHROUTE_DATA to the shared data directory; see graphroute.data_dir()).")
    return path


def _need_columns(df: pd.DataFrame, columns: list[str], path: Path, layout: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise LogsError(f"{str(path)!r} lacks the columns {missing} of {layout} (has {list(map(str, df.columns))[:8]}"
                        f"{' ...' if len(df.columns) > 8 else ''}). Fix: pass an unmodified {layout} file.")


def _jsonl(path: Path) -> list[dict]:
    # split on "\n" only: str.splitlines() would also split inside texts holding U+2028 / U+0085
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


# ------------------------------------------------------------------ RouterBench
def _first_prompt(raw: object) -> object:
    """RouterBench stores the prompt as the repr of a one-element list; unwrap it when it parses as one."""
    if isinstance(raw, str) and raw.startswith("["):
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return raw
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            return value[0]
    return raw


def read_routerbench(path: str | Path) -> pd.DataFrame:
    """RouterBench's wide table in the canonical long form: one row per (query, model) with a score.

    The wide layout has one score column per model and one ``<model>|total_cost`` column (USD per
    call) beside it. query_id = ``sample_id``, task = ``eval_name``, query = the prompt unwrapped
    from its one-element-list repr, effect = the 0/1 score, cost = the logged USD; agent "direct".

    Rows with no score are dropped. The shared subset also repeats 14 ``arc-challenge.val`` ids:
    each pair is the full row (10 scores) plus a fragment that holds only a gpt-3.5 score for a
    prompt with other few-shot examples. Of a repeated id only the row with the most scores is kept,
    so those 14 gpt-3.5 outcomes are missing (3,164 queries, 34,790 runs).

    ``path`` is the parquet file or the folder that holds ``routerbench_5shot_subset.parquet``.
    """
    path = Path(path)
    if path.is_dir():
        path = path / ROUTERBENCH_FILE
    wide = pd.read_parquet(_need(path, f"RouterBench wide parquet ({ROUTERBENCH_FILE})"))
    models = [c[: -len(_COST_SUFFIX)] for c in wide.columns if c.endswith(_COST_SUFFIX)]
    if not models:
        raise LogsError(f"{str(path)!r} has no '<model>{_COST_SUFFIX}' columns, so it is not RouterBench's wide "
                        "layout (one score column and one '<model>|total_cost' column per model). Fix: pass the "
                        "RouterBench parquet, or read generic logs with graphroute.read_logs().")
    _need_columns(wide, ["sample_id", "prompt", "eval_name", *models], path, "RouterBench's wide layout")

    scores = wide[models].to_numpy(dtype=float)  # [rows, models]
    costs = wide[[m + _COST_SUFFIX for m in models]].to_numpy(dtype=float)  # [rows, models]
    n_scores = (~np.isnan(scores)).sum(axis=1)  # [rows]
    # keep, per sample_id, the row with the most scores (stable: the first such row on ties)
    order = np.argsort(-n_scores, kind="stable")
    first = ~wide["sample_id"].iloc[order].duplicated().to_numpy()
    keep = np.zeros(len(wide), dtype=bool)
    keep[order[first]] = True
    keep &= n_scores > 0
    rows = np.flatnonzero(keep)

    sub_scores, sub_costs = scores[rows], costs[rows]
    r, m = np.nonzero(~np.isnan(sub_scores))  # row-major: one query's models stay together
    base_rows = rows[r]
    prompts = np.array([_first_prompt(p) for p in wide["prompt"].to_numpy()[rows]], dtype=object)
    long = pd.DataFrame({
        "query_id": wide["sample_id"].astype(str).to_numpy()[base_rows],
        "query": prompts[r],
        "task": wide["eval_name"].astype(str).to_numpy()[base_rows],
        "model": np.asarray(models, dtype=object)[m],
        "effect": sub_scores[r, m],
        "cost": sub_costs[r, m],
    })
    return validate_logs(long)


# ------------------------------------------------------------------ LLMRouter (DC-router data)
def _llmrouter_prices(directory: Path) -> dict[str, tuple[float, float]]:
    cfg = json.loads(_need(directory / "default_llm.json", "LLMRouter model list with prices (default_llm.json)")
                     .read_text(encoding="utf-8"))
    try:
        return {name: (float(c["input_price"]), float(c["output_price"])) for name, c in cfg.items()}
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LogsError(f"{str(directory / 'default_llm.json')!r}: every model needs numeric 'input_price' and "
                        f"'output_price' ({e!r}). Fix: pass LLMRouter's unmodified default_llm.json.") from e


def read_llmrouter(directory: str | Path, split: str = "train") -> pd.DataFrame:
    """LLMRouter's DC-router outcome table for one split, in the canonical long form.

    Files in ``directory``: ``dcrouter_preprocessed_<split>.json`` (a list of ``{question, scores:
    {model: effect in [0, 1]}}``), ``default_query_<split>.jsonl`` (task labels, joined on the exact
    question text; the first label wins for the few questions listed under two tasks; a question
    with no label gets task "default") and ``default_llm.json`` (prices, USD per 1M tokens).

    No cost is logged, so it is derived as the GraphRouter paper did::

        tokens_in  = ceil(len(question) / CHARS_PER_TOKEN)        # approx_tokens
        tokens_out = LLMROUTER_OUTPUT_TOKENS                      # a fixed allowance (256)
        cost       = (tokens_in × price_in + tokens_out × price_out) / 1e6

    query_id is a hash of the question text, so the same question has the same id in both splits.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"split={split!r} is not an LLMRouter split. Choices: ['train', 'test'].")
    d = Path(directory)
    table = _need(d / f"dcrouter_preprocessed_{split}.json", f"LLMRouter DC-router {split} outcomes")
    label_file = _need(d / f"default_query_{split}.jsonl", f"LLMRouter {split} task labels")
    prices = _llmrouter_prices(d)
    try:
        recs = json.loads(table.read_text(encoding="utf-8"))
        rows = [(r["question"], m, s) for r in recs for m, s in r["scores"].items()]
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise LogsError(f"{str(table)!r} is not a list of {{'question': str, 'scores': {{model: float}}}} records "
                        f"({e!r}). Fix: pass LLMRouter's dcrouter_preprocessed_{split}.json.") from e
    labels: dict[str, str] = {}
    for r in _jsonl(label_file):
        if "query" in r and "task_name" in r:
            labels.setdefault(r["query"], r["task_name"])
    df = pd.DataFrame(rows, columns=["query", "model", "effect"])
    unknown = sorted(set(df["model"]) - set(prices))
    if unknown:
        raise LogsError(f"LLMRouter models {unknown} have no price in {str(d / 'default_llm.json')!r}, so their "
                        f"cost cannot be derived (priced: {sorted(prices)}). Fix: add them to default_llm.json.")
    df["task"] = df["query"].map(labels).fillna(DEFAULT_TASK)
    price_in = df["model"].map({k: v[0] for k, v in prices.items()}).to_numpy(dtype=float)
    price_out = df["model"].map({k: v[1] for k, v in prices.items()}).to_numpy(dtype=float)
    tok_in = approx_tokens(df["query"])
    df["tokens_in"] = tok_in
    df["tokens_out"] = float(LLMROUTER_OUTPUT_TOKENS)
    df["cost"] = (tok_in * price_in + LLMROUTER_OUTPUT_TOKENS * price_out) / 1e6
    return validate_logs(df)


def read_llmrouter_splits(directory: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(train, test)`` LLMRouter logs, with the test questions that also appear in train removed.

    The shipped split shares 119 of its 500 test questions with train; scoring a router on them
    would reward memorisation, so they are dropped from test (381 remain).
    """
    train = read_llmrouter(directory, "train")
    test = read_llmrouter(directory, "test")
    test = test[~test["query_id"].isin(set(train["query_id"]))].reset_index(drop=True)
    return train, test


# ------------------------------------------------------------------ RouteLLM (two models)
def read_routellm(directory: str | Path, benchmark: str = "gsm8k") -> pd.DataFrame:
    """RouteLLM's GPT-4 Turbo vs Mixtral-8x7B correctness on GSM8K or MMLU, in the canonical form.

    ``directory`` is RouteLLM's eval folder (holding ``gsm8k/`` and ``mmlu/``). effect = 1.0 when
    the model's answer was graded correct. Prompts RouteLLM marks as contaminated
    (``contaminated_prompts.jsonl``: eval prompts that leak into its router training data) are
    dropped, as RouteLLM does; a prompt repeated in the table (MMLU: 105, most under two subjects)
    keeps its first occurrence, since one query id must name one text and one task.
    GSM8K: 1,307 queries, task "gsm8k"; MMLU: 13,932 queries, task "mmlu_<subject>".

    No cost is logged. cost = (tokens_in × price_in + tokens_out × price_out) / 1e6 with
    ROUTELLM_PRICES; tokens_in = approx_tokens(prompt); tokens_out = approx_tokens(response) where
    the responses are logged (GSM8K), else ROUTELLM_OUTPUT_TOKENS[benchmark] (MMLU).
    """
    if benchmark not in ROUTELLM_BENCHMARKS:
        raise ConfigError(f"benchmark={benchmark!r} is not a RouteLLM benchmark with per-query correctness. "
                          f"Choices: {list(ROUTELLM_BENCHMARKS)}.")
    d = Path(directory)
    if benchmark == "gsm8k":
        path = _need(d / "gsm8k" / "gsm8k_responses.csv", "RouteLLM GSM8K outcomes (gsm8k/gsm8k_responses.csv)")
        wide = pd.read_csv(path).assign(task="gsm8k")
    else:
        folder = _need(d / "mmlu" / "responses", "RouteLLM MMLU outcomes folder (mmlu/responses/)")
        files = sorted(folder.glob("mmlu_*.csv"))
        if not files:
            raise DataNotFoundError(f"RouteLLM MMLU outcomes not found: {str(folder)!r} holds no mmlu_<subject>.csv "
                                    "files. Fix: pass RouteLLM's eval folder with mmlu/responses/ intact.")
        path = folder
        wide = pd.concat([pd.read_csv(f).assign(task=f.stem) for f in files], ignore_index=True)
    _need_columns(wide, ["prompt", *ROUTELLM_PRICES], path, "RouteLLM's outcome table")
    contaminated = _need(d / benchmark / "contaminated_prompts.jsonl",
                         f"RouteLLM {benchmark} contamination list ({benchmark}/contaminated_prompts.jsonl)")
    leaked = {r["eval_prompt"] for r in _jsonl(contaminated) if "eval_prompt" in r}
    wide = wide[~wide["prompt"].isin(leaked)].drop_duplicates("prompt")

    tok_in = approx_tokens(wide["prompt"])  # [n]
    parts = []
    for model, (price_in, price_out) in ROUTELLM_PRICES.items():
        response = f"{model}_response"
        tok_out = (approx_tokens(wide[response]) if response in wide.columns
                   else np.full(len(wide), float(ROUTELLM_OUTPUT_TOKENS[benchmark])))
        parts.append(pd.DataFrame({
            "query": wide["prompt"].to_numpy(), "task": wide["task"].to_numpy(), "model": model,
            "effect": wide[model].astype(float).to_numpy(), "tokens_in": tok_in, "tokens_out": tok_out,
            "cost": (tok_in * price_in + tok_out * price_out) / 1e6,
        }))
    return validate_logs(pd.concat(parts, ignore_index=True))


# ------------------------------------------------------------------ agents: Tree of Thoughts, MARBLE
def read_tree_of_thoughts(path: str | Path) -> pd.DataFrame:
    """Tree-of-Thoughts logs (GPT-4): agent = the prompting strategy, ``IO``, ``CoT`` or ``ToT``.

    200 queries (100 Game-of-24 puzzles, 100 creative-writing prompts) × 3 strategies, with the
    logged tokens and USD per query. model = the log's model column; query_id = ``<task>:<index>``.
    effect: game24 → ``success_any`` (one of the strategy's final candidates reaches 24; a
    candidate is checkable, and the logged cost paid for all of them); text → (mean GPT-4
    coherency score − 1) / 9, from the 1–10 scale. The text task's ToT log holds no score, so
    those 100 runs are left out (500 runs remain; sparse logs are fine).

    ``path`` is ``tot_strategy_outcomes.csv.gz`` or the folder that holds it.
    """
    p = Path(path)
    if p.is_dir():
        p = p / _TOT_FILE
    df = pd.read_csv(_need(p, f"Tree-of-Thoughts outcomes ({_TOT_FILE})"))
    _need_columns(df, ["task", "query_idx", "query", "model", "strategy", "success_any", "score_mean",
                       "prompt_tokens", "completion_tokens", "cost_usd"], p, "the Tree-of-Thoughts outcome table")
    prefix = df["strategy"].astype(str).str.split("_").str[0]
    unknown = sorted(set(prefix) - set(_TOT_AGENTS))
    if unknown:
        raise LogsError(f"{str(p)!r}: strategies starting with {unknown} are not IO / CoT / ToT runs "
                        f"(known prefixes: {sorted(_TOT_AGENTS)}). Fix: pass the unmodified extract.")
    game = (df["task"] == "game24").to_numpy()
    success = pd.to_numeric(df["success_any"].map({True: 1.0, False: 0.0, "True": 1.0, "False": 0.0}),
                            errors="coerce").to_numpy(dtype=float)
    coherency = (pd.to_numeric(df["score_mean"], errors="coerce").to_numpy(dtype=float) - 1.0) / 9.0
    out = pd.DataFrame({
        "query_id": df["task"].astype(str) + ":" + df["query_idx"].astype(str),
        "query": df["query"], "task": df["task"], "model": df["model"], "agent": prefix.map(_TOT_AGENTS),
        "effect": np.where(game, success, coherency), "cost": df["cost_usd"],
        "tokens_in": df["prompt_tokens"], "tokens_out": df["completion_tokens"],
    })
    return validate_logs(out[~np.isnan(out["effect"].to_numpy(dtype=float))])


def read_marble(directory: str | Path) -> pd.DataFrame:
    """MARBLE research-proposal runs: one row per (task, model, collaboration topology) run.

    agent = the topology (chain / star / tree / graph); query = the task prompt from
    ``marble_research_tasks.jsonl`` (joined on ``task_md5_12``, which is also the query_id);
    task "research_proposal"; effect = (mean of the innovation, safety and feasibility judge
    scores − 1) / 4, from the 1–5 scale. Runs without a judge score (47 of 405) are left out;
    a task repeated within one (model, topology) is kept as a repeated run (averaged later).

    Only total tokens are logged, so: tokens_in = round(MARBLE_INPUT_SHARE × total), tokens_out =
    the rest, cost = (tokens_in × price_in + tokens_out × price_out) / 1e6 with MARBLE_PRICES.
    """
    d = Path(directory)
    runs_path = _need(d / _MARBLE_RUNS, f"MARBLE run outcomes ({_MARBLE_RUNS})")
    runs = pd.read_csv(runs_path)
    _need_columns(runs, ["task_md5_12", "model", "agent", "token_usage", *_MARBLE_JUDGED], runs_path,
                  "the MARBLE outcome table")
    tasks = _jsonl(_need(d / _MARBLE_TASKS, f"MARBLE task texts ({_MARBLE_TASKS})"))
    text = {r["task_md5_12"]: textwrap.dedent(r["task"]).strip() for r in tasks}
    unpriced = sorted(set(runs["model"]) - set(MARBLE_PRICES))
    if unpriced:
        raise LogsError(f"MARBLE models {unpriced} have no price in graphroute.data.loaders.MARBLE_PRICES "
                        f"(priced: {sorted(MARBLE_PRICES)}). Fix: add their (input, output) USD per 1M tokens.")
    orphans = sorted(set(runs["task_md5_12"]) - set(text))
    if orphans:
        raise LogsError(f"{str(runs_path)!r}: task ids {orphans[:5]} have no text in {_MARBLE_TASKS}. "
                        "Fix: pass the tasks file extracted with these runs.")
    score = runs[list(_MARBLE_JUDGED)].apply(pd.to_numeric, errors="coerce").mean(axis=1, skipna=False)
    total = pd.to_numeric(runs["token_usage"], errors="coerce").to_numpy(dtype=float)  # [runs]
    tok_in = np.round(MARBLE_INPUT_SHARE * total)
    tok_out = total - tok_in
    price_in = runs["model"].map({k: v[0] for k, v in MARBLE_PRICES.items()}).to_numpy(dtype=float)
    price_out = runs["model"].map({k: v[1] for k, v in MARBLE_PRICES.items()}).to_numpy(dtype=float)
    out = pd.DataFrame({
        "query_id": runs["task_md5_12"], "query": runs["task_md5_12"].map(text), "task": "research_proposal",
        "model": runs["model"], "agent": runs["agent"], "effect": (score - 1.0) / 4.0,
        "cost": (tok_in * price_in + tok_out * price_out) / 1e6, "tokens_in": tok_in, "tokens_out": tok_out,
    })
    return validate_logs(out[out["effect"].notna().to_numpy()])


# ------------------------------------------------------------------ MMLU-Pro, ZeroEval (long parquet + cards.json)
def read_price_cards(path: str | Path) -> list[dict]:
    """Model cards from a dataset's ``cards.json`` (MMLU-Pro, ZeroEval): ``{name, description, price_in,
    price_out[, params_b]}``, USD per 1M tokens, in file order. ``path`` is the file or its folder.

    The file is a list of ``{model, description, params_b, price_in, price_out, price_source,
    price_note}``; the source and note say where each price came from and stay in the file.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CARDS_FILE
    raw = json.loads(_need(path, f"model cards with prices ({CARDS_FILE})").read_text(encoding="utf-8"))
    cards = []
    for i, c in enumerate(raw if isinstance(raw, list) else []):
        try:
            card = {"name": str(c["model"]), "description": " ".join(str(c.get("description") or "").split()),
                    "price_in": float(c["price_in"]), "price_out": float(c["price_out"])}
        except (KeyError, TypeError, ValueError) as e:
            raise LogsError(f"{str(path)!r}: card {i} ({c!r:.80}) needs 'model' and numeric 'price_in' / 'price_out' "
                            f"({e!r}). Fix: pass the dataset's unmodified {CARDS_FILE}.") from e
        if c.get("params_b") is not None:
            card["params_b"] = float(c["params_b"])
        cards.append(card)
    if not cards:
        raise LogsError(f"{str(path)!r} holds no model cards (expected a non-empty JSON list of "
                        "{'model', 'price_in', 'price_out', ...}). Fix: pass the dataset's unmodified cards.json.")
    return cards


def _read_priced(files: list[Path], layout: str) -> pd.DataFrame:
    """Canonical logs from long parquet files whose cost was computed from estimated tokens.

    The builds estimate input tokens as ``len(query) / CHARS_PER_TOKEN`` (not rounded) and log
    ``tokens_out`` the same way, so ``tokens_in`` is recomputed exactly as the build did and
    ``cost == (tokens_in × price_in + tokens_out × price_out) / 1e6`` holds with the cards' prices.
    Extra columns (gold answer, extracted answer, source tags) are dropped.
    """
    frames = []
    for path in files:
        df = pd.read_parquet(path)
        _need_columns(df, _PRICED_COLUMNS, path, layout)
        frames.append(df[_PRICED_COLUMNS])
    df = pd.concat(frames, ignore_index=True)
    for col in ("query_id", "query", "task", "model", "agent"):
        df[col] = df[col].astype(object)
    df["tokens_in"] = df["query"].str.len().to_numpy(dtype=float) / CHARS_PER_TOKEN
    return validate_logs(df)


def read_mmlu_pro(directory: str | Path, extra: bool = True) -> pd.DataFrame:
    """MMLU-Pro 5-shot CoT outcomes (the folder ``mmlu_pro/`` of the shared data), canonical form.

    11,954 questions; task = one of the 14 MMLU-Pro categories; effect = 1.0 when the authors'
    extracted letter equals the gold one (no letter = 0); query = the question and its 3–10
    lettered options (the 5 exemplars of the real prompt are not included). ``mmlu_pro_5shot.parquet``
    is dense (28 models answered every question); with ``extra`` (default) the 29th model,
    DeepSeek-Coder-V2, joins from the sparse file on the 10,279 questions it answered
    (345k runs; without it, 334,712). No cost was logged: cost is the build's estimate,
    (len(query)/4 × price_in + tokens_out × price_out) / 1e6 with ``cards.json`` prices
    (:func:`read_price_cards`), and the input cost is underestimated (the exemplars are not counted).
    """
    d = Path(directory)
    names = MMLU_PRO_FILES if extra else MMLU_PRO_FILES[:1]
    files = [_need(d / n, f"MMLU-Pro outcomes ({n})") for n in names]
    return _read_priced(files, "the MMLU-Pro long parquet")


def read_zeroeval(directory: str | Path) -> pd.DataFrame:
    """ZeroEval GSM8K and MATH level 5 outcomes (the folder ``zeroeval/`` of the shared data), canonical form.

    2,040 questions: task ``gsm8k`` (1,319 × 43 models) or ``math-l5`` (721 × 42 models), 86,984
    runs; only 30 models answered both tasks, so the union is sparse. query = the full zero-shot
    prompt (question + ZeroEval's fixed JSON-answer instruction); effect = 1.0 when ZeroEval's scorer
    matched the first number of the answer. Cost is the build's estimate from ``cards.json`` prices,
    as for :func:`read_mmlu_pro` (o1 models' hidden reasoning tokens are not counted).
    """
    path = _need(Path(directory) / ZEROEVAL_FILE, f"ZeroEval outcomes ({ZEROEVAL_FILE})")
    return _read_priced([path], "the ZeroEval long parquet")
