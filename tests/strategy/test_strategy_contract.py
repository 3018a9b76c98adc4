"""Every registered strategy on every registered space (and the README's user-defined example
space) passes the strategy contract (``nasbeyond.testing.StrategyContract``), adversarial
results included: a new registry entry is checked on arrival."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import pytest

from nasbeyond.registry import create, names
from nasbeyond.strategy import RandomSearch
from nasbeyond.testing import StrategyContract, make_space

SPACES = [make_space(n) for n in [*names("space"), "user"]]
# Strategies that train a model on every result run small here: the contract checks behaviour,
# not the model's quality (bench/ measures that).
CHEAP = {"bananas": {"epochs": 20, "n_models": 3, "retrain_every": 4, "n_candidates": 20}}


class TestEveryStrategy(StrategyContract):
    def cases(self):
        return [
            (f"{st}-{sp.name}", partial(create, "strategy", st, **CHEAP.get(st, {})), sp)
            for st in names("strategy")
            for sp in SPACES
        ]


# The contract can fail: strategies that break the failure rule or their state are caught.


class RetriesFailures(RandomSearch):
    """Proposes the last failed arch again: a failure treated as worth another try."""

    def __init__(self, space, seed=None):
        super().__init__(space, seed)
        self.retry = None

    def ask(self):
        arch, self.retry = self.retry, None
        return arch if arch is not None else super().ask()

    def tell(self, trial):
        super().tell(trial)
        if trial.status != "ok":
            self.retry = trial.arch


class ContinuesFailures(RandomSearch):
    """Names a failed trial as the parent to continue from."""

    last_failed = None

    def propose(self):
        p = super().propose()
        return replace(p, parent=self.last_failed) if self.last_failed else p

    def tell(self, trial):
        super().tell(trial)
        if trial.status != "ok":
            self.last_failed = trial.id


class ForgetsItsState(RandomSearch):
    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (RetriesFailures, "proposes again an arch whose latest trial failed"),
        (ContinuesFailures, "which failed"),
        (ForgetsItsState, "state_dict must restore exactly"),
    ],
)
def test_the_contract_catches_a_broken_strategy(bad, message):
    with pytest.raises(AssertionError, match=message):
        StrategyContract().test_adversarial_tells(bad, make_space("mlp"), "mostly-failed")
