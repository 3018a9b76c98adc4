"""DARTS (Liu et al. 2019): first- and second-order architecture steps (the finite-difference
Hessian-vector product against the exact one), resume from a checkpoint, and the collapse guard
changing the outcome where unguarded DARTS collapses into skip connections."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot import MemoryLog, OneShotData, make_supernet
from nasbeyond.oneshot.darts import DARTS
from nasbeyond.space import make_space
from nasbeyond.trial import TaskShape

TASK = TaskShape((1, 8, 8), 4)


def _net(channels=2, cells=1, seed=0):
    torch.manual_seed(seed)
    return make_supernet(make_space("nb201", {"channels": channels, "cells": cells}), TASK)


def _quadrants(n=512, seed=0):
    """4 classes: which quadrant of an 8x8 noise image has the largest mean."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 8, 8, generator=g)
    q = torch.stack([x[:, 0, i : i + 4, j : j + 4].mean((1, 2)) for i in (0, 4) for j in (0, 4)])
    y = q.argmax(0)
    h = n // 2
    return OneShotData(x[:h], y[:h], x[h:], y[h:], TASK)


def test_second_order_gradient_matches_the_exact_unrolled_gradient(monkeypatch):
    # ReLU's kinks make a finite difference of a 0.01-norm step meaningless on a net this
    # small; with softplus (smooth) the central difference converges and the check is exact
    monkeypatch.setattr(torch.nn.ReLU, "forward", lambda self, x: F.softplus(x))
    net = _net().double()
    g = torch.Generator().manual_seed(1)
    train = (torch.randn(8, 1, 8, 8, generator=g).double(), torch.randint(0, 3, (8,), generator=g))
    val = (torch.randn(8, 1, 8, 8, generator=g).double(), torch.randint(0, 3, (8,), generator=g))
    xi, wd = 0.05, 3e-4
    method = DARTS(order=2, w_weight_decay=wd)
    approx = method.unrolled_grad(net, train, val, xi)

    # exact: d/d alpha of L_val(w - xi * (grad_w L_train(w, alpha) + wd * w), alpha)
    names = dict(net.named_parameters())
    alpha_names = [n for n, p in names.items() if n.startswith("alphas.")]
    weight_names = [n for n in names if n not in alpha_names]
    params = {n: p.detach().clone().requires_grad_(True) for n, p in names.items()}
    buffers = dict(net.named_buffers())

    def loss(p, batch):
        return F.cross_entropy(functional_call(net, (p, buffers), (batch[0],)), batch[1])

    grads = torch.autograd.grad(
        loss(params, train), [params[n] for n in weight_names], create_graph=True, allow_unused=True
    )
    unrolled = dict(params)
    for n, gr in zip(weight_names, grads, strict=True):
        if gr is not None:
            unrolled[n] = params[n] - xi * (gr + wd * params[n])
    exact = torch.autograd.grad(loss(unrolled, val), [params[n] for n in alpha_names])
    first = _first_order(net, val)
    err, gap = (approx[0] - exact[0]).abs().max(), (first - exact[0]).abs().max()
    assert err < 0.01 * exact[0].abs().max()
    assert err < 0.05 * gap  # the second-order term matters here, and is what closes the gap
    # and the weights are restored after the virtual step
    for n in weight_names:
        assert torch.equal(names[n], params[n].detach())


def _first_order(net, val):
    net.zero_grad()
    F.cross_entropy(net(val[0]), val[1]).backward()
    return net.arch_parameters()[0].grad.clone()


def test_first_order_steps_move_alphas_then_weights_only():
    net = _net()
    data = _quadrants(64)
    method = DARTS(order=1, a_lr=0.1)
    w_opt, a_opt, _ = method.optimizers(net)
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    weights = [w.detach().clone() for w in net.weight_parameters()]
    batch = (data.x_train[:16], data.y_train[:16])
    method.arch_step(net, batch, (data.x_val[:16], data.y_val[:16]), 0.025, a_opt)
    assert not torch.equal(alphas[0], net.arch_parameters()[0])
    assert all(torch.equal(w, v) for w, v in zip(weights, net.weight_parameters(), strict=True))
    alphas = [a.detach().clone() for a in net.arch_parameters()]
    method.weight_step(net, batch, w_opt)
    assert torch.equal(alphas[0], net.arch_parameters()[0])
    assert any(not torch.equal(w, v) for w, v in zip(weights, net.weight_parameters(), strict=True))


class _Killed(Exception):
    pass


class _KillAfterFirstEpoch(MemoryLog):
    def epoch(self, record):
        super().epoch(record)
        raise _Killed  # after the checkpoint of epoch 1, as a SIGKILL would be


def test_a_search_resumed_from_its_checkpoint_ends_where_an_uninterrupted_one_does(tmp_path):
    data = _quadrants(128)
    kwargs = {"epochs": 2, "steps_per_epoch": 2, "batch_size": 16, "a_lr": 0.05}
    straight = _net()
    arch = DARTS(**kwargs).search(straight, data, tmp_path / "a", MemoryLog())
    with pytest.raises(_Killed):
        DARTS(**kwargs).search(_net(), data, tmp_path / "b", _KillAfterFirstEpoch())
    resumed = _net(seed=7)  # a fresh process: other initial weights, all overwritten
    log = MemoryLog()
    assert DARTS(**kwargs).search(resumed, data, tmp_path / "b", log) == arch
    assert [e["epoch"] for e in log.epochs] == [2]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_the_guard_changes_the_outcome_where_unguarded_darts_collapses():
    """A deep supernet (2 cells per stage), fast weights and a fast architecture step: plain
    DARTS piles onto skip_connect / none; DARTS-'s auxiliary skip keeps the parametric and
    pooling ops (the task - which quadrant is brightest - is an average-pooling task)."""
    data = _quadrants()
    found = {}
    for guard in ("none", "darts-"):
        net = _net(channels=4, cells=2)
        method = DARTS(guard=guard, epochs=8, steps_per_epoch=5, batch_size=32, w_lr=0.1, a_lr=0.03)
        found[guard] = net.skip_or_none(method.search(net, data, None, MemoryLog()))
    assert found["none"] >= 4  # collapsed: at least 4 of the 6 edges skip or none
    assert found["darts-"] <= 1


def test_early_stopping_guard_returns_the_arch_before_the_threshold():
    net = _net()
    before = net.derive()
    log = MemoryLog()
    method = DARTS(guard="es", max_skip_or_none=-1, epochs=3, steps_per_epoch=1, batch_size=8)
    assert method.search(net, _quadrants(64), None, log) == before
    assert len(log.epochs) == 1  # stopped after the first epoch crossed the threshold


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"order": 3}, "order=3; allowed: 1 or 2"), ({"guard": "x"}, "guard='x'; allowed: darts-")],
)
def test_bad_arguments_are_one_clear_error(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        DARTS(**kwargs)


def test_darts_needs_architecture_parameters():
    net = _net()
    for name in list(net.alphas):
        del net.alphas[name]
    with pytest.raises(ConfigError, match="no architecture parameters|has none"):
        DARTS().search(net, _quadrants(32), None, MemoryLog())
