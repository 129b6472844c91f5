"""Property tests (hypothesis) on the loaders and the selector.

Loaders: for *any* table hypothesis can build (text, numbers, NaN, inf, None, lone surrogates,
missing and misspelled columns), ``validate_logs`` / ``read_logs`` / ``aggregate_runs`` never
touch the caller's frame and either raise ``LogsError`` or return a frame that obeys the
canonical schema. Selector: a larger cost weight never picks a choice with a higher predicted
cost, and a choice never breaks the budget, the allow-lists or the forbid-lists (nothing feasible
raises ``InfeasibleError``, and then truly nothing was feasible).

Example counts are small (``max_examples`` below) so the file runs in a few seconds; the
benchmark script ``benchmarks/reliability.py`` runs the same properties with many more.
"""

from __future__ import annotations

import copy
import math
import os
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

import graphroute as gr
from graphroute.data.logs import CANONICAL
from graphroute.data.synthetic import make_synthetic

FAST = dict(embedder="hash", cache_dir=False, progress=False, hidden=16, epochs=10, patience=10, seed=0)
# the benchmark script raises this to run the same properties at full scale
N_EXAMPLES = int(os.environ.get("GRAPHROUTE_PROPERTY_EXAMPLES", "60"))
SETTINGS = settings(max_examples=N_EXAMPLES, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ------------------------------------------------------------------------------ log tables
_odd_text = st.sampled_from(["", " ", "\t\n", "q \ud800 lone surrogate", "日本語", "🙂", "x" * 300])
_text = st.one_of(st.text(min_size=1, max_size=12), _odd_text)
_number = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.floats(min_value=0.0, max_value=1.0),  # valid effects often, so some tables pass
    st.integers(min_value=-3, max_value=3),
)
_MISSPELL = {"query": "querry", "model": "Model", "effect": "efect", "cost": "costs"}


def _cells(models: tuple[str, ...], tasks: tuple[str, ...], agents: tuple[str, ...]) -> dict[str, tuple]:
    """Per column: (strategy of valid values, strategy of anything, broken values included)."""
    return {
        "query_id": (st.sampled_from(["q1", "q2", "q3"]), st.one_of(st.none(), st.sampled_from(["q1", "q2", "", " "]))),
        "query": (st.sampled_from(["what is ka", "how lo mi", "日本語", "x" * 300, "q \ud800 lone surrogate"]),
                  st.one_of(_text, st.none(), st.integers(0, 9))),
        "task": (st.sampled_from(tasks), st.one_of(st.sampled_from([*tasks, ""]), st.none())),
        "model": (st.sampled_from(models), st.one_of(st.sampled_from([*models, " "]), st.none(), st.integers(0, 2))),
        "agent": (st.sampled_from(agents), st.one_of(st.sampled_from([*agents, ""]), st.none())),
        "effect": (st.floats(0.0, 1.0), st.one_of(_number, st.none(), st.sampled_from(["0.5", "high", ""]))),
        "cost": (st.floats(0.0, 10.0), st.one_of(_number, st.none(), st.sampled_from(["0.01", "$1"]))),
        "latency_s": (st.one_of(st.floats(0.0, 100.0), st.just(float("nan"))), st.one_of(_number, st.none())),
    }


