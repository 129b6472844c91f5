"""The shared routing datasets, with the model / agent / task cards a router needs.

The data stay where they are (read-only, never copied into the repo): ``data_dir()`` finds them in
``$GRAPHROUTE_DATA`` or ``<repo>/../shared/data``. ``load_dataset(name)`` reads one with its
format reader from :mod:`graphroute.data.loaders` and attaches cards from ``graphroute/cards/*.json``
(descriptions written for graphroute, prices with their source) or from the dataset's own model
list (LLMRouter).

Cards are plain dicts, ready for ``Router.fit(ds.logs, models=ds.models, agents=ds.agents,
tasks=ds.tasks)``: models ``{name, description, price_in, price_out}`` (USD per 1M tokens, plus
``params_b`` where known), agents and tasks ``{name, description}``. Every model, agent and task in
a dataset's logs has a card.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from graphroute.errors import ConfigError, DataNotFoundError
from graphroute.data.loaders import (
    MARBLE_PRICES,
    ROUTELLM_PRICES,
    read_llmrouter_splits,
    read_marble,
    read_mmlu_pro,
    read_price_cards,
    read_routellm,
    read_routerbench,
    read_tree_of_thoughts,
    read_zeroeval,
)
from graphroute.data.logs import DEFAULT_AGENT

__all__ = ["DATASETS", "Dataset", "data_dir", "load_dataset", "prefixed"]

DATASETS: dict[str, str] = {
    "routerbench": "RouterBench 5-shot subset: 3,164 queries (ARC-Challenge, MBPP, Winogrande) x 11 models, "
                   "0/1 effect, logged USD cost",
    "llmrouter": "LLMRouter DC-router data: 5,608 train + 381 test queries x 9 models, 14 tasks, effect in [0, 1], "
                 "cost derived from tokens x price",
    "routellm-gsm8k": "RouteLLM GSM8K: GPT-4 Turbo vs Mixtral-8x7B on 1,307 problems, 0/1 effect, derived cost",
    "routellm-mmlu": "RouteLLM MMLU: GPT-4 Turbo vs Mixtral-8x7B on 13,932 questions in 57 subjects, 0/1 effect, "
                     "derived cost",
    "tree-of-thoughts": "Tree of Thoughts: GPT-4 with IO / CoT / ToT strategies (agents) on 200 Game-of-24 and "
                        "writing queries, logged USD",
    "marble": "MARBLE research tasks: 49 tasks x 3 models x 4 collaboration topologies (agents), judge scores, "
              "cost from tokens",
    "mmlu-pro": "MMLU-Pro 5-shot CoT: 11,954 questions in 14 categories x 28 models (dense) + 1 sparse model, "
                "0/1 effect, cost from estimated tokens x cards.json prices",
    "zeroeval": "ZeroEval zero-shot maths: GSM8K (1,319) and MATH level 5 (721) x 42-43 models (55 in all, sparse), "
                "0/1 effect, cost from estimated tokens x cards.json prices",
}

# where each dataset lives under data_dir()
_FOLDERS = {
    "routerbench": "routerbench", "llmrouter": "graphrouter/related_llmrouter", "routellm-gsm8k": "RouteLLM",
    "routellm-mmlu": "RouteLLM", "tree-of-thoughts": "tree_of_thoughts", "marble": "marble_multiagentbench",
    "mmlu-pro": "mmlu_pro", "zeroeval": "zeroeval",
}
# GraphRouter's hand-written model cards, used for an LLMRouter model whose own entry has no text
_GRAPHROUTER_CARDS = "graphrouter/graphrouter_LLM_Descriptions.json"

# the agent of single-agent logs (every run is the model answering on its own)
_DIRECT_AGENT = {"name": DEFAULT_AGENT,
                 "description": "The model answers the query itself in a single call, with no agent scaffold, "
                                "tools or extra reasoning rounds."}


@dataclass
class Dataset:
    """Logs in the canonical schema, with the cards to pass to ``Router.fit``.

    ``test_logs`` is the dataset's own held-out split where it ships one (LLMRouter, with the
    questions it shares with train removed), else None.
    """

    name: str
    logs: pd.DataFrame
    models: list[dict] = field(default_factory=list)  # {name, description, price_in, price_out[, params_b]}
    agents: list[dict] = field(default_factory=list)  # {name, description}
    tasks: list[dict] = field(default_factory=list)  # {name, description}
    test_logs: pd.DataFrame | None = None
    description: str = ""

    def cards(self) -> dict[str, list[dict] | None]:
        """``{"models": ..., "agents": ..., "tasks": ...}``, for ``Router.fit(ds.logs, **ds.cards())``."""
        return {"models": self.models or None, "agents": self.agents or None, "tasks": self.tasks or None}

    def __repr__(self) -> str:
        test = "" if self.test_logs is None else f", test_logs={len(self.test_logs)} rows"
        return (f"Dataset({self.name!r}, logs={len(self.logs)} rows, {self.logs['query_id'].nunique()} queries, "
                f"{len(self.models)} models, {len(self.agents)} agents, {len(self.tasks)} tasks{test})")


def data_dir() -> Path:
    """The shared data directory: ``$GRAPHROUTE_DATA`` if set, else ``<repo root>/../shared/data``."""
    env = os.environ.get("GRAPHROUTE_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"
    if not path.is_dir():
        source = "$GRAPHROUTE_DATA" if env else "the default <repo>/../shared/data"
        raise DataNotFoundError(
            f"shared data directory {str(path)!r} (from {source}) does not exist. Fix: set GRAPHROUTE_DATA to the "
            "folder that holds routerbench/, graphrouter/, RouteLLM/, tree_of_thoughts/ and marble_multiagentbench/.")
    return path


def _package_cards(filename: str) -> dict:
    """A card file shipped in ``graphroute/cards/`` (``{"source": ..., "models": [...], ...}``)."""
    return json.loads(resources.files("graphroute").joinpath("cards", filename).read_text(encoding="utf-8"))


def _priced(models: list[dict], prices: dict[str, tuple[float, float]]) -> list[dict]:
    """Model cards with ``price_in`` / ``price_out`` from a loader's price table (prices live in one place)."""
    return [{**m, "price_in": prices[m["name"]][0], "price_out": prices[m["name"]][1]} for m in models]


