"""ENAS: shared weights and the LSTM controller alternate each epoch, the final arch is the best
of the sampled paths, and a search killed after an epoch resumes to the same result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot import MemoryLog, OneShotData, make_supernet
from nasbeyond.oneshot.enas import ENAS
from nasbeyond.space import make_space
from nasbeyond.trial import TaskShape

TASK = TaskShape((1, 10, 10), 3)
SPACES = {"macro-cnn": {"max_layers": 3}, "nb201": {"channels": 4, "cells": 1}}


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, *TASK.input_shape, generator=g) * 0.5
    x[:, 0, :3, :3] += y.view(-1, 1, 1).float()  # learnable: the class shows in one corner
    return OneShotData(x[:64], y[:64], x[64:], y[64:], TASK)


def _method(**kw):
    args = dict(seed=0, epochs=2, batch_size=32, controller_steps=3, final_samples=3)
    return ENAS(**{**args, "recalibrate": 1, **kw})


class Recorded(ENAS):
    """ENAS that remembers the order of its phases."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.phases: list[str] = []
        self.controller_snapshots: list[list[float]] = []

    def train_weights(self, supernet, policy, *args):
        self.phases.append("weights")
        return super().train_weights(supernet, policy, *args)

    def train_controller(self, supernet, policy, *args):
        self.phases.append("controller")
        out = super().train_controller(supernet, policy, *args)
        params = policy.controller.parameters()
        self.controller_snapshots.append([float(p.detach().sum()) for p in params])
        return out


@pytest.mark.parametrize("name", sorted(SPACES))
def test_weights_and_controller_alternate(name):
    space = make_space(name, SPACES[name])
    torch.manual_seed(0)
    net = make_supernet(space, TASK)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    method = Recorded(
        seed=0, epochs=2, batch_size=32, controller_steps=3, final_samples=3, recalibrate=1
    )
    log = MemoryLog()
    arch = method.search(net, _data(), None, log)
    assert method.phases == ["weights", "controller", "weights", "controller"]
    a, b = method.controller_snapshots
    assert a != b  # the controller learned in the second epoch too
    assert any(not torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert [e["epoch"] for e in log.epochs] == [1, 2]
    assert all(e["weight_steps"] == 2 and e["controller_steps"] == 3 for e in log.epochs)
    assert all(0 <= e["reward_mean"] <= 1 for e in log.epochs)
    # the arch returned is the best of the scored samples
    assert len(log.candidates) == 3
    best = max(log.candidates, key=lambda c: c["score"])
    assert space.validate(arch) == best["arch"]


class Killed(MemoryLog):
    def epoch(self, record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt  # the run dies after epoch 1's checkpoint
        super().epoch(record)


def test_killed_search_resumes_to_the_same_state(tmp_path):
    space = make_space("macro-cnn", SPACES["macro-cnn"])
    data = _data()

    def fresh():
        torch.manual_seed(0)
        return make_supernet(space, TASK)

    whole = fresh()
    arch = _method().search(whole, data, None, MemoryLog())
    with pytest.raises(KeyboardInterrupt):
        _method().search(fresh(), data, tmp_path, Killed())
    assert (tmp_path / "method.pt").exists()
    resumed_net, log = fresh(), MemoryLog()
    resumed = _method().search(resumed_net, data, tmp_path, log)
    assert [e["epoch"] for e in log.epochs] == [2]  # epoch 1 was not repeated
    assert resumed == arch
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(resumed_net.state_dict()[k], v, rtol=0, atol=0)


def test_controller_state_round_trips():
    space = make_space("macro-cnn", SPACES["macro-cnn"])
    method = _method()
    net = make_supernet(space, TASK)
    policy = method.controller(net)
    data = _data()
    method.train_controller(net, policy, data, epoch=1, first_id=0)
    copy = method.controller(net)
    copy.load_state_dict(policy.state_dict())
    draws = [policy.sample() for _ in range(4)]
    assert [copy.sample() for _ in range(4)] == draws
    assert np.allclose(copy.probabilities()[0], policy.probabilities()[0])


@pytest.mark.parametrize(
    "kw", [{"epochs": 0}, {"controller_lr": -1.0}, {"baseline_decay": 1.0}, {"final_samples": 0}]
)
def test_bad_settings_are_config_errors(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        ENAS(**kw)
