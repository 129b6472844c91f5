"""The shared routing datasets (read-only, never copied into the repo) with their cards.

``load_dataset(name)`` finds the data in ``$GRAPHROUTE_DATA`` or ``../shared/data`` beside the
repository and returns logs in the canonical schema plus model / agent / task cards.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import pandas as pd

from .errors import ConfigError, DataNotFoundError
from .loaders import (
    read_llmrouter_splits,
    read_marble,
    read_routellm,
    read_routerbench,
    read_tree_of_thoughts,
)

__all__ = ["DATASETS", "Dataset", "data_dir", "load_dataset"]

DATASETS: dict[str, str] = {
    "routerbench": "RouterBench 5-shot subset: 3,164 queries (ARC-Challenge, MBPP, Winogrande) x 11 models, USD cost",
    "llmrouter": "LLMRouter DC-router data: 5,608 train + 381 test queries x 9 models, 14 tasks, derived cost",
    "routellm-gsm8k": "RouteLLM GSM8K: GPT-4 vs Mixtral-8x7B on 1,307 problems, derived cost",
    "routellm-mmlu": "RouteLLM MMLU: GPT-4 vs Mixtral-8x7B on 13,932 questions in 57 domains, derived cost",
    "tree-of-thoughts": "Tree of Thoughts: GPT-4 with IO / CoT / ToT strategies (agents) on Game of 24 and text, USD",
    "marble": "MARBLE research tasks: 49 tasks x 3 models x 4 collaboration topologies (agents), judge scores",
}
_ALIASES = {"tot": "tree-of-thoughts", "routellm": "routellm-gsm8k"}

_TOT_AGENTS = [
    {"name": "io", "description": "Input-output prompting: ask for the answer directly, sample several answers."},
    {"name": "cot", "description": "Chain-of-thought prompting: ask for step-by-step reasoning before the answer."},
    {"name": "tot", "description": "Tree of Thoughts: breadth-first search over partial reasoning steps with "
                                   "self-evaluation; many more model calls and tokens."},
]
_TOT_TASKS = [
    {"name": "game24", "description": "Game of 24: combine four numbers with + - * / to reach 24."},
    {"name": "text", "description": "Creative writing: a coherent passage whose paragraphs end with given sentences."},
]
_MARBLE_AGENTS = [
    {"name": "chain", "description": "Agents collaborate in a chain, each passing its work to the next."},
    {"name": "star", "description": "A central planner agent coordinates the others."},
    {"name": "tree", "description": "A hierarchy of agents: managers delegate to sub-teams."},
    {"name": "graph", "description": "Agents talk freely with one another over a graph."},
]
_MARBLE_MODELS = [
    {"name": "gpt-3.5-turbo", "description": "OpenAI GPT-3.5 Turbo: cheap general assistant.", "price_in": 0.5,
     "price_out": 1.5},
    {"name": "gpt-4o-mini", "description": "OpenAI GPT-4o mini: small, cheap and capable general model.",
     "price_in": 0.15, "price_out": 0.6},
    {"name": "llama-3.1-70b", "description": "Meta Llama 3.1 70B: open-weight 70B instruction model.",
     "price_in": 0.88, "price_out": 0.88},
]
_ROUTELLM_MODELS = [
    {"name": "gpt-4-1106-preview", "description": "OpenAI GPT-4 Turbo: strongest and most expensive.",
     "price_in": 10.0, "price_out": 30.0},
    {"name": "mistralai/Mixtral-8x7B-Instruct-v0.1", "description": "Mixtral 8x7B Instruct: cheap open "
     "mixture-of-experts model.", "price_in": 0.6, "price_out": 0.6},
]


@dataclass
class Dataset:
    """Logs in the canonical schema, with the cards to pass to ``Router.fit``.

    ``test_logs`` is the dataset's own held-out split where it has one (LLMRouter), else None.
    """

    name: str
    logs: pd.DataFrame
    models: list[dict] = field(default_factory=list)
    agents: list[dict] = field(default_factory=list)
    tasks: list[dict] = field(default_factory=list)
    test_logs: pd.DataFrame | None = None
    description: str = ""

    def cards(self) -> dict[str, list[dict] | None]:
        """``{"models": ..., "agents": ..., "tasks": ...}`` for ``Router.fit(logs, **ds.cards())``."""
        return {"models": self.models or None, "agents": self.agents or None, "tasks": self.tasks or None}


def data_dir() -> Path:
    """The shared data directory: ``$GRAPHROUTE_DATA``, else ``<repo>/../shared/data``."""
    env = os.environ.get("GRAPHROUTE_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    if not path.is_dir():
        raise DataNotFoundError(f"shared data directory {str(path)!r} not found. Fix: set GRAPHROUTE_DATA to the "
                                "folder holding routerbench/, graphrouter/, RouteLLM/, ... (see DESIGN.md).")
    return path


def _package_cards() -> dict:
    text = resources.files("graphroute").joinpath("cards/routerbench_models.json").read_text(encoding="utf-8")
    return json.loads(text)


def load_dataset(name: str) -> Dataset:
    """Load one of DATASETS by name (``tot`` and ``routellm`` are accepted aliases)."""
    key = _ALIASES.get(name, name)
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset {name!r}. Choices: {sorted(DATASETS)}.")
    root = data_dir()
    desc = DATASETS[key]
    if key == "routerbench":
        cards = _package_cards()
        return Dataset(key, read_routerbench(root / "routerbench"), models=cards["models"], tasks=cards["tasks"],
                       description=desc)
    if key == "llmrouter":
        d = root / "graphrouter" / "related_llmrouter"
        train, test = read_llmrouter_splits(d)
        cfg = json.loads((d / "default_llm.json").read_text())
        used = set(train["model"])
        models = [{"name": n, "description": c.get("feature", ""), "price_in": float(c["input_price"]),
                   "price_out": float(c["output_price"])} for n, c in cfg.items() if n in used]
        tasks = [{"name": t, "description": f"{t.replace('_', ' ')} benchmark questions"}
                 for t in sorted(set(train["task"]) | set(test["task"]))]
        return Dataset(key, train, models=models, tasks=tasks, test_logs=test, description=desc)
    if key.startswith("routellm-"):
        bench = key.split("-", 1)[1]
        logs = read_routellm(root / "RouteLLM", bench)
        return Dataset(key, logs, models=_ROUTELLM_MODELS, description=desc)
    if key == "tree-of-thoughts":
        logs = read_tree_of_thoughts(root / "tree_of_thoughts")
        models = [{"name": "gpt-4", "description": "OpenAI GPT-4 (2023).", "price_in": 30.0, "price_out": 60.0}]
        return Dataset(key, logs, models=models, agents=_TOT_AGENTS, tasks=_TOT_TASKS, description=desc)
    logs = read_marble(root / "marble_multiagentbench")
    tasks = [{"name": "research_proposal", "description": "Write a five-question research proposal from a paper's "
                                                          "introduction."}]
    return Dataset(key, logs, models=_MARBLE_MODELS, agents=_MARBLE_AGENTS, tasks=tasks, description=desc)
