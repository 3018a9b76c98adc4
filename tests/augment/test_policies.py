"""Published policies, policy files and their errors, the policy spaces, and the augmentation
search from the CLI: search, export, reuse; the RandAugment grid visits every point once."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nasbeyond.augment.space import PolicySpace
from nasbeyond.augment.transforms import AutoAugment, load_policy, published_policy
from nasbeyond.cli import main
from nasbeyond.exceptions import ConfigError, SpaceError
from nasbeyond.run.store import SQLiteStore
from nasbeyond.strategy import GridSearch


@pytest.mark.parametrize("name", ["cifar10", "svhn", "imagenet"])
def test_published_policies(name):
    policy = published_policy(name)
    assert len(policy) == 25 and all(len(sub) == 2 for sub in policy)
    x = torch.randint(0, 256, (32, 3, 16, 16), dtype=torch.uint8)
    assert AutoAugment(name, seed=0)(x).shape == x.shape
    for i in range(4):
        assert len(published_policy(f"detection_v{i}")) >= 5


def test_cifar10_policy_first_entries_are_the_papers():
    assert published_policy("cifar10")[0] == [["Invert", 0.1, 7], ["Contrast", 0.2, 6]]
    assert published_policy("cifar10")[1] == [["Rotate", 0.7, 2], ["TranslateX", 0.3, 9]]


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ([], "expected a non-empty list of sub-policies"),
        ([[["Blur", 0.5, 3]]], "unknown operation 'Blur'"),
        ([[["Rotate", 1.5, 3]]], "probability 1.5; allowed: a number in 0..1"),
        ([[["Rotate", 0.5, 12]]], "magnitude 12; allowed: 0..9"),
        ([[["Rotate", 0.5]]], "must be [operation, probability, magnitude_bin]"),
    ],
)
def test_bad_policy_files_name_the_entry(tmp_path, policy, message):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(policy))
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_policy(str(path))


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-5, 20)
        | st.floats(-1, 2)
        | st.sampled_from(["Rotate", "Invert", "x"]),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.sampled_from(["policy", "n"]), inner, max_size=2)
        ),
        max_leaves=12,
    )
)
def test_policy_json_fuzz_is_one_line_error_or_ok(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("p") / "p.json"
    path.write_text(json.dumps(data))
    try:
        policy = load_policy(str(path))
    except ConfigError as e:
        assert "\n" not in str(e) and str(e).startswith("policy")
    else:
        x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
        assert AutoAugment(policy, seed=0)(x).shape == x.shape


def test_grid_visits_every_point_once_and_resumes():
    from nasbeyond.augment.space import RandAugmentSpace

    space = RandAugmentSpace(ns=(1, 2, 3), ms=(3, 6, 9))
    g = GridSearch(space, seed=0)
    first = [g.ask() for _ in range(4)]
    state = json.loads(json.dumps(g.state_dict()))
    resumed = GridSearch(space, seed=99)
    resumed.load_state_dict(state)
    rest = []
    while (a := resumed.ask()) is not None:
        rest.append(a)
    points = {(a["n"], a["m"]) for a in first + rest}
    assert len(first + rest) == 9 and len(points) == 9
    lexi = GridSearch(space, shuffle=False)
    assert [lexi.ask() for _ in range(2)] == [{"n": 1, "m": 3}, {"n": 1, "m": 6}]


def test_policy_space_mutation_changes_one_entry():
    space = PolicySpace()
    rng = np.random.default_rng(0)
    a = space.sample(rng)
    b = space.mutate(a, rng)
    flat_a = [v for sub in a["policy"] for e in sub for v in e]
    flat_b = [v for sub in b["policy"] for e in sub for v in e]
    assert sum(x != y for x, y in zip(flat_a, flat_b, strict=True)) == 1


def test_augment_search_export_and_reuse(tmp_path, capsys):
    run_dir = str(tmp_path / "a")
    argv = ["augment", "search", "--dataset", "digits", "--trials", "3", "--steps", "15"]
    argv += ["--evaluator-arg", "subset=600", "--executor", "inline", "--run-dir", run_dir]
    assert main(argv) == 0
    trials = SQLiteStore(run_dir, create=False).trials()
    assert len(trials) == 3 and all(t.status == "ok" for t in trials)
    capsys.readouterr()
    assert main(["augment", "export", run_dir]) == 0
    out, err = capsys.readouterr()
    path = out.strip()
    assert "--augment autoaugment:" in err
    policy = load_policy(path)  # what AutoAugment loads
    assert len(policy) == 5
    # the searched policy trains a model in an ordinary search
    argv = ["search", "--space", "mlp", "--dataset", "digits", "--trials", "1", "--epochs", "1"]
    argv += [
        "--augment",
        f"autoaugment:{path}",
        "--executor",
        "inline",
        "--run-dir",
        str(tmp_path / "b"),
    ]
    assert main(argv) == 0
    assert main(["search", "--dataset", "digits", "--augment", "randaugment:9", "--check"]) == 2
    assert "augment: 'randaugment:9'; expected randaugment:N,M" in capsys.readouterr().err


def test_randaugment_grid_from_the_cli(tmp_path):
    run_dir = str(tmp_path / "g")
    argv = ["augment", "randaugment-grid", "--dataset", "digits", "--space-arg", "ns=[1,2]"]
    argv += [
        "--space-arg",
        "ms=[4,8]",
        "--steps",
        "10",
        "--executor",
        "inline",
        "--run-dir",
        run_dir,
    ]
    assert main(argv) == 0
    trials = SQLiteStore(run_dir, create=False).trials()
    assert sorted((t.arch["n"], t.arch["m"]) for t in trials) == [(1, 4), (1, 8), (2, 4), (2, 8)]


def test_policy_space_names_the_bad_bin():
    space = PolicySpace()
    arch = space.sample(np.random.default_rng(1))
    arch["policy"][2][1][1] = 0.25  # not one of the 11 probability bins
    with pytest.raises(SpaceError, match=r"sub-policy 2 entry 1: probability 0.25 / magnitude \d"):
        space.validate(arch)
