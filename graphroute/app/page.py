"""The explorer's page (Streamlit): a sidebar with the router and the objective, and four tabs.

``main`` draws the page; Streamlit runs it again on every interaction. What each tab shows is
computed by ``graphroute.app.compute`` and drawn by ``graphroute.app.figures``. An error of
graphroute is shown with its message and the page stays up. Each browser session routes with its
own loaded copy of the router, so a model added in one session never reaches another.
"""

from __future__ import annotations

import argparse
import copy
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

import graphroute as gr
from graphroute.app.compute import (
    EVAL_SEED,
    EVIDENCE_K,
    STANDING_QUERIES,
    candidates_table,
    describe,
    digest,
    edge_stats,
    evidence_table,
    model_standing,
    names_by_dataset,
    node_key,
    open_router,
    pareto,
    read_runs_csv,
    routerbench_heldout,
)
from graphroute.app.figures import graph_figure, pareto_figure

__all__ = ["main", "parse_args"]


# ------------------------------------------------------------------------------------ arguments
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The app's own flags (after ``--`` on the streamlit command line); unknown ones are ignored."""
    p = argparse.ArgumentParser(prog="graphroute app", add_help=False)
    p.add_argument("--router", default="", help="a saved router directory (default: the shipped router)")
    args, _ = p.parse_known_args(list(argv or []))
    return args


# ------------------------------------------------------------------------------------ page
def main(argv: Sequence[str] | None = None) -> None:
    """Draw the page (Streamlit runs this on every interaction)."""
    args = parse_args(argv)
    st.set_page_config(page_title="graphroute explorer", layout="wide")
    st.title("graphroute explorer")
    router = _sidebar_router(args.router)
    if router is None:
        st.stop()
    weights, budget = _sidebar_objective(router)
    route, front, graph, add = st.tabs(["Route a query", "Pareto", "Graph", "Add a model"])
    # Streamlit draws in the order the code writes, whatever the tab: the Pareto sweep (which may embed
    # hundreds of held-out queries on a cold cache) goes last, so the other tabs are usable meanwhile
    with route:
        _route_tab(router, weights, budget)
    with graph:
        _graph_tab(router)
    with add:
        _add_tab(weights)
    with front:
        _pareto_tab(router)


def _sidebar_router(initial: str):
    """The session's router: loaded once per session and path, replaced only by a successful load."""
    ss = st.session_state
    with st.sidebar:
        st.header("Router")
        path = st.text_input("Saved router directory", value=initial, key="router_path",
                             placeholder="empty: the shipped default router",
                             help="A directory written by router.save() or `graphroute train --out`.")
        load = st.button("Load router", key="load_router")
        if "router" not in ss or load:
            try:
                with st.spinner("loading the router..."):
                    router = open_router(path)
            except gr.GraphRouteError as exc:
                st.error(str(exc))
            else:
                ss.router, ss.router_source = router, path.strip() or "default"
                ss.added = []
                ss.pop("standing", None)
        if "router" not in ss:
            return None
        st.caption(f"**{ss.router_source}**: {describe(ss.router)}")
        if ss.added:
            st.caption("added this session: " + ", ".join(ss.added))
            if st.button("Forget added models", key="reset_added"):
                ss.router = open_router("" if ss.router_source == "default" else ss.router_source)
                ss.added = []
                ss.pop("standing", None)
                st.rerun()
    return ss.router


def _sidebar_objective(router) -> tuple[dict, float | None]:
    with st.sidebar:
        st.header("Objective")
        w_e = st.slider("Weight: effect", 0.0, 1.0, 1.0, 0.05, key="w_effect",
                        help="How much predicted quality counts.")
        w_c = st.slider("Weight: cost", 0.0, 1.0, 0.5, 0.05, key="w_cost",
                        help="How much cost counts (min-max normalised per task over the logged costs).")
        w_l = st.slider("Weight: latency", 0.0, 1.0, 0.0, 0.05, key="w_latency",
                        disabled=not router.has_latency,
                        help="Seconds of predicted latency" if router.has_latency
                        else "This router predicts no latency (its logs had no latency_s).")
        budget = st.number_input("Budget (USD per call)", min_value=0.0, value=None, step=0.0001, format="%.6f",
                                 key="budget", placeholder="no budget",
                                 help="The most a call may cost (predicted); empty for no limit.")
    weights = {"effect": w_e, "cost": w_c}
    if router.has_latency:
        weights["latency"] = w_l
    return weights, budget