@st.composite
def log_tables(draw, models: tuple[str, ...] = ("m1", "m2", "m3"), tasks: tuple[str, ...] = ("t1", "t2"),
               agents: tuple[str, ...] = ("direct", "cot"), require: tuple[str, ...] = ()) -> pd.DataFrame:
    """A small table of logged runs, in one of three modes: every cell valid; valid but for one cell;
    any cell anything. Sometimes a required column is dropped or misspelled."""
    cells = _cells(models, tasks, agents)
    n = draw(st.integers(0, 8))
    optional = draw(st.lists(st.sampled_from(["query_id", "task", "agent", "latency_s"]), unique=True))
    cols = [c for c in cells if c in ("query", "model", "effect", "cost", *require) or c in optional]
    mode = draw(st.sampled_from(["clean", "one-bad-cell", "dirty"]))
    pick = {c: cells[c][0] if mode != "dirty" else st.one_of(cells[c][0], cells[c][1]) for c in cols}
    data = {c: [draw(pick[c]) for _ in range(n)] for c in cols}
    if mode != "dirty":  # one query text, one id and one task per query, as real logs have
        first = {q: i for i, q in reversed(list(enumerate(data["query"])))}
        if "query_id" in data:
            data["query_id"] = [f"id{first[q]}" for q in data["query"]]
        if "task" in data:
            data["task"] = [data["task"][first[q]] for q in data["query"]]
    if mode == "one-bad-cell" and n:
        col = draw(st.sampled_from(cols))
        data[col][draw(st.integers(0, n - 1))] = draw(cells[col][1])
    df = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in data.items()})
    broken = draw(st.sampled_from([None] * 20 + list(_MISSPELL)))  # sometimes drop or misspell a required column
    if broken is not None:
        df = df.drop(columns=[broken]) if draw(st.booleans()) else df.rename(columns={broken: _MISSPELL[broken]})
    if draw(st.booleans()):  # sometimes the columns pandas would infer (float64 effect, str text)
        try:
            df = df.infer_objects()
        except (TypeError, ValueError):  # e.g. a lone surrogate that pandas' UTF-8 strings refuse
            pass
    return df


def check_canonical(out: pd.DataFrame, n_in: int, dropped: bool) -> None:
    """What a validated table promises its readers."""
    assert list(out.columns[:7]) == list(CANONICAL[:7])
    assert isinstance(out.index, pd.RangeIndex) and out.index.start == 0
    assert len(out) == n_in if not dropped else 0 < len(out) <= n_in
    for c in ("query_id", "query", "task", "model", "agent"):
        assert all(isinstance(v, str) and v.strip() for v in out[c]), c
        assert all(v.encode("utf-8") for v in out[c])  # valid Unicode: no lone surrogates left
    for c in ("effect", "cost"):
        assert out[c].dtype == np.float64 and np.isfinite(out[c]).all(), c
    assert out["effect"].between(0.0, 1.0).all() and (out["cost"] >= 0).all()
    if "latency_s" in out:
        lat = out["latency_s"].to_numpy(float)
        assert (np.isnan(lat) | ((lat >= 0) & np.isfinite(lat))).all()
    assert (out.groupby("query_id")[["query", "task"]].nunique() <= 1).all().all()  # one id, one text, one task


@SETTINGS
@given(df=log_tables(), drop_invalid=st.booleans())
def test_validate_logs_never_mutates_and_returns_canonical_or_raises(df: pd.DataFrame, drop_invalid: bool) -> None:
    before = copy.deepcopy(df)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = gr.validate_logs(df, drop_invalid=drop_invalid)
        except gr.LogsError as exc:
            assert str(exc)  # a message, whatever broke
            out = None
    event("LogsError" if out is None else "valid" if len(out) == len(df) else "rows dropped")
    pd.testing.assert_frame_equal(df, before)
    if out is None:
        return
    dropped = len(out) < len(df)
    check_canonical(out, len(df), drop_invalid)
    if dropped:  # rows are dropped only when asked, and then counted aloud
        assert drop_invalid and any(f"dropped {len(df) - len(out)} of {len(df)}" in str(w.message) for w in caught)
    again = gr.validate_logs(out)  # validating a valid table changes nothing
    pd.testing.assert_frame_equal(again, out)


