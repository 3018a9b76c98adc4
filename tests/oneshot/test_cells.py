"""Cell supernets (nb201, darts): every op of every edge held once; a path computes exactly what
the standalone model computes with the path's weights copied in; the derivation rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot import make_supernet
from nasbeyond.oneshot.cells import MixedEdge
from nasbeyond.space import make_space
from nasbeyond.space.cells import DARTS_OPS
from nasbeyond.space.nb201 import EDGES, OPS
from nasbeyond.trial import TaskShape

TASK = TaskShape((1, 8, 8), 3)
SPACES = {"nb201": {"channels": 2, "cells": 1}, "darts": {"channels": 2, "cells": 1}}


def _supernet(name):
    torch.manual_seed(0)
    space = make_space(name, SPACES[name])
    return space, make_supernet(space, TASK)


@pytest.mark.parametrize("name", sorted(SPACES))
def test_path_output_equals_the_standalone_model_with_copied_weights(name):
    space, net = _supernet(name)
    x = torch.randn(6, *TASK.input_shape)
    net.train()
    net(x)  # running statistics away from their initial values
    rng = np.random.default_rng(0)
    for _ in range(3):
        arch = space.sample(rng)
        model = net.path_model(arch)
        assert type(model) is type(space.build(arch, TASK))
        for training in (True, False):
            net.train(training)
            model.train(training)
            assert torch.equal(net(x, arch), model(x))


@pytest.mark.parametrize("name", sorted(SPACES))
def test_every_op_of_every_edge_is_held_once(name):
    space, net = _supernet(name)
    edges = [m for m in net.modules() if isinstance(m, MixedEdge)]
    ops = OPS if name == "nb201" else DARTS_OPS
    per_cell = len(EDGES) if name == "nb201" else 14
    cells = 3 if name == "nb201" else 3 * SPACES[name]["cells"] + 2
    assert len(edges) == per_cell * cells
    assert all(tuple(e.ops) == ops for e in edges)
    assert len({id(p) for p in net.parameters()}) == sum(1 for _ in net.parameters())


@pytest.mark.parametrize("name", sorted(SPACES))
def test_the_relaxation_trains_weights_and_arch_parameters(name):
    space, net = _supernet(name)
    out = net(torch.randn(4, *TASK.input_shape))
    assert out.shape == (4, TASK.num_classes)
    out.sum().backward()
    assert all(a.grad is not None and a.grad.abs().sum() > 0 for a in net.arch_parameters())
    ids = {id(a) for a in net.arch_parameters()}
    assert not ids & {id(p) for p in net.weight_parameters()}
    assert space.validate(net.derive()) == net.derive()


def test_nb201_derives_the_argmax_op_per_edge_none_included():
    _, net = _supernet("nb201")
    pick = [0, 1, 2, 3, 4, 3]
    with torch.no_grad():
        net.alphas["cell"].zero_()
        for k, j in enumerate(pick):
            net.alphas["cell"][k, j] = 1.0
    assert net.derive() == {"edges": [OPS[j] for j in pick]}


def test_darts_derives_the_two_strongest_inputs_without_none():
    _, net = _supernet("darts")
    none, sep3, skip = (DARTS_OPS.index(o) for o in ("none", "sep_conv_3x3", "skip_connect"))
    with torch.no_grad():
        for a in net.alphas.values():
            a.zero_()
            a[:, none] = 10.0  # none dominates every edge: it must still be ignored
        a = net.alphas["normal"]
        # node 3 (index 1) has edges from states 0, 1, 2 at rows 2, 3, 4
        a[2, sep3] = 2.0
        a[4, skip] = 3.0
        a[3, sep3] = 1.0
    node = net.derive()["normal"][1]
    assert node == {"inputs": [0, 2], "ops": ["sep_conv_3x3", "skip_connect"]}
    assert all("none" not in n["ops"] for n in net.derive()["normal"])


def test_a_space_without_a_supernet_is_one_clear_error():
    with pytest.raises(ConfigError, match="'mlp' has no supernet.*allowed: .*darts.*nb201"):
        make_supernet(make_space("mlp", {}), TaskShape((4,), 2))


def test_aux_skip_adds_beta_x_on_stride_one_edges():
    _, net = _supernet("nb201")
    net.eval()
    x = torch.randn(2, *TASK.input_shape)
    plain = net(x)
    net.aux_skip = 0.5
    assert not torch.allclose(net(x), plain)
    arch = {"edges": ["nor_conv_3x3"] * 6}
    net.aux_skip = 0.0
    path = net(x, arch)
    net.aux_skip = 0.5
    assert torch.equal(net(x, arch), path)  # a path never sees the auxiliary skip
