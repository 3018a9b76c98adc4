"""Local search, White, Zela, Ru, Liu and Hutter 2020, "Local Search is State of the Art for
Neural Architecture Search Benchmarks" (arXiv:2005.02960): hill-climb over the archs one
decision away, restarting at random from each local optimum."""

from __future__ import annotations

from typing import Any

from nasbeyond.arch import Arch, arch_key
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


def neighbours(space: Space, choices: list[int]) -> list[list[int]]:
    """Every choice vector one decision away from ``choices``, in decision order."""
    out = []
    for d, dec in enumerate(space.decisions()):
        for j in range(len(dec.choices)):
            if j != choices[d]:
                out.append([*choices[:d], j, *choices[d + 1 :]])
    return out


@register("strategy", "local-search")
class LocalSearch(Strategy):
    """Local search with ``n_init`` random archs first (White et al. 2020, their defaults).

    The centre of the climb is the best successful arch of the current pool (the random
    archs at the start or after a restart; the centre and its neighbours while climbing). When
    nothing is left to propose, the centre moves to the pool's best arch if that beats it, and
    the archs one decision away from it (every other choice of every decision, in a random
    order) are queued; if none beats it the centre is a local optimum and the search restarts
    from a new random arch. An arch is never proposed twice, nor one already told.

    Failed trials are ignored: they never join the pool, so never become a centre, and their
    archs are not proposed again (see ``Strategy``). Archs the strategy did not propose are
    remembered as seen but do not join the pool (their decisions are unknown).

    Args:
        n_init: random archs before the first climb (the paper's 10).
        max_tries: random draws per restart before giving up (the space is exhausted).
    """

    def __init__(
        self, space: Space, seed: int | None = None, n_init: int = 10, max_tries: int = 1000
    ) -> None:
        if n_init < 1 or max_tries < 1:
            raise ConfigError(f"n_init ({n_init}) and max_tries ({max_tries}) must be >= 1")
        super().__init__(space, seed)
        self.n_init, self.max_tries = n_init, max_tries
        self.sizes = [len(d.choices) for d in space.decisions()]
        self._choices: dict[str, list[int]] = {}  # arch key -> choices, for archs proposed
        self._reward: dict[str, float | None] = {}  # arch key -> latest told reward
        self._seen: set[str] = set()  # proposed or told
        self._pool: list[str] = []  # candidates for the next centre, in proposal order
        self._queue: list[list[int]] = []  # neighbours still to propose
        self._centre: str | None = None
        self._randoms = 0  # random proposals so far

    def _propose(self, choices: list[int], pool: bool) -> Arch | None:
        arch = self.space.from_choices(choices)
        key = arch_key(arch)
        if key in self._seen:
            return None
        self._seen.add(key)
        self._choices[key] = choices
        if pool:
            self._pool.append(key)
        return arch

    def _random(self) -> Arch | None:
        for _ in range(self.max_tries):
            arch = self._propose([int(self.rng.integers(k)) for k in self.sizes], pool=True)
            if arch is not None:
                self._randoms += 1
                return arch
        return None

    def _best_of_pool(self) -> str | None:
        ok = [k for k in self._pool if self._reward.get(k) is not None]
        return max(ok, key=lambda k: self._reward[k], default=None)  # type: ignore[arg-type,return-value]

    def ask(self) -> Arch | None:
        if self._randoms < self.n_init:
            return self._random()
        while True:
            while self._queue:
                arch = self._propose(self._queue.pop(0), pool=True)
                if arch is not None:
                    return arch
            best = self._best_of_pool()
            centre_r = None if self._centre is None else self._reward.get(self._centre)
            if best is None or best == self._centre:
                if best is not None:  # a local optimum: restart from a random arch
                    self._pool, self._centre = [], None
                return self._random()
            if centre_r is not None and self._reward[best] <= centre_r:  # type: ignore[operator]
                self._pool, self._centre = [], None
                return self._random()
            self._centre, self._pool = best, [best]
            nbhd = neighbours(self.space, self._choices[best])
            self._queue = [nbhd[int(i)] for i in self.rng.permutation(len(nbhd))]

    def tell(self, trial: Trial) -> None:
        key = arch_key(trial.arch)
        self._seen.add(key)
        self._reward[key] = self._learn(trial)

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "choices": self._choices,
            "reward": self._reward,
            "seen": sorted(self._seen),
            "pool": self._pool,
            "queue": self._queue,
            "centre": self._centre,
            "randoms": self._randoms,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._choices = {k: list(v) for k, v in state["choices"].items()}
        self._reward = {k: (None if r is None else float(r)) for k, r in state["reward"].items()}
        self._seen = set(state["seen"])
        self._pool = list(state["pool"])
        self._queue = [list(c) for c in state["queue"]]
        self._centre = state["centre"]
        self._randoms = int(state["randoms"])
