"""Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011) over categorical decisions.

Successful trials are split into the best ``gamma`` share and the rest; per decision, smoothed
choice frequencies give l(x) (good) and g(x) (bad). Candidates are drawn from l and the one
maximising l(x)/g(x) is proposed. Decisions are modelled independently, as Optuna's default TPE.
Failed trials enter neither density (Optuna's TPESampler leaves them out of both); they count
only towards ``n_startup``, the number of finished trials before the model is used.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nasbeyond.arch import Arch, arch_key
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import Space
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial


@register("strategy", "tpe")
class TPE(Strategy):
    """TPE with ``n_startup`` random proposals first.

    Args:
        n_startup: finished trials (failed ones included) before the model is used; until
            then proposals are uniform.
        n_candidates: samples from l(x) scored per proposal.
        gamma: share of successful trials counted as good (at least one).
        prior_weight: pseudo-count added to every choice (smoothing).
        dedup: never propose an arch already proposed (False: repeats, failed archs
            included, are allowed).
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        n_startup: int = 10,
        n_candidates: int = 24,
        gamma: float = 0.25,
        prior_weight: float = 1.0,
        dedup: bool = True,
    ) -> None:
        if not 0 < gamma < 1:
            raise ConfigError(f"gamma is {gamma}; allowed: 0 < gamma < 1")
        if n_candidates < 1 or n_startup < 0 or prior_weight <= 0:
            raise ConfigError("n_candidates >= 1, n_startup >= 0 and prior_weight > 0 required")
        super().__init__(space, seed)
        self.n_startup, self.n_candidates = n_startup, n_candidates
        self.gamma, self.prior_weight, self.dedup = gamma, prior_weight, dedup
        self.sizes = [len(d.choices) for d in space.decisions()]
        self._obs: list[tuple[list[int], float | None]] = []
        self._pending: dict[str, list[int]] = {}
        self._seen: set[str] = set()

    def _uniform(self) -> list[int]:
        return [int(self.rng.integers(k)) for k in self.sizes]

    def _densities(self, group: list[list[int]]) -> list[np.ndarray]:
        out = []
        for d, k in enumerate(self.sizes):
            counts = np.full(k, self.prior_weight / k)
            for choices in group:
                counts[choices[d]] += 1
            out.append(counts / counts.sum())
        return out

    def groups(self) -> tuple[list[list[int]], list[list[int]]]:
        """The choices of the good trials (the best ``gamma`` share of the successful ones, at
        least one) and of the other successful ones; failed trials are in neither. Ties in
        reward keep the order in which the trials were told."""
        ok = [(c, r) for c, r in self._obs if r is not None]
        ranked = sorted(ok, key=lambda o: o[1], reverse=True)  # stable: ties keep tell order
        n_good = max(1, math.ceil(self.gamma * len(ranked)))
        return [c for c, _ in ranked[:n_good]], [c for c, _ in ranked[n_good:]]

    def densities(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """l(x) and g(x): per decision, the smoothed choice frequencies of the good and the
        other successful trials, as the next model-based proposal uses them."""
        good, bad = self.groups()
        return self._densities(good), self._densities(bad)

    def _model_choices(self) -> list[int]:
        good, bad = self.densities()
        best, best_score = None, -math.inf
        for _ in range(self.n_candidates):
            cand = [int(self.rng.choice(len(p), p=p)) for p in good]
            if self.dedup and arch_key(self.space.from_choices(cand)) in self._seen:
                continue
            score = sum(math.log(good[d][c]) - math.log(bad[d][c]) for d, c in enumerate(cand))
            if score > best_score:
                best, best_score = cand, score
        return best if best is not None else self._uniform()

    def ask(self) -> Arch | None:
        for _ in range(100):
            use_model = len(self._obs) >= self.n_startup
            choices = self._model_choices() if use_model else self._uniform()
            arch = self.space.from_choices(choices)
            key = arch_key(arch)
            if not self.dedup or key not in self._seen:
                self._seen.add(key)
                self._pending[key] = choices
                return arch
        return None

    def tell(self, trial: Trial) -> None:
        choices = self._pending.pop(arch_key(trial.arch), None)
        reward = self._learn(trial)  # None for a failure
        if choices is not None:
            self._obs.append((choices, reward))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "obs": self._obs,
            "pending": self._pending,
            "seen": sorted(self._seen),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._obs = [(list(c), r) for c, r in state["obs"]]
        self._pending = {k: list(v) for k, v in state["pending"].items()}
        self._seen = set(state["seen"])
