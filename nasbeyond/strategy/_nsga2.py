"""Multi-objective evolution with NSGA-II's selection (Deb et al. 2002), steady-state: parents
win binary tournaments by the crowded comparison; after each result the population keeps its
best ``population_size`` members by the same order. It searches for a Pareto front (e.g.
accuracy vs latency) instead of one best arch.

The crowded comparison (Deb et al. 2002, section III-B) orders on two criteria, compared as a
tuple and never folded into one number: the lower non-domination rank wins, and only between
equal ranks does the larger crowding distance win. A trial that failed, or did not report a
finite value of every objective, never joins the population (see ``Strategy``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from nasbeyond.arch import Arch, arch_key
from nasbeyond.evaluate.pareto import crowding, nondominated_sort, parse_objectives
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


def crowded_keys(points: Sequence[Sequence[float]]) -> list[tuple[int, float]]:
    """Each point's key for Deb et al. 2002's crowded comparison: (non-domination rank, minus
    crowding distance). The lower tuple wins: rank decides, crowding only between equal ranks
    (a duplicate inside the best front, crowding 0, still beats a lone point of the next)."""
    key = [(0, 0.0)] * len(points)
    for r, front in enumerate(nondominated_sort(points)):
        dist = crowding(points, front)
        for i in front:
            key[i] = (r, -dist[i])
    return key


@register("strategy", "nsga2")
class NSGA2(Strategy):
    """Steady-state NSGA-II: mutate tournament winners, keep the best by crowded comparison.

    Args:
        objectives: comma-separated ``metric:max|min`` (or aliases accuracy, latency, params,
            macs).
        population_size: survivors kept; the first ``population_size`` asks are random.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        objectives: str = "accuracy,latency",
        population_size: int = 20,
    ) -> None:
        if population_size < 2:
            raise ConfigError(f"population_size is {population_size}; allowed: >= 2")
        super().__init__(space, seed)
        self.objectives = parse_objectives(objectives)
        self.population_size = population_size
        self._pop: list[tuple[Arch, list[float]]] = []
        self._order: list[tuple[int, float]] = []  # per member: (rank, -crowding); lower wins
        self._seen: set[str] = set()
        self._asked = 0

    def _rank(self) -> None:
        self._order = crowded_keys([v for _, v in self._pop])

    def _fresh(self, draw: Callable[[], Arch]) -> Arch:
        """``draw()`` until it gives an arch neither proposed before nor failed (50 tries)."""
        arch = draw()
        for _ in range(50):
            key = arch_key(arch)
            if key not in self._seen and key not in self._failed:
                break
            arch = draw()
        self._seen.add(arch_key(arch))
        return arch

    def ask(self) -> Arch | None:
        self._asked += 1
        if self._asked <= self.population_size or len(self._pop) < 2:
            return self._fresh(lambda: self.space.sample(self.rng))

        def tournament() -> Arch:
            i, j = (int(k) for k in self.rng.choice(len(self._pop), size=2, replace=False))
            return self._pop[i if self._order[i] <= self._order[j] else j][0]

        return self._fresh(lambda: self.space.mutate(tournament(), self.rng))

    def _values(self, trial: Trial) -> list[float] | None:
        """The trial's objective values to maximise, or None: a failure (not ok, or an
        objective missing or not finite)."""
        if trial.status != "ok":
            return None
        try:
            values = [o.value(trial.metrics) for o in self.objectives]
        except (KeyError, TypeError, ValueError):
            return None  # the evaluator did not report every objective
        return values if all(math.isfinite(v) for v in values) else None

    def tell(self, trial: Trial) -> None:
        values = self._values(trial)
        key = arch_key(trial.arch)
        if values is None:
            self._failed.add(key)
            return
        self._failed.discard(key)
        self._pop.append((trial.arch, values))
        self._rank()
        if len(self._pop) > self.population_size:
            # the crowded comparison's loser; among equals, the oldest member
            worst = max(range(len(self._pop)), key=lambda i: self._order[i])
            del self._pop[worst]
            self._rank()

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "population": [[a, v] for a, v in self._pop],
            "seen": sorted(self._seen),
            "asked": self._asked,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._pop = [(a, list(v)) for a, v in state["population"]]
        self._seen = set(state["seen"])
        self._asked = int(state["asked"])
        self._rank()