@SETTINGS
@given(df=log_tables())
def test_read_logs_and_aggregate_never_mutate(df: pd.DataFrame) -> None:
    before = copy.deepcopy(df)
    mapping = {c: c.upper() for c in df.columns[:1]}  # read_logs renames back from the caller's names
    renamed = df.rename(columns=mapping)
    renamed_before = copy.deepcopy(renamed)
    try:
        out = gr.read_logs(renamed, columns={v: k for k, v in mapping.items()})
    except gr.LogsError:
        out = None
    pd.testing.assert_frame_equal(renamed, renamed_before)
    pd.testing.assert_frame_equal(df, before)
    if out is None:
        return
    check_canonical(out, len(df), dropped=False)
    out_before = out.copy()
    agg = gr.aggregate_runs(out)
    pd.testing.assert_frame_equal(out, out_before)
    assert not agg.duplicated(["query_id", "model", "agent"]).any()
    assert int(agg["n_runs"].sum()) == len(out)
    assert agg["effect"].between(0, 1).all()


@SETTINGS
@given(df=log_tables())
def test_read_logs_from_csv_gives_canonical_or_logs_error(tmp_path_factory, df: pd.DataFrame) -> None:
    path = tmp_path_factory.mktemp("csv") / "runs.csv"
    try:
        df.to_csv(path, index=False)
    except UnicodeEncodeError:  # the table holds a lone surrogate, which no CSV file can
        assume(False)
    try:
        out = gr.read_logs(path)
    except gr.LogsError:
        return
    check_canonical(out, len(df), dropped=False)


# ------------------------------------------------------------------------------ the selector
@pytest.fixture(scope="module")
def fitted() -> gr.Router:
    syn = make_synthetic(n_queries=40, n_models=4, n_agents=2, n_tasks=2, seed=1)
    return gr.Router(**FAST).fit(syn.logs, models=syn.models, agents=syn.agents, tasks=syn.tasks)


MODELS = ["model_0", "model_1", "model_2", "model_3"]
AGENTS = ["agent_1", "direct"]
_queries = st.one_of(
    st.sampled_from(["what is the kalo of mine", "how to solve ruvo", "which tize is sapa", "a plain question",
                     "日本語の質問", "x" * 2_000]),
    st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != ""),
)
_weight = st.floats(min_value=0.0, max_value=5.0, allow_nan=False)


@SETTINGS
@given(query=_queries, w_effect=_weight, w_cost=_weight, raise_by=st.floats(1e-3, 10.0),
       unit=st.sampled_from(["normalized", "usd"]), task=st.sampled_from([None, "task_0", "task_1"]),
       allowed=st.one_of(st.none(), st.lists(st.sampled_from(MODELS), min_size=1, unique=True)))
def test_raising_the_cost_weight_never_raises_the_chosen_cost(fitted, query, w_effect, w_cost, raise_by, unit,
                                                              task, allowed) -> None:
    assume(w_effect + w_cost > 0)
    kw = dict(task=task, cost_unit=unit, allowed_models=allowed, evidence=0)
    low = fitted.select(query, weights={"effect": w_effect, "cost": w_cost}, **kw)
    high = fitted.select(query, weights={"effect": w_effect, "cost": w_cost + raise_by}, **kw)
    assert high.cost <= low.cost + 1e-12 * max(1.0, low.cost)


