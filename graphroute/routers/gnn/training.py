"""Training the GNN router's ensemble members (torch), and encoding a graph for publishing.

Training matches inference. Each epoch splits the training queries into context queries (in
the graph, with their outcome edges) and target queries (predicted from their text, their
nearest context queries and their task, with no outcome edges of their own: exactly what a new
query looks like). A few models (and agents) per epoch are shown through only a handful of
outcome edges, so that a model added later with a few logged runs is in-distribution.

This module imports torch and torch_geometric; the router imports it only to fit, to grow
(observe / add_* / remove_*, which re-encode) and to load a version-1 router.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from graphroute.data.catalog import Catalog
from graphroute.graph.schema import EDGE_DIMS, EDGE_TYPES, NODE_TYPES, model_numeric
from graphroute.graph.state import GraphState
from graphroute.nn import NetConfig, RouterNet
from graphroute.routers.fitting import GNN_LOSS_TOLERANCE, deterministic, fit_loop
from graphroute.routers.gnn.config import RouterConfig

__all__ = ["neighbor_weights", "new_state", "validation_mask", "train_member", "encode", "build_nets",
           "torch_predict"]


def neighbor_weights(sim: Tensor, temperature: float) -> Tensor:
    """Softmax of similarities over the valid (finite) neighbours; a row with none gets zeros."""
    valid = torch.isfinite(sim)
    s = torch.where(valid, sim, torch.full_like(sim, -1e9)) / temperature
    w = torch.softmax(s, dim=1) * valid
    return w / w.sum(1, keepdim=True).clamp_min(1e-12)


def new_state(cat: Catalog, queries: pd.DataFrame, agg: pd.DataFrame, query_x: np.ndarray, encode) -> GraphState:
    """The graph of the aggregated runs ``agg``: ``query_x`` [N, D] embeds ``queries``; ``encode`` embeds card texts."""
    task_names, model_names, agent_names = list(cat.tasks), list(cat.models), list(cat.agents)
    t_ix = {n: i for i, n in enumerate(task_names)}
    lat = agg["latency_s"].to_numpy(float) if "latency_s" in agg else np.full(len(agg), np.nan)

    def cards(texts: list[str]) -> Tensor:
        return torch.as_tensor(encode(texts), dtype=torch.float32)

    return GraphState(
        query_ids=list(queries["query_id"]), query_texts=list(queries["query"]),
        query_task=torch.tensor([t_ix[t] for t in queries["task"]], dtype=torch.long),
        query_x=torch.as_tensor(query_x),
        task_names=task_names, task_x=cards([cat.tasks[n].text() for n in task_names]),
        model_names=model_names, model_x=cards([cat.models[n].text() for n in model_names]),
        model_num=torch.tensor([model_numeric(c.price_in, c.price_out, c.params_b)
                                for c in cat.models.values()], dtype=torch.float32).view(-1, 4),
        agent_names=agent_names, agent_x=cards([cat.agents[n].text() for n in agent_names]),
        # positions by hashed lookup (a dict .map over millions of rows is seconds)
        out_query=torch.as_tensor(pd.Index(queries["query_id"]).get_indexer(agg["query_id"]), dtype=torch.long),
        out_model=torch.as_tensor(pd.Index(model_names).get_indexer(agg["model"]), dtype=torch.long),
        out_agent=torch.as_tensor(pd.Index(agent_names).get_indexer(agg["agent"]), dtype=torch.long),
        out_effect=torch.tensor(agg["effect"].to_numpy(float), dtype=torch.float32),
        out_cost=torch.tensor(agg["cost"].to_numpy(float), dtype=torch.float32),
        out_latency=torch.tensor(lat, dtype=torch.float32),
    )


def validation_mask(cfg: RouterConfig, state: GraphState) -> Tensor:
    """Per task, a seeded share of queries held out for early stopping (none for tiny tasks)."""
    rng = np.random.default_rng(cfg.seed)
    val = torch.zeros(state.n_queries, dtype=torch.bool)
    if cfg.validation_fraction <= 0:
        return val
    tasks = state.query_task.numpy()
    for t in np.unique(tasks):
        idx = np.flatnonzero(tasks == t)
        n = int(round(len(idx) * cfg.validation_fraction))
        if len(idx) >= 10 and n >= 1:
            val[rng.choice(idx, n, replace=False)] = True
    return val


def _episode(cfg: RouterConfig, state: GraphState, pool: Tensor,
             rng: np.random.Generator) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
    """Split ``pool`` into context and targets; hide most edges of a few models (few-shot).

    Half of the few-shot nodes also show another node's card: a new model's card is only a
    prior, and without this the network learns each model's quality from its card alone and
    ignores the runs logged for a model added later.
    """
    ids = pool.nonzero().flatten().numpy()
    rng.shuffle(ids)
    n_t = max(1, int(round(len(ids) * cfg.target_fraction)))
    targets = torch.zeros(state.n_queries, dtype=torch.bool)
    targets[ids[:n_t]] = True
    context = pool & ~targets
    visible = torch.ones(state.out_query.shape[0], dtype=torch.bool)
    cards: dict[str, Tensor] = {}
    for kind, names, col in (("model", state.model_names, state.out_model),
                             ("agent", state.agent_names, state.out_agent)):
        if len(names) < 3 or cfg.fewshot_fraction <= 0:
            continue
        chosen = np.flatnonzero(rng.random(len(names)) < cfg.fewshot_fraction)
        perm = np.arange(len(names))
        for node in chosen[rng.random(len(chosen)) < 0.5]:
            perm[node] = (node + rng.integers(1, len(names))) % len(names)
        cards[kind] = torch.as_tensor(perm)
        for node in chosen:
            edges = ((col == int(node)) & context[state.out_query]).nonzero().flatten().numpy()
            keep = int(rng.integers(0, cfg.fewshot_max + 1))
            if len(edges) > keep:
                hide = rng.choice(edges, len(edges) - keep, replace=False)
                visible[torch.as_tensor(hide)] = False
    return context, targets, visible, cards


def _forward(cfg: RouterConfig, net: RouterNet, state: GraphState, context: Tensor, visible: Tensor,
             targets: Tensor, cards: dict[str, Tensor] | None = None, inputs: tuple | None = None) -> Tensor:
    """Predictions [Q, P, n_targets] for the ``targets`` queries given the context graph.

    inputs: ``_forward_inputs`` of these arguments, when already computed (validation reuses them
    every epoch: they do not depend on the network).
    """
    data, t_idx, nbr, w, feats, pm, pa = inputs or _forward_inputs(cfg, state, context, visible, targets, cards)
    h = net.encode((data.x_dict, data.edge_index_dict, data.edge_attr_dict))
    z = net.read_queries(h, state.query_x[t_idx], nbr, w, state.query_task[t_idx])
    return net.decode(h, z, pm, pa, feats)


def _forward_inputs(cfg: RouterConfig, state: GraphState, context: Tensor, visible: Tensor, targets: Tensor,
                    cards: dict[str, Tensor] | None = None) -> tuple:
    """What ``_forward`` reads besides the network: the graph, the targets' neighbours and pair statistics."""
    data = state.hetero_data(context, visible, cfg.k_neighbors, cards)
    t_idx = targets.nonzero().flatten()
    nbr, sim = state.restrict(state.nbr_idx[t_idx], state.nbr_sim[t_idx], context, cfg.k_neighbors)
    w = neighbor_weights(sim, cfg.knn_temperature)
    rows = visible & context[state.out_query]
    feats = state.pair_features(nbr, w, state.query_task[t_idx], rows)
    pm, pa = pair_tensors(state)
    return data, t_idx, nbr, w, feats, pm, pa


