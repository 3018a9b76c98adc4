"""Tree-structured Parzen Estimator (Bergstra et al., NeurIPS 2011) over categorical decisions.

Successful trials are split into the best ``gamma`` share and the rest; per decision, smoothed
choice frequencies give l(x) (good) and g(x) (bad). Candidates are drawn from l and the one
maximising l(x)/g(x) is proposed. Decisions are modelled independently, as Optuna's default TPE,
or jointly (``multivariate=True``, Optuna's ``TPESampler(multivariate=True)``; Falkner et al.,
BOHB, ICML 2018): l and g are then mixtures of one product kernel per trial plus a uniform
prior kernel, so the good trials' combinations of choices are kept together. With
``climb_after=N`` the model's proposals alternate with hill-climbs: after N results in a row
without a new best, the incumbent's one-decision neighbours are proposed (first improvement,
as in White et al.'s local search) until none beats it.
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
from nasbeyond.strategy._local_search import neighbours
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
        multivariate: model the decisions jointly: each trial of a group is one kernel that
            keeps a decision's choice with Optuna's categorical weight (1 + p) / (1 + k p),
            p = ``prior_weight`` / (group size + 1), k the decision's number of choices, and
            spreads the rest evenly; the prior kernel is uniform. Candidates are drawn from
            one kernel of l each.
        climb_after: None (plain TPE), or a number N of results in a row without a new best
            after which TPE climbs from the incumbent (the best successful trial it proposed):
            its one-decision neighbours are proposed in random order; the first that beats it
            becomes the incumbent and the climb goes on from there; when none does, the
            incumbent is a local optimum and the model proposes again (an incumbent is climbed
            from once). Every result, the climb's included, enters both densities.
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
        multivariate: bool = False,
        climb_after: int | None = None,
    ) -> None:
        if not 0 < gamma < 1:
            raise ConfigError(f"gamma is {gamma}; allowed: 0 < gamma < 1")
        if climb_after is not None and climb_after < 1:
            raise ConfigError(f"climb_after is {climb_after}; allowed: None or >= 1")
        if n_candidates < 1 or n_startup < 0 or prior_weight <= 0:
            raise ConfigError("n_candidates >= 1, n_startup >= 0 and prior_weight > 0 required")
        super().__init__(space, seed)
        self.n_startup, self.n_candidates = n_startup, n_candidates
        self.gamma, self.prior_weight, self.dedup = gamma, prior_weight, dedup
        self.multivariate = bool(multivariate)
        self.climb_after = climb_after
        self._best: tuple[list[int], str, float] | None = None  # incumbent: choices, key, reward
        self._since = 0  # results since the incumbent last changed
        self._queue: list[list[int]] = []  # neighbours still to propose in the current climb
        self._climbing = False
        self._climbed: set[str] = set()  # incumbents already climbed from
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

    def _kernels(self, group: list[list[int]]) -> list[np.ndarray]:
        """Per decision, a (kernels, choices) table: row i is trial i's kernel, the last row
        the uniform prior kernel (Optuna's categorical Parzen estimator)."""
        p = self.prior_weight / (len(group) + 1)
        out = []
        for d, k in enumerate(self.sizes):
            w = np.full((len(group) + 1, k), p)
            for i, choices in enumerate(group):
                w[i, choices[d]] += 1.0
            w[-1] = 1.0
            out.append(w / w.sum(axis=1, keepdims=True))
        return out

    def _log_mixture(self, kernels: list[np.ndarray], cand: list[int]) -> float:
        """log of the mixture density (equal kernel weights) at ``cand``."""
        logp = sum(np.log(kernels[d][:, c]) for d, c in enumerate(cand))
        m = float(np.max(logp))
        return m + math.log(float(np.mean(np.exp(logp - m))))

    def _multivariate_choices(self) -> list[int]:
        good, bad = self.groups()
        lk, gk = self._kernels(good), self._kernels(bad)
        best, best_score = None, -math.inf
        for _ in range(self.n_candidates):
            i = int(self.rng.integers(len(good) + 1))
            cand = [int(self.rng.choice(k, p=lk[d][i])) for d, k in enumerate(self.sizes)]
            if self.dedup and arch_key(self.space.from_choices(cand)) in self._seen:
                continue
            score = self._log_mixture(lk, cand) - self._log_mixture(gk, cand)
            if score > best_score:
                best, best_score = cand, score
        return best if best is not None else self._uniform()

    def _model_choices(self) -> list[int]:
        if self.multivariate:
            return self._multivariate_choices()
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

    def _climb_from(self, choices: list[int], key: str) -> None:
        self._climbing = True
        self._climbed.add(key)
        nbhd = neighbours(self.space, choices)
        self._queue = [nbhd[int(i)] for i in self.rng.permutation(len(nbhd))]

    def _climb_ask(self) -> Arch | None:
        """The next unseen neighbour of the incumbent while climbing, else None."""
        if (
            not self._climbing
            and self.climb_after is not None
            and self._since >= self.climb_after
            and self._best is not None
            and self._best[1] not in self._climbed
        ):
            self._climb_from(self._best[0], self._best[1])
        while self._queue:
            choices = self._queue.pop(0)
            arch = self.space.from_choices(choices)
            key = arch_key(arch)
            if key not in self._seen and key not in self._failed:
                self._seen.add(key)
                self._pending[key] = choices
                return arch
        if self._climbing:  # the incumbent is a local optimum: back to the model
            self._climbing, self._since = False, 0
        return None

    def ask(self) -> Arch | None:
        if self.climb_after is not None:
            arch = self._climb_ask()
            if arch is not None:
                return arch
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
        key = arch_key(trial.arch)
        choices = self._pending.pop(key, None)
        reward = self._learn(trial)  # None for a failure
        if choices is None:
            return
        self._obs.append((choices, reward))
        if reward is not None and (self._best is None or reward > self._best[2]):
            self._best, self._since = (choices, key, reward), 0
            if self._climbing:  # first improvement: the climb goes on from here
                self._climb_from(choices, key)
        else:
            self._since += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "obs": self._obs,
            "pending": self._pending,
            "seen": sorted(self._seen),
            "best": self._best,
            "since": self._since,
            "queue": self._queue,
            "climbing": self._climbing,
            "climbed": sorted(self._climbed),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._obs = [(list(c), r) for c, r in state["obs"]]
        self._pending = {k: list(v) for k, v in state["pending"].items()}
        self._seen = set(state["seen"])
        best = state.get("best")  # absent in checkpoints of older versions
        self._best = None if best is None else (list(best[0]), str(best[1]), float(best[2]))
        self._since = int(state.get("since", 0))
        self._queue = [list(c) for c in state.get("queue", [])]
        self._climbing = bool(state.get("climbing", False))
        self._climbed = set(state.get("climbed", ()))
