"""GraphRouter (Feng, Shen and You, ICLR 2025, arXiv 2410.03834), re-implemented as a baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.nn import GeneralConv

from graphroute.data.catalog import Catalog
from graphroute.embed import DEFAULT_EMBEDDER, Embedder
from graphroute.errors import ConfigError
from graphroute.routers.baselines.common import TASK_VOTERS, TextRouter, check_int, check_number, check_seed
from graphroute.routers.fitting import REWARD_TOLERANCE, fit_loop, validation_split
from graphroute.selection import best_index, effect_cost_weights, normalize_cost, task_bounds

__all__ = ['GraphRouterBaseline', 'GraphRouterNet']


class GraphRouterNet(nn.Module):
    """GraphRouter's network: aligned node features, two GeneralConv layers with edge features, a dot scorer.

    Nodes are the N training queries followed by the P LLMs (here: candidate pairs), in one
    homogeneous graph with edges query -> LLM. A query node starts as
    concat(Linear(task emb), Linear(query emb)) [2H]; an LLM node as Linear(description emb) [2H].
    Edge features [E, 3] pass through Linear + ReLU; each GeneralConv is followed by BatchNorm
    (ReLU after the first). An edge (q, p) scores mean(x_ini[q] ⊙ x[p]): the query's initial
    features against the LLM's message-passed ones, so a query needs no edges to be scored.
    """

    def __init__(self, text_dim: int, hidden: int, edge_dim: int = 3, aggr: str = "add") -> None:
        super().__init__()
        h2 = 2 * hidden
        self.task_lin = nn.Linear(text_dim, hidden)
        self.query_lin = nn.Linear(text_dim, hidden)
        self.llm_lin = nn.Linear(text_dim, h2)
        self.edge_mlp = nn.Linear(edge_dim, edge_dim)
        self.conv1 = GeneralConv(h2, h2, in_edge_channels=edge_dim, aggr=aggr)
        self.conv2 = GeneralConv(h2, h2, in_edge_channels=edge_dim, aggr=aggr)
        self.bn1 = nn.BatchNorm1d(h2)
        self.bn2 = nn.BatchNorm1d(h2)

    def query_features(self, task_x: Tensor, query_x: Tensor) -> Tensor:
        # task_x, query_x [Q, D] -> [Q, 2H]
        return torch.cat([self.task_lin(task_x), self.query_lin(query_x)], dim=1)

    def forward(self, task_x: Tensor, query_x: Tensor, llm_x: Tensor, edge_index: Tensor,
                edge_attr: Tensor) -> tuple[Tensor, Tensor]:
        """Initial and message-passed node features, both [N + P, 2H]."""
        x_ini = torch.cat([self.query_features(task_x, query_x), self.llm_lin(llm_x)], dim=0)
        ea = F.relu(self.edge_mlp(edge_attr))  # [E, 3]
        x = F.relu(self.bn1(self.conv1(x_ini, edge_index, ea)))
        x = self.bn2(self.conv2(x, edge_index, ea))
        return x_ini, x

    @staticmethod
    def score(q: Tensor, llm: Tensor) -> Tensor:
        # q [E, 2H], llm [E, 2H] -> edge logits [E]
        return (q * llm).mean(dim=-1)


def _best_labels(reward: np.ndarray, cost: np.ndarray, logged: np.ndarray) -> np.ndarray:
    """One-hot [N, P] of each query's best logged pair: highest reward, then lower cost, then name order."""
    best = best_index(reward, cost, logged)  # candidates are in name order
    out = np.zeros_like(reward)
    out[np.arange(len(best)), best] = 1.0
    return out


