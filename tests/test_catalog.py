"""Model, agent and task cards (graphroute.data.catalog): from logs, dicts and files; bad cards are errors."""

from __future__ import annotations

import json
import warnings

import pandas as pd
import pytest

from graphroute.data.catalog import AgentCard, Catalog, ModelCard, TaskCard, read_cards
from graphroute.errors import CardError

LOGS = pd.DataFrame({"query": ["q"] * 3, "task": ["t1", "t1", "t2"], "model": ["m1", "m2", "m1"],
                     "agent": ["direct"] * 3})


def test_card_text_is_name_then_description():
    assert ModelCard("gpt", "a big model").text() == "gpt: a big model"
    assert AgentCard("cot").text() == "cot"
    assert TaskCard("math", None).description == ""


def test_cards_from_dicts_mappings_names_and_cards():
    cards = read_cards([{"name": "m1", "description": "d", "price_in": 1, "price_out": 2}, "m2", ModelCard("m3")])
    assert [c.name for c in cards] == ["m1", "m2", "m3"]
    assert (cards[0].price_in, cards[0].price_out) == (1.0, 2.0)  # numbers are floats
    by_name = read_cards({"cot": {"description": "think step by step"}}, kind="agent")
    assert by_name == [AgentCard("cot", "think step by step")]
    assert read_cards([{"model": "m9"}])[0].name == "m9"  # DESIGN.md's column name for the name


@pytest.mark.parametrize("suffix", [".json", ".jsonl", ".csv"])
def test_cards_from_files(tmp_path, suffix):
    rows = [{"name": "m1", "description": "small", "price_in": 0.1, "price_out": 0.2},
            {"name": "m2", "description": "big", "price_in": 1.0, "price_out": 3.0}]
    path = tmp_path / f"models{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"models": rows, "source": "list prices"}))
    else:
        frame = pd.DataFrame(rows)
        frame.to_csv(path, index=False) if suffix == ".csv" else frame.to_json(path, orient="records", lines=True)
    assert read_cards(path) == [ModelCard(**r) for r in rows]


@pytest.mark.parametrize("cards, match", [
    ([{"name": "m", "price_in": -1}], "price_in=-1.*finite"),
    ([{"name": "m", "price_in": "cheap"}], "not a number"),
    ([{"name": "m", "colour": "red"}], r"unknown fields \['colour'\]"),
    ([{"description": "no name"}], "has no name"),
    ([{"name": ""}], "invalid"),
    (["m", "m"], "appears twice"),
    ([3.5], "has type float"),
])
def test_bad_cards_say_what_and_how_to_fix(cards, match):
    with pytest.raises(CardError, match=match):
        read_cards(cards)


def test_bad_files_and_kinds(tmp_path):
    with pytest.raises(CardError, match="does not exist"):
        read_cards(tmp_path / "none.json")
    (tmp_path / "cards.yaml").write_text("name: m")
    with pytest.raises(CardError, match="unknown suffix '.yaml'"):
        read_cards(tmp_path / "cards.yaml")
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(CardError, match="could not parse"):
        read_cards(tmp_path / "broken.json")
    with pytest.raises(CardError, match="unknown card kind 'tool'"):
        read_cards([], kind="tool")


def test_catalog_from_logs_fills_bare_cards_and_warns_once_per_kind():
    with pytest.warns(UserWarning, match=r"1 model\(s\) in the logs have no card.*\['m2'\]"):
        cat = Catalog.from_logs(LOGS, models=[ModelCard("m1", "first"), ModelCard("m9", "no runs yet")])
    assert list(cat.models) == ["m1", "m2", "m9"]  # logs order, then cards without runs (zero-shot nodes)
    assert cat.models["m2"] == ModelCard("m2") and list(cat.tasks) == ["t1", "t2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Catalog.from_logs(LOGS)  # no cards given at all: nothing to warn about


def test_catalog_round_trip_and_edits():
    cat = Catalog.from_logs(LOGS, tasks=[TaskCard("t1", "arithmetic"), TaskCard("t2", "algebra")])
    again = Catalog.from_dict(json.loads(json.dumps(cat.to_dict())))
    assert again.to_dict() == cat.to_dict()
    grown = cat.with_card("model", ModelCard("m3", "new", 1.0, 2.0))
    assert "m3" in grown.models and "m3" not in cat.models  # a new catalog; the old one is unchanged
    assert "m1" not in grown.without_card("model", "m1").models
    with pytest.raises(CardError, match="unknown model 'zz'"):
        cat.without_card("model", "zz")
    with pytest.raises(CardError, match="needs a ModelCard"):
        cat.with_card("model", AgentCard("x"))
    with pytest.raises(CardError, match="malformed catalog"):
        Catalog.from_dict({"models": []})
