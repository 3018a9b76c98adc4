"""SPOS: uniform single-path training, BatchNorm recalibration, and a registered strategy
searching the trained supernet on the one loop with inherited weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot import MemoryLog, OneShotData, make_supernet, recalibrate_bn
from nasbeyond.oneshot.spos import SPOS
from nasbeyond.run import MemoryStore, run
from nasbeyond.space import make_space
from nasbeyond.trial import TaskShape

TASK = TaskShape((1, 10, 10), 3)
SPACES = {
    "macro-cnn": {"max_layers": 2},
    "mnasnet": {"blocks": 2, "width_mult": 0.25},
    "nb201": {"channels": 4, "cells": 1},
}


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, *TASK.input_shape, generator=g) * 0.5
    x[:, 0, :3, :3] += y.view(-1, 1, 1).float()
    return OneShotData(x[:64], y[:64], x[64:], y[64:], TASK)


def _memory_loop(seen):
    def loop(strategy, evaluator, trials):
        store = MemoryStore()
        best = run(strategy.space, strategy, evaluator, store=store, trials=trials)
        seen.extend(store.trials())
        return best

    return loop


@pytest.mark.parametrize("name", sorted(SPACES))
def test_evolution_searches_the_trained_supernet_with_inherited_weights(name):
    space = make_space(name, SPACES[name])
    torch.manual_seed(0)
    net = make_supernet(space, TASK)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    trials: list = []
    log = MemoryLog(_memory_loop(trials))
    method = SPOS(
        seed=0, epochs=1, batch_size=32, trials=4, population_size=2, sample_size=2, recalibrate=1
    )
    arch = method.search(net, _data(), None, log)
    assert [e["epoch"] for e in log.epochs] == [1]
    assert any(not torch.equal(v, net.state_dict()[k]) for k, v in before.items())
    assert len(trials) == 4 and all(t.status == "ok" for t in trials)
    assert all(t.metrics["inherited"] for t in trials)  # scored, never trained
    assert arch == max(trials, key=lambda t: (t.reward, -t.id)).arch
    assert space.validate(arch) == arch


def test_recalibration_re_estimates_the_path_statistics():
    space = make_space("macro-cnn", SPACES["macro-cnn"])
    torch.manual_seed(0)
    net = make_supernet(space, TASK)
    arch = {"layers": [{"kh": 3, "kw": 5, "filters": 24, "stride": 1, "skips": []}]}
    bn = net.layers[0]["3x5"].bn
    bn.running_mean.fill_(7.0)  # stale statistics, as other paths leave them
    x = _data().x_train
    recalibrate_bn(net, arch, x, batch_size=len(x), steps=1)
    w = net.layers[0]["3x5"].weights[0][:24]
    conv = F.conv2d(x, w, None, 1, (1, 2))
    # one batch of the whole split: the running mean is that batch's mean, exactly
    torch.testing.assert_close(bn.running_mean[:24], conv.mean(dim=(0, 2, 3)))
    assert torch.all(bn.running_mean[24:] == 0)  # reset, and no path channel beyond 24


def test_killed_search_resumes_the_supernet_from_its_last_epoch(tmp_path):
    space = make_space("macro-cnn", SPACES["macro-cnn"])

    class Killed(MemoryLog):
        def epoch(self, record):
            if record["epoch"] == 2:
                raise KeyboardInterrupt
            super().epoch(record)

    def method():
        return SPOS(
            seed=0,
            epochs=2,
            batch_size=32,
            trials=2,
            population_size=2,
            sample_size=2,
            recalibrate=1,
        )

    def fresh():
        torch.manual_seed(0)
        return make_supernet(space, TASK)

    whole = fresh()
    arch = method().search(whole, _data(), None, MemoryLog(_memory_loop([])))
    with pytest.raises(KeyboardInterrupt):
        method().search(fresh(), _data(), tmp_path, Killed(_memory_loop([])))
    resumed_net, log = fresh(), MemoryLog(_memory_loop([]))
    assert method().search(resumed_net, _data(), tmp_path, log) == arch
    assert [e["epoch"] for e in log.epochs] == [2]
    for k, v in whole.state_dict().items():
        torch.testing.assert_close(resumed_net.state_dict()[k], v, rtol=0, atol=0)


@pytest.mark.parametrize(
    "kw, field",
    [({"epochs": 0}, "epochs"), ({"trials": -1}, "trials"), ({"strategy": "nope"}, "nope")],
)
def test_bad_settings_are_config_errors(kw, field):
    with pytest.raises(ConfigError, match=field):
        SPOS(**kw)
