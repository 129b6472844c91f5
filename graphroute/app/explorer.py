"""The graphroute explorer: a Streamlit app over one router (``graphroute app``).

Route a query and see every candidate (model, agent) with its predicted effect and cost; move
the objective's weights and the budget; compare the router's cost–quality sweep with single
models on held-out logs; look at the graph of task, model and agent nodes; add a model without
retraining and see where it stands. Launch it with ``graphroute app [--router DIR] [--port N]``
or ``streamlit run app/explorer.py [-- --router DIR]``.

The functions above ``main`` compute what the page shows and need no Streamlit (the tests call
them directly); ``main`` draws the page. An error of graphroute is shown with its message and the
page stays up. Each browser session routes with its own loaded copy of the router, so a model
added in one session never reaches another.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
import streamlit as st

import graphroute as gr
from graphroute.routers.default import default_router_path
from graphroute.eval.metrics import lambda_grid, quality_cost, single_choices, split_queries, summarize, sweep

__all__ = ["main", "parse_args", "open_router", "describe", "candidates_table", "evidence_table",
           "read_runs_csv", "routerbench_heldout", "pareto", "pareto_figure", "edge_stats", "graph_figure",
           "model_standing"]

EVAL_SEED = 0  # the held-out split is the bench's split for this seed (graphroute bench, seed 0)
STANDING_QUERIES = 20  # past queries per task on which a new model's standing is predicted
EVIDENCE_K = 5  # nearest past queries shown as evidence
LABEL_CHARS = 22  # node labels in the graph view are cut to this many characters


# ------------------------------------------------------------------------------------ arguments
def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The app's own flags (after ``--`` on the streamlit command line); unknown ones are ignored."""
    p = argparse.ArgumentParser(prog="graphroute app", add_help=False)
    p.add_argument("--router", default="", help="a saved router directory (default: the shipped router)")
    args, _ = p.parse_known_args(list(argv or []))
    return args


# ------------------------------------------------------------------------------------ routers
def open_router(path: str | None) -> gr.Router:
    """A freshly loaded router: the saved one at ``path``, or the shipped default when empty.

    Always a new object (never ``gr.default_router()``'s shared one), so adding a model to it
    changes nothing outside the session that holds it.
    """
    path = (path or "").strip()
    return gr.load(path if path else default_router_path())


def describe(router: gr.Router) -> str:
    """One line: how many models, agents, tasks and past queries the router knows."""
    state = router.state_
    lat = "predicts latency" if router.has_latency else "no latency"
    return (f"{len(state.model_names)} models, {len(state.agent_names)} agent(s), {len(state.task_names)} tasks, "
            f"{state.n_queries:,} past queries; {lat}")


def node_key(router: gr.Router) -> tuple:
    """What identifies the router's current graph (node names and outcome count), for caching."""
    state = router.state_
    return (tuple(state.task_names), tuple(state.model_names), tuple(state.agent_names), state.n_queries,
            int(state.out_query.shape[0]))


# ------------------------------------------------------------------------------------ one query
def candidates_table(sel: gr.Selection) -> pd.DataFrame:
    """Every candidate of a selection, best first, with a ``chosen`` flag on the picked pair."""
    cols = [c for c in ("model", "agent", "effect", "cost", "latency_s", "score", "feasible")
            if c in sel.alternatives]
    out = sel.alternatives[cols].reset_index(drop=True)
    out.insert(0, "chosen", (out["model"] == sel.model) & (out["agent"] == sel.agent))
    return out


def evidence_table(sel: gr.Selection) -> pd.DataFrame:
    """The nearest past queries (one row each) with the chosen model's logged effect and cost there
    and the best effect any candidate logged there."""
    ev = sel.evidence
    if ev is None or ev.empty:
        return pd.DataFrame(columns=["rank", "similarity", "task", "query", "chosen_effect", "chosen_cost",
                                     "best_effect"])
    base = ev.groupby("rank", sort=True).agg(similarity=("similarity", "first"), task=("task", "first"),
                                             query=("query", "first"), best_effect=("effect", "max"))
    mine = ev[(ev["model"] == sel.model) & (ev["agent"] == sel.agent)].groupby("rank")[["effect", "cost"]].mean()
    out = base.join(mine.rename(columns={"effect": "chosen_effect", "cost": "chosen_cost"}))
    out["query"] = out["query"].str.slice(0, 160)
    return out.reset_index()[["rank", "similarity", "task", "query", "chosen_effect", "chosen_cost", "best_effect"]]


