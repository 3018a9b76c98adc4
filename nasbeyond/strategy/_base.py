"""The Strategy contract: a controller that only asks and tells; the loop belongs to ``run``."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from nasbeyond.arch import Arch, arch_key
from nasbeyond.space import Space
from nasbeyond.trial import Proposal, Trial

REDRAWS = 100  # draws a strategy spends looking for an arch that has not failed


def ok_reward(trial: Trial) -> float | None:
    """The reward a strategy may learn from: the trial's reward if its status is ``ok`` and the
    reward is a finite number, else None (the trial is a failure)."""
    r = trial.reward
    if trial.status != "ok" or r is None or not math.isfinite(r):
        return None
    return float(r)


class Strategy(ABC):
    """Proposes archs from a space and learns from their results.

    ``state_dict`` must return JSON-able data from which ``load_state_dict`` restores the
    strategy exactly, so a resumed run continues without replaying its trials.

    What every strategy learns from a failed trial — one whose status is not ``ok``, or that
    is ``ok`` without a finite reward (a multi-objective strategy: without a finite value of
    every objective):

    - A failure is never evidence that its arch is good. No strategy picks it as a parent,
      promotes it, counts it in a good group, or rewards its choices.
    - It may count as bad — ranked below every ok trial, never above one — or be ignored.
    - Its arch is not proposed again while the arch's latest trial is a failure: retrying is
      the user's call (``TPE(dedup=False)`` asks for repeats). Continuing an ok trial of the
      same arch (a promotion that names it in ``Proposal.parent``) is not a retry.

    This is Optuna's rule: its samplers learn only from complete (and pruned) trials, so
    TPE's densities l(x) and g(x) (Bergstra et al. 2011) both leave failed trials out.
    ``ok_reward`` tells a failure from a success; ``_learn`` does the same and remembers the
    failed archs that ``_fresh`` steers proposals away from.
    """

    def __init__(self, space: Space, seed: int | None = None) -> None:
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._failed: set[str] = set()  # archs whose latest told trial failed

    @abstractmethod
    def ask(self) -> Arch | None:
        """The next arch to evaluate, or None when the strategy has nothing left to propose."""

    def propose(self) -> Proposal | None:
        """What the loop calls: ``ask`` wrapped in a Proposal. Schedulers that choose budgets
        (successive halving, Hyperband) override this instead."""
        arch = self.ask()
        return None if arch is None else Proposal(arch)

    @abstractmethod
    def tell(self, trial: Trial) -> None:
        """Learn from a finished trial (failed ones included; see the class docstring for what
        a failure may teach). Trials may arrive in any order, and may name archs this strategy
        never proposed."""

    def _learn(self, trial: Trial) -> float | None:
        """``ok_reward(trial)``; a failure's arch is remembered as failed (until an ok trial of
        the same arch is told), so that ``_fresh`` does not propose it again."""
        reward = ok_reward(trial)
        key = arch_key(trial.arch)
        if reward is None:
            self._failed.add(key)
        else:
            self._failed.discard(key)
        return reward

    def _fresh(self, draw: Callable[[], Arch]) -> Arch:
        """``draw()`` again while it gives an arch that failed, at most ``REDRAWS`` times (then
        the last draw: the space has nothing else near). Without failures ``draw`` runs once,
        so seeded results of runs without failures do not depend on this."""
        arch = draw()
        for _ in range(REDRAWS):
            if arch_key(arch) not in self._failed:
                break
            arch = draw()
        return arch

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "failed": sorted(self._failed)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._failed = set(state.get("failed", ()))  # absent in checkpoints of older versions
