"""Multi-objective evolution with NSGA-II's selection (Deb et al. 2002), steady-state: parents
win binary tournaments by (non-domination rank, crowding distance); after each result the
population keeps its best ``population_size`` members by the same order. It searches for a
Pareto front (e.g. accuracy vs latency) instead of one best arch."""

from __future__ import annotations

from typing import Any

from nasbeyond.arch import Arch, arch_key
from nasbeyond.evaluate.pareto import crowding, nondominated_sort, parse_objectives
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


@register("strategy", "nsga2")
class NSGA2(Strategy):
    """Args:
    objectives: comma-separated ``metric:max|min`` (or aliases accuracy, latency, params, macs).
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
        self._order: list[float] = []  # selection key per member: rank - crowding share
        self._seen: set[str] = set()
        self._asked = 0

    def _rank(self) -> None:
        points = [v for _, v in self._pop]
        key = [0.0] * len(points)
        for r, front in enumerate(nondominated_sort(points)):
            dist = crowding(points, front)
            for i in front:  # lower is better: rank first, crowding breaks ties
                key[i] = r + 1 / (1 + dist[i])
        self._order = key

    def _fresh(self, make: Any) -> Arch:
        arch = make()
        for _ in range(50):
            if arch_key(arch) not in self._seen:
                break
            arch = make()
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

    def tell(self, trial: Trial) -> None:
        if trial.status != "ok":
            return
        try:
            values = [o.value(trial.metrics) for o in self.objectives]
        except (KeyError, TypeError, ValueError):
            return  # the evaluator did not report every objective
        self._pop.append((trial.arch, values))
        self._rank()
        if len(self._pop) > self.population_size:
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
