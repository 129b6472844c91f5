"""`Router`: the graph-neural router (fit, predict, select, grow without retraining, save/load).

Training matches inference. Each epoch splits the training queries into context queries (in
the graph, with their outcome edges) and target queries (predicted from their text, their
nearest context queries and their task, with no outcome edges of their own: exactly what a new
query looks like). A few models (and agents) per epoch are shown through only a handful of
outcome edges, so that a model added later with a few logged runs is in-distribution.
"""

from __future__ import annotations

import copy
import ctypes
import errno
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor

from graphroute.version import __version__
from graphroute.routers.base import BaseRouter, check_queries
from graphroute.data.catalog import AgentCard, Catalog, ModelCard, TaskCard
from graphroute.embed import EMBEDDERS, Embedder, get_embedder
from graphroute.errors import ConfigError, LogsError, NotFittedError, RouterFileError
from graphroute.graph.state import EDGE_DIMS, EDGE_TYPES, PAIR_FEATURES, GraphState, PairTables, model_numeric
from graphroute.graph.index import IVF_MIN_KEYS, SEARCH_MODES, build_index
from graphroute.data.logs import DEFAULT_AGENT, aggregate_runs, validate_logs
from graphroute.selection import Objective, Selection, pick
from graphroute.nn import NetConfig, RouterNet
from graphroute.data.text import learn_prefixes, strip_prefixes

__all__ = ["Router", "load", "FORMAT", "FORMAT_VERSION"]

FORMAT = "graphroute-router"
FORMAT_VERSION = 1
DEFAULT_CACHE = Path(os.environ.get("GRAPHROUTE_CACHE", Path.home() / ".cache" / "graphroute"))


def neighbor_weights(sim: Tensor, temperature: float) -> Tensor:
    """Softmax of similarities over the valid (finite) neighbours; a row with none gets zeros."""
    valid = torch.isfinite(sim)
    s = torch.where(valid, sim, torch.full_like(sim, -1e9)) / temperature
    w = torch.softmax(s, dim=1) * valid
    return w / w.sum(1, keepdim=True).clamp_min(1e-12)


