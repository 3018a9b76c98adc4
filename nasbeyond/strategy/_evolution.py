"""Aging (regularized) evolution, Real et al. 2019, "Regularized Evolution for Image Classifier
Architecture Search": keep the P most recent models; pick S at random, mutate the best of them;
the oldest model dies whatever its accuracy."""

from __future__ import annotations

from typing import Any

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


@register("strategy", "evolution")
class AgingEvolution(Strategy):
    """Aging evolution with population ``population_size`` and tournament ``sample_size``.

    The first ``population_size`` asks are random samples; after that every ask mutates the
    winner of a tournament among ``sample_size`` members of the living population (ties: the
    first drawn). Failed trials never join the population, and their archs are not proposed
    again (see ``Strategy``). A member joins as ``space.after_training(arch, metrics)``: its
    own arch, or, in a space that learns structure while training (``assemblenet``), the arch
    pruned by what its training learned (AssembleNet's connection-weight learning).
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        population_size: int = 10,
        sample_size: int = 3,
    ) -> None:
        if population_size < 1:
            raise ConfigError(f"population_size is {population_size}; allowed: >= 1")
        if not 1 <= sample_size <= population_size:
            raise ConfigError(
                f"sample_size is {sample_size}; allowed: 1..population_size ({population_size})"
            )
        super().__init__(space, seed)
        self.population_size = population_size
        self.sample_size = sample_size
        self._population: list[tuple[Arch, float]] = []  # oldest first
        self._asked = 0

    def ask(self) -> Arch | None:
        self._asked += 1
        if self._asked <= self.population_size or not self._population:
            return self._fresh(lambda: self.space.sample(self.rng))
        k = min(self.sample_size, len(self._population))
        picks = self.rng.choice(len(self._population), size=k, replace=False)
        parent = max((self._population[int(i)] for i in picks), key=lambda m: m[1])[0]
        return self._fresh(lambda: self.space.mutate(parent, self.rng))

    def tell(self, trial: Trial) -> None:
        reward = self._learn(trial)
        if reward is None:
            return
        # Lamarckian spaces hand their children what training learned (Space.after_training)
        self._population.append((self.space.after_training(trial.arch, trial.metrics), reward))
        if len(self._population) > self.population_size:
            self._population.pop(0)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "population": [[a, r] for a, r in self._population],
            "asked": self._asked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._population = [(a, float(r)) for a, r in state["population"]]
        self._asked = int(state["asked"])
