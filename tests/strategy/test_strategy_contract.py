"""Every registered strategy on every registered space: only valid archs, reproducible by seed,
survives failed trials, and its state round-trips through state_dict (as JSON)."""

from __future__ import annotations

import json

import pytest

from nasbeyond.arch import arch_key
from nasbeyond.registry import create, names
from nasbeyond.testing import pseudo_reward
from nasbeyond.trial import Trial
from tests.conftest import make_space

PAIRS = [(st, sp) for st in names("strategy") for sp in [*names("space"), "user"]]


def make(strategy: str, space: str, seed: int = 0):
    return create("strategy", strategy, space=make_space(space), seed=seed)


def drive(strategy, n: int, fail_every: int = 0, start_id: int = 1) -> list[str]:
    """Ask/tell n times with a deterministic reward; returns the arch keys asked."""
    keys = []
    for i in range(start_id, start_id + n):
        p = strategy.propose()
        assert p is not None
        strategy.space.validate(p.arch)
        keys.append(arch_key(p.arch) + f"@{p.budget}")
        if fail_every and i % fail_every == 0:
            trial = Trial(i, p.arch, "failed", None, error="boom", budget=p.budget, parent=p.parent)
        else:
            trial = Trial(i, p.arch, "ok", pseudo_reward(p.arch), budget=p.budget, parent=p.parent)
        strategy.tell(trial)
    return keys


@pytest.mark.parametrize(("strategy", "space"), PAIRS)
def test_valid_and_reproducible(strategy, space):
    a = drive(make(strategy, space, seed=3), 25)
    b = drive(make(strategy, space, seed=3), 25)
    c = drive(make(strategy, space, seed=4), 25)
    assert a == b
    assert a != c


@pytest.mark.parametrize(("strategy", "space"), PAIRS)
def test_survives_failed_trials(strategy, space):
    s = make(strategy, space)
    assert len(drive(s, 30, fail_every=2)) == 30
    s = make(strategy, space)
    assert len(drive(s, 10, fail_every=1)) == 10  # every trial failed


@pytest.mark.parametrize(("strategy", "space"), PAIRS)
def test_state_round_trips(strategy, space):
    s = make(strategy, space, seed=5)
    drive(s, 12)
    state = json.loads(json.dumps(s.state_dict()))  # the store keeps it as JSON
    restored = make(strategy, space, seed=999)
    restored.load_state_dict(state)
    assert drive(restored, 10, start_id=13) == drive(s, 10, start_id=13)


@pytest.mark.parametrize(("strategy", "space"), PAIRS)
def test_tell_in_any_order(strategy, space):
    # With parallel workers, results come back out of order.
    s = make(strategy, space)
    props = [s.propose() for _ in range(6)]
    for i in (3, 0, 5, 1, 4, 2):
        p = props[i]
        s.tell(Trial(i + 1, p.arch, "ok", pseudo_reward(p.arch), budget=p.budget, parent=p.parent))
    assert s.propose() is not None
