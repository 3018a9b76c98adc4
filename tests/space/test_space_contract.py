"""Every registered space, and the README's user-defined example, passes the space contract
(``nasbeyond.testing.SpaceContract``): a new registry entry is checked on arrival."""

from __future__ import annotations

import pytest

from nasbeyond.registry import names
from nasbeyond.space import MLPSpace
from nasbeyond.testing import SMALL_TASKS, SpaceContract, make_space

SPACES = names("space")


def test_every_space_has_a_small_task():
    assert set(SPACES) <= set(SMALL_TASKS), "add a TaskShape for the new space to SMALL_TASKS"


class TestEverySpace(SpaceContract):
    def cases(self):
        return [(n, make_space(n), SMALL_TASKS[n]) for n in [*SPACES, "user"]]


class TestAUserSubclass(SpaceContract):
    """The README's five lines, as a user writes them."""

    space = make_space("mlp")
    task = SMALL_TASKS["mlp"]


class MutatesInPlace(MLPSpace):
    """A broken space: its mutation edits the arch it was given."""

    def mutate(self, arch, rng):
        child = super().mutate(arch, rng)
        arch["dropout"] = 0.123
        return child


class LetsAnythingIn(MLPSpace):
    """A broken space: validate accepts anything."""

    def validate(self, arch):
        return arch


@pytest.mark.parametrize(
    ("broken", "check", "message"),
    [
        (MutatesInPlace, "test_mutation_is_valid_and_changes_the_arch", "must not modify"),
        (LetsAnythingIn, "test_malformed_archs_are_rejected", "DID NOT RAISE"),
    ],
)
def test_the_contract_catches_a_broken_space(broken, check, message):
    args = {"bad": {"nonsense": 1}} if check == "test_malformed_archs_are_rejected" else {}
    with pytest.raises((AssertionError, pytest.fail.Exception), match=message):
        getattr(SpaceContract(), check)(broken(), **args)
