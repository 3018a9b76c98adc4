"""The evaluator contract: a Result for every arch of the space, a copy that pickles (workers
receive one), and bad input turned into an error or a failed Result, never into success.
Subclass ``EvaluatorContract`` in a pytest file to run it on an evaluator."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from nasbeyond.space import Space
from nasbeyond.testing._common import OneTorchThread
from nasbeyond.trial import Budget, Context, Evaluator, Result

STATUSES = ("ok", "failed", "pruned")


def _call(evaluator: Evaluator, arch: Any, budget: Budget, ctx: Context) -> Result | Exception:
    """The evaluator's Result, or the exception it raised (what the executor would catch)."""
    try:
        return evaluator(arch, budget, ctx)
    except Exception as e:  # the executor turns any Exception into a failed trial
        return e


class EvaluatorContract(OneTorchThread):
    """Checks that every evaluator must pass. Subclass it in a test file::

        from nasbeyond.space import MLPSpace
        from nasbeyond.testing import EvaluatorContract
        from my_package import MyEvaluator

        class TestMyEvaluator(EvaluatorContract):
            evaluator = MyEvaluator()
            space = MLPSpace()  # the archs it is given are sampled from here

    What an evaluator must do (the executor relies on it):

    - Return a ``Result`` for an arch of the space: status ``ok``, ``failed`` or ``pruned``;
      an ok one with a finite float reward; JSON-able metrics (the store keeps them as JSON);
      a finite, non-negative ``cost_s``; a failed one with its error text.
    - Pickle: worker processes receive a pickled copy, which must give the same results
      (unless ``deterministic = False``).
    - Turn bad input (``bad_archs``, ``bad_budgets``) into an exception (the executor makes it
      a failed trial carrying the exception's text) or a failed Result — never into success,
      and never by exiting the process.

    Class settings: ``budget`` (what good calls get), ``bad_archs``, ``bad_budgets``,
    ``samples`` (archs evaluated), ``deterministic``. Needs pytest.
    """

    evaluator: ClassVar[Evaluator]
    space: ClassVar[Space]
    budget: ClassVar[Budget] = Budget()
    bad_archs: ClassVar[tuple[Any, ...]] = (None, [], {"nonsense": 1})
    bad_budgets: ClassVar[tuple[Budget, ...]] = ()
    samples: ClassVar[int] = 3
    deterministic: ClassVar[bool] = True

    def _subject(self) -> tuple[Evaluator, Space]:
        # from the class, so that a plain function is not bound as a method
        evaluator, space = getattr(type(self), "evaluator", None), getattr(self, "space", None)
        if not callable(evaluator) or not isinstance(space, Space):
            raise TypeError(
                f"{type(self).__name__}: set evaluator = <an evaluator> and space = <a Space> "
                "on the class"
            )
        return evaluator, space

    def _archs(self, space: Space) -> list[Any]:
        rng = np.random.default_rng(0)
        return [space.sample(rng) for _ in range(self.samples)]

    def test_returns_a_result(self, tmp_path: Path) -> None:
        evaluator, space = self._subject()
        statuses = []
        for i, arch in enumerate(self._archs(space), start=1):
            r = evaluator(arch, self.budget, Context(i, seed=i, run_dir=str(tmp_path)))
            assert isinstance(r, Result), f"returned {type(r).__name__}, not a Result"
            assert r.status in STATUSES, f"status {r.status!r}; allowed: {', '.join(STATUSES)}"
            if r.status == "ok":
                assert isinstance(r.reward, float) and math.isfinite(r.reward), (
                    f"an ok Result needs a finite float reward, not {r.reward!r}"
                )
            if r.status == "failed":
                assert isinstance(r.error, str) and r.error, "a failed Result needs its error"
            assert isinstance(r.metrics, dict) and all(isinstance(k, str) for k in r.metrics)
            json.dumps(r.metrics)  # raises TypeError for what JSON cannot hold
            assert math.isfinite(r.cost_s) and r.cost_s >= 0, f"cost_s is {r.cost_s}"
            statuses.append(r.status)
        assert "ok" in statuses, f"no arch of {space.name} evaluated ok: {statuses}"

    def test_pickles(self, tmp_path: Path) -> None:
        evaluator, space = self._subject()
        copy = pickle.loads(pickle.dumps(evaluator))
        if not self.deterministic:
            return
        arch = self._archs(space)[0]
        ctx_a = Context(1, seed=1, run_dir=str(tmp_path / "a"))
        ctx_b = Context(1, seed=1, run_dir=str(tmp_path / "b"))
        a, b = evaluator(arch, self.budget, ctx_a), copy(arch, self.budget, ctx_b)
        assert (a.status, a.reward) == (b.status, b.reward), "the pickled copy differs"

    def test_bad_input_is_an_error_or_a_failure(self, tmp_path: Path) -> None:
        evaluator, space = self._subject()
        good = self._archs(space)[0]
        bad = [(arch, self.budget) for arch in self.bad_archs]
        bad += [(good, budget) for budget in self.bad_budgets]
        for i, (arch, budget) in enumerate(bad, start=1):
            out = _call(evaluator, arch, budget, Context(i, seed=i, run_dir=str(tmp_path)))
            if isinstance(out, Exception):
                assert str(out), f"arch {arch!r}, {budget}: {type(out).__name__} without a text"
            else:
                assert isinstance(out, Result) and out.status == "failed" and out.error, (
                    f"arch {arch!r}, {budget}: expected an exception or a failed Result, got "
                    f"{out!r}"
                )
