"""The routing graph: node tables, outcome edges, neighbour lists, and their HeteroData view.

`GraphState` is the library's memory of everything it has seen: one row per query, task,
model and agent (text embedding + card numbers), one row per logged (query, model, agent)
outcome, and each query's nearest neighbours. It knows nothing of the network.

`GraphState.hetero_data(context, visible)` builds the PyG `HeteroData` the encoder runs on,
from a subset of context queries and visible outcome edges; training uses subsets so that a
query being predicted never has outcome edges of its own (as at inference), and some models are
seen only through a few edges (as a model added after training).

`GraphState.pair_features(...)` derives, for target queries × candidate pairs, the statistics
the decoder reads: the neighbours' outcomes on each pair, the pair's record on the task and
overall. Shapes use N known queries, E outcome edges, P candidate pairs, Q target queries,
K neighbours.

This module is the training side (torch, torch_geometric). A router serves from the numpy
`graph.arrays.GraphArrays` (``to_arrays`` / ``from_arrays`` convert); node and edge types and the
pair features are defined once, in `graph.schema`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import HeteroData

from graphroute.graph.arrays import GraphArrays, record_weight, two_way_prior
from graphroute.graph.index import top_k_neighbors
from graphroute.graph.schema import EDGE_DIMS, EDGE_TYPES, PAIR_FEATURES, SHRINK, model_numeric

__all__ = ["GraphState", "PairTables", "PAIR_FEATURES", "EDGE_TYPES", "EDGE_DIMS", "model_numeric"]


@dataclass
class PairTables:
    """Query-independent records the decoder statistics read (see ``GraphState.pair_tables``)."""

    eff: Tensor  # [N, P] mean effect per (query, pair)
    cz: Tensor  # [N, P] mean cost_z
    has: Tensor  # [N, P] 1.0 where the pair ran on the query
    pair_eff: Tensor  # [P] overall record, shrunk
    tot_cnt: Tensor  # [P] runs per pair
    task_eff: Tensor  # [T, P] record per task, shrunk
    task_cz: Tensor  # [T, P]
    t_cnt: Tensor  # [T, P] runs per (task, pair)


@dataclass
class GraphState:
    """Node tables and outcome edges; all arrays are torch tensors on the CPU."""

    query_ids: list[str]
    query_texts: list[str]
    query_task: Tensor  # [N] long
    query_x: Tensor  # [N, D]
    task_names: list[str]
    task_x: Tensor  # [T, D]
    model_names: list[str]
    model_x: Tensor  # [M, D]
    model_num: Tensor  # [M, 4]
    agent_names: list[str]
    agent_x: Tensor  # [A, D]
    out_query: Tensor  # [E] long
    out_model: Tensor  # [E] long
    out_agent: Tensor  # [E] long
    out_effect: Tensor  # [E]
    out_cost: Tensor  # [E] dollars
    out_latency: Tensor  # [E] seconds, NaN where not logged
    nbr_idx: Tensor = field(default_factory=lambda: torch.zeros(0, 0, dtype=torch.long))  # [N, K0]
    nbr_sim: Tensor = field(default_factory=lambda: torch.zeros(0, 0))  # [N, K0]
    cost_loc: float = 0.0  # log-cost standardisation, fixed at fit so added nodes share it
    cost_scale: float = 1.0
    cost_eps: float = 1e-6
    lat_loc: float = 0.0
    lat_scale: float = 1.0

    # ---- sizes and lookups -------------------------------------------------------------
    @property
    def n_queries(self) -> int:
        return len(self.query_ids)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        """Candidate (model index, agent index) pairs: every model with every agent."""
        return [(m, a) for m in range(len(self.model_names)) for a in range(len(self.agent_names))]

    def pair_index(self, model: Tensor, agent: Tensor) -> Tensor:
        return model * len(self.agent_names) + agent

    @property
    def has_latency(self) -> bool:
        return bool(torch.isfinite(self.out_latency).any())

    def cost_z(self, cost: Tensor) -> Tensor:
        return (torch.log(cost + self.cost_eps) - self.cost_loc) / self.cost_scale

    def cost_from_z(self, z: Tensor) -> Tensor:
        return (torch.exp(z * self.cost_scale + self.cost_loc) - self.cost_eps).clamp_min(0.0)

    def lat_z(self, lat: Tensor) -> Tensor:
        return (torch.log1p(lat) - self.lat_loc) / self.lat_scale

    def lat_from_z(self, z: Tensor) -> Tensor:
        return torch.expm1(z * self.lat_scale + self.lat_loc).clamp_min(0.0)

    def fit_scales(self) -> None:
        """Fix the cost/latency standardisation from the current outcomes (called once, at fit)."""
        pos = self.out_cost[self.out_cost > 0]
        self.cost_eps = float(pos.min() * 0.1) if pos.numel() else 1e-6
        lc = torch.log(self.out_cost + self.cost_eps)
        self.cost_loc, self.cost_scale = float(lc.mean()), float(lc.std().clamp_min(1e-3)) if lc.numel() > 1 else 1.0
        lat = self.out_latency[torch.isfinite(self.out_latency)]
        if lat.numel() > 1:
            ll = torch.log1p(lat)
            self.lat_loc, self.lat_scale = float(ll.mean()), float(ll.std().clamp_min(1e-3))

    # ---- neighbours ---------------------------------------------------------------------
    def refresh_neighbors(self, k0: int) -> None:
        """Recompute every known query's top-k0 neighbours among the other known queries."""
        self.nbr_idx, self.nbr_sim = top_k_neighbors(self.query_x, self.query_x, k0, exclude_self=True)

    @staticmethod
    def restrict(nbr_idx: Tensor, nbr_sim: Tensor, allowed: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """Keep, per row, the first k neighbours that are ``allowed`` (bool [N]); pad with weight 0."""
        if nbr_idx.numel() == 0:
            return nbr_idx[:, :0], nbr_sim[:, :0]
        ok = allowed[nbr_idx]  # [Q, K0]
        rank = ok.long().cumsum(1)  # position among allowed ones, 1-based
        keep = ok & (rank <= k)
        # stable order: sort by (not keep), keeping original order inside each group
        order = torch.argsort((~keep).long() * nbr_idx.shape[1] + torch.arange(nbr_idx.shape[1]), dim=1)
        kk = min(k, nbr_idx.shape[1])
        idx = torch.gather(nbr_idx, 1, order[:, :kk])
        sim = torch.gather(nbr_sim, 1, order[:, :kk])
        mask = torch.gather(keep, 1, order[:, :kk])
        return torch.where(mask, idx, torch.zeros_like(idx)), torch.where(mask, sim, torch.full_like(sim, -math.inf))

    # ---- the HeteroData view -------------------------------------------------------------
    def hetero_data(self, context: Tensor, visible: Tensor, k: int,
                    cards: dict[str, Tensor] | None = None) -> HeteroData:
        """The graph the encoder runs on.

        context: bool [N], queries whose outcome and neighbour edges exist;
        visible: bool [E], outcome edges that exist (only those of context queries are used);
        cards: optional {"model" | "agent": long [n]} telling which node's card features each node
            shows (training swaps a few, so that logged evidence learns to override a card).
        """
        data = HeteroData()
        data["query"].x = self.query_x
        data["task"].x = self.task_x
        data["model"].x = torch.cat([self.model_x, self.model_num], dim=1)
        data["agent"].x = self.agent_x
        for kind, perm in (cards or {}).items():
            data[kind].x = data[kind].x[perm]

        q_all = torch.arange(self.n_queries)
        q_ctx = q_all[context]
        qt = torch.stack([q_ctx, self.query_task[q_ctx]])
        data["query", "in", "task"].edge_index = qt
        data["task", "rev_in", "query"].edge_index = qt.flip(0)

        idx, sim = self.restrict(self.nbr_idx[q_ctx], self.nbr_sim[q_ctx], context, k)
        valid = torch.isfinite(sim)
        src = idx[valid]
        dst = q_ctx[:, None].expand_as(idx)[valid]
        data["query", "near", "query"].edge_index = torch.stack([src, dst])
        data["query", "near", "query"].edge_attr = sim[valid][:, None]

        e = visible & context[self.out_query]
        oq, om, oa = self.out_query[e], self.out_model[e], self.out_agent[e]
        attr = torch.stack([self.out_effect[e], self.cost_z(self.out_cost[e])], dim=1)
        data["query", "ran", "model"].edge_index = torch.stack([oq, om])
        data["query", "ran", "model"].edge_attr = attr
        data["model", "rev_ran", "query"].edge_index = torch.stack([om, oq])
        data["model", "rev_ran", "query"].edge_attr = attr
        data["query", "used", "agent"].edge_index = torch.stack([oq, oa])
        data["query", "used", "agent"].edge_attr = attr
        data["agent", "rev_used", "query"].edge_index = torch.stack([oa, oq])
        data["agent", "rev_used", "query"].edge_attr = attr

        n_a = len(self.agent_names)
        pid = om * n_a + oa
        n_p = len(self.model_names) * n_a
        cnt = torch.zeros(n_p).index_add_(0, pid, torch.ones_like(attr[:, 0]))
        s = torch.zeros(n_p, 2).index_add_(0, pid, attr)
        seen = cnt > 0
        pm = torch.arange(n_p)[seen] // n_a
        pa = torch.arange(n_p)[seen] % n_a
        mattr = torch.cat([s[seen] / cnt[seen, None], torch.log1p(cnt[seen])[:, None]], dim=1)
        data["model", "with", "agent"].edge_index = torch.stack([pm, pa])
        data["model", "with", "agent"].edge_attr = mattr
        data["agent", "rev_with", "model"].edge_index = torch.stack([pa, pm])
        data["agent", "rev_with", "model"].edge_attr = mattr
        return data

    # ---- decoder statistics ---------------------------------------------------------------
    def outcome_matrix(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean effect, mean cost_z and count per (query, pair) over the outcome edges ``rows``.

        Returns three [N, P] tensors; a pair never run on a query has count 0.
        """
        n, n_p = self.n_queries, len(self.model_names) * len(self.agent_names)
        flat = self.out_query[rows] * n_p + self.pair_index(self.out_model[rows], self.out_agent[rows])
        cnt = torch.zeros(n * n_p).index_add_(0, flat, torch.ones(flat.shape[0]))
        eff = torch.zeros(n * n_p).index_add_(0, flat, self.out_effect[rows])
        cz = torch.zeros(n * n_p).index_add_(0, flat, self.cost_z(self.out_cost[rows]))
        safe = cnt.clamp_min(1)
        return (eff / safe).view(n, n_p), (cz / safe).view(n, n_p), cnt.view(n, n_p)

    def pair_tables(self, mats: tuple[Tensor, Tensor, Tensor]) -> PairTables:
        """The query-independent part of ``pair_features``: per-pair and per-(task, pair) records.

        Computed once per published state (O(N·P)), so that routing one query costs O(K·P), not O(N·P).
        """
        eff, cz, cnt = mats
        has = (cnt > 0).float()  # [N, P]

        # overall record of each pair, shrunk toward the mean of all pairs
        tot_cnt = cnt.sum(0)  # [P]
        tot_eff = (eff * cnt).sum(0)
        tot_cz = (cz * cnt).sum(0)
        all_eff = tot_eff.sum() / tot_cnt.sum().clamp_min(1)
        all_cz = tot_cz.sum() / tot_cnt.sum().clamp_min(1)
        pair_eff = (tot_eff + SHRINK * all_eff) / (tot_cnt + SHRINK)

        # record per task, shrunk toward a two-way prior. Log cost is about log tokens (task) + log price
        # (pair): the task's mean over every pair plus the pair's mean offset from the task means it ran
        # on. Effect is about difficulty (task) + skill (pair) on the logit scale (``two_way_prior``). A pair
        # with a few runs spread over many tasks (a model just added) then gets each task's level right
        # instead of its own overall mean.
        n_t, n_p = len(self.task_names), eff.shape[1]
        t_cnt = torch.zeros(n_t, n_p).index_add_(0, self.query_task, cnt)
        t_eff = torch.zeros(n_t, n_p).index_add_(0, self.query_task, eff * cnt)
        t_cz = torch.zeros(n_t, n_p).index_add_(0, self.query_task, cz * cnt)
        n_task = t_cnt.sum(1)  # [T]
        task_all_cz = (t_cz.sum(1) + SHRINK * all_cz) / (n_task + SHRINK)
        resid_cz = (t_cz - t_cnt * task_all_cz[:, None]).sum(0)  # [P]
        off_cz = (resid_cz + SHRINK * self._price_offset(resid_cz, tot_cnt)) / (tot_cnt + SHRINK)
        tc, te = t_cnt.numpy(), t_eff.numpy()
        prior_eff = torch.from_numpy(two_way_prior(tc, te, float(all_eff)).astype(np.float32))  # [T, P]
        prior_cz = task_all_cz[:, None] + off_cz[None]
        m = record_weight(eff.numpy(), cnt.numpy(), self.query_task.numpy(), n_t)  # the records' prior weight
        task_eff = (t_eff + m * prior_eff) / (t_cnt + m)  # [T, P]
        task_cz = (t_cz + SHRINK * prior_cz) / (t_cnt + SHRINK)
        return PairTables(eff=eff, cz=cz, has=has, pair_eff=pair_eff, tot_cnt=tot_cnt, task_eff=task_eff,
                          task_cz=task_cz, t_cnt=t_cnt)

    def _price_offset(self, resid_cz: Tensor, tot_cnt: Tensor) -> Tensor:
        """Each pair's cost offset (in cost_z, from the task means) as its model's card price predicts it:
        a least-squares line through the pairs that have runs, of their mean offset on the log of the
        model's price. 0 for a model without a price, or when fewer than 3 priced pairs have runs."""
        n_a = len(self.agent_names)
        price = torch.expm1(self.model_num[:, 0]) + torch.expm1(self.model_num[:, 1])  # [M] per 1M tokens, in + out
        priced = (self.model_num[:, 2] > 0).repeat_interleave(n_a)  # [P], pairs are model-major
        x = torch.log(price + 1e-3).repeat_interleave(n_a)
        fit = priced & (tot_cnt > 0)
        out = torch.zeros_like(resid_cz)
        if int(fit.sum()) < 3:
            return out
        xf, yf = x[fit], resid_cz[fit] / tot_cnt[fit]
        var = ((xf - xf.mean()) ** 2).sum()
        if float(var) < 1e-9:
            return out
        slope = ((xf - xf.mean()) * (yf - yf.mean())).sum() / var
        return torch.where(priced, yf.mean() + slope * (x - xf.mean()), out)

    def pair_features(self, nbr_idx: Tensor, nbr_w: Tensor, task_idx: Tensor, rows: Tensor,
                      mats: tuple[Tensor, Tensor, Tensor] | None = None, tables: PairTables | None = None) -> Tensor:
        """Statistics of every candidate pair for each target query.

        nbr_idx, nbr_w [Q, K]: the target's context neighbours and weights (0 = no neighbour);
        task_idx [Q]; rows: bool [E] outcome edges visible to the targets (or ``mats``, their
        outcome matrices, or ``tables``, the ``pair_tables`` of those).
        Returns [Q, P, len(PAIR_FEATURES)].
        """
        if tables is None:
            tables = self.pair_tables(mats if mats is not None else self.outcome_matrix(rows))
        tb = tables
        te, tc, tn = tb.task_eff[task_idx], tb.task_cz[task_idx], tb.t_cnt[task_idx]  # [Q, P]

        # neighbours' outcomes on each pair, falling back to the task record where none ran it
        w = nbr_w[..., None] * tb.has[nbr_idx]  # [Q, K, P]
        mass = w.sum(1)  # [Q, P]
        knn_eff = ((w * tb.eff[nbr_idx]).sum(1) + SHRINK * 0.2 * te) / (mass + SHRINK * 0.2)
        knn_cz = ((w * tb.cz[nbr_idx]).sum(1) + SHRINK * 0.2 * tc) / (mass + SHRINK * 0.2)

        q = task_idx.shape[0]
        return torch.stack([
            knn_eff, mass, knn_cz, te, tc, tb.pair_eff[None].expand(q, -1),
            torch.log1p(tb.tot_cnt)[None].expand(q, -1) / 10, torch.log1p(tn) / 10,
        ], dim=-1)

    def edges_by_query(self) -> tuple[Tensor, Tensor]:
        """(order [E], offsets [N + 1]): the outcome edges of query i are ``order[offsets[i]:offsets[i + 1]]``,
        in increasing edge index (what ``(out_query == i).nonzero()`` gives, without scanning every edge)."""
        order = torch.argsort(self.out_query, stable=True)
        offsets = torch.zeros(self.n_queries + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(torch.bincount(self.out_query, minlength=self.n_queries), 0)
        return order, offsets

    def subgraph(self, idx: Tensor) -> tuple[GraphState, Tensor]:
        """The graph induced by the queries ``idx`` (long [S], distinct): those queries, their outcome
        edges, every task / model / agent node, and each query's neighbour list cut to neighbours
        inside ``idx`` (kept in order, padded with similarity -inf, which every reader treats as no
        neighbour). Returns (subgraph, indices [E_S] of its edges in this graph).
        """
        n = self.n_queries
        keep = torch.zeros(n, dtype=torch.bool)
        keep[idx] = True
        remap = torch.full((n,), -1, dtype=torch.long)
        remap[idx] = torch.arange(idx.shape[0])
        edges = keep[self.out_query].nonzero().flatten()
        nbr, sim = self.nbr_idx[idx], self.nbr_sim[idx]
        inside = keep[nbr]
        order = torch.argsort((~inside).long(), dim=1, stable=True)  # inside neighbours first, in order
        nbr, sim, inside = nbr.gather(1, order), sim.gather(1, order), inside.gather(1, order)
        ids = idx.tolist()
        sub = GraphState(
            query_ids=[self.query_ids[i] for i in ids], query_texts=[self.query_texts[i] for i in ids],
            query_task=self.query_task[idx], query_x=self.query_x[idx],
            task_names=self.task_names, task_x=self.task_x, model_names=self.model_names, model_x=self.model_x,
            model_num=self.model_num, agent_names=self.agent_names, agent_x=self.agent_x,
            out_query=remap[self.out_query[edges]], out_model=self.out_model[edges],
            out_agent=self.out_agent[edges], out_effect=self.out_effect[edges], out_cost=self.out_cost[edges],
            out_latency=self.out_latency[edges],
            nbr_idx=torch.where(inside, remap[nbr], torch.zeros_like(nbr)),
            nbr_sim=torch.where(inside, sim, torch.full_like(sim, -math.inf)),
            cost_loc=self.cost_loc, cost_scale=self.cost_scale, cost_eps=self.cost_eps,
            lat_loc=self.lat_loc, lat_scale=self.lat_scale)
        return sub, edges

    # ---- growth (no gradient involved) --------------------------------------------------------
    def add_queries(self, ids: list[str], texts: list[str], tasks: Tensor, x: Tensor) -> Tensor:
        """Append query nodes; return their indices."""
        start = self.n_queries
        self.query_ids = self.query_ids + list(ids)
        self.query_texts = self.query_texts + list(texts)
        self.query_task = torch.cat([self.query_task, tasks])
        self.query_x = torch.cat([self.query_x, x])
        return torch.arange(start, self.n_queries)

    def add_outcomes(self, q: Tensor, m: Tensor, a: Tensor, effect: Tensor, cost: Tensor, latency: Tensor) -> None:
        self.out_query = torch.cat([self.out_query, q])
        self.out_model = torch.cat([self.out_model, m])
        self.out_agent = torch.cat([self.out_agent, a])
        self.out_effect = torch.cat([self.out_effect, effect])
        self.out_cost = torch.cat([self.out_cost, cost])
        self.out_latency = torch.cat([self.out_latency, latency])

    # ---- persistence ---------------------------------------------------------------------------
    TENSORS = ("query_task", "query_x", "task_x", "model_x", "model_num", "agent_x", "out_query", "out_model",
               "out_agent", "out_effect", "out_cost", "out_latency", "nbr_idx", "nbr_sim")
    LISTS = ("query_ids", "query_texts", "task_names", "model_names", "agent_names")
    SCALARS = ("cost_loc", "cost_scale", "cost_eps", "lat_loc", "lat_scale")

    def tensors(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).contiguous() for name in self.TENSORS}

    def meta(self) -> dict:
        return {**{n: list(getattr(self, n)) for n in self.LISTS}, **{n: getattr(self, n) for n in self.SCALARS}}

    def to_arrays(self) -> GraphArrays:
        """The numpy view a router serves from (arrays share memory with these tensors)."""
        return GraphArrays(**{n: getattr(self, n).numpy() for n in self.TENSORS},
                           **{n: list(getattr(self, n)) for n in self.LISTS},
                           **{n: float(getattr(self, n)) for n in self.SCALARS})

    @classmethod
    def from_arrays(cls, arr: GraphArrays) -> GraphState:
        """The torch state training and growth work on, from a served ``GraphArrays`` (copies the arrays)."""
        return cls(**{n: torch.tensor(np.asarray(getattr(arr, n))) for n in cls.TENSORS},
                   **{n: list(getattr(arr, n)) for n in cls.LISTS}, **{n: getattr(arr, n) for n in cls.SCALARS})

