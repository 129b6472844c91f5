"""Bad-input matrix: every way a caller can hand the router something wrong, one test case each.

Each case asserts the exception *class* and that the message names the offending *value* and
the *fix* (STYLE.md: "Errors name the value, the rule and the fix"). Inputs that are unusual but
legitimate (100k-character queries, any script, lone surrogates, disagreeing repeats, a single
model, a card without runs) must work instead, and the tests say what they give.

The case tables (LOG_CASES, CALL_CASES) are plain data so that ``benchmarks/reliability.py``
replays them and counts them in RELIABILITY.md.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

import graphroute as gr
from graphroute.data.synthetic import make_synthetic

FAST = dict(embedder="hash", cache_dir=False, progress=False, hidden=16, epochs=10, patience=10, seed=0)


def tiny_logs(seed: int = 0) -> pd.DataFrame:
    """40 queries × 3 models × 2 agents, 2 tasks: every logged column present."""
    return make_synthetic(n_queries=40, n_models=3, n_agents=2, n_tasks=2, seed=seed).logs


def with_value(logs: pd.DataFrame, column: str, row: int, value) -> pd.DataFrame:
    """A copy of ``logs`` with one cell replaced (object dtype so any value fits)."""
    out = logs.copy()
    out[column] = out[column].astype(object)
    out.at[row, column] = value
    return out


def assert_message(exc: BaseException, needles: tuple[str, ...]) -> None:
    msg = str(exc)
    for n in needles:
        assert n in msg, f"{n!r} is missing from the message: {msg!r}"


# ------------------------------------------------------------------------------ bad logs
@dataclass(frozen=True)
class LogCase:
    """A broken log table: how to break it, the error it must raise, and what the message must name."""

    id: str
    make: Callable[[pd.DataFrame], object]  # clean logs -> bad input
    needles: tuple[str, ...]  # the value, the rule/row where useful, the fix
    exc: type[Exception] = gr.LogsError


LOG_CASES: list[LogCase] = [
    LogCase("missing-column", lambda d: d.drop(columns=["cost"]),
            ("['cost']", "have [", "Fix: rename your columns")),
    LogCase("misspelled-column", lambda d: d.rename(columns={"effect": "efect"}),
            ("'efect'", "Did you mean 'efect'? Rename it to 'effect'")),
    LogCase("misspelled-column-case", lambda d: d.rename(columns={"model": "Model"}),
            ("'Model'", "Rename it to 'model'")),
    LogCase("misspelled-two-columns", lambda d: d.rename(columns={"query": "querry", "cost": "costs"}),
            ("Rename it to 'query'", "Rename it to 'cost'", "'querry'", "'costs'")),
    LogCase("effect-is-text", lambda d: with_value(d, "effect", 3, "high"),
            ("row 3", "effect='high'", "is a number", "Fix: convert effect to float")),
    LogCase("cost-is-text", lambda d: with_value(d, "cost", 5, "$0.02"),
            ("row 5", "cost='$0.02'", "Fix: convert cost to float")),
    LogCase("query-is-a-number", lambda d: with_value(d, "query", 3, 5),
            ("row 3", "query=5", "is text", ".astype(str)")),
    LogCase("query-is-a-list", lambda d: with_value(d, "query", 2, [{"role": "user", "content": "hi"}]),
            ("row 2", "'content': 'hi'", "is text", "Fix: put the query text")),
    LogCase("logs-not-a-dataframe", lambda d: d.to_dict("records"),
            ("got list", "Fix: pass a DataFrame")),
    LogCase("effect-nan", lambda d: with_value(d, "effect", 3, np.nan),
            ("row 3", "nan", "is not NaN", "Fix: drop runs without a measured effect")),
    LogCase("effect-inf", lambda d: with_value(d, "effect", 4, np.inf),
            ("row 4", "inf", "lies in [0, 1]", "Fix: rescale effect to [0, 1]")),
    LogCase("effect-above-1", lambda d: with_value(d, "effect", 3, 1.7),
            ("row 3", "1.7", "lies in [0, 1]", "Fix: rescale effect")),
    LogCase("effect-below-0", lambda d: with_value(d, "effect", 6, -0.25),
            ("row 6", "-0.25", "Fix: rescale effect")),
    LogCase("effect-judge-scale", lambda d: d.assign(effect=d["effect"] * 10),
            ("10.0", "and ", "more", "e.g. score / max_score")),
    LogCase("cost-negative", lambda d: with_value(d, "cost", 3, -0.01),
            ("row 3", "-0.01", ">= 0", "Fix: costs are USD")),
    LogCase("cost-inf", lambda d: with_value(d, "cost", 7, np.inf),
            ("row 7", "inf", "is finite", "Fix: costs are USD")),
    LogCase("cost-nan", lambda d: with_value(d, "cost", 8, np.nan),
            ("row 8", "nan", "Fix: drop runs without a measured cost")),
    LogCase("latency-negative", lambda d: with_value(d, "latency_s", 1, -3.0),
            ("row 1", "-3.0", "latency_s", "Fix: fix the latency_s values or drop the column")),
    LogCase("query-empty", lambda d: with_value(d, "query", 3, ""),
            ("row 3", "query=''", "not empty or whitespace", "Fix: give every row a non-empty query")),
    LogCase("query-whitespace", lambda d: with_value(d, "query", 3, " \t\n "),
            ("row 3", r"query=' \t\n '", "Fix: give every row a non-empty query")),
    LogCase("query-missing", lambda d: with_value(d, "query", 9, None),
            ("row 9", "query=None", "Fix: fill in query")),
    LogCase("model-empty", lambda d: with_value(d, "model", 2, "  "),
            ("row 2", "model='  '", "Fix: give every row a non-empty model")),
    LogCase("query-id-two-texts", lambda d: with_value(d, "query", 0, "a different question"),
            ("syn0_000000", "a different question", "Fix: give different queries different ids")),
    LogCase("query-id-two-tasks", lambda d: with_value(d, "task", 0, "task_other"),
            ("syn0_000000", "task_other", "one query_id names one task", "Fix:")),
    LogCase("duplicate-columns", lambda d: pd.concat([d, d[["cost"]]], axis=1),
            ("duplicate columns ['cost']", "Fix: rename or drop")),
    LogCase("empty-logs", lambda d: d.iloc[:0],
            ("0 rows", "Fix: pass at least one logged run")),
    LogCase("empty-frame-no-columns", lambda d: pd.DataFrame(),
            ("0 rows", "Fix: pass at least one logged run")),
    LogCase("every-row-bad", lambda d: d.assign(effect=2.0),
            ("effect lies in [0, 1]", "Fix: rescale")),
]

# the entry points that take logs: each must raise the same error
LOG_ENTRIES: dict[str, Callable[[object], object]] = {
    "validate_logs": lambda bad: gr.validate_logs(bad),
    "read_logs": lambda bad: gr.read_logs(bad) if isinstance(bad, pd.DataFrame) else gr.validate_logs(bad),
    "Router.fit": lambda bad: gr.Router(**FAST).fit(bad),
}


@pytest.fixture(scope="module")
def logs() -> pd.DataFrame:
    return tiny_logs()


@pytest.mark.parametrize("entry", list(LOG_ENTRIES))
@pytest.mark.parametrize("case", LOG_CASES, ids=[c.id for c in LOG_CASES])
def test_bad_logs_raise_naming_value_and_fix(case: LogCase, entry: str, logs: pd.DataFrame) -> None:
    bad = case.make(logs)
    before = copy.deepcopy(bad)
    with pytest.raises(case.exc) as info:
        LOG_ENTRIES[entry](bad)
    assert_message(info.value, case.needles)
    if isinstance(bad, pd.DataFrame):  # a failed call leaves the caller's frame as it was
        pd.testing.assert_frame_equal(bad, before)


def test_drop_invalid_drops_only_bad_rows_and_counts_them(logs: pd.DataFrame) -> None:
    bad = with_value(with_value(logs, "effect", 3, 1.7), "cost", 5, -1.0)
    with pytest.warns(UserWarning, match="dropped 2 of 240 invalid rows"):
        out = gr.validate_logs(bad, drop_invalid=True)
    assert len(out) == len(logs) - 2
    assert out["effect"].between(0, 1).all() and (out["cost"] >= 0).all()


def test_misspelled_column_in_a_file_is_named(tmp_path, logs: pd.DataFrame) -> None:
    path = tmp_path / "runs.csv"
    logs.rename(columns={"effect": "score"}).to_csv(path, index=False)
    with pytest.raises(gr.LogsError) as info:
        gr.read_logs(path)
    assert_message(info.value, ("['effect']", "'score'", "Fix: rename"))
    out = gr.read_logs(path, columns={"score": "effect"})  # the fix the message points to works
    assert len(out) == len(logs)
    with pytest.raises(gr.LogsError) as info:
        gr.read_logs(path, columns={"scroe": "effect"})
    assert_message(info.value, ("['scroe']", "Fix: use the file's column names"))


# ------------------------------------------------------------------------------ legitimate but unusual logs
def test_duplicate_rows_that_disagree_are_averaged(logs: pd.DataFrame) -> None:
    """Repeated runs of one (query, model, agent) are averaged (DESIGN.md, aggregate_runs docstring)."""
    assert "Average repeated runs" in gr.aggregate_runs.__doc__
    row = logs.iloc[[0]]
    other = row.assign(effect=1.0 - row["effect"], cost=row["cost"] * 3)  # the same run, logged again, disagreeing
    doubled = pd.concat([logs, other], ignore_index=True)
    agg = gr.aggregate_runs(gr.validate_logs(doubled))
    key = agg[(agg["query_id"] == row["query_id"].iloc[0]) & (agg["model"] == row["model"].iloc[0])
              & (agg["agent"] == row["agent"].iloc[0])]
    assert len(key) == 1 and int(key["n_runs"].iloc[0]) == 2
    assert key["effect"].iloc[0] == pytest.approx(0.5)
    assert key["cost"].iloc[0] == pytest.approx(2 * row["cost"].iloc[0])
    router = gr.Router(**FAST).fit(doubled)
    st = router.state_
    e = ((st.out_query == st.query_ids.index(row["query_id"].iloc[0]))
         & (st.out_model == st.model_names.index(row["model"].iloc[0]))
         & (st.out_agent == st.agent_names.index(row["agent"].iloc[0])))
    assert int(e.sum()) == 1 and float(st.out_effect[e]) == pytest.approx(0.5)  # one edge, the mean


def test_model_in_logs_without_a_card_warns_naming_it(logs: pd.DataFrame) -> None:
    cards = make_synthetic(n_queries=40, n_models=3, n_agents=2, n_tasks=2, seed=0).models
    with pytest.warns(UserWarning) as record:
        router = gr.Router(**FAST).fit(logs, models=cards[:2])
    msgs = [str(w.message) for w in record if "no card" in str(w.message)]
    assert msgs and "'model_2'" in msgs[0] and "Fix: pass models=" in msgs[0]
    assert "model_2" in set(router.candidates_["model"])  # still routable, described by its name


def test_card_without_logs_is_a_zero_shot_candidate(logs: pd.DataFrame) -> None:
    cards = make_synthetic(n_queries=40, n_models=3, n_agents=2, n_tasks=2, seed=0).models
    ghost = {"name": "ghost", "description": "a model never run", "price_in": 0.2, "price_out": 0.4}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a card for a model the logs do not mention is legitimate: no warning
        router = gr.Router(**FAST).fit(logs, models=[*cards, ghost])
    pred = router.predict(["how is the ka lo mi question solved"])
    g = pred[pred["model"] == "ghost"]
    assert len(g) == 2 and np.isfinite(g[["effect", "cost"]].to_numpy()).all()
    assert router.select("how is the ka lo mi question", allowed_models=["ghost"]).model == "ghost"


def test_single_model_is_always_chosen_and_others_are_named_unknown(logs: pd.DataFrame) -> None:
    one = logs[(logs["model"] == "model_0") & (logs["agent"] == "direct")]
    router = gr.Router(**FAST).fit(one)
    assert list(router.candidates_["model"]) == ["model_0"]
    assert router.select("what is the question").model == "model_0"
    picks = router.select_many(["a", "b c", "d e f"])
    assert set(picks["model"]) == {"model_0"}
    with pytest.raises(gr.ConfigError) as info:
        router.select("what", allowed_models=["model_1"])
    assert_message(info.value, ("['model_1']", "['model_0']", "Check the spelling"))


# ------------------------------------------------------------------------------ bad calls on a fitted router
@pytest.fixture(scope="module")
def router(logs: pd.DataFrame) -> gr.Router:
    return gr.Router(**FAST).fit(logs)


@dataclass(frozen=True)
class CallCase:
    """A bad call on a fitted router: the call, the error it must raise, and what the message must name."""

    id: str
    call: Callable[[gr.Router], object]
    exc: type[Exception]
    needles: tuple[str, ...]


CALL_CASES: list[CallCase] = [
    CallCase("select-empty-query", lambda r: r.select(""), gr.ConfigError,
             ("''", "empty or whitespace", "Fix: pass the non-empty query")),
    CallCase("select-whitespace-query", lambda r: r.select(" \n\t "), gr.ConfigError,
             (r"' \n\t '", "Fix: pass the non-empty query")),
    CallCase("select-many-one-empty", lambda r: r.select_many(["fine", "   "]), gr.ConfigError,
             ("Query 1", "'   '", "Fix:")),
    CallCase("predict-empty-query", lambda r: r.predict([""]), gr.ConfigError, ("''", "Fix:")),
    CallCase("select-none-query", lambda r: r.select(None), gr.ConfigError, ("NoneType", "select_many()")),
    CallCase("select-list-query", lambda r: r.select(["a", "b"]), gr.ConfigError, ("list", "Use select_many()")),
    CallCase("select-many-number", lambda r: r.select_many(["ok", 42]), gr.ConfigError,
             ("Query 1", "int", "42", "Fix: pass the query text as str")),
    CallCase("allowed-model-unknown", lambda r: r.select("q", allowed_models=["gpt-5"]), gr.ConfigError,
             ("['gpt-5']", "['model_0', 'model_1', 'model_2']", "Check the spelling", "router.add_model")),
    CallCase("allowed-model-as-string-unknown", lambda r: r.select("q", allowed_models="gpt-5"), gr.ConfigError,
             ("['gpt-5']", "model_0")),
    CallCase("forbidden-model-unknown", lambda r: r.select("q", forbidden_models=["model_9"]), gr.ConfigError,
             ("['model_9']", "model_2", "Check the spelling")),
    CallCase("allowed-agent-unknown", lambda r: r.select("q", allowed_agents=["react"]), gr.ConfigError,
             ("['react']", "'agent_1', 'direct'", "router.add_agent")),
    CallCase("select-many-allowed-unknown", lambda r: r.select_many(["q"], allowed_models=["gpt-5"]),
             gr.ConfigError, ("['gpt-5']", "model_0")),
    CallCase("budget-nothing-meets", lambda r: r.select("q", budget=1e-12), gr.InfeasibleError,
             ("budget=1e-12 USD", "cheapest predicted", "fallback='cheapest'", "Relax a constraint")),
    CallCase("budget-zero", lambda r: r.select("q", budget=0.0), gr.InfeasibleError,
             ("budget=0 USD", "fallback='cheapest'")),
    CallCase("budget-nothing-meets-many", lambda r: r.select_many(["q", "r"], budget=1e-12), gr.InfeasibleError,
             ("budget=1e-12 USD", "fallback='cheapest'")),
    CallCase("budget-and-allow-list", lambda r: r.select("q", budget=1e-12, allowed_models=["model_2"]),
             gr.InfeasibleError, ("budget=1e-12", "allowed_models=['model_2']", "Relax a constraint")),
    CallCase("min-effect-unreachable", lambda r: r.select("q", min_effect=1.0), gr.InfeasibleError,
             ("min_effect=1", "best predicted", "Relax a constraint")),
    CallCase("everything-forbidden", lambda r: r.select("q", forbidden_agents=["direct", "agent_1"]),
             gr.InfeasibleError, ("forbidden_agents=['agent_1', 'direct']", "fallback=")),
    CallCase("budget-negative", lambda r: r.select("q", budget=-1.0), gr.ConfigError,
             ("budget", "-1.0", "budget=None for none")),
    CallCase("budget-nan", lambda r: r.select("q", budget=float("nan")), gr.ConfigError, ("nan", "budget=None")),
    CallCase("budget-text", lambda r: r.select("q", budget="1 dollar"), gr.ConfigError,
             ("'1 dollar'", "Pass a limit per call")),
    CallCase("weights-all-zero", lambda r: r.select("q", weights={"effect": 0, "cost": 0}), gr.ConfigError,
             ("{'effect': 0, 'cost': 0}", "At least one weight must be > 0", "{'effect': 1.0}")),
    CallCase("weights-all-zero-tuple", lambda r: r.select("q", weights=(0.0, 0.0)), gr.ConfigError,
             ("'effect': 0.0, 'cost': 0.0", "{'effect': 1.0}")),
    CallCase("weights-negative-effect", lambda r: r.select("q", weights={"effect": -1, "cost": 0.5}),
             gr.ConfigError, ("'effect'", "-1.0", ">= 0", "raise 'cost'")),
    CallCase("weights-all-negative", lambda r: r.select_many(["q"], weights=(-0.5, -0.5)), gr.ConfigError,
             ("-0.5", ">= 0", "raise 'cost'")),
    CallCase("weights-nan", lambda r: r.select("q", weights={"effect": float("nan")}), gr.ConfigError,
             ("nan", "finite")),
    CallCase("weights-unknown-name", lambda r: r.select("q", weights={"quality": 1.0}), gr.ConfigError,
             ("['quality']", "['cost', 'effect', 'latency']")),
    CallCase("weights-text", lambda r: r.select("q", weights={"effect": "high"}), gr.ConfigError,
             ("'high'", "weights={'effect': 1.0, 'cost': 0.5}")),
    CallCase("weights-bad-length", lambda r: r.select("q", weights=(1, 2, 3, 4)), gr.ConfigError,
             ("(1, 2, 3, 4)", "weights=(0.5, 0.5)")),
    CallCase("cost-unit-unknown", lambda r: r.select("q", cost_unit="eur"), gr.ConfigError,
             ("'eur'", "['normalized', 'usd']")),
    CallCase("fallback-unknown", lambda r: r.select("q", fallback="any"), gr.ConfigError,
             ("'any'", "'cheapest'", "'best_effect'")),
    CallCase("task-unknown", lambda r: r.select("q", task="poetry"), gr.ConfigError,
             ("'poetry'", "['task_0', 'task_1']", "add_task('poetry'")),
    CallCase("tasks-wrong-length", lambda r: r.select_many(["a", "b"], tasks=["task_0"] * 3), gr.ConfigError,
             ("3 entries", "2 queries", "one task per query")),
    CallCase("observe-unknown-model",
             lambda r: r.observe(pd.DataFrame({"query": ["x"], "model": ["gpt-5"], "effect": [1.0], "cost": [0.1]})),
             gr.LogsError, ("['gpt-5']", "router.add_model")),
    CallCase("observe-bad-effect",
             lambda r: r.observe(pd.DataFrame({"query": ["x"], "model": ["model_0"], "effect": [7.0], "cost": [0.1]})),
             gr.LogsError, ("7.0", "Fix: rescale effect")),
    CallCase("add-model-twice", lambda r: r.add_model("model_0"), gr.ConfigError,
             ("'model_0'", "remove_model", "pick another name")),
    CallCase("add-model-negative-price", lambda r: r.add_model("cheap", price_in=-1.0), gr.CardError,
             ("'cheap'", "price_in=-1.0", "Fix: correct price_in")),
    CallCase("add-model-empty-name", lambda r: r.add_model("  "), gr.CardError,
             ("'  '", "Fix: give every model card a name")),
    CallCase("remove-model-unknown", lambda r: r.remove_model("gpt-5"), gr.ConfigError,
             ("'gpt-5'", "['model_0', 'model_1', 'model_2']")),
    CallCase("load-missing-dir", lambda r: gr.load("/nonexistent/router"), gr.RouterFileError,
             ("'/nonexistent/router'", "router.save(path)")),
    CallCase("router-bad-parameter", lambda r: gr.Router(**{**FAST, "hidden": 0}).fit(tiny_logs()),
             gr.ConfigError, ("hidden", ">= 1", "got 0")),
    CallCase("router-unknown-embedder", lambda r: gr.Router(**{**FAST, "embedder": "bert"}).fit(tiny_logs()),
             gr.EmbedderError, ("'bert'", "hash", "register_embedder")),
    CallCase("card-unknown-field",
             lambda r: gr.Router(**FAST).fit(tiny_logs(), models=[{"name": "model_0", "prise_in": 1.0}]),
             gr.CardError, ("['prise_in']", "price_in", "Fix: rename or remove")),
    CallCase("card-duplicate",
             lambda r: gr.Router(**FAST).fit(tiny_logs(), models=[{"name": "model_0"}, {"name": "model_0"}]),
             gr.CardError, ("'model_0'", "appears twice", "Fix: merge")),
]


@pytest.mark.parametrize("case", CALL_CASES, ids=[c.id for c in CALL_CASES])
def test_bad_calls_raise_naming_value_and_fix(case: CallCase, router: gr.Router) -> None:
    r = copy.deepcopy(router)  # growth calls must not change the shared fixture
    with pytest.raises(case.exc) as info:
        case.call(r)
    assert_message(info.value, case.needles)
    assert isinstance(info.value, gr.GraphRouteError)  # one hierarchy: callers can catch it all


def test_budget_fallback_is_declared_not_silent(router: gr.Router) -> None:
    sel = router.select("q", budget=1e-12, fallback="cheapest")
    assert sel.fallback is True
    pred = router.predict(["q"])
    assert sel.cost == pytest.approx(pred["cost"].min())
    many = router.select_many(["q", "r"], budget=1e-12, fallback="cheapest")
    assert many["fallback"].all()


# ------------------------------------------------------------------------------ unfitted router
UNFITTED_CALLS: dict[str, Callable[[gr.Router], object]] = {
    "select": lambda r: r.select("q"),
    "select_many": lambda r: r.select_many(["q"]),
    "predict": lambda r: r.predict(["q"]),
    "evidence": lambda r: r.evidence("q"),
    "add_model": lambda r: r.add_model("m"),
    "add_agent": lambda r: r.add_agent("a"),
    "observe": lambda r: r.observe(tiny_logs()),
    "remove_model": lambda r: r.remove_model("m"),
    "save": lambda r: r.save("/tmp/never-written"),
    "cost_range_": lambda r: r.cost_range_,
    "module-select": lambda r: gr.select("q", router=r),
}


@pytest.mark.parametrize("name", list(UNFITTED_CALLS))
def test_unfitted_router_says_fit_first(name: str) -> None:
    with pytest.raises(gr.NotFittedError) as info:
        UNFITTED_CALLS[name](gr.Router(**FAST))
    assert_message(info.value, ("This Router is not fitted", "call fit(logs) first", "graphroute.load(path)"))


# ------------------------------------------------------------------------------ queries that must work
ODD_QUERIES = {
    "100k-chars": "solve this " * 9_091,  # 100,001 characters
    "100k-no-spaces": "x" * 100_000,
    "chinese": "这是一个关于数学的问题吗？请解释二次方程。",
    "japanese-repeated": "日本語の質問です。" * 12_000,
    "arabic-rtl": "ما هي عاصمة فرنسا؟ \u200f",
    "russian-combining": "Что тако́е маши́нное обуче́ние?",
    "hindi": "भारत की राजधानी क्या है?",
    "emoji-only": "🙂🚀🔥",
    "zero-width-and-control": "\u200b\u200d\x00\x07 question",
    "lone-surrogate": "bad \ud800 unicode from a JSON escape",
    "mixed-scripts": "Translate 'Grüße' into 中文 and العربية, then into ελληνικά.",
}


@pytest.mark.parametrize("kind", list(ODD_QUERIES))
def test_long_and_non_latin_queries_route(kind: str, router: gr.Router) -> None:
    q = ODD_QUERIES[kind]
    sel = router.select(q)
    assert sel.model in set(router.candidates_["model"]) and 0.0 <= sel.effect <= 1.0
    assert np.isfinite([sel.cost, sel.score]).all() and sel.cost >= 0
    many = router.select_many([q, "a plain question"])
    assert many["model"].iloc[0] == sel.model and many["agent"].iloc[0] == sel.agent


@pytest.mark.parametrize("kind", ["100k-chars", "chinese", "emoji-only", "lone-surrogate", "zero-width-and-control"])
def test_odd_queries_embed_with_the_shipped_static_embedder(kind: str) -> None:
    """The tokenizer-backed embedders (not only hash) accept every such query: unit vectors, no error."""
    from graphroute.embed import get_embedder

    try:
        emb = get_embedder("minilm-static")
        emb.dim  # noqa: B018 (loads the model)
    except gr.EmbedderError as exc:
        pytest.skip(f"the shipped static embedder is unavailable here: {exc}")
    v = emb.embed([ODD_QUERIES[kind]])
    assert v.shape == (1, emb.dim) and np.isclose(np.linalg.norm(v), 1.0, atol=1e-3)


def test_odd_queries_survive_observe_and_evidence(router: gr.Router) -> None:
    """Odd texts are also fine as *logged* queries: they become graph nodes and evidence."""
    r = copy.deepcopy(router)
    texts = list(ODD_QUERIES.values())
    # object dtype: pandas' default UTF-8 strings cannot even hold the lone surrogate; validate_logs repairs it
    new = pd.DataFrame({"query": pd.Series(texts, dtype=object), "task": "task_0", "model": "model_0",
                        "effect": 1.0, "cost": 0.001})
    r.observe(new)
    assert r.state_.n_queries == router.state_.n_queries + len(texts)
    ev = r.evidence(ODD_QUERIES["chinese"], k=3)
    assert len(ev) > 0 and ev["similarity"].notna().all()