def pair_tensors(state: GraphState) -> tuple[Tensor, Tensor]:
    pairs = torch.tensor(state.pairs, dtype=torch.long).view(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def _loss(out: Tensor, targets: Tensor, labels) -> Tensor:
    eff, cz, cnt, lat, lat_cnt = labels
    t_idx = targets.nonzero().flatten()
    m = cnt[t_idx] > 0  # [Q, P] pairs actually run on the target queries
    loss = F.binary_cross_entropy_with_logits(out[..., 0][m], eff[t_idx][m])
    loss = loss + 0.5 * F.mse_loss(out[..., 1][m], cz[t_idx][m])
    if out.shape[-1] > 2:
        ml = lat_cnt[t_idx] > 0
        if ml.any():
            loss = loss + 0.5 * F.mse_loss(out[..., 2][ml], lat[t_idx][ml])
    return loss


def _labels(state: GraphState):
    eff, cz, cnt = state.outcome_matrix(torch.ones(state.out_query.shape[0], dtype=torch.bool))
    ok = torch.isfinite(state.out_latency)
    n, n_p = state.n_queries, len(state.pairs)
    flat = state.out_query[ok] * n_p + state.pair_index(state.out_model[ok], state.out_agent[ok])
    lc = torch.zeros(n * n_p).index_add_(0, flat, torch.ones(flat.shape[0]))
    ls = torch.zeros(n * n_p).index_add_(0, flat, state.lat_z(state.out_latency[ok]))
    return eff, cz, cnt, (ls / lc.clamp_min(1)).view(n, n_p), lc.view(n, n_p)


def show_progress(cfg: RouterConfig, state: GraphState) -> bool:
    """A bar for long fits (or when asked), and only where someone watches: a terminal or a notebook.
    A log file or a pipe would get thousands of redraws."""
    wanted = bool(cfg.progress) if cfg.progress is not None else state.out_query.shape[0] * cfg.epochs > 5_000_000
    stderr = sys.stderr
    watched = bool(getattr(stderr, "isatty", lambda: False)()) or _in_notebook()
    return wanted and watched


def _in_notebook() -> bool:
    """True inside a Jupyter kernel's shell (not merely when ipykernel has been imported, e.g. by nbclient)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def _sample_queries(cfg: RouterConfig, state: GraphState, ids: Tensor, allowed: Tensor, n_seeds: int,
                    rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """``n_seeds`` random queries among ``ids`` and their first k ``allowed`` neighbours: (seeds, all sorted)."""
    n_seeds = max(1, min(len(ids), n_seeds))
    seeds = ids[torch.as_tensor(rng.choice(len(ids), n_seeds, replace=False))]
    nbr, sim = state.restrict(state.nbr_idx[seeds], state.nbr_sim[seeds], allowed, cfg.k_neighbors)
    return seeds, torch.unique(torch.cat([seeds, nbr[torch.isfinite(sim)]]))


class _Epochs:
    """Per epoch, the graph trained on and the validation loss: the whole graph, or sampled subgraphs
    of about ``max_epoch_edges`` edges for large logs (validation then on one fixed sampled subgraph)."""

    def __init__(self, cfg: RouterConfig, state: GraphState, val: Tensor, rng: np.random.Generator) -> None:
        self.cfg, self.state, self.val, self.rng = cfg, state, val, rng
        self.labels = _labels(state)
        self.pool = ~val
        self.pool_ids = self.pool.nonzero().flatten()
        pool_edges = int(self.pool[state.out_query].sum())
        self.sampled = cfg.max_epoch_edges is not None and pool_edges > cfg.max_epoch_edges
        self.has_val = bool(val.any())
        if self.sampled:
            self.n_seeds = int(cfg.max_epoch_edges * len(self.pool_ids) / pool_edges) // (cfg.k_neighbors + 1)
            if self.has_val:  # sampled val queries as targets, their pool neighbours as context
                _, v_idx = _sample_queries(cfg, state, val.nonzero().flatten(), self.pool, self.n_seeds, rng)
                self.vg, _ = state.subgraph(v_idx)
                self.v_targets, self.v_context = val[v_idx], self.pool[v_idx]
                self.v_labels = tuple(lab[v_idx] for lab in self.labels)
        else:
            self.vg, self.v_targets, self.v_context, self.v_labels = state, val, self.pool, self.labels
        if self.has_val:
            self.v_edges = torch.ones(self.vg.out_query.shape[0], dtype=torch.bool)
            self.v_inputs = _forward_inputs(cfg, self.vg, self.v_context, self.v_edges, self.v_targets)

    def train_loss(self, net: RouterNet) -> Tensor:
        if self.sampled:
            _, idx = _sample_queries(self.cfg, self.state, self.pool_ids, self.pool, self.n_seeds, self.rng)
            g, _ = self.state.subgraph(idx)
            labels, pool = tuple(lab[idx] for lab in self.labels), torch.ones(len(idx), dtype=torch.bool)
        else:
            g, labels, pool = self.state, self.labels, self.pool
        context, targets, visible, cards = _episode(self.cfg, g, pool, self.rng)
        return _loss(_forward(self.cfg, net, g, context, visible, targets, cards), targets, labels)

    def val_loss(self, net: RouterNet) -> float:
        with torch.no_grad():
            out = _forward(self.cfg, net, self.vg, self.v_context, self.v_edges, self.v_targets, inputs=self.v_inputs)
            return float(_loss(out, self.v_targets, self.v_labels))


def train_member(cfg: RouterConfig, net_config: NetConfig, state: GraphState, val: Tensor, seed: int,
                 member: int) -> tuple[RouterNet, list[dict]]:
    """One ensemble member, early-stopped on the validation queries ``val``: (net in eval mode, history)."""
    bar_on = show_progress(cfg, state)
    if bar_on:
        from tqdm.auto import tqdm
    else:  # tqdm.auto warns in a notebook without ipywidgets even when the bar is disabled
        from tqdm.std import tqdm

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = RouterNet(net_config, EDGE_TYPES, EDGE_DIMS)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    epochs = _Epochs(cfg, state, val, rng)
    bar = tqdm(range(cfg.epochs), desc=f"fit member {member + 1}/{cfg.n_ensemble}", disable=not bar_on, leave=False)

    def step(epoch: int) -> float:
        loss = epochs.train_loss(net)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    hist = fit_loop(net, step, (lambda: epochs.val_loss(net)) if epochs.has_val else None, epochs=bar,
                    patience=cfg.patience, tolerance=GNN_LOSS_TOLERANCE,
                    on_record=lambda rec: bar.set_postfix(val=f"{rec['val_loss']:.4f}"))
    return net, hist


def encode(nets: list[RouterNet], state: GraphState, k: int) -> list[dict[str, np.ndarray]]:
    """Each member's encoder output over the whole graph (every query, every edge): node type -> [n, H]."""
    everything = torch.ones(state.n_queries, dtype=torch.bool)
    edges = torch.ones(state.out_query.shape[0], dtype=torch.bool)
    data = state.hetero_data(everything, edges, k)
    with torch.no_grad(), deterministic():  # as in training: node states bit for bit per seed
        hs = [net.encode((data.x_dict, data.edge_index_dict, data.edge_attr_dict)) for net in nets]
    return [{nt: h[nt].numpy() for nt in NODE_TYPES} for h in hs]


def build_nets(net_config: NetConfig, weights: list[dict[str, np.ndarray]]) -> list[RouterNet]:
    """Torch networks (eval mode) from numpy state dicts, e.g. as loaded from a saved router."""
    nets = []
    for w in weights:
        net = RouterNet(net_config, EDGE_TYPES, EDGE_DIMS)
        net.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in w.items()}, strict=True)
        net.eval()
        nets.append(net)
    return nets