# ------------------------------------------------------------------------------------ logs in
def read_runs_csv(data: bytes, name: str = "upload.csv") -> pd.DataFrame:
    """Logged runs from an uploaded CSV (validated against the canonical schema by the caller's
    router call); a file that is not readable CSV raises LogsError saying what a valid one holds."""
    try:
        frame = pd.read_csv(io.BytesIO(data))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise gr.LogsError(f"{name} could not be read as CSV ({str(exc).strip()}). Upload a comma-separated file "
                           "with a header row: query, effect, cost (optional: query_id, task, agent, latency_s, "
                           "tokens_in, tokens_out).") from None
    if frame.empty:
        raise gr.LogsError(f"{name} holds no rows. Upload at least one logged run (query, effect, cost).")
    return frame


def routerbench_heldout(seed: int = EVAL_SEED) -> pd.DataFrame:
    """The test split (20% of each task's queries) of the RouterBench subset, as ``graphroute bench``
    draws it for ``seed``; raises DataNotFoundError when the shared data is absent."""
    logs = gr.load_dataset("routerbench").logs
    _, _, test_ids = split_queries(gr.aggregate_runs(logs), seed)
    return logs[logs["query_id"].isin(test_ids)].reset_index(drop=True)


# ------------------------------------------------------------------------------------ Pareto
def pareto(router: gr.Router, logs: pd.DataFrame) -> dict:
    """The router's λ sweep and every single (model, agent) on held-out ``logs``.

    Only pairs the router can choose are scored. Returns ``sweep`` (lambda, cost, effect: true
    means of the router's picks), ``singles`` (model, agent, cost, effect over the same queries),
    ``summary`` (AIQ, rewards at the three scenarios and cost to match the best single, from
    ``graphroute.eval.metrics.summarize``), ``n_queries`` and ``in_graph`` (how many of those queries
    are already nodes of the router's graph: their outcomes are then known, not predicted).
    """
    table = gr.aggregate_runs(gr.validate_logs(logs))
    known = set(zip(router.candidates_["model"], router.candidates_["agent"]))
    table = table[[p in known for p in zip(table["model"], table["agent"])]].reset_index(drop=True)
    if table.empty:
        raise gr.ConfigError(f"None of the held-out logs' (model, agent) pairs is one the router can choose (it "
                             f"knows {sorted(known)[:6]}...). Evaluate on logs of the router's own models.")
    queries = table.drop_duplicates("query_id")[["query_id", "query", "task"]].reset_index(drop=True)
    tasks = [t if t in router.state_.task_names else None for t in queries["task"]]
    pred = router.predict(queries["query"].tolist(), tasks=tasks)
    pred["query_id"] = queries["query_id"].to_numpy()[pred["query_index"].to_numpy()]
    lambdas = lambda_grid(pred, table)
    points = sweep(pred, table, lambdas)
    summary = summarize(table, pred, router.cost_range_, lambdas=lambdas)
    singles = []
    n_q = len(queries)
    for (m, a), g in table.groupby(["model", "agent"], sort=True):
        if g["query_id"].nunique() == n_q:  # a single model is scored on the same queries as the router
            cost, effect = quality_cost(table, single_choices(table, m, a))
            singles.append({"model": m, "agent": a, "cost": cost, "effect": effect})
    in_graph = int(queries["query_id"].isin(set(router.state_.query_ids)).sum())
    return {"sweep": points, "singles": pd.DataFrame(singles, columns=["model", "agent", "cost", "effect"]),
            "summary": summary, "n_queries": n_q, "in_graph": in_graph}


