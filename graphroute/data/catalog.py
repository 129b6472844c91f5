"""Cards: what the graph knows about a model, an agent or a task besides its logged runs.

A card's text (name + description) is embedded into the node's features, and a model's prices
become numeric features. That is all a node has besides its edges, so a new model with a good
card is routable before it has a single logged run.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from graphroute.errors import CardError

__all__ = ["ModelCard", "AgentCard", "TaskCard", "Catalog", "read_cards", "CARD_KINDS"]


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise CardError(f"{kind} card name {name!r} is invalid. Rule: a non-empty string. "
                        f"Fix: give every {kind} card a name.")


def _check_number(kind: str, name: str, field: str, value: Any, *, positive: bool = False) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CardError(f"{kind} card {name!r}: {field}={value!r} is not a number. Fix: give {field} as a float "
                        "(USD per 1M tokens for prices) or leave it out.")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (positive and v == 0):
        rule = "> 0" if positive else ">= 0"
        raise CardError(f"{kind} card {name!r}: {field}={value!r} breaks the rule 'finite and {rule}'. "
                        f"Fix: correct {field} or leave it out.")
    return v


class _Card:
    """Shared behaviour: the text that gets embedded, and plain-dict round trips."""

    name: str
    description: str

    def __post_init__(self) -> None:
        _check_name(type(self).__name__.removesuffix("Card").lower(), self.name)
        # a missing description (None, or NaN from a CSV's empty cell) is the empty string
        if self.description is None or (isinstance(self.description, float) and math.isnan(self.description)):
            object.__setattr__(self, "description", "")

    def text(self) -> str:
        """The string embedded as the node's features: the name, then the description."""
        return f"{self.name}: {self.description}" if self.description else self.name

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]):
        kind = cls.__name__.removesuffix("Card").lower()
        d = dict(d)
        if "name" not in d and kind in d:  # accept {"model": ...} as DESIGN.md's card columns name it
            d["name"] = d.pop(kind)
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(d) - fields)
        if unknown:
            raise CardError(f"{kind} card {d.get('name')!r} has unknown fields {unknown}. "
                            f"Rule: fields are {sorted(fields)}. Fix: rename or remove them.")
        if "name" not in d:
            raise CardError(f"{kind} card {d!r} has no name. Fix: add a 'name' (or '{kind}') field.")
        return cls(**d)


@dataclass(frozen=True)
class ModelCard(_Card):
    """A model: name, description, prices in USD per 1M input / output tokens, size, context."""

    name: str
    description: str = ""
    price_in: float | None = None
    price_out: float | None = None
    params_b: float | None = None
    context: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.description, str):
            raise CardError(f"model card {self.name!r}: description {self.description!r} is not a string.")
        for f in ("price_in", "price_out", "params_b"):
            object.__setattr__(self, f, _check_number("model", self.name, f, getattr(self, f)))
        ctx = _check_number("model", self.name, "context", self.context, positive=True)
        object.__setattr__(self, "context", None if ctx is None else int(ctx))