def _params_b(size: object) -> float | None:
    """``"49B"`` -> 49.0; anything else -> None."""
    text = str(size).strip().upper()
    try:
        return float(text[:-1]) if text.endswith("B") else None
    except ValueError:
        return None


def _llmrouter_models(folder: Path, used: set[str]) -> list[dict]:
    """Cards for the LLMRouter models in ``used``: text, prices and size from its ``default_llm.json``.

    GraphRouter's card file (same lab, other model names) fills a description only where the
    LLMRouter entry has none and the two name the same served model id.
    """
    cfg = json.loads((folder / "default_llm.json").read_text(encoding="utf-8"))
    fallback: dict[str, str] = {}
    graphrouter = folder.parents[1] / _GRAPHROUTER_CARDS
    if graphrouter.exists():
        for name, c in json.loads(graphrouter.read_text(encoding="utf-8")).items():
            served = str(c.get("model", "")).lower().removeprefix("together_ai/")
            for key in (name.lower(), served):
                fallback[key] = " ".join(str(c.get("feature", "")).split())
    models = []
    for name, c in cfg.items():
        if name not in used:
            continue
        text = " ".join(str(c.get("feature") or "").split())
        if not text:
            text = fallback.get(name.lower()) or fallback.get(str(c.get("model", "")).lower(), "")
        card = {"name": name, "description": text, "price_in": float(c["input_price"]),
                "price_out": float(c["output_price"])}
        size = _params_b(c.get("size"))
        if size is not None:
            card["params_b"] = size
        models.append(card)
    return models


def _mmlu_tasks(names: list[str]) -> list[dict]:
    """One card per MMLU subject (``mmlu_high_school_biology`` -> "MMLU, high school biology: ...")."""
    cards = []
    for name in names:
        subject = name.removeprefix("mmlu_").replace("_", " ")
        cards.append({"name": name, "description": f"MMLU, {subject}: four-option multiple-choice exam questions "
                                                   f"on {subject}, answered with one letter."})
    return cards


def _used_cards(folder: Path, logs: pd.DataFrame) -> list[dict]:
    """The ``cards.json`` cards of the models in ``logs``; a logged model without one is an error."""
    cards = [c for c in read_price_cards(folder) if c["name"] in set(logs["model"])]
    missing = sorted(set(logs["model"]) - {c["name"] for c in cards})
    if missing:
        raise DataNotFoundError(f"{str(folder / 'cards.json')!r} has no card for the logged models {missing}; "
                                "every model needs a price to explain its cost. Fix: rebuild the folder with its build.py.")
    return cards


