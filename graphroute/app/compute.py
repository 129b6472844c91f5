"""What the explorer shows, computed without Streamlit: tables, the Pareto sweep, a new model's standing.

Every function takes a router (and plain data) and returns plain data, so the tests call them
directly and the page (``graphroute.app.page``) only draws what they return.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pandas as pd

import graphroute as gr
from graphroute.data.datasets import prefixed
from graphroute.eval.metrics import quality_cost, single_choices, split_queries, summarize, sweep
from graphroute.routers.default import default_router_path

__all__ = ["open_router", "describe", "node_key", "candidates_table", "evidence_table", "read_runs_csv",
           "routerbench_heldout", "names_by_dataset", "pareto", "edge_stats", "standing_queries", "model_standing",
           "short_name", "digest", "EVAL_SEED", "STANDING_QUERIES", "EVIDENCE_K", "LABEL_CHARS"]

EVAL_SEED = 0  # the held-out split is the bench's split for this seed (graphroute bench, seed 0)
STANDING_QUERIES = 20  # past queries per task on which a new model's standing is predicted
EVIDENCE_K = 5  # nearest past queries shown as evidence
LABEL_CHARS = 22  # node labels in the graph view are cut to this many characters


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
    state = router.graph_
    lat = "predicts latency" if router.has_latency else "no latency"
    return (f"{len(state.model_names)} models, {len(state.agent_names)} agent(s), {len(state.task_names)} tasks, "
            f"{state.n_queries:,} past queries; {lat}")


def node_key(router: gr.Router) -> tuple:
    """What identifies the router's current graph (node names and outcome count), for caching."""
    state = router.graph_
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


def routerbench_heldout(seed: int = EVAL_SEED, dataset_names: bool = False) -> pd.DataFrame:
    """The test split (20% of each task's queries) of the RouterBench subset, as ``graphroute bench``
    draws it for ``seed``; raises DataNotFoundError when the shared data is absent. ``dataset_names``:
    tasks and query ids as a router fitted on several datasets names them ("routerbench/<task>",
    ``graphroute.data.datasets.prefixed``), so that they match the shipped router's own."""
    logs = gr.load_dataset("routerbench").logs
    _, _, test_ids = split_queries(gr.aggregate_runs(logs), seed)
    out = logs[logs["query_id"].isin(test_ids)].reset_index(drop=True)
    return prefixed(out, "routerbench") if dataset_names else out


def names_by_dataset(router: gr.Router, dataset: str) -> bool:
    """Whether the router names ``dataset``'s tasks "<dataset>/<task>" (a router fitted on several datasets)."""
    return any(t.startswith(f"{dataset}/") for t in router.graph_.task_names)


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
    tasks = [t if t in router.graph_.task_names else None for t in queries["task"]]
    pred = router.predict(queries["query"].tolist(), tasks=tasks)
    pred["query_id"] = queries["query_id"].to_numpy()[pred["query_index"].to_numpy()]
    points = sweep(pred, table)  # on the default grid
    summary = summarize(table, pred, router.cost_range_)  # AIQ from the exact sweep, as the bench scores it
    singles = []
    n_q = len(queries)
    for (m, a), g in table.groupby(["model", "agent"], sort=True):
        if g["query_id"].nunique() == n_q:  # a single model is scored on the same queries as the router
            cost, effect = quality_cost(table, single_choices(table, m, a))
            singles.append({"model": m, "agent": a, "cost": cost, "effect": effect})
    in_graph = int(queries["query_id"].isin(set(router.graph_.query_ids)).sum())
    return {"sweep": points, "singles": pd.DataFrame(singles, columns=["model", "agent", "cost", "effect"]),
            "summary": summary, "n_queries": n_q, "in_graph": in_graph}


# ------------------------------------------------------------------------------------ graph
def edge_stats(router: gr.Router) -> pd.DataFrame:
    """Outcome edges of the router's graph summed up per (task, model, agent): runs, mean effect, mean cost."""
    state = router.graph_
    frame = pd.DataFrame({
        "task": np.asarray(state.task_names, dtype=object)[np.asarray(state.query_task)[state.out_query]],
        "model": np.asarray(state.model_names, dtype=object)[np.asarray(state.out_model)],
        "agent": np.asarray(state.agent_names, dtype=object)[np.asarray(state.out_agent)],
        "effect": np.asarray(state.out_effect), "cost": np.asarray(state.out_cost),
    })
    cols = ["task", "model", "agent", "runs", "mean_effect", "mean_cost"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    out = frame.groupby(["task", "model", "agent"], sort=True).agg(
        runs=("effect", "size"), mean_effect=("effect", "mean"), mean_cost=("cost", "mean"))
    return out.reset_index()[cols]


# ------------------------------------------------------------------------------------ new models
def standing_queries(router: gr.Router, per_task: int = STANDING_QUERIES, seed: int = 0) -> pd.DataFrame:
    """A seeded sample of the router's past queries, ``per_task`` of each task (query, task)."""
    state = router.graph_
    frame = pd.DataFrame({"query": state.query_texts,
                          "task": np.asarray(state.task_names, dtype=object)[np.asarray(state.query_task)]})
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


def digest(data: bytes) -> str:
    """A short content key for uploaded bytes (what the Pareto cache is keyed on)."""
    return hashlib.sha256(data).hexdigest()[:16]