def _top_k(sims: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """``index.top_k_neighbors`` from precomputed similarities [Q, N] (same values, same order)."""
    kk = min(k, sims.shape[1])
    if kk <= 0 or sims.shape[0] == 0:
        return torch.zeros(sims.shape[0], 0, dtype=torch.long), torch.zeros(sims.shape[0], 0)
    s, i = sims.topk(kk, dim=1)
    return i, s


@dataclass
class _Live:
    """What predictions read; replaced whole (never edited) so readers in other threads see one state."""

    state: GraphState
    h: list[dict[str, Tensor]]  # encoder output per ensemble member
    mats: tuple[Tensor, Tensor, Tensor]  # outcome matrices over all edges
    candidates: pd.DataFrame
    cost_range: dict[str, tuple[float, float]]
    tables: PairTables  # query-independent decoder statistics (from mats)
    pair_model: Tensor  # [P] model index of each candidate
    pair_agent: Tensor  # [P] agent index of each candidate
    cand_model: np.ndarray  # [P] object: candidate model names (as candidates["model"])
    cand_agent: np.ndarray  # [P] object
    cand_rank: tuple[np.ndarray, np.ndarray]  # [P] each: rank of the model / agent name in sorted order
    names: tuple[list[str], list[str]]  # sorted unique model / agent names among the candidates
    _edge_index: tuple[Tensor, Tensor] | None = None  # edges by query, built on first evidence() call

    def edge_index(self) -> tuple[Tensor, Tensor]:
        if self._edge_index is None:  # two threads may both build it: same value, no harm
            self._edge_index = self.state.edges_by_query()
        return self._edge_index


# {id(router): _Live} per thread: one public call (select, predict, ...) reads one state throughout
_PINNED = threading.local()


class Router(BaseRouter):
    """Graph-neural router over task, query, model and agent nodes.

    Parameters (stored as given; checked in ``fit``):
        embedder: text embedder name ("minilm", "minilm-static", "hash") or an Embedder.
        hidden: node representation width.  layers: message-passing rounds.
        k_neighbors: query-query neighbours per query.  knn_temperature: softmax temperature of
            neighbour weights (lower trusts the nearest more).
        epochs, lr, weight_decay, dropout: optimisation.  patience: epochs without validation
            improvement before stopping.
        target_fraction: share of training queries predicted (held out of the graph) per epoch.
        fewshot_fraction, fewshot_max: share of models shown through at most ``fewshot_max`` edges per epoch.
        validation_fraction: share of queries (per task) kept for early stopping.
        max_epoch_edges: when the training queries carry more outcome edges than this, each epoch
            trains on a sampled subgraph of about this many edges (random queries plus their nearest
            neighbours), and validation runs on one fixed sampled subgraph; None: always the whole
            graph. Logs below it train exactly as without it. Bounds an epoch's time and memory.
        n_ensemble: members trained from different seeds and averaged.
        strip_boilerplate: learn per-task shared prompt prefixes and strip them before embedding.
        neighbor_search: how a new query finds its logged neighbours: "exact" scans every logged
            query; "ivf" searches an inverted-file index (graphroute.graph.index: ~√N cells, the best few
            scanned exactly; approximate, much faster on large logs); "auto" is exact below
            ``index.IVF_MIN_KEYS`` (50k) logged queries and IVF from there.
        cache_dir: embedding cache (None: $GRAPHROUTE_CACHE or ~/.cache/graphroute; False: none).
        seed: every random choice derives from it.  progress: show a progress bar (None: for long fits).
    """

    def __init__(self, *, embedder: str | Embedder = "minilm", hidden: int = 64, layers: int = 2,
                 k_neighbors: int = 10, knn_temperature: float = 0.05, epochs: int = 300, lr: float = 3e-3,
                 weight_decay: float = 1e-5, dropout: float = 0.1, patience: int = 40,
                 target_fraction: float = 0.3, fewshot_fraction: float = 0.2, fewshot_max: int = 50,
                 validation_fraction: float = 0.1, max_epoch_edges: int | None = 250_000, n_ensemble: int = 1,
                 strip_boilerplate: bool = True, neighbor_search: str = "auto",
                 cache_dir: str | Path | bool | None = None, seed: int = 0, progress: bool | None = None) -> None:
        self.embedder = embedder
        self.hidden = hidden
        self.layers = layers
        self.k_neighbors = k_neighbors
        self.knn_temperature = knn_temperature
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.patience = patience
        self.target_fraction = target_fraction
        self.fewshot_fraction = fewshot_fraction
        self.fewshot_max = fewshot_max
        self.validation_fraction = validation_fraction
        self.max_epoch_edges = max_epoch_edges
        self.n_ensemble = n_ensemble
        self.strip_boilerplate = strip_boilerplate
        self.neighbor_search = neighbor_search
        self.cache_dir = cache_dir
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ parameters
    def _check_params(self) -> None:
        ints = {"hidden": 1, "layers": 1, "k_neighbors": 1, "epochs": 1, "patience": 1, "n_ensemble": 1,
                "fewshot_max": 0}
        for name, lo in ints.items():
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < lo:
                raise ConfigError(f"Router parameter {name} must be an integer >= {lo}; got {v!r}.")
        for name, lo, hi in (("target_fraction", 0.0, 1.0), ("fewshot_fraction", 0.0, 1.0),
                             ("validation_fraction", 0.0, 0.9), ("dropout", 0.0, 0.9)):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not (lo <= v <= hi) or (name == "target_fraction" and v in (0, 1)):
                raise ConfigError(f"Router parameter {name} must be a number in [{lo}, {hi}]"
                                  f"{' (exclusive)' if name == 'target_fraction' else ''}; got {v!r}.")
        for name in ("lr", "knn_temperature"):
            v = getattr(self, name)
            if not isinstance(v, int | float) or not v > 0 or not math.isfinite(v):
                raise ConfigError(f"Router parameter {name} must be a number > 0; got {v!r}.")
        m = self.max_epoch_edges
        if m is not None and (not isinstance(m, int) or isinstance(m, bool) or m < 1):
            raise ConfigError(f"Router parameter max_epoch_edges must be an integer >= 1 or None; got {m!r}.")
        if self.neighbor_search not in SEARCH_MODES:
            raise ConfigError(f"Router parameter neighbor_search must be one of {', '.join(SEARCH_MODES)}; "
                              f"got {self.neighbor_search!r}.")
        if not isinstance(self.weight_decay, int | float) or self.weight_decay < 0:
            raise ConfigError(f"Router parameter weight_decay must be >= 0; got {self.weight_decay!r}.")

    def _embedder(self) -> Embedder:
        if not hasattr(self, "embedder_"):
            cache = None if self.cache_dir is False else (self.cache_dir or DEFAULT_CACHE)
            self.embedder_ = get_embedder(self.embedder, cache_dir=cache)
        return self.embedder_

    def _embed(self, texts: list[str]) -> Tensor:
        stripped = [strip_prefixes(t, self.prefixes_) for t in texts]
        return torch.as_tensor(np.asarray(self._embedder().encode(stripped), dtype=np.float32))

    # ------------------------------------------------------------------ fit
    def fit(self, logs, models=None, agents=None, tasks=None) -> Router:
        """Learn from logged runs (a DataFrame in the canonical schema, see ``graphroute.read_logs``).

        models / agents / tasks: optional cards (list of dicts, dict, DataFrame or path); a
        name in the logs without a card is described by its name, with a warning.
        """
        self._check_params()
        logs = validate_logs(logs)
        if logs["model"].nunique() < 1:
            raise LogsError("The logs name no model; a router needs at least one model to choose.")
        self.catalog_ = Catalog.from_logs(logs, models=models, agents=agents, tasks=tasks)
        if hasattr(self, "embedder_") and self.embedder is not self.embedder_ and not isinstance(self.embedder, Embedder):
            del self.embedder_  # parameters may have changed since the last fit
        agg = aggregate_runs(logs)
        queries = agg.drop_duplicates("query_id")[["query_id", "query", "task"]].reset_index(drop=True)
        self.prefixes_ = learn_prefixes(queries.groupby("task")["query"].apply(list)) if self.strip_boilerplate else []

        state = self._new_state(queries, agg)
        del logs, agg, queries  # the graph holds what training needs; free the frames (GBs for millions of runs)
        state.fit_scales()
        state.refresh_neighbors(self._k0())
        self.has_latency_ = state.has_latency
        self.net_config_ = NetConfig(text_dim=state.query_x.shape[1], hidden=self.hidden, layers=self.layers,
                                     dropout=self.dropout, pair_dim=len(PAIR_FEATURES),
                                     n_targets=3 if self.has_latency_ else 2)
        val = self._validation_mask(state)
        self.nets_, self.history_ = [], []
        for member in range(self.n_ensemble):
            net, hist = self._train_member(state, val, self.seed + 1000 * member, member)
            self.nets_.append(net)
            self.history_.append(hist)
        self._publish(state)
        return self

    def _k0(self) -> int:
        return max(3 * self.k_neighbors, self.k_neighbors + 20)

    def _new_state(self, queries: pd.DataFrame, agg: pd.DataFrame) -> GraphState:
        cat = self.catalog_
        task_names = list(cat.tasks)
        model_names = list(cat.models)
        agent_names = list(cat.agents)
        t_ix = {n: i for i, n in enumerate(task_names)}
        emb = self._embedder()
        lat = agg["latency_s"].to_numpy(float) if "latency_s" in agg else np.full(len(agg), np.nan)
        return GraphState(
            query_ids=list(queries["query_id"]), query_texts=list(queries["query"]),
            query_task=torch.tensor([t_ix[t] for t in queries["task"]], dtype=torch.long),
            query_x=self._embed(list(queries["query"])),
            task_names=task_names,
            task_x=torch.as_tensor(emb.encode([cat.tasks[n].text() for n in task_names]), dtype=torch.float32),
            model_names=model_names,
            model_x=torch.as_tensor(emb.encode([cat.models[n].text() for n in model_names]), dtype=torch.float32),
            model_num=torch.tensor([model_numeric(c.price_in, c.price_out, c.params_b)
                                    for c in cat.models.values()], dtype=torch.float32).view(-1, 4),
            agent_names=agent_names,
            agent_x=torch.as_tensor(emb.encode([cat.agents[n].text() for n in agent_names]), dtype=torch.float32),
            # positions by hashed lookup (a dict .map over millions of rows is seconds)
            out_query=torch.as_tensor(pd.Index(queries["query_id"]).get_indexer(agg["query_id"]), dtype=torch.long),
            out_model=torch.as_tensor(pd.Index(model_names).get_indexer(agg["model"]), dtype=torch.long),
            out_agent=torch.as_tensor(pd.Index(agent_names).get_indexer(agg["agent"]), dtype=torch.long),
            out_effect=torch.tensor(agg["effect"].to_numpy(float), dtype=torch.float32),
            out_cost=torch.tensor(agg["cost"].to_numpy(float), dtype=torch.float32),
            out_latency=torch.tensor(lat, dtype=torch.float32),
        )

    def _validation_mask(self, state: GraphState) -> Tensor:
        """Per task, a seeded share of queries held out for early stopping (none for tiny tasks)."""
        rng = np.random.default_rng(self.seed)
        val = torch.zeros(state.n_queries, dtype=torch.bool)
        if self.validation_fraction <= 0:
            return val
        tasks = state.query_task.numpy()
        for t in np.unique(tasks):
            idx = np.flatnonzero(tasks == t)
            n = int(round(len(idx) * self.validation_fraction))
            if len(idx) >= 10 and n >= 1:
                val[rng.choice(idx, n, replace=False)] = True
        return val

    def _episode(self, state: GraphState, pool: Tensor,
                 rng: np.random.Generator) -> tuple[Tensor, Tensor, Tensor, dict[str, Tensor]]:
        """Split ``pool`` into context and targets; hide most edges of a few models (few-shot).

        Half of the few-shot nodes also show another node's card: a new model's card is only a
        prior, and without this the network learns each model's quality from its card alone and
        ignores the runs logged for a model added later.
        """
        ids = pool.nonzero().flatten().numpy()
        rng.shuffle(ids)
        n_t = max(1, int(round(len(ids) * self.target_fraction)))
        targets = torch.zeros(state.n_queries, dtype=torch.bool)
        targets[ids[:n_t]] = True
        context = pool & ~targets
        visible = torch.ones(state.out_query.shape[0], dtype=torch.bool)
        cards: dict[str, Tensor] = {}
        for kind, names, col in (("model", state.model_names, state.out_model),
                                 ("agent", state.agent_names, state.out_agent)):
            if len(names) < 3 or self.fewshot_fraction <= 0:
                continue
            chosen = np.flatnonzero(rng.random(len(names)) < self.fewshot_fraction)
            perm = np.arange(len(names))
            for node in chosen[rng.random(len(chosen)) < 0.5]:
                perm[node] = (node + rng.integers(1, len(names))) % len(names)
            cards[kind] = torch.as_tensor(perm)
            for node in chosen:
                edges = ((col == int(node)) & context[state.out_query]).nonzero().flatten().numpy()
                keep = int(rng.integers(0, self.fewshot_max + 1))
                if len(edges) > keep:
                    hide = rng.choice(edges, len(edges) - keep, replace=False)
                    visible[torch.as_tensor(hide)] = False
        return context, targets, visible, cards

    def _forward(self, net: RouterNet, state: GraphState, context: Tensor, visible: Tensor,
                 targets: Tensor, cards: dict[str, Tensor] | None = None, inputs: tuple | None = None) -> Tensor:
        """Predictions [Q, P, n_targets] for the ``targets`` queries given the context graph.

        inputs: ``_forward_inputs`` of these arguments, when already computed (validation reuses them
        every epoch: they do not depend on the network).
        """
        data, t_idx, nbr, w, feats, pm, pa = inputs or self._forward_inputs(state, context, visible, targets, cards)
        h = net.encode((data.x_dict, data.edge_index_dict, data.edge_attr_dict))
        z = net.read_queries(h, state.query_x[t_idx], nbr, w, state.query_task[t_idx])
        return net.decode(h, z, pm, pa, feats)

    def _forward_inputs(self, state: GraphState, context: Tensor, visible: Tensor, targets: Tensor,
                        cards: dict[str, Tensor] | None = None) -> tuple:
        """What ``_forward`` reads besides the network: the graph, the targets' neighbours and pair statistics."""
        data = state.hetero_data(context, visible, self.k_neighbors, cards)
        t_idx = targets.nonzero().flatten()
        nbr, sim = state.restrict(state.nbr_idx[t_idx], state.nbr_sim[t_idx], context, self.k_neighbors)
        w = neighbor_weights(sim, self.knn_temperature)
        rows = visible & context[state.out_query]
        feats = state.pair_features(nbr, w, state.query_task[t_idx], rows)
        pm, pa = self._pair_tensors(state)
        return data, t_idx, nbr, w, feats, pm, pa

    @staticmethod
    def _pair_tensors(state: GraphState) -> tuple[Tensor, Tensor]:
        pairs = torch.tensor(state.pairs, dtype=torch.long).view(-1, 2)
        return pairs[:, 0], pairs[:, 1]

    def _loss(self, state: GraphState, out: Tensor, targets: Tensor, labels) -> Tensor:
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

    def _labels(self, state: GraphState):
        eff, cz, cnt = state.outcome_matrix(torch.ones(state.out_query.shape[0], dtype=torch.bool))
        ok = torch.isfinite(state.out_latency)
        n, n_p = state.n_queries, len(state.pairs)
        flat = state.out_query[ok] * n_p + state.pair_index(state.out_model[ok], state.out_agent[ok])
        lc = torch.zeros(n * n_p).index_add_(0, flat, torch.ones(flat.shape[0]))
        ls = torch.zeros(n * n_p).index_add_(0, flat, state.lat_z(state.out_latency[ok]))
        return eff, cz, cnt, (ls / lc.clamp_min(1)).view(n, n_p), lc.view(n, n_p)

    def _show_progress(self, state: GraphState) -> bool:
        if self.progress is not None:
            return bool(self.progress)
        return state.out_query.shape[0] * self.epochs > 5_000_000

    def _sample_queries(self, state: GraphState, ids: Tensor, allowed: Tensor, n_seeds: int,
                        rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """``n_seeds`` random queries among ``ids`` and their first k ``allowed`` neighbours: (seeds, all sorted)."""
        n_seeds = max(1, min(len(ids), n_seeds))
        seeds = ids[torch.as_tensor(rng.choice(len(ids), n_seeds, replace=False))]
        nbr, sim = state.restrict(state.nbr_idx[seeds], state.nbr_sim[seeds], allowed, self.k_neighbors)
        return seeds, torch.unique(torch.cat([seeds, nbr[torch.isfinite(sim)]]))

    def _train_member(self, state: GraphState, val: Tensor, seed: int, member: int) -> tuple[RouterNet, list[dict]]:
        if self._show_progress(state):
            from tqdm.auto import tqdm
        else:  # tqdm.auto warns in a notebook without ipywidgets even when the bar is disabled
            from tqdm.std import tqdm

        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        net = RouterNet(self.net_config_, EDGE_TYPES, EDGE_DIMS)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        labels = self._labels(state)
        pool = ~val
        all_edges = torch.ones(state.out_query.shape[0], dtype=torch.bool)
        # large logs: each epoch on a sampled subgraph of about max_epoch_edges edges (see the class docstring)
        pool_ids = pool.nonzero().flatten()
        pool_edges = int(pool[state.out_query].sum())
        sampled = self.max_epoch_edges is not None and pool_edges > self.max_epoch_edges
        if sampled:
            n_seeds = int(self.max_epoch_edges * len(pool_ids) / pool_edges) // (self.k_neighbors + 1)
            if val.any():  # one fixed subgraph: sampled val queries as targets, their pool neighbours as context
                _, v_idx = self._sample_queries(state, val.nonzero().flatten(), pool, n_seeds, rng)
                vg, _ = state.subgraph(v_idx)
                v_targets, v_context = val[v_idx], pool[v_idx]
                v_labels = tuple(lab[v_idx] for lab in labels)
                v_edges = torch.ones(vg.out_query.shape[0], dtype=torch.bool)
                v_inputs = self._forward_inputs(vg, v_context, v_edges, v_targets)
        elif val.any():
            v_inputs = self._forward_inputs(state, pool, all_edges, val)  # the same every epoch
        best, best_state, since, hist = math.inf, None, 0, []
        bar = tqdm(range(self.epochs), desc=f"fit member {member + 1}/{self.n_ensemble}",
                   disable=not self._show_progress(state), leave=False)
        for epoch in bar:
            net.train()
            if sampled:
                _, idx = self._sample_queries(state, pool_ids, pool, n_seeds, rng)
                g, _ = state.subgraph(idx)
                g_labels, g_pool = tuple(lab[idx] for lab in labels), torch.ones(len(idx), dtype=torch.bool)
            else:
                g, g_labels, g_pool = state, labels, pool
            context, targets, visible, cards = self._episode(g, g_pool, rng)
            loss = self._loss(g, self._forward(net, g, context, visible, targets, cards), targets, g_labels)
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec = {"epoch": epoch, "train_loss": loss.item()}
            if val.any():
                net.eval()
                with torch.no_grad():
                    if sampled:
                        out = self._forward(net, vg, v_context, v_edges, v_targets, inputs=v_inputs)
                        vloss = float(self._loss(vg, out, v_targets, v_labels))
                    else:
                        out = self._forward(net, state, pool, all_edges, val, inputs=v_inputs)
                        vloss = float(self._loss(state, out, val, labels))
                rec["val_loss"] = vloss
                if vloss < best - 1e-5:
                    best, since = vloss, 0
                    best_state = copy.deepcopy(net.state_dict())
                else:
                    since += 1
                bar.set_postfix(val=f"{vloss:.4f}")
            hist.append(rec)
            if since >= self.patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        net.eval()
        return net, hist

    # ------------------------------------------------------------------ live state
    def _publish(self, state: GraphState) -> None:
        """Encode the whole graph once per member and make it what predictions read."""
        everything = torch.ones(state.n_queries, dtype=torch.bool)
        edges = torch.ones(state.out_query.shape[0], dtype=torch.bool)
        data = state.hetero_data(everything, edges, self.k_neighbors)
        with torch.no_grad():
            hs = [net.encode((data.x_dict, data.edge_index_dict, data.edge_attr_dict)) for net in self.nets_]
        pm, pa = self._pair_tensors(state)
        cands = pd.DataFrame({"model": [state.model_names[i] for i in pm.tolist()],
                              "agent": [state.agent_names[i] for i in pa.tolist()]})
        mats = state.outcome_matrix(edges)
        cm, ca = cands["model"].to_numpy(object), cands["agent"].to_numpy(object)
        models, agents = sorted(set(cm.tolist())), sorted(set(ca.tolist()))
        rank_m, rank_a = {n: i for i, n in enumerate(models)}, {n: i for i, n in enumerate(agents)}
        self._live = _Live(state=state, h=hs, mats=mats, candidates=cands, cost_range=self._cost_range(state),
                           tables=state.pair_tables(mats), pair_model=pm, pair_agent=pa, cand_model=cm,
                           cand_agent=ca, cand_rank=(np.array([rank_m[n] for n in cm], dtype=np.int64),
                                                     np.array([rank_a[n] for n in ca], dtype=np.int64)),
                           names=(models, agents))
        if self._search_mode(state) == "ivf":  # build the neighbour index now, not on the first select()
            build_index(state.query_x, self.seed)

    @staticmethod
    def _cost_range(state: GraphState) -> dict[str, tuple[float, float]]:
        """``cost_ranges`` of the outcome edges (per-task and overall min / max), without a DataFrame."""
        cost = state.out_cost
        if not cost.numel():
            return {"*": (0.0, 1.0)}
        task = state.query_task[state.out_query]
        n_t = len(state.task_names)
        lo = torch.full((n_t,), math.inf, dtype=cost.dtype).scatter_reduce_(0, task, cost, "amin")
        hi = torch.full((n_t,), -math.inf, dtype=cost.dtype).scatter_reduce_(0, task, cost, "amax")
        present = torch.bincount(task, minlength=n_t) > 0
        out = {state.task_names[i]: (float(lo[i]), float(hi[i]))
               for i in sorted(present.nonzero().flatten().tolist(), key=lambda i: state.task_names[i])}
        out["*"] = (float(cost.min()), float(cost.max()))
        return out

    def _current(self) -> _Live:
        """The state this thread's current call pinned, else the latest published one."""
        pins = getattr(_PINNED, "lives", None)
        return pins[id(self)] if pins and id(self) in pins else self._live

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """Pin the live state for this thread while a select/predict runs, so that an add_model or
        observe in another thread cannot give it candidates from one state and predictions from another."""
        pins = _PINNED.__dict__.setdefault("lives", {})
        if id(self) in pins or not hasattr(self, "_live"):  # nested call, or unfitted (the call will say so)
            yield
            return
        pins[id(self)] = self._live
        try:
            yield
        finally:
            del pins[id(self)]

    @property
    def candidates_(self) -> pd.DataFrame:
        if not hasattr(self, "_live"):
            raise AttributeError("candidates_")  # makes hasattr() false before fit
        return self._current().candidates

    @property
    def cost_range_(self) -> dict[str, tuple[float, float]]:
        self._check_fitted()
        return self._current().cost_range

    @property
    def state_(self) -> GraphState:
        self._check_fitted()
        return self._current().state

    @property
    def has_latency(self) -> bool:
        return bool(getattr(self, "has_latency_", False))

    # ------------------------------------------------------------------ predict
    def _task_index(self, state: GraphState, tasks: list[str | None], nbr: Tensor, w: Tensor) -> Tensor:
        known = {n: i for i, n in enumerate(state.task_names)}
        out = torch.zeros(len(tasks), dtype=torch.long)
        infer = []
        for i, t in enumerate(tasks):
            if t is None:
                infer.append(i)
            elif t in known:
                out[i] = known[t]
            else:
                raise ConfigError(f"Unknown task {t!r}; the router knows {state.task_names}. Pass tasks=None to "
                                  f"let it infer the task from similar past queries, or add it with "
                                  f"router.add_task({t!r}, description=...).")
        if infer:  # the task its neighbours vote for (weighted by similarity); first task on a tie
            rows = torch.tensor(infer, dtype=torch.long)
            votes = torch.zeros(len(infer), len(state.task_names)).scatter_add_(1, state.query_task[nbr[rows]], w[rows])
            out[rows] = votes.argmax(1)
        return out

    def _predict_block(self, live: _Live, xb: Tensor, tasks: list[str | None], nbr: Tensor,
                       sim: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor | None]:
        """(task index [Q], effect [Q, P], cost_z [Q, P], latency_z [Q, P] or None) for embedded queries
        ``xb`` [Q, D] and their known neighbours; runs under no_grad."""
        state = live.state
        w = neighbor_weights(sim, self.knn_temperature)
        t_idx = self._task_index(state, tasks, nbr, w)
        feats = state.pair_features(nbr, w, t_idx, None, tables=live.tables)
        outs = []
        for net, h in zip(self.nets_, live.h):
            z = net.read_queries(h, xb, nbr, w, t_idx)
            outs.append(net.decode(h, z, live.pair_model, live.pair_agent, feats))
        out = torch.stack(outs)  # [members, Q, P, n_targets]
        lz = out[..., 2].mean(0) if out.shape[-1] > 2 else None
        return t_idx, torch.sigmoid(out[..., 0]).mean(0), out[..., 1].mean(0), lz

    def _search_mode(self, state: GraphState) -> str:
        """"exact" or "ivf" for this state (``neighbor_search`` resolved against its size)."""
        mode = self.neighbor_search
        if mode == "auto":
            return "ivf" if state.n_queries >= IVF_MIN_KEYS else "exact"
        return mode

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        live = self._current()  # one consistent snapshot, even if another thread grows the router meanwhile
        state = live.state
        x = self._embed(queries)
        effect, cz, lz = [], [], []
        task_idx_all = []
        block = 2048
        with torch.no_grad():
            for s in range(0, len(queries), block):
                xb = x[s:s + block]
                nbr, sim = state.neighbors_of(xb, self.k_neighbors, self._search_mode(state), self.seed)
                t_idx, e, c, lat = self._predict_block(live, xb, tasks[s:s + block], nbr, sim)
                task_idx_all.append(t_idx)
                effect.append(e)
                cz.append(c)
                if lat is not None:
                    lz.append(lat)
        t_all = torch.cat(task_idx_all).tolist()
        res = {"task": np.array([state.task_names[i] for i in t_all], dtype=object),
               "effect": torch.cat(effect).numpy(), "cost": state.cost_from_z(torch.cat(cz)).numpy()}
        if lz:
            res["latency_s"] = state.lat_from_z(torch.cat(lz)).numpy()
        return res

    # ------------------------------------------------------------------ select (one query, no pandas until the end)
    def _objective(self, kw: dict) -> Objective:
        if not hasattr(self, "_live"):
            return super()._objective(kw)
        models, agents = self._current().names  # sorted candidate names, cached per published state
        return Objective(**kw).checked(models, agents, self.has_latency)

    def _select(self, query: str, task: str | None, evidence: int, objective: dict) -> Selection:
        """``BaseRouter._select`` without its per-call DataFrames: the query is embedded and searched once
        (for the prediction and the evidence), candidates are ranked in numpy; the same Selection results."""
        obj = self._objective(objective)
        live = self._current()
        state = live.state
        queries, tasks = check_queries([query], [task])
        x = self._embed(queries)
        n_ev = evidence if type(evidence) is int and evidence > 0 else 0
        mode = self._search_mode(state)
        with torch.no_grad():
            if mode == "exact":
                sims = x @ state.query_x.T  # [1, N]: what top_k_neighbors computes for one query
                nbr, sim = _top_k(sims, self.k_neighbors)
            else:  # one index search serves the prediction and the evidence
                found = state.neighbors_of(x, max(self.k_neighbors, n_ev), mode, self.seed)
                nbr, sim = found[0][:, :self.k_neighbors], found[1][:, :self.k_neighbors]
            t_idx, eff, cz, lz = self._predict_block(live, x, tasks, nbr, sim)
        task_name = state.task_names[int(t_idx[0])]
        effect = np.asarray(eff.numpy(), dtype=float).reshape(-1)  # [P]
        cost = np.asarray(state.cost_from_z(cz).numpy(), dtype=float).reshape(-1)
        latency = None if lz is None else np.asarray(state.lat_from_z(lz).numpy(), dtype=float).reshape(-1)

        term, score, ok = self._rank_arrays(live, obj, [task_name], effect[None], cost[None],
                                            None if latency is None else latency[None])
        term, score, ok = term[0], score[0], ok[0]
        # sort by (feasible, score) descending, then cost, model and agent name ascending; stable
        order = np.lexsort((live.cand_rank[1], live.cand_rank[0], cost, -score, ~ok))
        cm, ca = live.cand_model, live.cand_agent
        cols = {"task": np.full(len(cost), task_name, dtype=object), "model": cm[order], "agent": ca[order],
                "effect": effect[order], "cost": cost[order]}
        if latency is not None:
            cols["latency_s"] = latency[order]
        cols.update(cost_term=term[order], score=score[order], feasible=ok[order])
        ranked = pd.DataFrame(cols)
        if ok[order[0]]:
            i = order[0]
            model, agent, used_fallback = str(cm[i]), str(ca[i]), False
            e_i, c_i, s_i = float(effect[i]), float(cost[i]), float(score[i])
            lat = float(latency[i]) if latency is not None else None
        else:
            row, used_fallback = pick(ranked, obj)  # a declared fallback, or InfeasibleError
            model, agent = str(row["model"]), str(row["agent"])
            e_i, c_i, s_i = float(row["effect"]), float(row["cost"]), float(row["score"])
            lat = float(row["latency_s"]) if latency is not None else None
        if n_ev:
            if queries[0] != query:  # evidence() embeds the text as given
                with torch.no_grad():
                    if mode == "exact":
                        sims = self._embed([query]) @ state.query_x.T
                    else:
                        found = state.neighbors_of(self._embed([query]), n_ev, mode, self.seed)
            ev = self._evidence_frame(live, *(_top_k(sims, n_ev) if mode == "exact"
                                              else (found[0][:, :n_ev], found[1][:, :n_ev])))
        else:
            ev = self.evidence(query, task, k=evidence) if evidence else pd.DataFrame()
        return Selection(query=query, task=task_name, model=model, agent=agent, effect=e_i, cost=c_i, score=s_i,
                         latency_s=lat, fallback=used_fallback, alternatives=ranked, evidence=ev)

    def _rank_arrays(self, live: _Live, obj: Objective, tasks: list[str], effect: np.ndarray, cost: np.ndarray,
                     latency: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``selection.rank_candidates``'s cost_term, score and feasible, as [Q, P] arrays (same arithmetic)."""
        w = obj.weights
        if obj.cost_unit == "normalized":
            cr = self.cost_range_
            bounds = np.array([cr.get(t, cr.get("*", (0.0, 1.0))) for t in tasks], dtype=float).reshape(-1, 2)
            lo, hi = bounds[:, :1], bounds[:, 1:]  # [Q, 1]
            term = (cost - lo) / np.where(hi > lo, hi - lo, 1.0)
        else:
            term = cost
        score = w["effect"] * effect - w["cost"] * term
        if w["latency"] > 0:
            score = score - w["latency"] * latency
        ok = np.ones(cost.shape, dtype=bool)
        if obj.budget is not None:
            ok &= cost <= obj.budget
        if obj.max_latency is not None:
            ok &= latency <= obj.max_latency
        if obj.min_effect is not None:
            ok &= effect >= obj.min_effect
        for names, col, keep in ((obj.allowed_models, live.cand_model, True), (obj.allowed_agents, live.cand_agent, True),
                                 (obj.forbidden_models, live.cand_model, False),
                                 (obj.forbidden_agents, live.cand_agent, False)):
            if names is not None and (keep or names):
                ok &= np.array([(n in names) == keep for n in col], dtype=bool)  # [P], broadcast over queries
        return term, score, ok

    def _select_many(self, queries, tasks, objective: dict) -> pd.DataFrame:
        """``BaseRouter._select_many`` without the [Q × P] frames: rank in numpy, build the Q chosen rows.
        Where some query has no feasible candidate, the base method (fallbacks, the error) decides."""
        obj = self._objective(objective)
        live = self._current()
        queries, tasks = check_queries(queries, tasks)
        arr = self._predict_arrays(queries, tasks)
        effect = np.asarray(arr["effect"], dtype=float)  # [Q, P]
        cost = np.asarray(arr["cost"], dtype=float)
        latency = np.asarray(arr["latency_s"], dtype=float) if "latency_s" in arr else None
        term, score, ok = self._rank_arrays(live, obj, list(arr["task"]), effect, cost, latency)
        n_q, n_p = effect.shape
        rm, ra = live.cand_rank
        qi = np.repeat(np.arange(n_q), n_p)
        order = np.lexsort((np.tile(ra, n_q), np.tile(rm, n_q), cost.ravel(), -score.ravel(), ~ok.ravel(), qi))
        best = order[::n_p] - qi[::n_p] * n_p if n_q else np.zeros(0, dtype=np.int64)  # [Q] candidate chosen
        rows = np.arange(n_q)
        if not ok[rows, best].all():
            return super()._select_many(queries, tasks, objective)
        cols = {"query_index": rows, "query": np.array(queries, dtype=object),
                "task": np.asarray(arr["task"], dtype=object), "model": live.cand_model[best],
                "agent": live.cand_agent[best], "effect": effect[rows, best], "cost": cost[rows, best]}
        if latency is not None:
            cols["latency_s"] = latency[rows, best]
        cols.update(score=score[rows, best], fallback=np.zeros(n_q, dtype=bool))
        return pd.DataFrame(cols)

    def evidence(self, query: str, task: str | None = None, k: int = 5) -> pd.DataFrame:
        """The k nearest past queries and how each candidate did on them (one row per outcome)."""
        self._check_fitted()
        live = self._current()
        nbr, sim = live.state.neighbors_of(self._embed([query]), k, self._search_mode(live.state), self.seed)
        return self._evidence_frame(live, nbr, sim)

    @staticmethod
    def _evidence_frame(live: _Live, nbr: Tensor, sim: Tensor) -> pd.DataFrame:
        state = live.state
        cols = ["rank", "query_id", "query", "task", "similarity", "model", "agent", "effect", "cost"]
        order, offsets = live.edge_index()
        qs = nbr[0].tolist()
        parts = [order[offsets[q]:offsets[q + 1]] for q in qs]
        counts = [len(p) for p in parts]
        if not sum(counts):
            return pd.DataFrame([], columns=cols)
        e = torch.cat(parts)
        q_rep = np.repeat(np.array(qs, dtype=np.int64), counts).tolist()
        q_task = state.query_task[torch.as_tensor(q_rep, dtype=torch.long)].tolist()
        return pd.DataFrame({
            "rank": np.repeat(np.arange(len(qs), dtype=np.int64), counts),
            "query_id": [state.query_ids[q] for q in q_rep], "query": [state.query_texts[q] for q in q_rep],
            "task": [state.task_names[t] for t in q_task],
            "similarity": np.repeat(sim[0].double().numpy(), counts),
            "model": [state.model_names[m] for m in state.out_model[e].tolist()],
            "agent": [state.agent_names[a] for a in state.out_agent[e].tolist()],
            "effect": state.out_effect[e].double().numpy(), "cost": state.out_cost[e].double().numpy(),
        }, columns=cols)

    # ------------------------------------------------------------------ growth without retraining
    _lock = threading.RLock()

    def add_model(self, name: str, description: str = "", price_in: float | None = None,
                  price_out: float | None = None, params_b: float | None = None, runs=None) -> Router:
        """Add a model node (card + optional logged runs); no parameter changes, no gradient step."""
        card = ModelCard(name=name, description=description, price_in=price_in, price_out=price_out,
                         params_b=params_b)
        return self._add_node("model", card, runs)

    def add_agent(self, name: str, description: str = "", runs=None) -> Router:
        """Add an agent (strategy) node with an optional few logged runs; no retraining."""
        return self._add_node("agent", AgentCard(name=name, description=description), runs)

    def add_task(self, name: str, description: str = "") -> Router:
        """Add a task node so that queries can be routed under that task name."""
        return self._add_node("task", TaskCard(name=name, description=description), None)

    def _add_node(self, kind: str, card, runs) -> Router:
        self._check_fitted()
        with self._lock:
            state = copy.copy(self._live.state)
            names = getattr(state, f"{kind}_names")
            if card.name in names:
                raise ConfigError(f"The router already has a {kind} named {card.name!r}; "
                                  f"remove it first (router.remove_{kind}) or pick another name.")
            x = torch.as_tensor(self._embedder().encode([card.text()]), dtype=torch.float32)
            setattr(state, f"{kind}_names", names + [card.name])
            setattr(state, f"{kind}_x", torch.cat([getattr(state, f"{kind}_x"), x]))
            if kind == "model":
                num = torch.tensor([model_numeric(card.price_in, card.price_out, card.params_b)], dtype=torch.float32)
                state.model_num = torch.cat([state.model_num, num])
            if runs is not None:  # bad runs raise here, before anything of the router has changed
                runs = pd.DataFrame(runs).copy() if not isinstance(runs, pd.DataFrame) else runs.copy()
                if kind in ("model", "agent") and kind not in runs.columns:
                    runs[kind] = card.name
                state = self._absorb(state, runs)
            self.catalog_ = self.catalog_.with_card(kind, card)
            self._publish(state)
        return self

    def observe(self, new_logs) -> Router:
        """New logged outcomes join the graph (new queries become nodes); no gradient step.

        Every model, agent and task named must already be known: add new ones with add_model /
        add_agent / add_task first.
        """
        self._check_fitted()
        with self._lock:
            state = self._absorb(copy.copy(self._live.state), new_logs)
            self._publish(state)
        return self

    def _absorb(self, state: GraphState, logs) -> GraphState:
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
                                    self._embed(list(new_q["query"])))
            q_ix.update(dict(zip(new_q["query_id"], idx.tolist())))
            state.refresh_neighbors(self._k0())
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

    def remove_model(self, name: str) -> Router:
        """Drop a model node and its outcome edges (it will not be chosen); no retraining."""
        return self._remove_node("model", name)

    def remove_agent(self, name: str) -> Router:
        """Drop an agent node and its outcome edges; no retraining."""
        return self._remove_node("agent", name)

    def _remove_node(self, kind: str, name: str) -> Router:
        self._check_fitted()
        with self._lock:
            state = copy.copy(self._live.state)
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
            col = getattr(state, f"out_{kind}")
            e = col != i
            for f in ("out_query", "out_model", "out_agent", "out_effect", "out_cost", "out_latency"):
                setattr(state, f, getattr(state, f)[e])
            setattr(state, f"out_{kind}", remap[getattr(state, f"out_{kind}")])
            self.catalog_ = self.catalog_.without_card(kind, name)
            self._publish(state)
        return self

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, max_text_chars: int | None = None, half: bool = False) -> Path:
        """Write the router to a directory of JSON + safetensors (no pickle), atomically.

        max_text_chars: keep only the start of stored query texts (used for evidence only);
        half: store embeddings and network weights as float16 and indices as int32 (about half the
            size; predictions change in the 3rd decimal).
        """
        from safetensors.torch import save_file

        self._check_fitted()
        if not isinstance(self.embedder, str):
            if self._embedder().name not in EMBEDDERS:
                raise ConfigError(f"Cannot save a router whose embedder {self._embedder().name!r} is not registered; "
                                  "register it with graphroute.embed.register_embedder so load() can rebuild it.")
        path = Path(path)
        with self._lock:  # growth publishes a state and its catalog together under this lock: save one pair
            live, catalog = self._live, self.catalog_
        tensors = live.state.tensors()
        if half:
            for k, v in tensors.items():
                if v.is_floating_point() and k.endswith("_x"):
                    tensors[k] = v.half()
                elif v.dtype == torch.int64 and (v.numel() == 0 or int(v.abs().max()) < 2**31):
                    tensors[k] = v.int()
        meta = live.state.meta()
        if max_text_chars is not None:
            meta["query_texts"] = [t[:max_text_chars] for t in meta["query_texts"]]
        params = self.get_params()
        params["embedder"] = self._embedder().name if not isinstance(self.embedder, str) else self.embedder
        params["cache_dir"] = None if params["cache_dir"] in (None, False) else str(params["cache_dir"])
        config = {
            "format": FORMAT, "format_version": FORMAT_VERSION, "graphroute_version": __version__,
            "params": params, "net_config": asdict(self.net_config_), "n_members": len(self.nets_),
            "prefixes": self.prefixes_, "has_latency": self.has_latency_, "catalog": catalog.to_dict(),
            "state_meta": meta, "history": self.history_,
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        old = None
        try:
            (tmp / "config.json").write_text(json.dumps(config))
            save_file(tensors, str(tmp / "graph.safetensors"))
            for i, net in enumerate(self.nets_):
                weights = {k: (v.half() if half and v.is_floating_point() else v).contiguous()
                           for k, v in net.state_dict().items()}
                save_file(weights, str(tmp / f"net_{i}.safetensors"))
            files = sorted(p.name for p in tmp.iterdir())
            manifest = {"format": FORMAT, "files": {f: _sha256(tmp / f) for f in files}}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
            for f in tmp.iterdir():  # mkdtemp and safetensors create owner-only files; a router is shareable data
                f.chmod(0o644)
            tmp.chmod(0o755)
            if not path.exists():
                os.replace(tmp, path)
            elif _exchange(tmp, path):  # one atomic step: a crash leaves the old or the new router, never neither
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the previous router
            else:  # no atomic exchange on this system: old aside, new in (the except below puts the old back)
                old = path.parent / f".{path.name}.old-{os.getpid()}-{threading.get_ident()}"
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            if old is not None and old.exists() and not path.exists():
                os.replace(old, path)  # the swap failed between its two renames: put the previous router back
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return path


def _exchange(a: Path, b: Path) -> bool:
    """Swap two directory entries in one atomic step (Linux renameat2 RENAME_EXCHANGE).

    Returns False where the system or file system cannot (the caller then renames twice).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # no glibc >= 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):  # unsupported here
        return False
    raise OSError(err, os.strerror(err), str(b))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load(path: str | Path, *, embedder: str | Embedder | None = None, cache_dir=None) -> Router:
    """Load a router saved with ``Router.save``; checks every file's hash and the format version.

    embedder: override the saved embedder (e.g. a custom registered one). cache_dir: this machine's
    embedding cache (None: the default); a cache path saved in the file is never used, since a path
    read from a file could point anywhere.
    Raises RouterFileError when the directory is missing, damaged, tampered or of another version.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_dir():
        raise RouterFileError(f"No saved router at {str(path)!r} (not a directory). Save one with router.save(path), "
                              "or check the path.")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise RouterFileError(f"{path}/manifest.json is missing or unreadable ({exc}); the directory is not a complete "
                              "saved router. Save it again.") from None
    for name, digest in files.items():
        f = path / name
        if Path(name).name != name or name.startswith("."):
            raise RouterFileError(f"The manifest of {path} names {name!r}, which is not a plain file name; refusing it "
                                  "(a saved router reads only files inside its directory). Save the router again.")
        if f.is_symlink():
            raise RouterFileError(f"{f} is a symbolic link; a saved router holds plain files only, so links (which "
                                  "could point outside the directory) are refused. Replace it with the file itself.")
        if not f.is_file():
            raise RouterFileError(f"{f} is missing; the saved router is incomplete. Save it again.")
        if _sha256(f) != digest:
            raise RouterFileError(f"{f} does not match its recorded hash: the file was truncated, corrupted or "
                                  "edited. Restore it or save the router again.")
    try:
        config = json.loads((path / "config.json").read_text())
        if not isinstance(config, dict):
            raise ValueError(f"a JSON {type(config).__name__}, not an object")
    except (OSError, ValueError, RecursionError) as exc:
        raise RouterFileError(f"{path}/config.json is unreadable ({exc}). Save the router again.") from None
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise RouterFileError(f"{path} holds format {config.get('format')!r} version {config.get('format_version')!r}; "
                              f"this graphroute ({__version__}) reads {FORMAT!r} version {FORMAT_VERSION}. "
                              "Re-save it with a matching graphroute version.")
    n_members = config.get("n_members")
    needed = ["config.json", "graph.safetensors"]
    if isinstance(n_members, int) and 1 <= n_members <= len(files):
        needed += [f"net_{i}.safetensors" for i in range(n_members)]
    unlisted = [f for f in needed if f not in files]
    if unlisted or not isinstance(n_members, int) or not 1 <= n_members <= len(files):
        raise RouterFileError(f"{path}: the manifest does not cover {unlisted or 'the networks'} "
                              f"(n_members={n_members!r}), so those files are unverified; refusing them. "
                              "Save it again.")
    try:
        params = dict(config["params"])
        if embedder is not None:
            params["embedder"] = embedder
        else:
            _check_saved_embedder(path, params.get("embedder"))
        # the cache is this machine's choice, never a path read from the file
        params["cache_dir"] = cache_dir
        router = Router(**params)
        tensors = load_file(str(path / "graph.safetensors"))
        for k, v in tensors.items():  # a compact save stores float16 / int32
            tensors[k] = v.float() if v.is_floating_point() else v.long()
        state = GraphState.from_parts(tensors, config["state_meta"])
        router.net_config_ = NetConfig(**config["net_config"])
        router.prefixes_ = list(config["prefixes"])
        router.has_latency_ = bool(config["has_latency"])
        router.catalog_ = Catalog.from_dict(config["catalog"])
        router.history_ = config.get("history", [])
        router.nets_ = []
        for i in range(int(config["n_members"])):
            net = RouterNet(router.net_config_, EDGE_TYPES, EDGE_DIMS)
            weights = load_file(str(path / f"net_{i}.safetensors"))
            if not all(torch.isfinite(v).all() for v in weights.values() if v.is_floating_point()):
                raise ValueError(f"net_{i}.safetensors holds NaN or infinite weights")
            net.load_state_dict(weights, strict=True)
            net.eval()
            router.nets_.append(net)
        _check_state(state)
        router._publish(state)
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, SafetensorError) as exc:
        raise RouterFileError(f"{path} could not be rebuilt ({type(exc).__name__}: {exc}); it was written by an "
                              "incompatible graphroute or edited. Save it again.") from None
    return router


def _check_saved_embedder(path: Path, spec) -> None:
    """A saved embedder must be a registered name with integer options only (e.g. "hash:dim=32"): a
    string option could be a path, and a saved router must not make load() read files outside it."""
    from graphroute.embed import EMBEDDERS, _parse_spec

    if not isinstance(spec, str):
        raise RouterFileError(f"{path}: saved embedder {spec!r} is not a name. Pass embedder= to load().")
    base, kwargs = _parse_spec(spec)
    if base not in EMBEDDERS:
        raise RouterFileError(f"{path} was saved with embedder {spec!r}, which is not registered here (valid: "
                              f"{sorted(EMBEDDERS)}). Register it with graphroute.embed.register_embedder before "
                              "load(), or pass embedder= to load().")
    text = {k: v for k, v in kwargs.items() if not isinstance(v, int)}
    if text:
        raise RouterFileError(f"{path}: saved embedder spec {spec!r} carries non-numeric options {sorted(text)} "
                              "(possibly a path outside the router's directory); refusing it. "
                              "Pass embedder= to load().")


def _check_state(state: GraphState) -> None:
    """Shapes agree and every index points inside its table (raises ValueError naming the first break)."""
    n, t = len(state.query_ids), len(state.task_names)
    m, a, e = len(state.model_names), len(state.agent_names), state.out_query.shape[0]
    sizes = {"query_texts": (len(state.query_texts), n), "query_task": (state.query_task.shape[0], n),
             "query_x": (state.query_x.shape[0], n), "task_x": (state.task_x.shape[0], t),
             "model_x": (state.model_x.shape[0], m), "model_num": (state.model_num.shape[0], m),
             "agent_x": (state.agent_x.shape[0], a), "nbr_idx": (state.nbr_idx.shape[0], n),
             "nbr_sim": (tuple(state.nbr_sim.shape), tuple(state.nbr_idx.shape))}
    sizes.update({f: (getattr(state, f).shape[0], e) for f in
                  ("out_model", "out_agent", "out_effect", "out_cost", "out_latency")})
    for name, (got, want) in sizes.items():
        if got != want:
            raise ValueError(f"{name} has {got} rows where {want} were expected")
    for name, idx, hi in (("query_task", state.query_task, t), ("out_query", state.out_query, n),
                          ("out_model", state.out_model, m), ("out_agent", state.out_agent, a),
                          ("nbr_idx", state.nbr_idx, n)):
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= hi):
            raise ValueError(f"{name} points outside its table of {hi} rows")
    for name in ("query_x", "task_x", "model_x", "model_num", "agent_x", "out_effect", "out_cost"):
        if not bool(torch.isfinite(getattr(state, name)).all()):
            raise ValueError(f"{name} holds NaN or infinite values")
