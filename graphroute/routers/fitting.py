"""The one early-stopping training loop of graphroute's neural routers.

Every learned router (the MLP, MF and GraphRouter baselines; the graph router's members may
adopt it too) trains the same way: one optimisation step per epoch (full batch or a pass over
mini-batches), then, when there is a validation set, a validation figure under ``no_grad``; the
best state so far is kept, training stops after ``patience`` epochs without an improvement
larger than the tolerance, and the best state is restored. The tolerances live here, one per
kind of validation figure, so that no loop restates them. The loop runs under ``deterministic()``,
so that one seed gives one network whatever the number of threads' timing.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["GNN_LOSS_TOLERANCE", "LOSS_TOLERANCE", "REWARD_TOLERANCE", "MIN_VALIDATION_ROWS", "deterministic",
           "fit_loop", "train_minibatch", "validation_split"]

GNN_LOSS_TOLERANCE = 1e-5  # the graph router: a validation loss must drop by more than this to count
LOSS_TOLERANCE = 1e-6  # MLP and MF baselines: the same for their validation loss
REWARD_TOLERANCE = 1e-9  # GraphRouter baseline: its validation reward must rise by more than this
MIN_VALIDATION_ROWS = 10  # below this many rows there is no validation split (train on all, keep the last state)


class _Determinism:
    """torch's process-wide deterministic-algorithms setting, held on while any fit runs."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.before = (False, False)  # the caller's (mode, warn_only), restored when the last fit leaves

    @contextmanager
    def hold(self) -> Iterator[None]:
        with self.lock:
            if self.depth == 0:
                self.before = (torch.are_deterministic_algorithms_enabled(),
                               torch.is_deterministic_algorithms_warn_only_enabled())
                torch.use_deterministic_algorithms(True, warn_only=self.before[0] and self.before[1])
            self.depth += 1
        try:
            yield
        finally:
            with self.lock:
                self.depth -= 1
                if self.depth == 0:
                    torch.use_deterministic_algorithms(self.before[0], warn_only=self.before[1])


_DETERMINISM = _Determinism()


def deterministic() -> AbstractContextManager[None]:
    """torch's deterministic kernels while the block runs; the caller's setting is restored after.

    The gradient of indexing a CPU tensor with an index tensor (the graph router's neighbour and pair
    states, the GraphRouter baseline's edge endpoints) accumulates through ``index_put_(accumulate=True)``,
    whose parallel CPU kernel adds in an order set by thread timing: with two or more threads, two fits of
    one seed part after a few epochs. The deterministic path adds in a fixed order; results stay specific
    to the thread count (matrix products split their sums by it). The setting is process-wide: nested or
    concurrent fits share it, the first to enter switches it on and the last to leave restores the
    caller's (a caller that had it on with ``warn_only`` keeps ``warn_only``).
    """
    return _DETERMINISM.hold()


def validation_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, validation) row indices; no validation when it would hold no row or n < MIN_VALIDATION_ROWS."""
    n_val = int(round(n * fraction))
    if n < MIN_VALIDATION_ROWS or n_val < 1:
        return np.arange(n), np.zeros(0, dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def fit_loop(net: nn.Module, step: Callable[[int], float], validate: Callable[[], float] | None, *,
             epochs: int | Iterable[int], patience: int, tolerance: float, maximize: bool = False,
             key: str = "val_loss", on_record: Callable[[dict], None] | None = None) -> list[dict]:
    """Train ``net`` with early stopping and restore its best validation state; returns the history.

    ``step(epoch)`` runs one epoch of optimisation (``net`` is in train mode) and returns its
    training loss. ``validate()`` (None: no validation set) returns the validation figure; it
    runs with ``net`` in eval mode under ``torch.no_grad``. An epoch improves when the figure
    beats the best so far by more than ``tolerance`` (lower is better, or higher with
    ``maximize``); after ``patience`` epochs without one, training stops. ``epochs`` is a count
    or an iterable of epoch numbers (e.g. a progress bar). Each record is
    ``{"epoch", "train_loss"[, key]}``; ``on_record`` sees it when the validation figure is in.
    Without a validation set the last state is kept. ``net`` is left in eval mode.
    """
    best, best_state, since, hist = (-math.inf if maximize else math.inf), None, 0, []
    with deterministic():
        for epoch in (range(epochs) if isinstance(epochs, int) else epochs):
            net.train()
            rec = {"epoch": epoch, "train_loss": step(epoch)}
            if validate is not None:
                net.eval()
                with torch.no_grad():
                    v = float(validate())
                rec[key] = v
                if (v > best + tolerance) if maximize else (v < best - tolerance):
                    best, since, best_state = v, 0, copy.deepcopy(net.state_dict())
                else:
                    since += 1
                if on_record is not None:
                    on_record(rec)
            hist.append(rec)
            if since >= patience:
                break
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return hist


def train_minibatch(net: nn.Module, loss_fn: Callable[[Tensor], Tensor], train_idx: np.ndarray,
                    val_idx: np.ndarray, *, epochs: int, lr: float, weight_decay: float, patience: int,
                    batch_size: int, seed: int) -> list[dict]:
    """AdamW over shuffled mini-batches of rows, with ``fit_loop``'s early stopping on the validation loss.

    ``loss_fn(rows)`` returns the mean loss of the given rows (a LongTensor of row indices).
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    tr, va = torch.as_tensor(train_idx), torch.as_tensor(val_idx)

    def step(epoch: int) -> float:
        perm = tr[torch.randperm(len(tr), generator=gen)]
        total = 0.0
        for s in range(0, len(perm), batch_size):
            loss = loss_fn(perm[s:s + batch_size])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(perm[s:s + batch_size])
        return total / max(len(perm), 1)

    return fit_loop(net, step, (lambda: loss_fn(va)) if len(va) else None, epochs=epochs, patience=patience,
                    tolerance=LOSS_TOLERANCE)
