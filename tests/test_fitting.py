"""The one early-stopping loop (graphroute.routers.fitting): patience, tolerance, best-state restore."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from graphroute.routers.fitting import LOSS_TOLERANCE, deterministic, fit_loop, train_minibatch, validation_split


def _net() -> nn.Linear:
    torch.manual_seed(0)
    return nn.Linear(1, 1)


def test_stops_after_patience_and_restores_the_best_state():
    net = _net()
    figures = iter([0.5, 0.3, 0.4, 0.35, 0.31, 0.9, 0.2])  # best at epoch 1, then 3 epochs without improvement

    def step(epoch: int) -> float:
        with torch.no_grad():
            net.weight.fill_(float(epoch))  # the weight records which epoch's state is kept
        return 1.0

    hist = fit_loop(net, step, lambda: next(figures), epochs=50, patience=3, tolerance=0.0)
    assert [r["epoch"] for r in hist] == [0, 1, 2, 3, 4]
    assert [r["val_loss"] for r in hist] == [0.5, 0.3, 0.4, 0.35, 0.31]
    assert float(net.weight.detach()) == 1.0 and not net.training  # epoch 1's state, in eval mode


def test_tolerance_and_maximize():
    def run(tolerance: float) -> list[dict]:
        figures = iter([0.1, 0.1 + 5e-10, 0.1 + 2e-9, 0.0])
        return fit_loop(_net(), lambda e: 0.0, lambda: next(figures), epochs=4, patience=1, tolerance=tolerance,
                        maximize=True, key="val_reward")

    assert len(run(1e-9)) == 2  # a rise of 5e-10 is within the tolerance: no improvement, patience 1 stops
    assert len(run(0.0)) == 4 and "val_reward" in run(0.0)[0]  # without it, 5e-10 and 2e-9 both count


def test_without_validation_the_last_state_is_kept_and_every_epoch_runs():
    net = _net()
    seen = []
    hist = fit_loop(net, lambda e: seen.append(e) or float(e), None, epochs=iter(range(4)), patience=1, tolerance=0.0)
    assert seen == [0, 1, 2, 3] and [r["train_loss"] for r in hist] == [0.0, 1.0, 2.0, 3.0]
    assert all("val_loss" not in r for r in hist)


def test_validation_split_is_seeded_and_skipped_for_tiny_sets():
    tr, va = validation_split(40, 0.25, seed=3)
    assert len(va) == 10 and not set(tr) & set(va) and sorted([*tr, *va]) == list(range(40))
    assert np.array_equal(validation_split(40, 0.25, seed=3)[1], va)
    assert len(validation_split(9, 0.5, seed=0)[1]) == 0


def test_train_minibatch_is_reproducible_and_learns():
    x = torch.linspace(-1, 1, 64)[:, None]
    y = 3 * x + 1

    def run():
        net = _net()
        hist = train_minibatch(net, lambda rows: ((net(x[rows]) - y[rows]) ** 2).mean(), np.arange(48),
                               np.arange(48, 64), epochs=60, lr=0.1, weight_decay=0.0, patience=5, batch_size=16,
                               seed=0)
        return net, hist

    (a, ha), (b, hb) = run(), run()
    assert ha == hb and torch.equal(a.weight, b.weight)  # same seed, bitwise the same
    assert ha[-1]["val_loss"] < ha[0]["val_loss"] / 10
    assert LOSS_TOLERANCE == pytest.approx(1e-6)


def _setting() -> tuple[bool, bool]:
    return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.parametrize("caller", [(False, False), (True, False), (True, True)])
def test_deterministic_is_on_inside_and_restores_the_callers_setting(caller):
    before = _setting()
    torch.use_deterministic_algorithms(caller[0], warn_only=caller[1])
    try:
        with deterministic():
            assert _setting() == (True, caller[0] and caller[1])  # a caller's warn_only is kept
            with deterministic():  # nested: still on, and leaving the inner block does not restore
                pass
            assert _setting()[0]
        assert _setting() == caller
        with pytest.raises(ValueError):  # an error inside restores too
            with deterministic():
                raise ValueError("inside")
        assert _setting() == caller
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_deterministic_is_shared_by_concurrent_fits():
    before = _setting()
    torch.use_deterministic_algorithms(False)
    entered, leave = threading.Event(), threading.Event()

    def other_fit():
        with deterministic():
            entered.set()
            leave.wait(5)

    try:
        t = threading.Thread(target=other_fit)
        t.start()
        assert entered.wait(5)
        with deterministic():
            pass
        assert _setting()[0]  # this block left first: the other fit still runs with it on
        leave.set()
        t.join(5)
        assert _setting() == (False, False)  # the last to leave restored the caller's setting
    finally:
        leave.set()
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def test_fit_loop_trains_under_deterministic_kernels():
    net, seen = _net(), []

    def step(epoch):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return 0.0

    fit_loop(net, step, None, epochs=2, patience=5, tolerance=0.0)
    assert seen == [True, True]
