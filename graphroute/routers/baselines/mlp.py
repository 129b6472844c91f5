"""The MLP baseline: from the query embedding to every pair's effect and log cost.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphroute.embed import DEFAULT_EMBEDDER, Embedder
from graphroute.routers.baselines.common import TASK_VOTERS, check_number
from graphroute.routers.baselines.minibatch import MinibatchRouter

__all__ = ['MLPRouter']


class _CostScale:
    """log(cost + eps), standardised: the regression target of learned cost heads."""

    def __init__(self, cost: np.ndarray) -> None:
        logged = cost[~np.isnan(cost)]
        pos = logged[logged > 0]
        self.eps = float(pos.min() * 0.1) if pos.size else 1e-6
        lc = np.log(logged + self.eps)
        self.loc = float(lc.mean())
        self.scale = float(max(lc.std(), 1e-3)) if lc.size > 1 else 1.0

    def to_z(self, cost: np.ndarray) -> np.ndarray:
        return (np.log(cost + self.eps) - self.loc) / self.scale

    def from_z(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(np.exp(z * self.scale + self.loc) - self.eps, 0.0)


class MLPRouter(MinibatchRouter):
    """An MLP from the query embedding to every pair's effect (sigmoid) and log cost.

    Trained on logged pairs only (masked BCE for effect, MSE for standardised log cost), with
    mini-batches, AdamW and early stopping on a seeded validation share of the queries.

    Parameters: hidden: width of the two hidden layers.  epochs, lr, weight_decay, dropout,
    batch_size, patience (epochs without validation improvement), validation_fraction.
    embedder, strip_boilerplate, cache_dir: as for KNNRouter.  seed: every random choice.
    """

    def __init__(self, *, hidden: int = 128, epochs: int = 200, lr: float = 1e-3, weight_decay: float = 1e-4,
                 dropout: float = 0.1, batch_size: int = 256, patience: int = 20, validation_fraction: float = 0.1,
                 embedder: str | Embedder = DEFAULT_EMBEDDER, strip_boilerplate: bool = True,
                 cache_dir: str | Path | bool | None = None, seed: int = 0) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.batch_size = batch_size
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.embedder = embedder
        self.strip_boilerplate = strip_boilerplate
        self.cache_dir = cache_dir
        self.seed = seed

    def _check_params(self) -> None:
        self._check_training_params("hidden")
        check_number("MLPRouter", "dropout", self.dropout, 0.0, 1.0, open_hi=True)

    def fit(self, logs, models=None, agents=None, tasks=None) -> MLPRouter:
        """Embed the training queries and train the MLP (cards are not used)."""
        self._check_params()
        t = self._fit_table(logs)
        x = torch.as_tensor(self._fit_text(t))  # [N, D]
        torch.manual_seed(self.seed)
        n_p = len(self.candidates_)
        self.cost_scale_ = _CostScale(t.cost)
        mask = torch.as_tensor(t.logged)  # [N, P]
        eff = torch.as_tensor(np.nan_to_num(t.effect), dtype=torch.float32)
        cz = torch.as_tensor(np.nan_to_num(self.cost_scale_.to_z(np.nan_to_num(t.cost))), dtype=torch.float32)
        self.net_ = nn.Sequential(
            nn.Linear(x.shape[1], self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, self.hidden), nn.ReLU(), nn.Dropout(self.dropout),
            nn.Linear(self.hidden, 2 * n_p),  # effect logits and cost z of every pair
        )

        def loss_fn(rows: Tensor) -> Tensor:
            out = self.net_(x[rows])  # [B, 2P]
            m = mask[rows]
            return (F.binary_cross_entropy_with_logits(out[:, :n_p][m], eff[rows][m])
                    + F.mse_loss(out[:, n_p:][m], cz[rows][m]))

        self.history_ = self._train(self.net_, loss_fn, len(t.query_ids))
        return self

    def _predict_arrays(self, queries: list[str], tasks: list[str | None]) -> dict[str, np.ndarray]:
        x = self._embed(queries)
        names, _ = self._resolve_tasks(queries, tasks, self._vote_tasks(*self._neighbors(x, TASK_VOTERS)))
        n_p = len(self.candidates_)
        with torch.no_grad():
            out = self.net_(torch.as_tensor(x)).numpy().astype(float)  # [Q, 2P]
        effect = 1.0 / (1.0 + np.exp(-out[:, :n_p]))
        return {"task": names, "effect": effect, "cost": self.cost_scale_.from_z(out[:, n_p:])}
