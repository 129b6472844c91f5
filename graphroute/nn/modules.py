"""The neural network: a heterogeneous GNN encoder and a (query, model, agent) pair decoder.

This file holds only modules; it does no I/O and knows nothing of DataFrames.

Shapes use: Q target queries, P candidate pairs (model × agent), H hidden size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import HeteroConv, MessagePassing

from graphroute.graph.schema import NODE_TYPES, SKIP_COST, SKIP_EFFECT
from graphroute.nn.config import NetConfig

__all__ = ["EdgeSAGE", "HeteroEncoder", "PairDecoder", "RouterNet"]


class EdgeSAGE(MessagePassing):
    """GraphSAGE with edge attributes: mean of MLP([x_src, edge_attr]) added to a root transform.

    A node with no incoming edges keeps only its root transform, which is what a new model
    with no logged runs should see.
    """

    def __init__(self, in_src: int, in_dst: int, out: int, edge_dim: int = 0) -> None:
        super().__init__(aggr="mean")
        self.edge_dim = edge_dim
        self.msg = nn.Linear(in_src + edge_dim, out)
        self.root = nn.Linear(in_dst, out, bias=False)

    def forward(self, x: tuple[Tensor, Tensor] | Tensor, edge_index: Tensor,
                edge_attr: Tensor | None = None) -> Tensor:
        if isinstance(x, Tensor):
            x = (x, x)
        # msg(cat[x_j, e]) = (W_x x)_j + (W_e e + b): transform the source *nodes* once and gather
        # the [E, out] result, instead of gathering [E, in] rows, concatenating the edge attributes
        # and transforming every edge. Same function, same parameters, far less memory per edge.
        w = self.msg.weight
        src = F.linear(x[0], w[:, : w.size(1) - self.edge_dim])
        if not self.edge_dim:
            src = src + self.msg.bias
        if not torch.is_grad_enabled() and edge_index.size(1) > self.CHUNK_EDGES:
            out = self._mean_in_chunks(src, x[1].size(0), edge_index, edge_attr)
        else:
            out = self.propagate(edge_index, x=(src, x[1]), edge_attr=edge_attr, size=(x[0].size(0), x[1].size(0)))
        return out + self.root(x[1])

    CHUNK_EDGES = 1 << 20  # without autograd, messages are built and summed this many edges at a time

    def _mean_in_chunks(self, src: Tensor, n_dst: int, edge_index: Tensor, edge_attr: Tensor | None) -> Tensor:
        """``propagate``'s mean of messages, one chunk of edges at a time: the same values (up to the order
        of float additions) with [CHUNK_EDGES, out] temporaries instead of [E, out] ones. Only valid
        without autograd; used for inference encodes of large graphs (6M edges: ~1.5 GB per temporary)."""
        out = src.new_zeros(n_dst, src.size(1))
        for s in range(0, edge_index.size(1), self.CHUNK_EDGES):
            ei = edge_index[:, s: s + self.CHUNK_EDGES]
            out.index_add_(0, ei[1], self.message(src[ei[0]], None if edge_attr is None
                                                  else edge_attr[s: s + self.CHUNK_EDGES]))
        deg = torch.bincount(edge_index[1], minlength=n_dst).clamp_min(1).to(out.dtype)
        return out / deg[:, None]

    def message(self, x_j: Tensor, edge_attr: Tensor | None) -> Tensor:
        if self.edge_dim:
            w = self.msg.weight
            x_j = x_j + F.linear(edge_attr, w[:, w.size(1) - self.edge_dim:], self.msg.bias)
        return F.relu(x_j)


class HeteroEncoder(nn.Module):
    """Project every node type to H, then run ``layers`` rounds of HeteroConv(EdgeSAGE).

    No node has an id embedding: a node's representation is a function of its text, its card
    numbers and its edges only, so nodes added after training are encoded like trained ones.
    """

    def __init__(self, cfg: NetConfig, edge_types: list[tuple[str, str, str]],
                 edge_dims: dict[tuple[str, str, str], int]) -> None:
        super().__init__()
        h = cfg.hidden
        self.proj = nn.ModuleDict({
            "query": nn.Linear(cfg.text_dim, h),
            "task": nn.Linear(cfg.text_dim, h),
            "model": nn.Linear(cfg.text_dim + cfg.model_num_dim, h),
            "agent": nn.Linear(cfg.text_dim, h),
        })
        self.convs = nn.ModuleList([
            HeteroConv({et: EdgeSAGE(h, h, h, edge_dims.get(et, 0)) for et in edge_types}, aggr="sum")
            for _ in range(cfg.layers)
        ])
        self.norms = nn.ModuleList([
            nn.ModuleDict({nt: nn.LayerNorm(h) for nt in NODE_TYPES}) for _ in range(cfg.layers)
        ])
        self.dropout = cfg.dropout

    def forward(self, x_dict: dict[str, Tensor], edge_index_dict: dict, edge_attr_dict: dict) -> dict[str, Tensor]:
        h = {nt: self.proj[nt](x) for nt, x in x_dict.items()}
        for conv, norms in zip(self.convs, self.norms):
            out = conv(h, edge_index_dict, edge_attr_dict=edge_attr_dict)
            # residual: node types that receive no edge type keep their previous state
            h = {nt: norms[nt](h[nt] + F.relu(out[nt])) if nt in out else h[nt] for nt in h}
            h = {nt: F.dropout(v, self.dropout, self.training) for nt, v in h.items()}
        return h


class PairDecoder(nn.Module):
    """MLP over [z_query, h_model, h_agent, z_query * h_model, pair statistics] -> targets.

    The MLP predicts a *correction* to the pair's record on the query's task (effect logit and
    cost_z of ``task_effect`` / ``task_cost_z``, pair statistics ``SKIP_EFFECT`` and ``SKIP_COST`` of
    ``graph.schema.PAIR_FEATURES``): with that skip connection, logged evidence for a node is the
    default and a node's card cannot silence it. That is what makes a model added later with a few
    runs move its predictions the right way. Dropout is the only train/eval difference.
    """

    def __init__(self, cfg: NetConfig) -> None:
        super().__init__()
        h = cfg.hidden
        self.mlp = nn.Sequential(
            nn.Linear(4 * h + cfg.pair_dim, 2 * h), nn.ReLU(), nn.Dropout(cfg.dropout),
            nn.Linear(2 * h, h), nn.ReLU(),
            nn.Linear(h, cfg.n_targets),
        )

    def forward(self, z_q: Tensor, h_m: Tensor, h_a: Tensor, pair_feats: Tensor) -> Tensor:
        # z_q [Q, H]; h_m, h_a [P, H]; pair_feats [Q, P, pair_dim] -> [Q, P, n_targets]
        q, p = pair_feats.shape[:2]
        zq = z_q[:, None, :].expand(q, p, -1)
        hm = h_m[None, :, :].expand(q, p, -1)
        ha = h_a[None, :, :].expand(q, p, -1)
        out = self.mlp(torch.cat([zq, hm, ha, zq * hm, pair_feats], dim=-1))
        base = torch.zeros_like(out)
        base[..., 0] = torch.logit(pair_feats[..., SKIP_EFFECT].clamp(0.02, 0.98))
        base[..., 1] = pair_feats[..., SKIP_COST]
        return out + base


class RouterNet(nn.Module):
    """Encoder + query readout + pair decoder.

    Target queries (the ones being predicted) are never nodes of the encoded graph: their
    representation is read out from their own text, their nearest context queries and their
    task, exactly as for a query never seen before.
    """

    def __init__(self, cfg: NetConfig, edge_types: list[tuple[str, str, str]],
                 edge_dims: dict[tuple[str, str, str], int]) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = HeteroEncoder(cfg, edge_types, edge_dims)
        h = cfg.hidden
        self.query_in = nn.Linear(cfg.text_dim, h)
        self.readout = nn.Sequential(nn.Linear(3 * h, h), nn.ReLU(), nn.LayerNorm(h))
        self.decoder = PairDecoder(cfg)

    def encode(self, data_dict: tuple[dict, dict, dict]) -> dict[str, Tensor]:
        return self.encoder(*data_dict)

    def read_queries(self, h: dict[str, Tensor], x_q: Tensor, nbr_idx: Tensor, nbr_w: Tensor,
                     task_idx: Tensor) -> Tensor:
        # x_q [Q, D]; nbr_idx, nbr_w [Q, K] (indices into context queries, weights summing to 1
        # or all zero); task_idx [Q] -> z_q [Q, H]
        nbr = (h["query"][nbr_idx] * nbr_w[..., None]).sum(1)
        return self.readout(torch.cat([self.query_in(x_q), nbr, h["task"][task_idx]], dim=-1))

    def decode(self, h: dict[str, Tensor], z_q: Tensor, pair_model: Tensor, pair_agent: Tensor,
               pair_feats: Tensor) -> Tensor:
        return self.decoder(z_q, h["model"][pair_model], h["agent"][pair_agent], pair_feats)
