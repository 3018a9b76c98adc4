"""Large-Scale Evolution (Real et al., "Large-Scale Evolution of Image Classifiers", ICML 2017).

The population starts from trivial models. Each proposal is a tournament: two individuals drawn
at random, the worse one dies at once, and the better one reproduces: its child is one
mutation away (from the space's mutation set — on ``evolution-cnn`` the paper's list, learning
rate included), or an identical copy that keeps training ("identity"), or an identical copy
whose weights are reset ("reset weights"). Except after a reset, the child names its parent
(``Proposal.parent``) and the trainer starts it from the parent's trained weights wherever
layer names and shapes still match. The child joins the population when it finishes; a
child that fails never joins it, and its arch is not proposed again (see ``Strategy``): a
failed trivial model gives way to random ones, a copy of a failed arch to a mutation.
"""

from __future__ import annotations

from typing import Any

from nasbeyond.arch import Arch, arch_key
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Proposal, Trial

EXTRA_MOVES = ("identity", "reset_weights")


@register("strategy", "large-scale-evolution")
class LargeScaleEvolution(Strategy):
    """Tournament-of-two evolution with weight inheritance.

    Args:
        population_size: individuals proposed before tournaments start (trivial models when the
            space offers ``trivial()``, random ones otherwise).
    """

    def __init__(self, space: Space, seed: int | None = None, population_size: int = 10) -> None:
        if population_size < 2:
            raise ConfigError(f"population_size is {population_size}; allowed: >= 2")
        super().__init__(space, seed)
        self.population_size = population_size
        self._population: list[list[Any]] = []  # [trial_id, arch, reward]
        self._asked = 0
        self.last_move: str | None = None

    def ask(self) -> Arch | None:
        p = self.propose()
        return None if p is None else p.arch

    def _initial(self) -> Arch:
        trivial = getattr(self.space, "trivial", None)
        if callable(trivial):
            arch: Arch = trivial()
            if arch_key(arch) not in self._failed:
                return arch
        return self._fresh(lambda: self.space.sample(self.rng))

    def propose(self) -> Proposal | None:
        self._asked += 1
        if self._asked <= self.population_size or len(self._population) < 2:
            self.last_move = "initial"
            return Proposal(self._initial())
        i, j = (int(k) for k in self.rng.choice(len(self._population), size=2, replace=False))
        win, lose = sorted((i, j), key=lambda k: self._population[k][2], reverse=True)
        tid, arch, _ = self._population[win]
        del self._population[lose]
        roll = int(self.rng.integers(11 + len(EXTRA_MOVES)))  # the paper: 13 equally likely
        if roll < len(EXTRA_MOVES) and arch_key(arch) not in self._failed:
            self.last_move = EXTRA_MOVES[roll]
            return Proposal(arch, parent=tid if roll == 0 else None)
        named = getattr(self.space, "mutate_named", None)
        moves: list[str] = []

        def mutate() -> Arch:
            if callable(named):
                child, move = named(arch, self.rng)
            else:
                child, move = self.space.mutate(arch, self.rng), "mutate"
            moves.append(move)
            return child

        child = self._fresh(mutate)
        self.last_move = moves[-1]
        return Proposal(child, parent=tid)

    def tell(self, trial: Trial) -> None:
        reward = self._learn(trial)
        if reward is not None:
            self._population.append([trial.id, trial.arch, reward])

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "population": self._population, "asked": self._asked}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._population = [list(m) for m in state["population"]]
        self._asked = int(state["asked"])