def pareto_figure(result: dict, title: str = ""):
    """Matplotlib figure: the router's sweep (line) and single models (crosses), effect vs cost."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.6))
    ax = fig.subplots()
    sw = result["sweep"].sort_values("cost")
    ax.plot(sw["cost"], sw["effect"], marker=".", linewidth=2.0, label="router (λ sweep)")
    sg = result["singles"]
    ax.scatter(sg["cost"], sg["effect"], c="k", marker="x", zorder=5, label="single models")
    for _, r in sg.iterrows():
        ax.annotate(short_name(r["model"]), (r["cost"], r["effect"]), fontsize=6, alpha=0.75,
                    xytext=(3, -3), textcoords="offset points")
    costs = pd.concat([sw["cost"], sg["cost"]])
    positive = costs[costs > 0]
    if len(positive):
        ax.set_xscale("symlog", linthresh=float(positive.min()))
    ax.set_xlabel("mean cost per query (USD, symlog)")
    ax.set_ylabel("mean effect (quality)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ graph
def edge_stats(router: gr.Router) -> pd.DataFrame:
    """Outcome edges of the router's graph summed up per (task, model, agent): runs, mean effect, mean cost."""
    state = router.state_
    frame = pd.DataFrame({
        "task": np.asarray(state.task_names, dtype=object)[state.query_task[state.out_query].numpy()],
        "model": np.asarray(state.model_names, dtype=object)[state.out_model.numpy()],
        "agent": np.asarray(state.agent_names, dtype=object)[state.out_agent.numpy()],
        "effect": state.out_effect.numpy(), "cost": state.out_cost.numpy(),
    })
    cols = ["task", "model", "agent", "runs", "mean_effect", "mean_cost"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    out = frame.groupby(["task", "model", "agent"], sort=True).agg(
        runs=("effect", "size"), mean_effect=("effect", "mean"), mean_cost=("cost", "mean"))
    return out.reset_index()[cols]


def graph_figure(router: gr.Router, color_by: str = "mean_effect", highlight: Sequence[str] = ()):
    """Task, model and agent nodes in three columns; a task–model or model–agent edge per pair with
    logged runs, its width growing with the runs and its colour the mean effect (or mean cost).
    Models in ``highlight`` (added in this session) are drawn in red."""
    import matplotlib
    import networkx as nx
    from matplotlib.figure import Figure

    if color_by not in ("mean_effect", "mean_cost"):
        raise gr.ConfigError(f"color_by must be 'mean_effect' or 'mean_cost'; got {color_by!r}.")
    state = router.state_
    stats = edge_stats(router)
    # run-weighted sums, so that merging (task, model, agent) rows into an edge keeps true means
    stats = stats.assign(sum_effect=stats["runs"] * stats["mean_effect"], sum_cost=stats["runs"] * stats["mean_cost"])
    g = nx.Graph()
    kinds = (("task", state.task_names, 0), ("model", state.model_names, 1), ("agent", state.agent_names, 2))
    for kind, names, layer in kinds:
        for n in names:
            g.add_node((kind, n), layer=layer)
    for left, right in (("task", "model"), ("model", "agent")):
        agg = stats.groupby([left, right], sort=True)[["runs", "sum_effect", "sum_cost"]].sum()
        for (a, b), r in agg.iterrows():
            g.add_edge((left, a), (right, b), runs=float(r["runs"]), mean_effect=r["sum_effect"] / r["runs"],
                       mean_cost=r["sum_cost"] / r["runs"])
    pos = nx.multipartite_layout(g, subset_key="layer")
    fig = Figure(figsize=(8.5, max(4.0, 0.32 * len(state.model_names) + 1.5)))
    ax = fig.subplots()
    edges = list(g.edges(data=True))
    if edges:
        values = np.array([d[color_by] for _, _, d in edges], dtype=float)
        runs = np.array([d["runs"] for _, _, d in edges], dtype=float)
        cmap = matplotlib.colormaps["viridis" if color_by == "mean_effect" else "magma_r"]
        lo, hi = float(values.min()), float(values.max())
        norm = matplotlib.colors.Normalize(lo, hi if hi > lo else lo + 1e-9)
        nx.draw_networkx_edges(g, pos, ax=ax, edgelist=[(u, v) for u, v, _ in edges],
                               width=0.5 + 2.5 * np.log1p(runs) / np.log1p(runs.max()),
                               edge_color=[cmap(norm(v)) for v in values], alpha=0.8)
        sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(sm, ax=ax, shrink=0.7, label=color_by.replace("_", " "))
    colors = {"task": "#4c72b0", "model": "#55a868", "agent": "#8172b2"}
    hl = set(highlight)
    node_colors = ["#c44e52" if (k == "model" and n in hl) else colors[k] for k, n in g.nodes]
    nx.draw_networkx_nodes(g, pos, ax=ax, node_size=160, node_color=node_colors)
    labels = {node: short_name(node[1]) for node in g.nodes}
    nx.draw_networkx_labels(g, pos, labels=labels, ax=ax, font_size=7,
                            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 0.6})
    ax.set_title("tasks  ·  models  ·  agents (edge width: logged runs)", fontsize=9)
    ax.axis("off")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------ new models
