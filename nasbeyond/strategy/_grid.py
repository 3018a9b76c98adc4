"""Grid search over a space's decisions: every combination once, then exhausted."""

from __future__ import annotations

import math
import random
from typing import Any

from nasbeyond.arch import Arch
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


@register("strategy", "grid")
class GridSearch(Strategy):
    """Visits every combination of the space's decisions exactly once (the RandAugment grid,
    small hyper-parameter grids). In a seeded pseudo-random order by default — the k-th point
    is index ``(a * k + b) mod P`` with ``a`` coprime to the grid size ``P`` — so a search cut
    short has covered the grid evenly; ``shuffle=False`` gives lexicographic order.
    """

    def __init__(self, space: Space, seed: int | None = None, shuffle: bool = True) -> None:
        super().__init__(space, seed)
        self.sizes = [len(d.choices) for d in space.decisions()]
        self.size = math.prod(self.sizes)
        self.a, self.b = 1, 0
        if shuffle and self.size > 1:
            r = random.Random(seed)
            self.a = r.randrange(1, self.size)
            while math.gcd(self.a, self.size) != 1:
                self.a = r.randrange(1, self.size)
            self.b = r.randrange(self.size)
        self.k = 0

    def ask(self) -> Arch | None:
        if self.k >= self.size:
            return None
        index = (self.a * self.k + self.b) % self.size
        self.k += 1
        choices = []
        for n in reversed(self.sizes):  # mixed radix, the last decision fastest
            index, c = divmod(index, n)
            choices.append(c)
        return self.space.from_choices(choices[::-1])

    def tell(self, trial: Trial) -> None:
        pass  # a grid does not adapt, and visits each point once: failures are never retried

    def state_dict(self) -> dict[str, Any]:
        return {"k": self.k, "a": str(self.a), "b": str(self.b)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.k, self.a, self.b = int(state["k"]), int(state["a"]), int(state["b"])