def _route_tab(router, weights: dict, budget: float | None) -> None:
    import altair as alt

    ss = st.session_state
    query = st.text_area("Query", key="query", height=90,
                         placeholder="e.g. What is the capital of Australia? A) Sydney B) Canberra")
    tasks = ["(infer from similar past queries)"] + list(router.graph_.task_names)
    task = st.selectbox("Task", tasks, key="task")
    if st.button("Route", key="route", type="primary"):
        ss.routed = True
    if not ss.get("routed"):
        st.caption("Type a query and press Route; then move the weights and budget in the sidebar.")
        return
    try:
        sel = router.select(query, task=None if task == tasks[0] else task, weights=weights, budget=budget,
                            evidence=EVIDENCE_K)
    except gr.GraphRouteError as exc:
        st.error(str(exc))
        return
    st.success(f"Chosen: **{sel.model}** with agent **{sel.agent}** (task {sel.task})")
    cols = st.columns(4 if sel.latency_s is not None else 3)
    cols[0].metric("predicted effect", f"{sel.effect:.3f}")
    cols[1].metric("predicted cost", f"${sel.cost:.6f}")
    cols[2].metric("score", f"{sel.score:.3f}")
    if sel.latency_s is not None:
        cols[3].metric("predicted latency", f"{sel.latency_s:.2f} s")
    table = candidates_table(sel)
    shown = table.assign(status=np.where(table["chosen"], "chosen", np.where(table["feasible"], "candidate",
                                                                                   "over a limit")))
    left, right = st.columns([3, 2])
    with left:
        st.dataframe(table.style.apply(lambda r: ["background-color: #d4edda" if r["chosen"] else ""] * len(r),
                                       axis=1).format(precision=4),
                     hide_index=True, width="stretch", height=min(36 * (len(table) + 1) + 4, 600))
    with right:
        chart = alt.Chart(shown).mark_circle(size=90).encode(
            x=alt.X("cost:Q", scale=alt.Scale(type="log"), title="predicted cost (USD)"),
            y=alt.Y("effect:Q", title="predicted effect", scale=alt.Scale(zero=False)),
            color=alt.Color("status:N", scale=alt.Scale(domain=["chosen", "candidate", "over a limit"],
                                                        range=["#c44e52", "#4c72b0", "#bbbbbb"])),
            tooltip=[c for c in ("model", "agent", "effect", "cost", "latency_s", "score") if c in shown])
        st.altair_chart(chart, width="stretch")
    st.subheader("Evidence")
    st.caption(f"The {EVIDENCE_K} nearest past queries, how {sel.model} did on each and the best any model did.")
    st.dataframe(evidence_table(sel), hide_index=True, width="stretch")


def _pareto_tab(router) -> None:
    ss = st.session_state
    sources = []
    if _routerbench_fits(router):
        sources.append("RouterBench held-out split")
    sources.append("Upload held-out logs (CSV)")
    source = st.radio("Evaluate on", sources, key="pareto_source", horizontal=True)
    try:
        if source == "RouterBench held-out split":
            named = names_by_dataset(router, "routerbench")
            logs, key = _cached_routerbench(named), f"routerbench/{EVAL_SEED}/{named}"
        else:
            up = st.file_uploader("Held-out logs: query_id, query, task, model, agent, effect, cost", type=["csv"],
                                  key="pareto_upload")
            if up is None:
                st.info("Upload logged runs the router did not see (one row per query, model, agent) to draw "
                        "its sweep against single models.")
                return
            data = up.getvalue()
            logs, key = read_runs_csv(data, up.name), digest(data)
        result = _cached_pareto(router, ss.router_source, node_key(router), key, logs)
    except gr.GraphRouteError as exc:
        st.error(str(exc))
        return
    s = result["summary"]
    best = result["singles"].sort_values("effect", ascending=False).head(1)
    c = st.columns(4)
    c[0].metric("queries", f"{result['n_queries']}")
    c[1].metric("AIQ (router)", f"{s['aiq']:.3f}")
    c[2].metric("best single model", f"{best['effect'].iloc[0]:.3f}" if len(best) else "n/a",
                help=str(best["model"].iloc[0]) if len(best) else None)
    ctm = s["cost_to_match"]
    c[3].metric("cost to match it", "not reached" if ctm is None else f"{ctm:.0%}")
    if result["in_graph"]:
        st.warning(f"{result['in_graph']} of these {result['n_queries']} queries are already nodes of this router's "
                   "graph (the shipped router was fitted on a sample of RouterBench that includes them), so their own "
                   "outcomes feed the predictions: this curve is partly in-sample and optimistic. `graphroute bench` "
                   "fits on the other 80% and gives held-out figures.")
    st.pyplot(pareto_figure(result, f"{ss.router_source}: quality vs cost on {result['n_queries']} queries"))
    st.dataframe(pd.DataFrame({k: [v] for k, v in s.items()}), hide_index=True, width="stretch")