@dataclass(frozen=True)
class AgentCard(_Card):
    """An agent or strategy (CoT, ReAct, a multi-agent topology, a scaffold)."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class TaskCard(_Card):
    """A task, dataset or domain label."""

    name: str
    description: str = ""


CARD_KINDS: dict[str, type[_Card]] = {"model": ModelCard, "agent": AgentCard, "task": TaskCard}


def _kind_class(kind: str) -> type[_Card]:
    if kind not in CARD_KINDS:
        raise CardError(f"unknown card kind {kind!r}. Rule: one of {list(CARD_KINDS)}.")
    return CARD_KINDS[kind]


def read_cards(source: Any, kind: str = "model") -> list[_Card]:
    """Cards of one ``kind`` from a JSON / CSV / JSONL file, a DataFrame, dicts, cards, or a name→dict map.

    Returns a list of cards; names must be unique.
    """
    cls = _kind_class(kind)
    if source is None:
        return []
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise CardError(f"{kind} cards file {str(path)!r} does not exist. Fix: check the path.")
        try:
            suffix = path.suffix.lower()
            if suffix == ".csv":
                source = pd.read_csv(path)
            elif suffix == ".jsonl":
                source = pd.read_json(path, lines=True)
            elif suffix == ".json":
                source = json.loads(path.read_text(encoding="utf-8"))
            else:
                raise CardError(f"{kind} cards file {str(path)!r}: unknown suffix {suffix!r}. "
                                "Rule: .json, .jsonl or .csv.")
        except (ValueError, OSError) as e:
            raise CardError(f"could not parse {kind} cards file {str(path)!r}: {e}. Fix: check its format.") from e
        if isinstance(source, dict) and f"{kind}s" in source:  # {"models": [...], "source": "..."}
            source = source[f"{kind}s"]
    if isinstance(source, pd.DataFrame):
        source = [{k: v for k, v in r.items() if not (isinstance(v, float) and math.isnan(v))}
                  for r in source.to_dict("records")]
    if isinstance(source, Mapping):  # {name: {description: ...}} or {name: card}
        items = []
        for name, v in source.items():
            if isinstance(v, _Card):
                items.append(v)
            elif isinstance(v, Mapping):
                items.append({"name": name, **{k: x for k, x in v.items() if k not in ("name", kind)}})
            else:
                raise CardError(f"{kind} card {name!r}: {v!r} is neither a card nor a dict of fields.")
        source = items
    if not isinstance(source, Iterable):
        raise CardError(f"{kind} cards: cannot read {type(source).__name__}. Fix: pass a path, a DataFrame, "
                        "a list of dicts or a list of cards.")
    cards: list[_Card] = []
    for item in source:
        if isinstance(item, cls):
            cards.append(item)
        elif isinstance(item, Mapping):
            cards.append(cls.from_dict(item))
        elif isinstance(item, str):
            cards.append(cls(name=item))
        else:
            raise CardError(f"{kind} card {item!r} has type {type(item).__name__}. "
                            f"Fix: pass {cls.__name__} objects or dicts.")
    seen: set[str] = set()
    for c in cards:
        if c.name in seen:
            raise CardError(f"{kind} card {c.name!r} appears twice. Rule: one card per {kind}. Fix: merge them.")
        seen.add(c.name)
    return cards


class Catalog:
    """The cards of every model, agent and task a router knows, as three name → card dicts."""

    def __init__(self, models: dict[str, ModelCard], agents: dict[str, AgentCard], tasks: dict[str, TaskCard]):
        self.models = dict(models)
        self.agents = dict(agents)
        self.tasks = dict(tasks)

    def _of(self, kind: str) -> dict[str, Any]:
        _kind_class(kind)
        return getattr(self, f"{kind}s")

    @classmethod
    def from_logs(cls, logs: pd.DataFrame, models: Any = None, agents: Any = None, tasks: Any = None) -> Catalog:
        """Cards for every name in ``logs``; names without a card get one with the name only.

        Cards for names the logs do not mention are kept too (a model with a card and no runs is a
        legitimate zero-shot node). One warning per kind lists the names that fell back to a bare card.
        """
        out: dict[str, dict] = {}
        for kind, given in (("model", models), ("agent", agents), ("task", tasks)):
            cards = {c.name: c for c in read_cards(given, kind)}
            names = list(dict.fromkeys(logs[kind].astype(str)))
            bare = [n for n in names if n not in cards]
            if bare and given is not None:
                warnings.warn(f"graphroute: {len(bare)} {kind}(s) in the logs have no card, so their node text is "
                              f"the name alone: {bare[:8]}{' ...' if len(bare) > 8 else ''}. Fix: pass {kind}s= "
                              "cards with descriptions (and prices for models).", stacklevel=3)
            ordered = {n: cards.get(n) or CARD_KINDS[kind](name=n) for n in names}
            for n, c in cards.items():
                ordered.setdefault(n, c)
            out[kind] = ordered
        return cls(out["model"], out["agent"], out["task"])

    def with_card(self, kind: str, card: _Card) -> Catalog:
        """A new catalog with ``card`` added (or replacing the card of the same name)."""
        if not isinstance(card, _kind_class(kind)):
            raise CardError(f"with_card({kind!r}, ...) needs a {CARD_KINDS[kind].__name__}, got {type(card).__name__}.")
        d = {k: dict(self._of(k)) for k in CARD_KINDS}
        d[kind][card.name] = card
        return Catalog(d["model"], d["agent"], d["task"])

    def without_card(self, kind: str, name: str) -> Catalog:
        """A new catalog without the card ``name``."""
        cards = self._of(kind)
        if name not in cards:
            raise CardError(f"unknown {kind} {name!r}. Known: {sorted(cards)}.")
        d = {k: dict(self._of(k)) for k in CARD_KINDS}
        del d[kind][name]
        return Catalog(d["model"], d["agent"], d["task"])

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {f"{k}s": [c.to_dict() for c in self._of(k).values()] for k in CARD_KINDS}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Catalog:
        try:
            parts = {k: {c["name"]: CARD_KINDS[k].from_dict(c) for c in d[f"{k}s"]} for k in CARD_KINDS}
        except (KeyError, TypeError) as e:
            raise CardError(f"malformed catalog: {e!r}. Rule: keys 'models', 'agents', 'tasks', each a list "
                            "of card dicts with a 'name'.") from e
        return cls(parts["model"], parts["agent"], parts["task"])

    def __repr__(self) -> str:
        return f"Catalog({len(self.models)} models, {len(self.agents)} agents, {len(self.tasks)} tasks)"