@dataclass
class _Graph:
    """GraphRouter's training graph: N query nodes then P LLM nodes, edges query -> LLM for every logged pair."""

    n: int  # N query nodes (the LLM nodes follow them)
    query_x: Tensor  # [N, D] query embeddings
    q_task_x: Tensor  # [N, D] each query's task embedding
    llm_x: Tensor  # [P, D] candidate descriptions
    qi: np.ndarray  # [E] query of each edge
    reward: np.ndarray  # [N, P] reward at the trained weights (NaN where not logged)
    edge_index: Tensor  # [2, E]
    edge_attr: Tensor  # [E, 3] reward, normalised cost, effect
    edge_label: Tensor  # [E] 1 on each query's best logged pair

    @classmethod
    def build(cls, t, cost_range, w_e: float, w_c: float, query_x: Tensor, q_task_x: Tensor, llm_x: Tensor) -> _Graph:
        n = t.effect.shape[0]
        lo, hi = task_bounds(cost_range, t.task_names)  # [T] each
        cost_norm = normalize_cost(t.cost, lo[t.query_task][:, None], hi[t.query_task][:, None])  # [N, P]
        reward = w_e * t.effect - w_c * cost_norm
        labels = _best_labels(reward, t.cost, t.logged)
        qi, pi = np.nonzero(t.logged)  # [E] each
        return cls(n=n, query_x=query_x, q_task_x=q_task_x, llm_x=llm_x, qi=qi, reward=reward,
                   edge_index=torch.as_tensor(np.stack([qi, n + pi]), dtype=torch.long),
                   edge_attr=torch.as_tensor(np.stack([reward[qi, pi], cost_norm[qi, pi], t.effect[qi, pi]], 1),
                                             dtype=torch.float32),
                   edge_label=torch.as_tensor(labels[qi, pi], dtype=torch.float32))

    def forward(self, net: GraphRouterNet, edges) -> tuple[Tensor, Tensor]:
        """Initial and message-passed node features [N + P, 2H] with only ``edges`` carrying messages."""
        return net(self.q_task_x, self.query_x, self.llm_x, self.edge_index[:, edges], self.edge_attr[edges])


