"""`Router`: the graph-neural router (parameters, fit, predict, select, grow without retraining).

How it trains is in ``training``, what it serves from (numpy only) in ``serving``, growth in
``growth``, files in ``persistence``. Routing a query (``select``, ``select_many``, ``predict``,
``evidence``) reads the published numpy state and imports no torch; ``fit`` and growth
(``observe``, ``add_*``, ``remove_*``) import torch on first use, since they train or re-encode.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from graphroute.data.catalog import AgentCard, Catalog, ModelCard, TaskCard
from graphroute.data.logs import aggregate_runs, validate_logs
from graphroute.data.text import learn_prefixes
from graphroute.embed import Embedder
from graphroute.errors import LogsError
from graphroute.graph.arrays import GraphArrays
from graphroute.graph.index import IVFIndex, is_stale, resolve_mode, top_k
from graphroute.graph.schema import PAIR_FEATURES
from graphroute.nn.config import NetConfig
from graphroute.routers.base import BaseRouter, QueryEmbedding, check_queries
from graphroute.routers.gnn import serving, text
from graphroute.routers.gnn.config import RouterConfig
from graphroute.selection import DEFAULT_EVIDENCE, Objective, Selection, pick, rank_arrays, task_bounds

__all__ = ["Router"]

# {id(router): Live} per thread: one public call (select, predict, ...) reads one state throughout
_PINNED = threading.local()
PREDICT_BLOCK = 2048  # queries embedded and decoded together in predict()
_D = RouterConfig  # the defaults


class Router(QueryEmbedding, BaseRouter):
    """Graph-neural router over task, query, model and agent nodes.

    Parameters (stored as given; checked in ``fit``, by ``RouterConfig``, which holds every default):
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
        text_evidence: per task, correct the graph's effect and cost with what the query's text says
            (TF-IDF, query-form and embedding ridges, lexical neighbours: ``graphroute.routers.text_evidence``),
            kept only for the tasks where it routes better out of fold; the other tasks route on the
            graph alone.
        neighbor_search: how a new query finds its logged neighbours: "exact" scans every logged
            query; "ivf" searches an inverted-file index (graphroute.graph.index: ~√N cells, the best few
            scanned exactly; approximate, much faster on large logs); "auto" is exact below
            ``index.IVF_MIN_KEYS`` (50k) logged queries and IVF from there.
        cache_dir: embedding cache (None: ``graphroute.embed.default_cache_dir()``, i.e. $GRAPHROUTE_CACHE or
            ~/.cache/graphroute; False: none).
        seed: every random choice derives from it.
        progress: a progress bar while fitting (None: for long fits); shown only on a terminal or in a notebook.
    """

    # every default is RouterConfig's (one place); the signature reads them so that help() shows the values
    def __init__(self, *, embedder: str | Embedder = _D.embedder, hidden: int = _D.hidden, layers: int = _D.layers,
                 k_neighbors: int = _D.k_neighbors, knn_temperature: float = _D.knn_temperature,
                 epochs: int = _D.epochs, lr: float = _D.lr, weight_decay: float = _D.weight_decay,
                 dropout: float = _D.dropout, patience: int = _D.patience, target_fraction: float = _D.target_fraction,
                 fewshot_fraction: float = _D.fewshot_fraction, fewshot_max: int = _D.fewshot_max,
                 validation_fraction: float = _D.validation_fraction, max_epoch_edges: int | None = _D.max_epoch_edges,
                 n_ensemble: int = _D.n_ensemble, strip_boilerplate: bool = _D.strip_boilerplate,
                 text_evidence: bool = _D.text_evidence,
                 neighbor_search: str = _D.neighbor_search, cache_dir: str | Path | bool | None = _D.cache_dir,
                 seed: int = _D.seed, progress: bool | None = _D.progress) -> None:
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
        self.text_evidence = text_evidence
        self.neighbor_search = neighbor_search
        self.cache_dir = cache_dir
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ parameters and copies
    @property
    def config(self) -> RouterConfig:
        """The parameters as a validated ``RouterConfig`` (raises ConfigError naming a bad one)."""
        return RouterConfig.from_params(self.get_params())

    @property
    def _lock(self) -> threading.RLock:
        """This router's growth lock, made on first use (``__init__`` only stores parameters)."""
        return self.__dict__.setdefault("_growth_lock", threading.RLock())  # setdefault: one lock even if raced

    def __getstate__(self) -> dict:  # copy / deepcopy / pickle: a lock is not copied, the copy makes its own
        return {k: v for k, v in self.__dict__.items() if k != "_growth_lock"}

    # ------------------------------------------------------------------ fit
    def fit(self, logs, models=None, agents=None, tasks=None) -> Router:
        """Learn from logged runs (a DataFrame in the canonical schema, see ``graphroute.read_logs``).

        models / agents / tasks: optional cards (list of dicts, dict, DataFrame or path); a
        name in the logs without a card is described by its name, with a warning.

        The text evidence and the task classifier, which read the graph but not the networks, are
        fitted in one worker thread while the networks train; the result is the same as fitting them after.
        """
        cfg = self.config
        from graphroute.routers.gnn import training  # torch: only to train and to grow

        logs = validate_logs(logs)
        if logs["model"].nunique() < 1:
            raise LogsError("The logs name no model; a router needs at least one model to choose.")
        self.catalog_ = Catalog.from_logs(logs, models=models, agents=agents, tasks=tasks)
        if hasattr(self, "embedder_") and self.embedder is not self.embedder_ and not isinstance(self.embedder, Embedder):
            del self.embedder_  # parameters may have changed since the last fit
        agg = aggregate_runs(logs)
        queries = agg.drop_duplicates("query_id")[["query_id", "query", "task"]].reset_index(drop=True)
        self.prefixes_ = learn_prefixes(queries.groupby("task")["query"].apply(list)) if cfg.strip_boilerplate else []
        state = training.new_state(self.catalog_, queries, agg, self._embed(list(queries["query"])),
                                   self._embedder().encode)
        del logs, agg, queries  # the graph holds what training needs; free the frames (GBs for millions of runs)
        state.fit_scales()
        state.refresh_neighbors(cfg.k0)
        self.has_latency_ = state.has_latency
        self.net_config_ = NetConfig(text_dim=state.query_x.shape[1], hidden=cfg.hidden, layers=cfg.layers,
                                     dropout=cfg.dropout, pair_dim=len(PAIR_FEATURES),
                                     n_targets=3 if self.has_latency_ else 2)
        val = training.validation_mask(cfg, state)
        # the text evidence and the task classifier read the graph's queries and outcomes, not the networks:
        # they are fitted in a worker thread while the networks train (torch releases the GIL in its kernels)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graphroute-text")
        try:
            parts = pool.submit(text.fit_text_parts, state.to_arrays(), self.prefixes_, cfg.text_evidence,
                                self.k_neighbors, self.knn_temperature, self.seed)
            nets, self.history_ = [], []
            for member in range(cfg.n_ensemble):
                net, hist = training.train_member(cfg, self.net_config_, state, val, cfg.seed + 1000 * member, member)
                nets.append(net)
                self.history_.append(hist)
            evidence, classifier, inference = parts.result()  # raises the worker's error before anything is published
            self._set_nets(nets)
            self._publish_state(state, carry_index=False)
            self.text_evidence_, self.task_classifier_, self.task_inference_ = evidence, classifier, inference
        finally:  # on an error in training, do not wait for the worker (it finishes on its own)
            pool.shutdown(wait=False, cancel_futures=True)
        return self

    # ------------------------------------------------------------------ networks and the published state
    def _set_nets(self, nets: list) -> None:
        self._nets = nets
        self.net_weights_ = [{k: v.detach().numpy().copy() for k, v in net.state_dict().items()} for net in nets]

    @property
    def nets_(self) -> list:
        """The members as torch ``RouterNet``s (eval mode); built from ``net_weights_`` on first use (imports torch)."""
        if getattr(self, "_nets", None) is None:
            if not hasattr(self, "net_weights_"):
                self._check_fitted()  # raises NotFittedError
            from graphroute.routers.gnn import training

            self._nets = training.build_nets(self.net_config_, self.net_weights_)
        return self._nets

    @property
    def n_members_(self) -> int:
        self._check_fitted()
        return len(self.net_weights_)

    def _publish_state(self, state, carry_index: bool = True) -> None:
        """Encode a torch ``GraphState`` with every member and publish it (fit and growth)."""
        from graphroute.routers.gnn import training

        hs = training.encode(self.nets_, state, self.k_neighbors)
        self._publish(state.to_arrays(), hs, torch_state=state, carry_index=carry_index)

    def _publish(self, graph: GraphArrays, hs: list[dict[str, np.ndarray]], torch_state=None,
                 index: IVFIndex | None = None, carry_index: bool = True) -> None:
        """Make (graph, node states) what predictions read. In "ivf" mode the neighbour index comes from
        ``index``, else the previous state's while it is fresh (growth only appends queries), else is built."""
        mode = resolve_mode(self.neighbor_search, graph.n_queries)
        if mode == "ivf" and index is None:
            old = getattr(self, "_live", None) if carry_index else None
            index = old.index if old is not None and not is_stale(old.index, graph.n_queries) else None
            if index is None:  # built now, not on the first select()
                index = IVFIndex.build(graph.query_x, seed=self.seed)
        members = [serving.Member.of(h, w) for h, w in zip(hs, self.net_weights_)]
        self._live = serving.make_live(graph, members, mode, index=index, torch_state=torch_state)

    def _current(self) -> serving.Live:
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
    def graph_(self) -> GraphArrays:
        """The router's graph as numpy arrays (what it serves from; no torch)."""
        self._check_fitted()
        return self._current().graph

    @property
    def state_(self):
        """The router's graph as a torch ``graph.state.GraphState`` (imports torch; built on first use).
        Reading names, sizes or outcomes needs no torch: use ``graph_``."""
        self._check_fitted()
        return self._torch_state(self._current())

    @staticmethod
    def _torch_state(live: serving.Live):
        if live.torch_state is None:
            from graphroute.graph.state import GraphState

            live.torch_state = GraphState.from_arrays(live.graph)  # the same for every reader: no harm if raced
        return live.torch_state

    @property
    def has_latency(self) -> bool:
        return bool(getattr(self, "has_latency_", False))

    def _search_mode(self) -> str:
        """"exact" or "ivf" for the current state (``neighbor_search`` resolved against its size)."""
        return self._current().mode

    # ------------------------------------------------------------------ predict (numpy)
    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        live = self._current()  # one consistent snapshot, even if another thread grows the router meanwhile
        g = live.graph
        x = self._embed(queries)
        task_idx, effect, cz, lz = [], [], [], []
        for s in range(0, len(queries), PREDICT_BLOCK):
            xb = x[s:s + PREDICT_BLOCK]
            nbr, sim = serving.search(live, xb, self.k_neighbors, self.seed)
            qb, tb = queries[s:s + PREDICT_BLOCK], tasks[s:s + PREDICT_BLOCK]
            t_idx, e, c, lat = serving.predict_block(live, xb, tb, nbr, sim, self.knn_temperature,
                                                     text.text_tasks(self, live, qb, xb, tb))
            e, c = text.with_text_evidence(self, live, qb, xb, t_idx, e, c)
            task_idx.append(t_idx)
            effect.append(e)
            cz.append(c)
            if lat is not None:
                lz.append(lat)
        t_all = np.concatenate(task_idx).tolist()
        res = {"task": np.array([g.task_names[i] for i in t_all], dtype=object),
               "effect": np.concatenate(effect), "cost": g.cost_from_z(np.concatenate(cz))}
        if lz:
            res["latency_s"] = g.lat_from_z(np.concatenate(lz))
        return res

    # ------------------------------------------------------------------ select (one query, no pandas until the end)
    def _objective(self, kw: dict) -> Objective:
        if not hasattr(self, "_live"):
            return super()._objective(kw)
        models, agents = self._current().names  # sorted candidate names, cached per published state
        return Objective(**kw).checked(models, agents, self.has_latency)

    def _rank(self, live: serving.Live, obj: Objective, tasks: list[str], effect: np.ndarray, cost: np.ndarray,
              latency: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``selection.rank_arrays`` with each query's task cost range: cost_term, score, feasible [Q, P]."""
        lo, hi = task_bounds(live.cost_range, tasks)
        return rank_arrays(obj, lo[:, None], hi[:, None], effect, cost, latency, live.cand_model, live.cand_agent)

    def _neighbours(self, live: serving.Live, x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if live.mode == "exact":
            return top_k(x, live.graph.query_x, k)
        return serving.search(live, x, k, self.seed)

    def _select(self, query: str, task: str | None, evidence: int, objective: dict) -> Selection:
        """``BaseRouter._select`` without its per-call DataFrames: the query is embedded and searched once
        (for the prediction and the evidence), candidates are ranked in numpy; the same Selection results."""
        obj = self._objective(objective)
        live = self._current()
        g = live.graph
        queries, tasks = check_queries([query], [task])
        x = self._embed(queries)
        n_ev = evidence if type(evidence) is int and evidence > 0 else 0
        found = self._neighbours(live, x, max(self.k_neighbors, n_ev))  # one search: prediction and evidence
        nbr, sim = found[0][:, :self.k_neighbors], found[1][:, :self.k_neighbors]
        t_idx, eff, cz, lz = serving.predict_block(live, x, tasks, nbr, sim, self.knn_temperature,
                                                   text.text_tasks(self, live, queries, x, tasks))
        eff, cz = text.with_text_evidence(self, live, queries, x, t_idx, eff, cz)
        task_name = g.task_names[int(t_idx[0])]
        effect = np.asarray(eff, dtype=float).reshape(-1)  # [P]
        cost = np.asarray(g.cost_from_z(cz), dtype=float).reshape(-1)
        latency = None if lz is None else np.asarray(g.lat_from_z(lz), dtype=float).reshape(-1)
        term, score, ok = self._rank(live, obj, [task_name], effect[None], cost[None],
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
        row, used_fallback = (ranked.iloc[0], False) if ok[order[0]] else pick(ranked, obj)  # fallback or raise
        if n_ev:
            if queries[0] != query:  # evidence() embeds the text as given
                found = self._neighbours(live, self._embed([query]), n_ev)
            ev = serving.evidence_frame(live, found[0][:, :n_ev], found[1][:, :n_ev])
        else:
            ev = self.evidence(query, task, k=evidence) if evidence else pd.DataFrame()
        return Selection(query=query, task=task_name, model=str(row["model"]), agent=str(row["agent"]),
                         effect=float(row["effect"]), cost=float(row["cost"]), score=float(row["score"]),
                         latency_s=float(row["latency_s"]) if latency is not None else None,
                         fallback=used_fallback, alternatives=ranked, evidence=ev)

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
        term, score, ok = self._rank(live, obj, list(arr["task"]), effect, cost, latency)
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

    def evidence(self, query: str, task: str | None = None, k: int = DEFAULT_EVIDENCE) -> pd.DataFrame:
        """The k nearest past queries and how each candidate did on them (one row per outcome)."""
        self._check_fitted()
        live = self._current()
        nbr, sim = serving.search(live, self._embed([query]), k, self.seed)
        return serving.evidence_frame(live, nbr, sim)

    # ------------------------------------------------------------------ growth without retraining (torch)
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
        from graphroute.routers.gnn import growth

        with self._lock:
            state = growth.with_node(self._torch_state(self._live), kind, card,
                                     self._embedder().encode([card.text()]))
            if runs is not None:  # bad runs raise here, before anything of the router has changed
                state = growth.absorb(state, growth.runs_frame(runs, kind, card.name), self._embed,
                                      self.config.k0)
            self.catalog_ = self.catalog_.with_card(kind, card)
            self._publish_state(state)
        return self

    def observe(self, new_logs) -> Router:
        """New logged outcomes join the graph (new queries become nodes); no gradient step.

        Every model, agent and task named must already be known: add new ones with add_model /
        add_agent / add_task first.
        """
        self._check_fitted()
        from graphroute.routers.gnn import growth

        with self._lock:
            self._publish_state(growth.absorb(self._torch_state(self._live), new_logs, self._embed, self.config.k0))
        return self

    def remove_model(self, name: str) -> Router:
        """Drop a model node and its outcome edges (it will not be chosen); no retraining."""
        return self._remove_node("model", name)

    def remove_agent(self, name: str) -> Router:
        """Drop an agent node and its outcome edges; no retraining."""
        return self._remove_node("agent", name)

    def _remove_node(self, kind: str, name: str) -> Router:
        self._check_fitted()
        from graphroute.routers.gnn import growth

        with self._lock:
            state = growth.without_node(self._torch_state(self._live), kind, name)
            self.catalog_ = self.catalog_.without_card(kind, name)
            self._publish_state(state)
            if getattr(self, "text_evidence_", None) is not None:  # a node added back starts without it
                self.text_evidence_ = self.text_evidence_.without(kind, name)
        return self

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path, *, max_text_chars: int | None = None, half: bool = False) -> Path:
        """Write the router to a directory of JSON + safetensors (no pickle), atomically.

        max_text_chars: keep only the start of stored query texts (used for evidence only);
        half: store embeddings and network weights as float16 and indices as int32 (about half the
            size; predictions change in the 3rd decimal). The published node states are stored as
            float32 (with ``half``, re-encoded from the rounded graph, as a load would see it).
        """
        from graphroute.routers.gnn.persistence import save

        return save(self, path, max_text_chars=max_text_chars, half=half)