@SETTINGS
@given(query=_queries, w_effect=_weight, w_cost=_weight, budget_q=st.one_of(st.none(), st.floats(-0.2, 1.2)),
       allowed_models=st.one_of(st.none(), st.lists(st.sampled_from(MODELS), min_size=1, unique=True)),
       allowed_agents=st.one_of(st.none(), st.lists(st.sampled_from(AGENTS), min_size=1, unique=True)),
       forbidden=st.one_of(st.none(), st.lists(st.sampled_from(MODELS), max_size=3, unique=True)),
       min_effect=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_the_choice_never_breaks_budget_or_lists(fitted, query, w_effect, w_cost, budget_q, allowed_models,
                                                  allowed_agents, forbidden, min_effect) -> None:
    assume(w_effect + w_cost > 0)
    pred = fitted.predict([query])
    budget = None
    if budget_q is not None:  # a budget between (and a little beyond) the cheapest and dearest predictions
        lo, hi = float(pred["cost"].min()), float(pred["cost"].max())
        budget = max(0.0, lo + budget_q * (hi - lo))
    feasible = np.ones(len(pred), dtype=bool)
    if budget is not None:
        feasible &= pred["cost"].to_numpy() <= budget
    if min_effect is not None:
        feasible &= pred["effect"].to_numpy() >= min_effect
    if allowed_models is not None:
        feasible &= pred["model"].isin(allowed_models).to_numpy()
    if allowed_agents is not None:
        feasible &= pred["agent"].isin(allowed_agents).to_numpy()
    if forbidden:
        feasible &= ~pred["model"].isin(forbidden).to_numpy()
    kw = dict(weights={"effect": w_effect, "cost": w_cost}, budget=budget, min_effect=min_effect,
              allowed_models=allowed_models, allowed_agents=allowed_agents, forbidden_models=forbidden)
    try:
        sel = fitted.select(query, evidence=0, **kw)
    except gr.InfeasibleError as exc:
        event("infeasible")
        assert not feasible.any(), "InfeasibleError although a candidate met every constraint"
        assert "fallback=" in str(exc)
        many = fitted.select_many([query], fallback="cheapest", **kw)  # a declared fallback is flagged
        assert bool(many["fallback"].iloc[0])
        return
    assert feasible.any() and not sel.fallback
    if budget is not None:
        assert sel.cost <= budget
    if min_effect is not None:
        assert sel.effect >= min_effect
    if allowed_models is not None:
        assert sel.model in allowed_models
    if allowed_agents is not None:
        assert sel.agent in allowed_agents
    if forbidden:
        assert sel.model not in forbidden
    best = sel.alternatives[sel.alternatives["feasible"]]["score"].max()
    assert math.isclose(sel.score, best, rel_tol=0, abs_tol=1e-12)  # and it is the best feasible one
    # in a batch (whose other query may have nothing feasible: hence the fallback) it gets the same choice,
    # unless float32 rounding, which differs with the batch size (~6e-8), decides a knife edge
    many = fitted.select_many([query, "another query"], fallback="cheapest", **kw).iloc[0]
    if bool(many["fallback"]) or (many["model"], many["agent"]) != (sel.model, sel.agent):
        edge = ((budget is not None and np.isclose(pred["cost"], budget, rtol=1e-5, atol=0).any())
                or (min_effect is not None and np.isclose(pred["effect"], min_effect, rtol=0, atol=1e-6).any()))
        alt = sel.alternatives.set_index(["model", "agent"])["score"]
        near_tie = abs(alt[(many["model"], many["agent"])] - sel.score) <= 1e-5 * max(1.0, abs(sel.score))
        event("batch rounding decided a knife edge")
        assert edge or near_tie, "select_many chose differently from select"


@SETTINGS
@given(df=log_tables(models=tuple(MODELS), tasks=("task_0", "task_1"), agents=tuple(AGENTS), require=("task",)))
def test_observe_never_mutates_its_input(fitted, df: pd.DataFrame) -> None:
    router = copy.deepcopy(fitted)
    before = copy.deepcopy(df)
    try:
        router.observe(df)
    except gr.LogsError:  # unknown names or broken rows: said, and the router is unchanged
        event("LogsError")
        assert router.state_.n_queries == fitted.state_.n_queries
        assert router.state_.out_query.shape == fitted.state_.out_query.shape
    else:  # every run joined the graph as an outcome edge (repeats averaged)
        event("observed")
        added = router.state_.out_query.shape[0] - fitted.state_.out_query.shape[0]
        assert added == len(gr.aggregate_runs(gr.validate_logs(df)))
        assert len(router.select_many(["what is ka"] * 2)) == 2
    pd.testing.assert_frame_equal(df, before)
