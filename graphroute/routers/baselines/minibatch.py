"""What the MLP and MF baselines share: their optimisation parameters' checks and the training call
(``routers.fitting.train_minibatch`` on a seeded validation share of the training queries)."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from graphroute.routers.baselines.common import TextRouter, check_int, check_number, check_seed
from graphroute.routers.fitting import train_minibatch, validation_split

__all__ = ["MinibatchRouter"]


class MinibatchRouter(TextRouter):
    """A text baseline trained with AdamW over mini-batches of query rows, early-stopped on validation loss.

    Subclasses have the parameters epochs, lr, weight_decay, batch_size, patience,
    validation_fraction and seed (plus their own).
    """

    epochs: int
    lr: float
    weight_decay: float
    batch_size: int
    patience: int
    validation_fraction: float
    seed: int

    def _check_training_params(self, *sizes: str) -> None:
        """The optimisation parameters (and the integer ``sizes`` of the subclass's network), fit-time."""
        who = type(self).__name__
        for name in (*sizes, "epochs", "batch_size", "patience"):
            check_int(who, name, getattr(self, name), 1)
        check_number(who, "lr", self.lr, 0.0, open_lo=True)
        check_number(who, "weight_decay", self.weight_decay, 0.0)
        check_number(who, "validation_fraction", self.validation_fraction, 0.0, 0.9)
        check_seed(who, self.seed)

    def _train(self, net: nn.Module, loss_fn: Callable[[Tensor], Tensor], n_rows: int) -> list[dict]:
        """Train ``net`` on ``loss_fn`` over ``n_rows`` query rows; returns the per-epoch history."""
        tr, va = validation_split(n_rows, self.validation_fraction, self.seed)
        return train_minibatch(net, loss_fn, tr, va, epochs=self.epochs, lr=self.lr, weight_decay=self.weight_decay,
                               patience=self.patience, batch_size=self.batch_size, seed=self.seed)