class GraphRouterBaseline(TextRouter):
    """A re-implementation of GraphRouter (ICLR 2025): one edge-scoring GNN per cost/quality scenario.

    The model (see GraphRouterNet) follows the paper's released code: task, query and LLM text
    embeddings aligned by linear maps; edges query -> LLM carrying 3 features (the edge's reward
    at the scenario, its normalised cost and its effect); two GeneralConv layers with BatchNorm;
    a dot-product edge scorer trained with BCE on one-hot labels marking each query's best
    logged LLM at the scenario (ties: lower cost, then name; never first index). Each step
    splits the training edges at random: ``edge_mask_rate`` of them are supervised and hidden
    from message passing, the rest carry messages. Full batch; early stopping on the mean reward
    of the argmax choice for a seeded validation share of queries, whose edges are never shown
    in training (as an unseen query at inference). Candidates (model, agent) play the LLM nodes;
    their description is the model's card text followed by the agent's.

    It predicts a score per (query, LLM), not effect and cost, so:
    - ``effect`` is the scorer's softmax over the candidates of each query (sums to 1; the
      argmax is the model's choice), and ``cost`` is the pair's mean logged cost on the task;
    - its choice for its scenario is ``select(..., weights=router.scenario_weights_)``, which is
      {'effect': 1, 'cost': 0}: cost is already priced into the scores at the scenario's
      weights (``reward_weights_``). Selecting at any other weights mixes two cost terms and is
      not GraphRouter; train another one with the other scenario instead.

    Parameters: scenario: 'performance_first', 'balance' or 'cost_first' (the paper's three),
    or weights=(w_effect, w_cost) to train for other weights.  hidden: H (nodes have 2H
    features).  epochs, lr, weight_decay, patience, validation_fraction: optimisation.
    edge_mask_rate: share of training edges supervised per step.  masks_per_step: random edge
    splits averaged per optimiser step.  aggr: GeneralConv aggregation ('add' as in the paper).
    embedder, strip_boilerplate, cache_dir, seed: as for MLPRouter.
    """

    def __init__(self, *, scenario: str = "balance", weights=None, hidden: int = 32, epochs: int = 300,
                 lr: float = 5e-3, weight_decay: float = 1e-4, edge_mask_rate: float = 0.5, masks_per_step: int = 1,
                 patience: int = 40, validation_fraction: float = 0.1, aggr: str = "add",
                 embedder: str | Embedder = DEFAULT_EMBEDDER, strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None, seed: int = 0) -> None:
        self.scenario = scenario
        self.weights = weights
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.edge_mask_rate = edge_mask_rate
        self.masks_per_step = masks_per_step
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.aggr = aggr
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir
        self.seed = seed

    def _check_params(self) -> None:
        who = "GraphRouterBaseline"
        for name in ("hidden", "epochs", "patience", "masks_per_step"):
            check_int(who, name, getattr(self, name), 1)
        check_number(who, "lr", self.lr, 0.0, open_lo=True)
        check_number(who, "weight_decay", self.weight_decay, 0.0)
        check_number(who, "edge_mask_rate", self.edge_mask_rate, 0.0, 1.0, open_lo=True, open_hi=True)
        check_number(who, "validation_fraction", self.validation_fraction, 0.0, 0.9)
        if self.aggr not in ("add", "mean", "max"):
            raise ConfigError(f"{who} parameter aggr must be one of ['add', 'mean', 'max']; got {self.aggr!r}.")
        check_seed(who, self.seed)

    def fit(self, logs, models=None, agents=None, tasks=None) -> GraphRouterBaseline:
        """Build the query–LLM graph from the logs (descriptions from the cards) and train the scorer."""
        self._check_params()
        w_e, w_c = effect_cost_weights(self.scenario if self.weights is None else self.weights, "GraphRouterBaseline")
        t = self._fit_table(logs)
        self.reward_weights_ = (float(w_e), float(w_c))
        self.scenario_weights_ = {"effect": 1.0, "cost": 0.0}
        catalog = Catalog.from_logs(t.logs, models=models, agents=agents, tasks=tasks)
        query_x = torch.as_tensor(self._fit_text(t))  # [N, D]
        emb = self._embedder()
        self.task_x_ = torch.as_tensor(emb.encode([catalog.tasks[n].text() for n in t.task_names]),
                                       dtype=torch.float32)  # [T, D]
        llm_text = [f"{catalog.models[m].text()}\n{catalog.agents[a].text()}"
                    for m, a in zip(self.candidates_["model"], self.candidates_["agent"])]
        g = _Graph.build(t, self.cost_range_, w_e, w_c, query_x, self.task_x_[torch.as_tensor(t.query_task)],
                         torch.as_tensor(emb.encode(llm_text), dtype=torch.float32))
        net, self.history_ = self._train(g, t.logged)
        with torch.no_grad():  # LLM nodes with every logged edge visible, as at test time in the paper
            _, x = g.forward(net, slice(None))
        self.net_ = net
        self.llm_h_ = x[g.n:].clone()  # [P, 2H]
        return self

    def _train(self, g: _Graph, logged: np.ndarray) -> tuple[GraphRouterNet, list[dict]]:
        """Full-batch BCE on random edge splits; early stopping on the validation queries' argmax reward."""
        tr, va = validation_split(g.n, self.validation_fraction, self.seed)
        is_val = np.zeros(g.n, dtype=bool)
        is_val[va] = True
        train_edges = torch.as_tensor(np.flatnonzero(~is_val[g.qi]))
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        net = GraphRouterNet(g.query_x.shape[1], self.hidden, edge_dim=3, aggr=self.aggr)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        val_reward = torch.as_tensor(np.where(logged, g.reward, -np.inf)[va])  # [V, P]

        def step(epoch: int) -> float:
            loss = torch.zeros(())
            for _ in range(self.masks_per_step):
                sup = torch.rand(len(train_edges), generator=gen) < self.edge_mask_rate
                if not sup.any():
                    continue
                vis, tgt = train_edges[~sup], train_edges[sup]
                x_ini, x = g.forward(net, vis)
                logits = net.score(x_ini[g.edge_index[0, tgt]], x[g.edge_index[1, tgt]])
                loss = loss + F.binary_cross_entropy_with_logits(logits, g.edge_label[tgt])
            loss = loss / self.masks_per_step
            opt.zero_grad()
            loss.backward()
            opt.step()
            return float(loss.detach())

        def validate() -> float:
            x_ini, x = g.forward(net, train_edges)
            logits = (x_ini[torch.as_tensor(va)][:, None, :] * x[g.n:][None]).mean(-1)  # [V, P]
            logits = torch.where(torch.isfinite(val_reward), logits, torch.full_like(logits, -math.inf))
            return float(val_reward.gather(1, logits.argmax(1, keepdim=True)).mean())

        hist = fit_loop(net, step, validate if len(va) else None, epochs=self.epochs, patience=self.patience,
                        tolerance=REWARD_TOLERANCE, maximize=True, key="val_reward")
        return net, hist

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        x = self._embed(queries)
        names, t_idx = self._resolve_tasks(queries, tasks, self._vote_tasks(*self._neighbors(x, TASK_VOTERS)))
        task_x = torch.empty(len(queries), self.task_x_.shape[1])
        known = t_idx >= 0
        if known.any():
            task_x[torch.as_tensor(known)] = self.task_x_[torch.as_tensor(t_idx[known])]
        if not known.all():  # a task it never saw: embed its name, as a task card without description
            task_x[torch.as_tensor(~known)] = torch.as_tensor(
                self._embedder().encode([str(names[i]) for i in np.flatnonzero(~known)]), dtype=torch.float32)
        with torch.no_grad():
            q = self.net_.query_features(task_x, torch.as_tensor(x))  # [Q, 2H]
            logits = (q[:, None, :] * self.llm_h_[None]).mean(-1)  # [Q, P]
            effect = torch.softmax(logits, dim=1).numpy().astype(float)
        return {"task": names, "effect": effect, "cost": self._task_cost(t_idx)}