def _graph_tab(router) -> None:
    ss = st.session_state
    color_by = st.selectbox("Colour edges by", ["mean_effect", "mean_cost"], key="graph_color")
    st.pyplot(graph_figure(router, color_by, highlight=ss.get("added", [])))
    st.caption("Edge statistics per (task, model, agent): logged runs and their mean effect and cost.")
    st.dataframe(edge_stats(router), hide_index=True, width="stretch")


def _add_tab(weights: dict) -> None:
    ss = st.session_state
    with st.form("add_model_form"):
        name = st.text_input("Model name", key="new_name")
        description = st.text_area("Description", key="new_description",
                                   placeholder="what the model is good at, its size, its family")
        c = st.columns(2)
        price_in = c[0].number_input("Price in (USD per 1M input tokens)", min_value=0.0, value=None,
                                     key="new_price_in")
        price_out = c[1].number_input("Price out (USD per 1M output tokens)", min_value=0.0, value=None,
                                      key="new_price_out")
        runs_file = st.file_uploader("Logged runs (optional CSV: query, effect, cost; task, query_id, agent)",
                                     type=["csv"], key="new_runs")
        submitted = st.form_submit_button("Add model", key="add_model")
    if submitted:
        try:
            runs = read_runs_csv(runs_file.getvalue(), runs_file.name) if runs_file is not None else None
            grown = copy.copy(ss.router)  # growth replaces the router's state, so a failed add leaves ss.router whole
            grown.add_model(name.strip(), description=description, price_in=price_in, price_out=price_out,
                            runs=runs)
            standing = model_standing(grown, name.strip(), weights)
        except gr.GraphRouteError as exc:
            st.error(str(exc))
        else:
            ss.router = grown
            ss.added = [*ss.get("added", []), name.strip()]
            ss.standing = {"model": name.strip(), "runs": 0 if runs is None else len(runs), **standing}
            st.rerun()  # the sidebar and the other tabs were drawn before the model joined: draw them again
    res = ss.get("standing")
    if res:
        n_tasks = len(res["rank"])
        ranks = ", ".join(f"#{r} of {res['n_models']} on {t}" for t, r in res["rank"].items())
        st.success(f"Added **{res['model']}** ({res['runs']} logged runs) without retraining: predicted effect "
                   f"rank {ranks}; chosen for {res['chosen_share']:.0%} of {STANDING_QUERIES * n_tasks} sampled past "
                   "queries at the current weights.")
        t = res["table"]
        st.dataframe(t.style.apply(lambda r: ["background-color: #f8d7da" if r["model"] == res["model"] else ""]
                                   * len(r), axis=1).format(precision=4), hide_index=True, width="stretch")


@st.cache_data(show_spinner="loading RouterBench...")
def _cached_routerbench(dataset_names: bool = False) -> pd.DataFrame:
    return routerbench_heldout(dataset_names=dataset_names)


def _routerbench_fits(router) -> bool:
    """RouterBench is offered when the shared data is there and the router knows some of its models."""
    try:
        gr.data_dir()
    except gr.DataNotFoundError:
        return False
    return bool(set(_cached_routerbench()["model"]) & set(router.graph_.model_names))


@st.cache_data(show_spinner="predicting the held-out queries...", max_entries=8)
def _cached_pareto(_router, source: str, nodes: tuple, data_key: str, _logs: pd.DataFrame) -> dict:
    """``pareto`` once per (router source, its nodes, held-out data); the router and logs are not hashed."""
    return pareto(_router, _logs)
