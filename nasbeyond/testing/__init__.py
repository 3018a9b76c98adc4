"""Test helpers that ship with nasbeyond: evaluators for tests, benchmarks and dry runs; small
task shapes for the built-in spaces; and the contract suites, which check a user's own space,
strategy or evaluator exactly as nasbeyond's tests check its built-in ones::

    # test_my_space.py, run with pytest
    from nasbeyond.testing import SpaceContract, TaskShape
    from my_package import MySpace

    class TestMySpace(SpaceContract):
        space = MySpace()
        task = TaskShape((1, 12, 12), 3)

``StrategyContract`` and ``EvaluatorContract`` are used the same way (see their docstrings).

Importing ``nasbeyond.testing`` does not import pytest (spawned workers import ``ToyEvaluator``
from here): the contract classes load on first use, and only they need pytest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from nasbeyond.testing._spaces import EXAMPLE_SPACE, SMALL_TASKS, make_space
from nasbeyond.testing._toy import FAULTS, ToyEvaluator, pseudo_reward
from nasbeyond.trial import TaskShape

if TYPE_CHECKING:
    from nasbeyond.testing._adversarial import SCENARIOS, adversarial_trials
    from nasbeyond.testing._evaluator_contract import EvaluatorContract
    from nasbeyond.testing._space_contract import SpaceContract
    from nasbeyond.testing._strategy_contract import StrategyContract

# name -> module, imported when the name is first asked for (the contracts import pytest)
_LAZY = {
    "SpaceContract": "nasbeyond.testing._space_contract",
    "StrategyContract": "nasbeyond.testing._strategy_contract",
    "EvaluatorContract": "nasbeyond.testing._evaluator_contract",
    "SCENARIOS": "nasbeyond.testing._adversarial",
    "adversarial_trials": "nasbeyond.testing._adversarial",
}

__all__ = [
    "EXAMPLE_SPACE",
    "FAULTS",
    "SCENARIOS",
    "SMALL_TASKS",
    "EvaluatorContract",
    "SpaceContract",
    "StrategyContract",
    "TaskShape",
    "ToyEvaluator",
    "adversarial_trials",
    "make_space",
    "pseudo_reward",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
