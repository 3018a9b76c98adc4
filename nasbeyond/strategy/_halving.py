"""Multi-fidelity scheduling around any strategy: asynchronous successive halving (ASHA, Li et
al., MLSys 2020) and its Hyperband form (several brackets, each starting at a different rung).

Rungs are budgets in epochs: min_budget * eta^k below max_budget, then max_budget. Whenever a
worker is free, the best not-yet-promoted trial in the top 1/eta of some rung is promoted to the
next rung, continuing from its checkpoint (``Proposal.parent``); otherwise the wrapped strategy
proposes a new arch for the lowest rung of the next bracket.

A rung's trials are ranked by (reward, earlier trial first): failed trials rank below every
ok one and are never promoted, and equal rewards are broken by trial id, not by the order in
which results came back.
"""

from __future__ import annotations

import math
from typing import Any

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import create, register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy, ok_reward
from nasbeyond.trial import Proposal, Trial

FAILED = -math.inf  # a failed trial's place in a rung: below every finite reward


def rungs(min_budget: float, max_budget: float, eta: float) -> list[float]:
    out = []
    b = min_budget
    while b < max_budget * (1 - 1e-9):
        out.append(round(b, 6))
        b *= eta
    return out + [max_budget]


@register("strategy", "asha")
class ASHA(Strategy):
    """Asynchronous successive halving.

    Args:
        base: the registered strategy that proposes new archs (told lowest-rung results).
        base_args: its arguments.
        min_budget, max_budget: the lowest and highest rung, in epochs.
        eta: promotion rate: the top 1/eta of a rung move up.
        brackets: 1 for ASHA; more for asynchronous Hyperband.
    """

    default_brackets = 1

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        base: str = "random",
        base_args: dict[str, Any] | None = None,
        min_budget: float = 1.0,
        max_budget: float = 9.0,
        eta: float = 3.0,
        brackets: int | None = None,
    ) -> None:
        if not 0 < min_budget <= max_budget:
            raise ConfigError(
                f"min_budget, max_budget are {min_budget}, {max_budget}; allowed: "
                "0 < min_budget <= max_budget"
            )
        if eta <= 1:
            raise ConfigError(f"eta is {eta}; allowed: > 1")
        super().__init__(space, seed)
        self.rungs = rungs(min_budget, max_budget, eta)
        self.eta = eta
        self.brackets = min(brackets or self.default_brackets or len(self.rungs), len(self.rungs))
        if self.brackets < 1:
            raise ConfigError(f"brackets is {brackets}; allowed: >= 1")
        self.base: Strategy = create("strategy", base, space=space, seed=seed, **(base_args or {}))
        # per bracket, per rung: [trial_id, reward, arch] of finished trials
        self._results: list[list[list[Any]]] = [
            [[] for _ in self.rungs] for _ in range(self.brackets)
        ]
        self._bracket_of: dict[int, int] = {}
        self._promoted: set[int] = set()
        self._promising: dict[int, int] = {}  # parent id -> bracket, for promotions in flight
        self._new = 0
        # Hyperband's allotment: bracket b (s = rungs above its start) gets
        # ceil((s_max + 1) / (s + 1) * eta^s) new archs per cycle, most to the low-budget start.
        s_max = len(self.rungs) - 1
        self._cycle = [
            b
            for b in range(self.brackets)
            for _ in range(math.ceil((s_max + 1) / (s_max - b + 1) * eta ** (s_max - b)))
        ]

    def ask(self) -> Arch | None:
        p = self.propose()
        return None if p is None else p.arch

    def propose(self) -> Proposal | None:
        for b in range(self.brackets):
            for k in range(len(self.rungs) - 2, b - 1, -1):
                # Rank on two criteria compared as a tuple: reward, then the earlier trial.
                done = sorted(self._results[b][k], key=lambda r: (r[1], -r[0]), reverse=True)
                for tid, reward, arch in done[: int(len(done) / self.eta)]:
                    if tid not in self._promoted and reward > FAILED:
                        self._promoted.add(tid)
                        self._promising[tid] = b
                        return Proposal(arch, self.rungs[k + 1], parent=tid)
        arch = self.base.ask()
        if arch is None:
            return None
        b = self._cycle[self._new % len(self._cycle)]
        self._new += 1
        return Proposal(arch, self.rungs[b])

    def tell(self, trial: Trial) -> None:
        reward = ok_reward(trial)
        if reward is None:
            reward = FAILED
        if trial.parent is not None and trial.parent in self._promising:
            bracket = self._promising.pop(trial.parent)
        else:
            bracket = self.rungs.index(trial.budget) if trial.budget in self.rungs else 0
            bracket = min(bracket, self.brackets - 1)
            self.base.tell(trial)
        self._bracket_of[trial.id] = bracket
        k = self.rungs.index(trial.budget) if trial.budget in self.rungs else 0
        self._results[bracket][k].append([trial.id, reward, trial.arch])

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "base": self.base.state_dict(),
            "results": [
                [[[t, r if r > FAILED else None, a] for t, r, a in rung] for rung in br]
                for br in self._results
            ],
            "promoted": sorted(self._promoted),
            "promising": {str(k): v for k, v in self._promising.items()},
            "bracket_of": {str(k): v for k, v in self._bracket_of.items()},
            "new": self._new,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.base.load_state_dict(state["base"])
        self._results = [
            [[[t, FAILED if r is None else r, a] for t, r, a in rung] for rung in br]
            for br in state["results"]
        ]
        self._promoted = set(state["promoted"])
        self._promising = {int(k): v for k, v in state["promising"].items()}
        self._bracket_of = {int(k): v for k, v in state["bracket_of"].items()}
        self._new = state["new"]


@register("strategy", "hyperband")
class Hyperband(ASHA):
    """Asynchronous Hyperband: ASHA with one bracket per rung, bracket b starting at rung b,
    hedging against a misleading low rung. New archs are dealt to brackets in Hyperband's
    proportions (Li et al., JMLR 2018): many to the cheap brackets, few to the expensive ones."""

    default_brackets = 0  # 0: as many brackets as rungs