def torch_predict(router, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
    """The torch reference of ``Router._predict_arrays``'s graph part (exact neighbour scan, no text
    evidence): the encoder run on the router's graph, ``RouterNet.read_queries`` and ``decode``. Tests
    compare the numpy path with it."""
    from graphroute.graph.index import top_k_neighbors

    state = router.state_
    x = torch.as_tensor(router._embed(queries))
    with torch.no_grad():
        hs = [net.encode((d.x_dict, d.edge_index_dict, d.edge_attr_dict)) for net in router.nets_
              for d in [state.hetero_data(torch.ones(state.n_queries, dtype=torch.bool),
                                          torch.ones(state.out_query.shape[0], dtype=torch.bool), router.k_neighbors)]]
        nbr, sim = top_k_neighbors(x, state.query_x, router.k_neighbors)
        w = neighbor_weights(sim, router.knn_temperature)
        known = {n: i for i, n in enumerate(state.task_names)}
        votes = torch.zeros(len(queries), len(state.task_names)).scatter_add_(1, state.query_task[nbr], w)
        t_idx = torch.tensor([known[t] if t is not None else int(votes[i].argmax()) for i, t in enumerate(tasks)])
        feats = state.pair_features(nbr, w, t_idx, torch.ones(state.out_query.shape[0], dtype=torch.bool))
        pm, pa = pair_tensors(state)
        out = torch.stack([net.decode(h, net.read_queries(h, x, nbr, w, t_idx), pm, pa, feats)
                           for net, h in zip(router.nets_, hs)])
    res = {"task": np.array([state.task_names[i] for i in t_idx.tolist()], dtype=object),
           "effect": torch.sigmoid(out[..., 0]).mean(0).numpy(), "cost": state.cost_from_z(out[..., 1].mean(0)).numpy()}
    if out.shape[-1] > 2:
        res["latency_s"] = state.lat_from_z(out[..., 2].mean(0)).numpy()
    return res