def standing_queries(router: gr.Router, per_task: int = STANDING_QUERIES, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of the router's past queries, ``per_task`` of each task (query, task)."""
    state = router.state_
    frame = pd.DataFrame({"query": state.query_texts,
                          "task": np.asarray(state.task_names, dtype=object)[state.query_task.numpy()]})
    parts = [g.sample(min(per_task, len(g)), random_state=seed) for _, g in frame.groupby("task", sort=True)]
    return pd.concat(parts, ignore_index=True) if parts else frame


def model_standing(router: gr.Router, model: str, weights: dict, queries: pd.DataFrame | None = None) -> dict:
    """Where ``model`` stands among the router's models on a sample of past queries of each task.

    Returns ``table`` (per task and model: mean predicted effect and cost, rank by effect, and the
    share of the sample each model is chosen for at ``weights``), ``rank`` (the model's rank per
    task) and ``chosen_share`` (over all sampled queries).
    """
    queries = standing_queries(router) if queries is None else queries
    texts, tasks = queries["query"].tolist(), queries["task"].tolist()
    pred = router.predict(texts, tasks=tasks)
    per = pred.groupby(["task", "model"], sort=True).agg(effect=("effect", "mean"), cost=("cost", "mean"))
    per["rank"] = per.groupby("task")["effect"].rank(ascending=False, method="min").astype(int)
    picks = router.select_many(texts, tasks, weights=weights)
    share = picks.groupby(["task", "model"]).size() / picks.groupby("task").size()
    per["chosen_share"] = share.reindex(per.index).fillna(0.0)
    table = per.reset_index().sort_values(["task", "rank", "model"], kind="mergesort").reset_index(drop=True)
    mine = table[table["model"] == model]
    return {"table": table, "rank": dict(zip(mine["task"], mine["rank"])),
            "chosen_share": float((picks["model"] == model).mean()), "n_models": pred["model"].nunique()}


def short_name(name: str) -> str:
    """A node label: the name without its organisation prefix ("meta/llama-2" -> "llama-2"), cut short."""
    return str(name).rsplit("/", 1)[-1][:LABEL_CHARS]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


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
    with route:
        _route_tab(router, weights, budget)
    with front:
        _pareto_tab(router)
    with graph:
        _graph_tab(router)
    with add:
        _add_tab(weights)


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
    tasks = ["(infer from similar past queries)"] + list(router.state_.task_names)
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
            logs, key = _cached_routerbench(), f"routerbench/{EVAL_SEED}"
        else:
            up = st.file_uploader("Held-out logs: query_id, query, task, model, agent, effect, cost", type=["csv"],
                                  key="pareto_upload")
            if up is None:
                st.info("Upload logged runs the router did not see (one row per query, model, agent) to draw "
                        "its sweep against single models.")
                return
            data = up.getvalue()
            logs, key = read_runs_csv(data, up.name), _digest(data)
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
                   "graph (the shipped router was fitted on all of RouterBench), so their own outcomes feed the "
                   "predictions: this curve is in-sample and optimistic. `graphroute bench` fits on the other 80% "
                   "and gives held-out figures.")
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
def _cached_routerbench() -> pd.DataFrame:
    return routerbench_heldout()


def _routerbench_fits(router) -> bool:
    """RouterBench is offered when the shared data is there and the router knows some of its models."""
    try:
        gr.data_dir()
    except gr.DataNotFoundError:
        return False
    return bool(set(_cached_routerbench()["model"]) & set(router.state_.model_names))


@st.cache_data(show_spinner="predicting the held-out queries...", max_entries=8)
def _cached_pareto(_router, source: str, nodes: tuple, data_key: str, _logs: pd.DataFrame) -> dict:
    """``pareto`` once per (router source, its nodes, held-out data); the router and logs are not hashed."""
    return pareto(_router, _logs)


if __name__ == "__main__":  # streamlit run graphroute/app.py [-- --router DIR]
    import sys

    main(sys.argv[1:])
