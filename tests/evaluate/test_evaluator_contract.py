"""Built-in evaluators pass the evaluator contract (``nasbeyond.testing.EvaluatorContract``):
the toy evaluator, the NAS-Bench-201 table and a trainer cut to a few steps."""

from __future__ import annotations

import pytest

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator
from nasbeyond.space import MLPSpace, NB201Space
from nasbeyond.testing import EvaluatorContract, ToyEvaluator
from nasbeyond.train import Trainer
from nasbeyond.trial import Budget, Result


class TestToyEvaluator(EvaluatorContract):
    evaluator = ToyEvaluator()
    space = MLPSpace()
    bad_archs = (None, [], "mlp", {"widths": {1, 2}})  # it knows no space: only non-archs


class TestNB201Table(EvaluatorContract):
    evaluator = NB201TableEvaluator(latency_device="pixel3")
    space = NB201Space()
    bad_archs = (None, [], {"nonsense": 1}, {"edges": ["conv_9x9"] * 6})
    bad_budgets = (Budget(epochs=7),)


class TestTrainer(EvaluatorContract):
    evaluator = Trainer(MLPSpace(max_layers=2), dataset="digits", steps=3, batch_size=16)
    space = MLPSpace(max_layers=2)
    samples = 2


class Lenient(ToyEvaluator):
    """Scores anything, archs the space would reject included: a broken evaluator."""

    def __call__(self, arch, budget, ctx):
        return Result("ok", 0.5)


def test_the_contract_catches_an_evaluator_that_scores_bad_input(tmp_path):
    class Check(EvaluatorContract):
        evaluator = Lenient()
        space = MLPSpace()

    with pytest.raises(AssertionError, match="expected an exception or a failed Result"):
        Check().test_bad_input_is_an_error_or_a_failure(tmp_path)


def test_the_contract_catches_a_result_that_is_not_one(tmp_path):
    class Check(EvaluatorContract):
        evaluator = staticmethod(lambda arch, budget, ctx: {"status": "ok", "reward": 1.0})
        space = MLPSpace()

    with pytest.raises(AssertionError, match="not a Result"):
        Check().test_returns_a_result(tmp_path)
