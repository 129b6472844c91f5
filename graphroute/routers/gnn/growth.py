"""Growing a fitted graph without a gradient step: new nodes, new outcomes, removed nodes (torch).

Each function returns a new `graph.state.GraphState` (the one given is left as it was), which the
router then re-encodes and publishes. Nothing here changes a network parameter.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from graphroute.data.logs import aggregate_runs, validate_logs
from graphroute.errors import ConfigError, LogsError
from graphroute.graph.schema import model_numeric
from graphroute.graph.state import GraphState

__all__ = ["with_node", "absorb", "without_node"]


def with_node(state: GraphState, kind: str, card, x: np.ndarray) -> GraphState:
    """``state`` plus one task / model / agent node described by ``card``, embedded as ``x`` [1, D]."""
    state = copy.copy(state)
    names = getattr(state, f"{kind}_names")
    if card.name in names:
        raise ConfigError(f"The router already has a {kind} named {card.name!r}; "
                          f"remove it first (router.remove_{kind}) or pick another name.")
    setattr(state, f"{kind}_names", names + [card.name])
    setattr(state, f"{kind}_x", torch.cat([getattr(state, f"{kind}_x"), torch.as_tensor(x, dtype=torch.float32)]))
    if kind == "model":
        num = torch.tensor([model_numeric(card.price_in, card.price_out, card.params_b)], dtype=torch.float32)
        state.model_num = torch.cat([state.model_num, num])
    return state


def absorb(state: GraphState, logs, embed: Callable[[list[str]], np.ndarray], k0: int) -> GraphState:
    """``state`` plus the outcomes of ``logs`` (new queries become nodes, embedded by ``embed``).

    Raises LogsError, before anything changed, when the logs name a model, agent or task the graph lacks.
    """
    state = copy.copy(state)
    logs = validate_logs(logs)
    for kind in ("model", "agent", "task"):
        known = set(getattr(state, f"{kind}_names"))
        unknown = sorted(set(logs[kind]) - known)
        if unknown:
            raise LogsError(f"The logs name {kind}(s) {unknown} that the router does not know (it knows "
                            f"{sorted(known)}). Add them first with router.add_{kind}(name, description=...).")
    agg = aggregate_runs(logs)
    q_ix = {q: i for i, q in enumerate(state.query_ids)}
    new_q = agg.drop_duplicates("query_id")
    new_q = new_q[~new_q["query_id"].isin(q_ix)]
    if len(new_q):
        t_ix = {n: i for i, n in enumerate(state.task_names)}
        idx = state.add_queries(list(new_q["query_id"]), list(new_q["query"]),
                                torch.tensor([t_ix[t] for t in new_q["task"]], dtype=torch.long),
                                torch.as_tensor(embed(list(new_q["query"]))))
        q_ix.update(dict(zip(new_q["query_id"], idx.tolist())))
        state.refresh_neighbors(k0)
    m_ix = {n: i for i, n in enumerate(state.model_names)}
    a_ix = {n: i for i, n in enumerate(state.agent_names)}
    lat = agg["latency_s"].to_numpy(float) if "latency_s" in agg else np.full(len(agg), np.nan)
    state.add_outcomes(torch.tensor(agg["query_id"].map(q_ix).to_numpy(), dtype=torch.long),
                       torch.tensor(agg["model"].map(m_ix).to_numpy(), dtype=torch.long),
                       torch.tensor(agg["agent"].map(a_ix).to_numpy(), dtype=torch.long),
                       torch.tensor(agg["effect"].to_numpy(float), dtype=torch.float32),
                       torch.tensor(agg["cost"].to_numpy(float), dtype=torch.float32),
                       torch.tensor(lat, dtype=torch.float32))
    return state


def runs_frame(runs, kind: str, name: str) -> pd.DataFrame:
    """A new node's runs as a frame, with the node's name filled in where the column is missing."""
    runs = pd.DataFrame(runs).copy() if not isinstance(runs, pd.DataFrame) else runs.copy()
    if kind in ("model", "agent") and kind not in runs.columns:
        runs[kind] = name
    return runs


def without_node(state: GraphState, kind: str, name: str) -> GraphState:
    """``state`` without the model / agent ``name`` and its outcome edges."""
    state = copy.copy(state)
    names = getattr(state, f"{kind}_names")
    if name not in names:
        raise ConfigError(f"The router has no {kind} named {name!r}; it has {names}.")
    if len(names) == 1:
        raise ConfigError(f"Cannot remove {name!r}: it is the router's only {kind}.")
    i = names.index(name)
    keep = torch.ones(len(names), dtype=torch.bool)
    keep[i] = False
    remap = torch.cumsum(keep.long(), 0) - 1
    setattr(state, f"{kind}_names", [n for n in names if n != name])
    setattr(state, f"{kind}_x", getattr(state, f"{kind}_x")[keep])
    if kind == "model":
        state.model_num = state.model_num[keep]
    e = getattr(state, f"out_{kind}") != i
    for f in ("out_query", "out_model", "out_agent", "out_effect", "out_cost", "out_latency"):
        setattr(state, f, getattr(state, f)[e])
    setattr(state, f"out_{kind}", remap[getattr(state, f"out_{kind}")])
    return state
