"""The space contract: sample / mutate / validate / build / decisions / from_choices agree with
each other. Subclass ``SpaceContract`` in a pytest file to run it on a space."""

from __future__ import annotations

import json
import math
import pickle
import re
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import pytest
import torch

from nasbeyond.arch import arch_key
from nasbeyond.exceptions import SpaceError
from nasbeyond.space import Space
from nasbeyond.testing._common import OneTorchThread
from nasbeyond.trial import TaskShape

SpaceCase = tuple[str, Space, TaskShape]  # test id, space, a task its models must fit

MALFORMED: tuple[Any, ...] = (None, [], {}, {"nonsense": 1})
_cases: dict[type, Sequence[SpaceCase]] = {}  # built once per class, spaces shared


class SpaceContract(OneTorchThread):
    """Checks that every search space must pass. Subclass it in a test file::

        from nasbeyond.testing import SpaceContract, TaskShape
        from my_package import MySpace

        class TestMySpace(SpaceContract):
            space = MySpace()
            task = TaskShape((1, 12, 12), 3)  # a small task its models must fit

    To check several spaces with one class, override ``cases``. Needs pytest.
    """

    space: ClassVar[Space]
    task: ClassVar[TaskShape]

    def cases(self) -> Sequence[SpaceCase]:
        """What the checks run on: ``(test id, space, task)`` triples; by default the class's
        ``space`` and ``task``."""
        space, task = getattr(self, "space", None), getattr(self, "task", None)
        if not isinstance(space, Space) or not isinstance(task, TaskShape):
            raise TypeError(
                f"{type(self).__name__}: set space = <a Space> and task = TaskShape(...) on the "
                "class, or override cases()"
            )
        return [(space.name, space, task)]

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "space" not in metafunc.fixturenames:
            return
        if type(self) not in _cases:
            _cases[type(self)] = self.cases()
        cases = _cases[type(self)]
        ids = [i for i, _, _ in cases]
        if "task" in metafunc.fixturenames:
            metafunc.parametrize(("space", "task"), [(s, t) for _, s, t in cases], ids=ids)
        else:
            metafunc.parametrize("space", [s for _, s, _ in cases], ids=ids)

    def test_samples_are_valid_json_archs(self, space: Space) -> None:
        rng = np.random.default_rng(0)
        for _ in range(30):
            arch = space.sample(rng)
            assert space.validate(arch) is arch, "validate must return the arch it was given"
            assert json.loads(json.dumps(arch)) == arch, "an arch is JSON: dict, list, str, num"

    def test_sampling_is_reproducible(self, space: Space) -> None:
        a = [space.sample(np.random.default_rng(7)) for _ in range(2)]
        assert a[0] == a[1], "the same seed must give the same arch"

    def test_mutation_is_valid_and_changes_the_arch(self, space: Space) -> None:
        rng = np.random.default_rng(1)
        for _ in range(50):
            arch = space.sample(rng)
            before = json.dumps(arch, sort_keys=True)
            child = space.mutate(arch, rng)
            space.validate(child)
            assert arch_key(child) != arch_key(arch), "a mutation must change the arch"
            assert json.dumps(arch, sort_keys=True) == before, "mutate must not modify its input"

    def test_from_choices_covers_every_decision(self, space: Space) -> None:
        decisions = space.decisions()
        assert decisions, "a space needs at least one decision"
        assert all(len(d.choices) >= 2 for d in decisions), "a decision needs two choices"
        rng = np.random.default_rng(2)
        seen = set()
        for _ in range(30):
            arch = space.from_choices([int(rng.integers(len(d.choices))) for d in decisions])
            space.validate(arch)
            seen.add(arch_key(arch))
        size = math.prod(len(d.choices) for d in decisions)
        assert len(seen) > min(20, size // 2), "different choices must give different archs"
        with pytest.raises(SpaceError):
            space.from_choices([0] * (len(decisions) - 1))  # one choice short

    def test_built_model_trains_one_step(self, space: Space, task: TaskShape) -> None:
        rng = np.random.default_rng(3)
        if space.builds == "transform":  # augmentation spaces build a batch transform
            x = torch.randint(0, 256, (6, *task.input_shape), dtype=torch.uint8)
            for _ in range(3):
                y = space.build(space.sample(rng), task)(x)
                assert y.shape == x.shape and y.dtype == torch.uint8
            return
        if space.builds == "pipeline":  # tabular spaces build a scikit-learn Pipeline
            n_cat = len(task.categories)
            rows = rng.normal(size=(40, math.prod(task.input_shape)))
            rows[:, :n_cat] = rng.integers(0, min(task.categories or (2,)), size=(40, n_cat))
            labels = np.arange(40) % task.num_classes
            for _ in range(3):
                pipe: Any = space.build(space.sample(rng), task)  # a Pipeline, not a Module
                pipe.fit(rows, labels)
                assert pipe.predict(rows).shape == (40,)
            return
        from nasbeyond.evaluate import count_macs, count_params

        if space.builds == "detector":  # detection spaces: raw per-level outputs, loss, detect
            boxes = [torch.tensor([[1.0, 2.0, 9.0, 12.0]]), torch.zeros(0, 4)]
            classes = [torch.tensor([task.num_classes - 1]), torch.zeros(0, dtype=torch.long)]
            for _ in range(3):
                model: Any = space.build(space.sample(rng), task)
                x = torch.randn(2, *task.input_shape)
                outs = model(x)
                assert isinstance(outs, tuple) and all(o.shape[0] == 2 for o in outs)
                model.loss(x, boxes, classes).backward()
                assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
                found = model.eval().detect(x, score_threshold=0.0, max_detections=5)
                assert len(found) == 2 and all(len(f["boxes"]) <= 5 for f in found)
                assert count_params(model) > 0 and count_macs(model, task.input_shape) > 0
            return
        for _ in range(3):
            model = space.build(space.sample(rng), task)
            x = torch.randn(4, *task.input_shape)
            out = model(x)
            assert out.shape == (4, task.num_classes)
            out.sum().backward()
            assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
            assert count_params(model) > 0 and count_macs(model, task.input_shape) > 0

    @pytest.mark.parametrize("bad", MALFORMED, ids=repr)
    def test_malformed_archs_are_rejected(self, space: Space, bad: Any) -> None:
        with pytest.raises(SpaceError, match=re.escape(space.name)):
            space.validate(bad)

    def test_describe_is_one_line(self, space: Space) -> None:
        line = space.describe(space.sample(np.random.default_rng(4)))
        assert line and "\n" not in line

    def test_pickles(self, space: Space) -> None:
        # Spaces travel to worker processes inside evaluators.
        copy = pickle.loads(pickle.dumps(space))
        rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
        for _ in range(3):
            arch = space.sample(rng_a)
            assert copy.sample(rng_b) == arch
            assert copy.validate(arch) == arch
