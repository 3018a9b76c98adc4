"""The Strategy contract: a controller that only asks and tells; the loop belongs to ``run``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from nasbeyond.arch import Arch
from nasbeyond.space import Space
from nasbeyond.trial import Proposal, Trial


class Strategy(ABC):
    """Proposes archs from a space and learns from their results.

    ``state_dict`` must return JSON-able data from which ``load_state_dict`` restores the
    strategy exactly, so a resumed run continues without replaying its trials.
    """

    def __init__(self, space: Space, seed: int | None = None) -> None:
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)

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
        """Learn from a finished trial (failed ones included; ``trial.reward`` is then None)."""

    def state_dict(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
