"""Matrix factorisation (RouteLLM's MF router): score(q, p) = w^T (v_p ⊙ W q) + b_p.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphroute.embed import DEFAULT_EMBEDDER, Embedder
from graphroute.routers.baselines.common import TASK_VOTERS
from graphroute.routers.baselines.minibatch import MinibatchRouter

__all__ = ['MFRouter']


class _MFNet(nn.Module):
    """score(q, p) = w^T (normalise(v_p) ⊙ W x_q) + b_p, as in RouteLLM's MF router (plus a pair bias)."""

    def __init__(self, n_pairs: int, text_dim: int, dim: int) -> None:
        super().__init__()
        self.pair = nn.Embedding(n_pairs, dim)  # v_p
        self.proj = nn.Linear(text_dim, dim, bias=False)  # W
        self.out = nn.Linear(dim, 1, bias=False)  # w
        self.bias = nn.Parameter(torch.zeros(n_pairs))  # b_p

    def forward(self, x: Tensor) -> Tensor:
        # x [Q, D] -> logits [Q, P]
        v = F.normalize(self.pair.weight, dim=-1)  # [P, dim]
        z = self.proj(x)  # [Q, dim]
        return self.out(z[:, None, :] * v[None, :, :]).squeeze(-1) + self.bias


class MFRouter(MinibatchRouter):
    """Matrix factorisation (RouteLLM's MF idea) from query embeddings to each pair's effect.

    score(q, p) = w^T (v_p ⊙ (W q_emb)) + b_p with a learned vector v_p per pair (v_p unit-length
    as in RouteLLM; the per-pair bias b_p carries the pair's base rate). Trained with BCE on the
    logged effects only; cost is the pair's mean logged cost on the query's task. A learned
    vector per pair means a new model needs retraining, which is what the graph router avoids.

    Parameters: dim: factor size.  epochs, lr, weight_decay, batch_size, patience,
    validation_fraction, embedder, strip_boilerplate, cache_dir, seed: as for MLPRouter.
    """

    def __init__(self, *, dim: int = 64, epochs: int = 200, lr: float = 3e-3, weight_decay: float = 1e-4,
                 batch_size: int = 256, patience: int = 20, validation_fraction: float = 0.1,
                 embedder: str | Embedder = DEFAULT_EMBEDDER, strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None, seed: int = 0) -> None:
        self.dim = dim
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir
        self.seed = seed

    def _check_params(self) -> None:
        self._check_training_params("dim")

    def fit(self, logs, models=None, agents=None, tasks=None) -> MFRouter:
        """Embed the training queries and learn the factors (cards are not used)."""
        self._check_params()
        t = self._fit_table(logs)
        x = torch.as_tensor(self._fit_text(t))  # [N, D]
        torch.manual_seed(self.seed)
        mask = torch.as_tensor(t.logged)
        eff = torch.as_tensor(np.nan_to_num(t.effect), dtype=torch.float32)
        self.net_ = _MFNet(len(self.candidates_), x.shape[1], self.dim)
        with torch.no_grad():  # start each pair at its base rate
            p = torch.as_tensor(self.pair_effect_, dtype=torch.float32).clamp(1e-3, 1 - 1e-3)
            self.net_.bias.copy_(torch.log(p / (1 - p)))

        def loss_fn(rows: Tensor) -> Tensor:
            m = mask[rows]
            return F.binary_cross_entropy_with_logits(self.net_(x[rows])[m], eff[rows][m])

        self.history_ = self._train(self.net_, loss_fn, len(t.query_ids))
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        x = self._embed(queries)
        names, t_idx = self._resolve_tasks(queries, tasks, self._vote_tasks(*self._neighbors(x, TASK_VOTERS)))
        with torch.no_grad():
            effect = torch.sigmoid(self.net_(torch.as_tensor(x))).numpy().astype(float)  # [Q, P]
        return {"task": names, "effect": effect, "cost": self._task_cost(t_idx)}
