"""What a fitted router serves from, and prediction from it, in numpy only.

At fit, observe, add_* / remove_* and load the router *publishes* a `Live`: the graph as numpy arrays
(`graph.arrays.GraphArrays`), each ensemble member's encoder output (node states per type) and
decoder weights, the query-independent pair tables, the candidates, the cost scale and the
neighbour index. Routing a query reads only that: the readout of ``RouterNet.read_queries`` and
``PairDecoder`` re-implemented with numpy (Linear / ReLU / LayerNorm; dropout is off at inference),
so ``select`` / ``select_many`` / ``predict`` / ``evidence`` import no torch. A `Live` is replaced
whole, never edited, so a reader in another thread always sees one consistent state.

Shapes: Q queries, K neighbours, P candidate pairs, H hidden size, D text dimension.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from graphroute.errors import ConfigError
from graphroute.graph.arrays import GraphArrays, PairTablesNP, neighbor_weights
from graphroute.graph.index import IVFIndex, nearest
from graphroute.graph.schema import NODE_TYPES, SKIP_COST, SKIP_EFFECT
from graphroute.selection import ALL_TASKS, cost_ranges

__all__ = ["Member", "Live", "make_live", "predict_block", "task_index", "evidence_frame", "search"]

F32 = np.float32
LN_EPS = 1e-5  # torch.nn.LayerNorm's default eps, which RouterNet uses


@dataclass
class Member:
    """One ensemble member as numpy: node states from the encoder and the readout / decoder weights."""

    h: dict[str, np.ndarray]  # node type -> [n, H] encoder output over the whole published graph
    w: dict[str, np.ndarray]  # RouterNet.state_dict() entries the readout and decoder use

    READ = ("query_in.weight", "query_in.bias", "readout.0.weight", "readout.0.bias", "readout.2.weight",
            "readout.2.bias", "decoder.mlp.0.weight", "decoder.mlp.0.bias", "decoder.mlp.3.weight",
            "decoder.mlp.3.bias", "decoder.mlp.5.weight", "decoder.mlp.5.bias")

    @classmethod
    def of(cls, h: dict[str, np.ndarray], state_dict: dict[str, Any]) -> Member:
        """From node states and a (numpy or torch) state dict; keeps only what serving reads, as float32."""
        return cls(h={nt: np.ascontiguousarray(h[nt], dtype=F32) for nt in NODE_TYPES},
                   w={k: np.ascontiguousarray(np.asarray(state_dict[k], dtype=F32)) for k in cls.READ})

    def read_queries(self, x_q: np.ndarray, nbr_idx: np.ndarray, nbr_w: np.ndarray, task_idx: np.ndarray) -> np.ndarray:
        """``RouterNet.read_queries``: x_q [Q, D], nbr_idx / nbr_w [Q, K], task_idx [Q] -> z_q [Q, H]."""
        w = self.w
        nbr = (self.h["query"][nbr_idx] * nbr_w[..., None]).sum(1)  # [Q, H]
        cat = np.concatenate([_linear(x_q, w["query_in.weight"], w["query_in.bias"]), nbr,
                              self.h["task"][task_idx]], axis=-1)
        z = np.maximum(_linear(cat, w["readout.0.weight"], w["readout.0.bias"]), F32(0))
        return _layer_norm(z, w["readout.2.weight"], w["readout.2.bias"])

    def decode(self, z_q: np.ndarray, pair_model: np.ndarray, pair_agent: np.ndarray,
               feats: np.ndarray) -> np.ndarray:
        """``PairDecoder`` on the member's model / agent states: z_q [Q, H], feats [Q, P, F] -> [Q, P, n_targets]."""
        w = self.w
        q, p = feats.shape[:2]
        zq = np.broadcast_to(z_q[:, None, :], (q, p, z_q.shape[1]))
        hm = np.broadcast_to(self.h["model"][pair_model][None], (q, p, z_q.shape[1]))
        ha = np.broadcast_to(self.h["agent"][pair_agent][None], (q, p, z_q.shape[1]))
        x = np.concatenate([zq, hm, ha, zq * hm, feats], axis=-1)
        x = np.maximum(_linear(x, w["decoder.mlp.0.weight"], w["decoder.mlp.0.bias"]), F32(0))
        x = np.maximum(_linear(x, w["decoder.mlp.3.weight"], w["decoder.mlp.3.bias"]), F32(0))
        out = _linear(x, w["decoder.mlp.5.weight"], w["decoder.mlp.5.bias"])
        te = np.clip(feats[..., SKIP_EFFECT], F32(0.02), F32(0.98))
        out[..., 0] += np.log(te / (F32(1) - te))  # the skip connection: logit of the pair's task record
        out[..., 1] += feats[..., SKIP_COST]
        return out


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x [..., in] @ w.T + b, as one 2-D product (numpy's batched 3-D matmul is several times slower)."""
    out = np.ascontiguousarray(x).reshape(-1, x.shape[-1]) @ w.T + b
    return out.reshape(*x.shape[:-1], w.shape[0]).astype(F32, copy=False)


def _layer_norm(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)  # biased, as torch
    return ((x - mu) / np.sqrt(var + F32(LN_EPS)) * g + b).astype(F32, copy=False)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return (F32(1) / (F32(1) + np.exp(-x))).astype(F32, copy=False)


@dataclass
class Live:
    """What predictions read; replaced whole (never edited) so readers in other threads see one state."""

    graph: GraphArrays
    members: list[Member]
    tables: PairTablesNP  # query-independent decoder statistics
    candidates: pd.DataFrame
    cost_range: dict[str, tuple[float, float]]
    pair_model: np.ndarray  # [P] model index of each candidate
    pair_agent: np.ndarray  # [P] agent index of each candidate
    cand_model: np.ndarray  # [P] object: candidate model names (as candidates["model"])
    cand_agent: np.ndarray  # [P] object
    cand_rank: tuple[np.ndarray, np.ndarray]  # [P] each: rank of the model / agent name in sorted order
    names: tuple[list[str], list[str]]  # sorted unique model / agent names among the candidates
    mode: str  # neighbour search of this state: "exact" or "ivf"
    index: IVFIndex | None = None  # over the first index.n_keys queries when mode == "ivf"
    torch_state: Any = None  # the graph.state.GraphState this was published from, when there was one
    _edge_index: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def edge_index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._edge_index is None:  # two threads may both build it: same value, no harm
            self._edge_index = self.graph.edges_by_query()
        return self._edge_index


def _cost_range(g: GraphArrays) -> dict[str, tuple[float, float]]:
    """``selection.cost_ranges`` of the outcome edges (per-task and overall min / max)."""
    if not g.out_cost.shape[0]:
        return {ALL_TASKS: (0.0, 1.0)}
    tasks = np.asarray(g.task_names, dtype=object)[g.query_task[g.out_query]]
    return cost_ranges(pd.DataFrame({"task": tasks, "cost": g.out_cost}))


def make_live(graph: GraphArrays, members: list[Member], mode: str, index: IVFIndex | None = None,
              torch_state: Any = None) -> Live:
    """Everything routing needs from a graph and its members' node states, computed once per publish."""
    pm, pa = graph.pair_nodes()
    cm = np.asarray([graph.model_names[i] for i in pm.tolist()], dtype=object).reshape(-1)
    ca = np.asarray([graph.agent_names[i] for i in pa.tolist()], dtype=object).reshape(-1)
    models, agents = sorted(set(cm.tolist())), sorted(set(ca.tolist()))
    rank_m, rank_a = {n: i for i, n in enumerate(models)}, {n: i for i, n in enumerate(agents)}
    return Live(graph=graph, members=members, tables=graph.pair_tables(),
                candidates=pd.DataFrame({"model": cm, "agent": ca}), cost_range=_cost_range(graph),
                pair_model=pm, pair_agent=pa, cand_model=cm, cand_agent=ca,
                cand_rank=(np.array([rank_m[n] for n in cm], dtype=np.int64),
                           np.array([rank_a[n] for n in ca], dtype=np.int64)),
                names=(models, agents), mode=mode, index=index if mode == "ivf" else None, torch_state=torch_state)


def search(live: Live, x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The k nearest known queries of embedded queries ``x`` [Q, D]: (indices, similarities) [Q, k']."""
    return nearest(x, live.graph.query_x, k, live.mode, seed, index=live.index)


def task_index(graph: GraphArrays, tasks: list[str | None], nbr: np.ndarray, w: np.ndarray,
               guess: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Each query's task index [Q]: as given, or (None) inferred: the task its neighbours vote for or, with
    ``guess`` = (text classifier's task index [Q], -1 for none; [T] the tasks it can name), the
    classifier's, except where the neighbours vote for a task the classifier does not know."""
    known = {n: i for i, n in enumerate(graph.task_names)}
    out = np.zeros(len(tasks), dtype=np.int64)
    infer = []
    for i, t in enumerate(tasks):
        if t is None:
            infer.append(i)
        elif t in known:
            out[i] = known[t]
        else:
            raise ConfigError(f"Unknown task {t!r}; the router knows {graph.task_names}. Pass tasks=None to "
                              f"let it infer the task from similar past queries, or add it with "
                              f"router.add_task({t!r}, description=...).")
    if infer:  # weighted by similarity; the first task on a tie
        rows = np.asarray(infer, dtype=np.int64)
        vote = graph.task_votes(nbr[rows], w[rows])
        if guess is not None:
            text, nameable = guess[0][rows], guess[1]
            vote = np.where((text >= 0) & nameable[vote], text, vote)
        out[rows] = vote
    return out


def predict_block(live: Live, x: np.ndarray, tasks: list[str | None], nbr: np.ndarray, sim: np.ndarray,
                  temperature: float, guess: tuple[np.ndarray, np.ndarray] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """(task index [Q], effect [Q, P], cost_z [Q, P], latency_z [Q, P] or None) for embedded queries
    ``x`` [Q, D] and their known neighbours, averaged over the ensemble members; ``guess``: the text
    classifier's tasks (``task_index``)."""
    w = neighbor_weights(sim, temperature)
    t_idx = task_index(live.graph, tasks, nbr, w, guess)
    feats = GraphArrays.pair_features(live.tables, nbr, w, t_idx)
    outs = [m.decode(m.read_queries(x, nbr, w, t_idx), live.pair_model, live.pair_agent, feats)
            for m in live.members]
    out = np.stack(outs)  # [members, Q, P, n_targets]
    lz = out[..., 2].mean(0) if out.shape[-1] > 2 else None
    return t_idx, _sigmoid(out[..., 0]).mean(0), out[..., 1].mean(0), lz


def evidence_frame(live: Live, nbr: np.ndarray, sim: np.ndarray) -> pd.DataFrame:
    """One row per logged outcome of the neighbours ``nbr[0]`` (similarities ``sim[0]``), nearest first."""
    g = live.graph
    cols = ["rank", "query_id", "query", "task", "similarity", "model", "agent", "effect", "cost"]
    order, offsets = live.edge_index()
    qs = nbr[0].tolist()
    parts = [order[offsets[q]:offsets[q + 1]] for q in qs]
    counts = [len(p) for p in parts]
    if not sum(counts):
        return pd.DataFrame([], columns=cols)
    e = np.concatenate(parts)
    q_rep = np.repeat(np.array(qs, dtype=np.int64), counts)
    q_task = g.query_task[q_rep].tolist()
    q_rep = q_rep.tolist()
    return pd.DataFrame({
        "rank": np.repeat(np.arange(len(qs), dtype=np.int64), counts),
        "query_id": [g.query_ids[q] for q in q_rep], "query": [g.query_texts[q] for q in q_rep],
        "task": [g.task_names[t] for t in q_task],
        "similarity": np.repeat(sim[0].astype(np.float64), counts),
        "model": [g.model_names[m] for m in g.out_model[e].tolist()],
        "agent": [g.agent_names[a] for a in g.out_agent[e].tolist()],
        "effect": g.out_effect[e].astype(np.float64), "cost": g.out_cost[e].astype(np.float64),
    }, columns=cols)
