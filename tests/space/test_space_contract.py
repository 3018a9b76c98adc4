"""Every registered space passes the same checks: sample / mutate / validate / build /
decisions / from_choices agree with each other."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from nasbeyond.arch import arch_key
from nasbeyond.evaluate import count_macs, count_params
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import names
from tests.conftest import SMALL_TASKS, make_space

SPACES = names("space")


@pytest.fixture(params=[*SPACES, "user"])
def space(request):
    return make_space(request.param)


def test_every_space_has_a_small_task():
    assert set(SPACES) <= set(SMALL_TASKS), "add a TaskShape for the new space to conftest"


def test_samples_are_valid_json_archs(space):
    rng = np.random.default_rng(0)
    for _ in range(30):
        arch = space.sample(rng)
        assert space.validate(arch) is arch
        assert json.loads(json.dumps(arch)) == arch


def test_sampling_is_reproducible(space):
    a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
    assert a[0] == a[1]


def test_mutation_is_valid_and_changes_the_arch(space):
    rng = np.random.default_rng(1)
    for _ in range(50):
        arch = space.sample(rng)
        before = json.dumps(arch, sort_keys=True)
        child = space.mutate(arch, rng)
        space.validate(child)
        assert arch_key(child) != arch_key(arch)
        assert json.dumps(arch, sort_keys=True) == before, "mutate must not modify its input"


def test_from_choices_covers_every_decision(space):
    decisions = space.decisions()
    assert decisions and all(len(d.choices) >= 2 for d in decisions)
    rng = np.random.default_rng(2)
    seen = set()
    for _ in range(30):
        arch = space.from_choices([int(rng.integers(len(d.choices))) for d in decisions])
        space.validate(arch)
        seen.add(arch_key(arch))
    assert len(seen) > 20
    with pytest.raises(SpaceError):
        space.from_choices([0])


def test_built_model_trains_one_step(space):
    task = SMALL_TASKS[space.name]
    rng = np.random.default_rng(3)
    if space.builds == "transform":  # augmentation spaces build a batch transform
        x = torch.randint(0, 256, (6, *task.input_shape), dtype=torch.uint8)
        for _ in range(3):
            y = space.build(space.sample(rng), task)(x)
            assert y.shape == x.shape and y.dtype == torch.uint8
        return
    for _ in range(3):
        model = space.build(space.sample(rng), task)
        x = torch.randn(4, *task.input_shape)
        out = model(x)
        assert out.shape == (4, task.num_classes)
        out.sum().backward()
        assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
        assert count_params(model) > 0 and count_macs(model, task.input_shape) > 0


@pytest.mark.parametrize("bad", [None, [], {}, {"nonsense": 1}])
def test_malformed_archs_are_rejected(space, bad):
    with pytest.raises(SpaceError, match=space.name):
        space.validate(bad)


def test_describe_is_one_line(space):
    line = space.describe(space.sample(np.random.default_rng(4)))
    assert line and "\n" not in line
