"""A store-less loop for benchmark tables: the same ask / evaluate / tell sequence and the same
budget rule as ``run`` (the trial that crosses the budget counts), without checkpoints, so that
hundreds of repeated searches over a lookup table take seconds. Use ``run`` for real searches."""

from __future__ import annotations

from dataclasses import dataclass

from nasbeyond.strategy import Strategy
from nasbeyond.trial import Budget, Context, Evaluator, Trial


@dataclass(frozen=True)
class Step:
    trial: Trial
    spent: float  # cumulative cost after this trial


def simulate(
    strategy: Strategy, evaluator: Evaluator, budget_seconds: float, max_trials: int = 100_000
) -> list[Step]:
    """Sequential search (one worker) until the summed cost reaches ``budget_seconds``."""
    steps: list[Step] = []
    budgets: dict[int, float | None] = {}
    spent = 0.0
    tid = 0
    while spent < budget_seconds and tid < max_trials:
        p = strategy.propose()
        if p is None:
            break
        tid += 1
        parent_budget = budgets.get(p.parent) if p.parent is not None else None
        r = evaluator(
            p.arch, Budget(epochs=p.budget), Context(tid, tid, None, 1, p.parent, parent_budget)
        )
        budgets[tid] = p.budget
        trial = Trial(
            tid, p.arch, r.status, r.reward, r.metrics, r.cost_s, r.error, p.budget, p.parent
        )
        strategy.tell(trial)
        spent += r.cost_s
        steps.append(Step(trial, spent))
    return steps
