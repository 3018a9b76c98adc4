"""Random search: uniform samples from the space, never the same arch twice."""

from __future__ import annotations

from typing import Any

from nasbeyond.arch import Arch, arch_key
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


@register("strategy", "random")
class RandomSearch(Strategy):
    """Samples archs independently; returns None once ``max_tries`` samples in a row repeat.
    An arch is never proposed twice, nor one that was told (failed or not); nothing else is
    learned from results.

    Example:
        >>> from nasbeyond.space import MLPSpace
        >>> s = RandomSearch(MLPSpace(), seed=0)
        >>> arch = s.ask()
    """

    def __init__(self, space: Space, seed: int | None = None, max_tries: int = 1000) -> None:
        super().__init__(space, seed)
        self.max_tries = max_tries
        self._seen: set[str] = set()

    def ask(self) -> Arch | None:
        for _ in range(self.max_tries):
            arch = self.space.sample(self.rng)
            key = arch_key(arch)
            if key not in self._seen:
                self._seen.add(key)
                return arch
        return None

    def tell(self, trial: Trial) -> None:
        self._seen.add(arch_key(trial.arch))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": sorted(self._seen)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._seen = set(state["seen"])
