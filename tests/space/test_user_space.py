"""User-defined spaces: a plain PyTorch build function asking ``c.choice``; conditional
choices, clear errors, and the whole CLI life cycle (search with spawned workers, resume,
show) from a FILE.py:FUNCTION reference."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasbeyond.cli import main
from nasbeyond.exceptions import SpaceError
from nasbeyond.run.store import SQLiteStore
from nasbeyond.space import FunctionSpace, TaskShape
from tests.conftest import EXAMPLE_SPACE

TASK = TaskShape((1, 8, 8), 4)


def test_conditional_choices_come_and_go():
    space = FunctionSpace(reference=EXAMPLE_SPACE)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(60)]
    for a in archs:
        depth = a["depth"]
        assert {f"block{i}.width" for i in range(depth)} <= set(a)
        assert f"block{depth}.width" not in a
        for i in range(depth):  # the pool size exists only after a downsample
            assert (f"block{i}.pool" in a) == a[f"block{i}.downsample"]
    assert {a["depth"] for a in archs} == {1, 2, 3}
    names = {d.name for d in space.decisions()}
    assert {"depth", "block2.pool", "hidden"} <= names  # found by the discovery runs
    shallow = {"depth": 1, "block0.width": 16, "block0.kernel": 3, "block0.downsample": False}
    shallow["hidden"] = 0
    model = space.build(space.validate(shallow), TASK)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 4)
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 1


def test_mutation_adds_and_drops_dependent_choices():
    space = FunctionSpace(reference=EXAMPLE_SPACE)
    rng = np.random.default_rng(1)
    grew = shrank = False
    for _ in range(200):
        parent = space.sample(rng)
        child = space.mutate(parent, rng)
        assert child != parent and space.validate(child) is child
        grew |= child["depth"] > parent["depth"]
        shrank |= child["depth"] < parent["depth"]
        if child["depth"] > parent["depth"]:
            assert f"block{parent['depth']}.width" in child
    assert grew and shrank


def test_errors_name_the_choice():
    space = FunctionSpace(reference=EXAMPLE_SPACE)
    good = space.sample(np.random.default_rng(2))
    with pytest.raises(SpaceError, match=r"depth is 7; allowed: 1, 2, 3"):
        space.validate({**good, "depth": 7})
    with pytest.raises(SpaceError, match="unknown field 'colour'"):
        space.validate({**good, "colour": "red"})
    with pytest.raises(SpaceError, match="missing choice 'hidden'"):
        space.validate({k: v for k, v in good.items() if k != "hidden"})

    def broken(c, task):
        return nn.Linear(c.choice("width", [1, 2]), "x")

    with pytest.raises(SpaceError, match="the build function failed: TypeError"):
        FunctionSpace(broken).sample(np.random.default_rng(0))

    def inconsistent(c, task):
        c.choice("k", [3, 5])
        c.choice("k", [3, 7])
        return nn.Identity()

    with pytest.raises(SpaceError, match="asked twice"):
        FunctionSpace(inconsistent).sample(np.random.default_rng(0))
    with pytest.raises(SpaceError, match="not a torch.nn.Module"):
        FunctionSpace(lambda c, task: c.choice("a", [1, 2])).sample(np.random.default_rng(0))


def test_cli_search_resume_show(tmp_path, capsys):
    run_dir = str(tmp_path / "u")
    argv = ["search", "--space", EXAMPLE_SPACE, "--dataset", "digits", "--epochs", "1"]
    argv += ["--strategy", "tpe", "--trials", "3", "--workers", "2", "--run-dir", run_dir]
    assert main(argv) == 0
    assert main(["resume", run_dir, "--trials", "5", "--workers", "2"]) == 0
    trials = SQLiteStore(run_dir, create=False).trials()
    assert len(trials) == 5 and all(t.status == "ok" for t in trials)
    assert len({str(sorted(t.arch.items())) for t in trials}) == 5
    capsys.readouterr()
    assert main(["show", run_dir]) == 0
    assert "depth=" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nowhere.py:build", "space: file nowhere.py does not exist"),
        (EXAMPLE_SPACE.replace(":build", ":nothing"), "has no function 'nothing'"),
        ("no.such.module:build", "space: cannot load no.such.module"),
        ("examples/user_space.py:", "expected FILE.py:FUNCTION"),
    ],
)
def test_bad_references_are_one_line(ref, message, capsys):
    assert main(["search", "--space", ref, "--dataset", "digits", "--check"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