def _category_tasks(names: list[str], benchmark: str, form: str) -> list[dict]:
    """One card per category of a benchmark ("biology" -> "MMLU-Pro, biology: ...")."""
    return [{"name": n, "description": f"{benchmark}, {n}: {form}"} for n in names]


# ZeroEval's two tasks, described for the task nodes
_ZEROEVAL_TASKS = [
    {"name": "gsm8k", "description": "GSM8K: grade-school maths word problems needing a few arithmetic steps; "
                                     "the answer is one number, given after the reasoning in JSON."},
    {"name": "math-l5", "description": "MATH level 5: the hardest competition mathematics problems (algebra, "
                                       "counting, geometry, number theory, precalculus); one final answer in JSON."},
]


def prefixed(logs: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """A copy of ``logs`` with ``"<dataset>/"`` before every task and query id: how a router fitted on
    several datasets names them (the same task name in two datasets is not the same task)."""
    out = logs.copy()
    out["task"] = f"{dataset}/" + out["task"].astype(str)
    out["query_id"] = f"{dataset}/" + out["query_id"].astype(str)
    return out


def load_dataset(name: str) -> Dataset:
    """Load one of :data:`DATASETS` by name, with its cards.

    Raises ConfigError for an unknown name (listing the choices) and DataNotFoundError when the
    shared data (or one of the dataset's files) is absent.
    """
    if name not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}. Choices: {sorted(DATASETS)}.")
    folder = data_dir() / _FOLDERS[name]
    desc = DATASETS[name]
    if name == "routerbench":
        cards = _package_cards("routerbench_models.json")
        return Dataset(name, read_routerbench(folder), models=cards["models"], agents=[dict(_DIRECT_AGENT)],
                       tasks=cards["tasks"], description=desc)
    if name == "llmrouter":
        train, test = read_llmrouter_splits(folder)
        used = set(train["model"]) | set(test["model"])
        labels = set(train["task"]) | set(test["task"])
        tasks = [t for t in _package_cards("llmrouter_tasks.json")["tasks"] if t["name"] in labels]
        tasks += [{"name": t, "description": ""} for t in sorted(labels - {t["name"] for t in tasks})]
        return Dataset(name, train, models=_llmrouter_models(folder, used), agents=[dict(_DIRECT_AGENT)],
                       tasks=tasks, test_logs=test, description=desc)
    if name in ("routellm-gsm8k", "routellm-mmlu"):
        benchmark = name.split("-", 1)[1]
        logs = read_routellm(folder, benchmark)
        cards = _package_cards("routellm.json")
        tasks = cards["tasks"] if benchmark == "gsm8k" else _mmlu_tasks(sorted(set(logs["task"])))
        return Dataset(name, logs, models=_priced(cards["models"], ROUTELLM_PRICES), agents=[dict(_DIRECT_AGENT)],
                       tasks=tasks, description=desc)
    if name == "tree-of-thoughts":
        cards = _package_cards("tree_of_thoughts.json")
        return Dataset(name, read_tree_of_thoughts(folder), models=cards["models"], agents=cards["agents"],
                       tasks=cards["tasks"], description=desc)
    if name == "mmlu-pro":
        logs = read_mmlu_pro(folder)
        tasks = _category_tasks(sorted(set(logs["task"])), "MMLU-Pro",
                                "ten-option multiple-choice exam questions answered after step-by-step reasoning.")
        return Dataset(name, logs, models=_used_cards(folder, logs), agents=[dict(_DIRECT_AGENT)], tasks=tasks,
                       description=desc)
    if name == "zeroeval":
        logs = read_zeroeval(folder)
        labels = set(logs["task"])
        tasks = [t for t in _ZEROEVAL_TASKS if t["name"] in labels]
        tasks += [{"name": t, "description": t} for t in sorted(labels - {t["name"] for t in tasks})]
        return Dataset(name, logs, models=_used_cards(folder, logs), agents=[dict(_DIRECT_AGENT)], tasks=tasks,
                       description=desc)
    cards = _package_cards("marble.json")  # name == "marble"
    return Dataset(name, read_marble(folder), models=_priced(cards["models"], MARBLE_PRICES), agents=cards["agents"],
                   tasks=cards["tasks"], description=desc)
