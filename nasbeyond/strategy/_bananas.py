"""BANANAS, White, Neiswanger and Savani, AAAI 2021, "BANANAS: Bayesian Optimization with Neural
Architectures for Neural Architecture Search": an ensemble of small MLPs predicts the reward
from an arch's encoding; each proposal is the candidate with the highest independent Thompson
sample (ITS) among mutations of the best archs so far."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from nasbeyond.arch import Arch, arch_key
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space import NB201Space, Space
from nasbeyond.space.nb201 import OPS
from nasbeyond.strategy._base import Strategy
from nasbeyond.trial import Trial

# NB201's paths from the cell's input (node 0) to its output (node 3), as edge indices.
_NB201_PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))
_LIVE_OPS = tuple(op for op in OPS if op != "none")  # a "none" edge cuts its paths
_PATH_FEATURES = {
    seq: i
    for i, seq in enumerate(
        seq for n in (1, 2, 3) for seq in itertools.product(range(len(_LIVE_OPS)), repeat=n)
    )
}


def nb201_path_encoding(arch: Arch) -> np.ndarray:
    """BANANAS's path encoding of an NB201 cell: one feature per sequence of ops along a path
    from input to output (4 + 16 + 64 = 84; paths through a ``none`` edge do not exist), 1 where
    the cell has that path."""
    x = np.zeros(len(_PATH_FEATURES), dtype=np.float32)
    ops = arch["edges"]
    for path in _NB201_PATHS:
        seq = [ops[e] for e in path]
        if "none" not in seq:
            x[_PATH_FEATURES[tuple(_LIVE_OPS.index(op) for op in seq)]] = 1.0
    return x


class Ensemble(torch.nn.Module):
    """``n`` MLPs evaluated as one batched module: weights of shape (n, fan_in, fan_out)."""

    def __init__(self, n: int, d_in: int, width: int, layers: int, gen: torch.Generator) -> None:
        super().__init__()
        dims = [d_in] + [width] * layers + [1]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for a, b in itertools.pairwise(dims):
            bound = 1.0 / a**0.5  # torch.nn.Linear's initialisation
            self.weights.append(
                torch.nn.Parameter((torch.rand(n, a, b, generator=gen) * 2 - 1) * bound)
            )
            self.biases.append(
                torch.nn.Parameter((torch.rand(n, 1, b, generator=gen) * 2 - 1) * bound)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(rows, d_in) -> (n, rows) predictions."""
        h = x.unsqueeze(0).expand(self.weights[0].shape[0], -1, -1)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = torch.baddbmm(b, h, w)
            if i < last:
                h = torch.relu(h)
        return h.squeeze(-1)


@register("strategy", "bananas")
class BANANAS(Strategy):
    """BANANAS with ``n_init`` random archs first, then model-guided proposals.

    Encoding: BANANAS's path encoding on NB201 (``nb201_path_encoding``); on every other space
    the one-hots of the space's decisions (the paper's path encoding is defined for cell DAGs;
    the darts and nasnet cells use decision one-hots here). Predictor: ``n_models`` MLPs of
    ``layers`` hidden layers of ``width`` (ReLU), each from its own initialisation, trained
    full-batch with Adam (lr ``lr``) for ``epochs`` epochs on the mean absolute error of the
    standardised rewards (the paper: 5 models, MAE, Adam 0.01). It is retrained once
    ``retrain_every`` new trials have been told since the last training. Acquisition: ITS —
    per candidate one draw from N(mean, std) of the ensemble's predictions; the highest draw
    is proposed. Candidates: ``n_candidates`` mutations (1 to ``max_edits`` decisions changed)
    of the ``n_parents`` best archs, plus ``n_random`` random archs; archs already proposed or
    told are never candidates.

    Failed trials are ignored by the predictor and never parents; their archs are not proposed
    again (see ``Strategy``). Trials of archs this strategy did not propose are learned from on
    NB201 (the encoding reads the arch) and only remembered as seen elsewhere.

    ``state_dict`` holds the told history, not the ensemble's weights: after
    ``load_state_dict`` the ensemble is retrained from the stored history with the stored torch
    seed, which gives the same model, so a resumed run continues exactly.

    Args:
        n_init: random archs before the predictor is used (the paper's 10).
        n_models: ensemble size (the paper's 5).
        width, layers: each MLP's hidden width and depth.
        epochs, lr: full-batch Adam steps and learning rate per training.
        retrain_every: told trials between trainings (1: before every model-based proposal
            that follows a new result).
        n_candidates, n_parents, n_random: the candidate set, as above.
    """

    def __init__(
        self,
        space: Space,
        seed: int | None = None,
        n_init: int = 10,
        n_models: int = 5,
        width: int = 32,
        layers: int = 2,
        epochs: int = 150,
        lr: float = 0.01,
        retrain_every: int = 1,
        n_candidates: int = 100,
        n_parents: int = 5,
        n_random: int = 10,
        max_edits: int = 1,
    ) -> None:
        ints = {"n_models": n_models, "width": width, "layers": layers, "epochs": epochs}
        ints |= {"retrain_every": retrain_every, "n_candidates": n_candidates}
        ints |= {"n_parents": n_parents, "n_init": n_init, "max_edits": max_edits}
        for name, v in ints.items():
            if v < 1:
                raise ConfigError(f"{name} is {v}; allowed: >= 1")
        if n_random < 0 or lr <= 0:
            raise ConfigError(f"n_random ({n_random}) must be >= 0 and lr ({lr}) > 0")
        super().__init__(space, seed)
        self.n_init, self.n_models, self.width, self.layers = n_init, n_models, width, layers
        self.epochs, self.lr, self.retrain_every = epochs, lr, retrain_every
        self.n_candidates, self.n_parents, self.n_random = n_candidates, n_parents, n_random
        self.max_edits = max_edits
        self.sizes = [len(d.choices) for d in space.decisions()]
        self.paths = isinstance(space, NB201Space)
        self._torch_seed = int(self.rng.integers(2**31))
        self._choices: dict[str, list[int]] = {}  # arch key -> choices, where known
        self._history: list[tuple[str, float | None]] = []  # told (arch key, reward), in order
        self._seen: set[str] = set()
        self._asked = 0
        self._trained_on = 0  # len(history) when the ensemble was trained
        self._model: Ensemble | None = None
        self._stats = (0.0, 1.0)  # the training rewards' mean and std

    # -- encoding ---------------------------------------------------------------------------

    def _choices_of(self, arch: Arch) -> list[int] | None:
        key = arch_key(arch)
        if key not in self._choices and self.paths:
            self._choices[key] = [OPS.index(op) for op in arch["edges"]]
        return self._choices.get(key)

    def _encode(self, choices: Sequence[int]) -> np.ndarray:
        if self.paths:
            return nb201_path_encoding(self.space.from_choices(choices))
        x = np.zeros(sum(self.sizes), dtype=np.float32)
        offsets = np.cumsum([0, *self.sizes[:-1]])
        x[offsets + np.asarray(choices)] = 1.0
        return x

    # -- the predictor ----------------------------------------------------------------------

    def _data(self, n: int) -> tuple[list[list[int]], list[float]]:
        """The training set from the first ``n`` told trials: each arch with known choices
        once, with its latest reward, if that is a success."""
        latest: dict[str, float | None] = {}
        for key, r in self._history[:n]:
            latest[key] = r
        rows = [
            (self._choices[k], r) for k, r in latest.items() if r is not None and k in self._choices
        ]
        return [c for c, _ in rows], [r for _, r in rows]

    def _train(self) -> None:
        xs, ys = self._data(self._trained_on)
        if len(ys) < 2:
            self._model = None
            return
        gen = torch.Generator().manual_seed(self._torch_seed + self._trained_on)
        x = torch.from_numpy(np.stack([self._encode(c) for c in xs]))
        y = torch.tensor(ys, dtype=torch.float32)
        mean, std = float(y.mean()), float(y.std()) or 1.0
        self._stats = (mean, std)
        y = (y - mean) / std
        model = Ensemble(self.n_models, x.shape[1], self.width, self.layers, gen)
        try:  # fused: one kernel per step, a third faster on CPU (torch >= 2.4)
            opt = torch.optim.Adam(model.parameters(), lr=self.lr, fused=True)
        except (RuntimeError, TypeError):
            opt = torch.optim.Adam(model.parameters(), lr=self.lr)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = (model(x) - y).abs().mean()
            loss.backward()
            opt.step()
        self._model = model

    def predict(self, archs_choices: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
        """The ensemble's mean and std of the predicted reward per choice vector."""
        if self._model is None:
            raise ConfigError("bananas: the predictor is not trained yet")
        x = torch.from_numpy(np.stack([self._encode(c) for c in archs_choices]))
        with torch.no_grad():
            p = self._model(x).numpy() * self._stats[1] + self._stats[0]
        return p.mean(axis=0), p.std(axis=0)

    # -- proposals --------------------------------------------------------------------------

    def _mutant(self, choices: list[int]) -> list[int]:
        out = list(choices)
        for _ in range(1 + int(self.rng.integers(self.max_edits))):
            d = int(self.rng.integers(len(self.sizes)))
            if self.sizes[d] > 1:
                j = int(self.rng.integers(self.sizes[d] - 1))
                out[d] = j if j < out[d] else j + 1
        return out

    def _uniform(self) -> list[int]:
        return [int(self.rng.integers(k)) for k in self.sizes]

    def _candidates(self) -> list[list[int]]:
        xs, ys = self._data(len(self._history))
        order = sorted(range(len(ys)), key=lambda i: ys[i], reverse=True)[: self.n_parents]
        draws = [self._mutant(xs[order[i % len(order)]]) for i in range(self.n_candidates)]
        draws += [self._uniform() for _ in range(self.n_random)]
        out, keys = [], set()
        for c in draws:
            key = arch_key(self.space.from_choices(c))
            if key not in self._seen and key not in keys:
                keys.add(key)
                out.append(c)
        return out

    def _take(self, choices: list[int]) -> Arch:
        arch = self.space.from_choices(choices)
        key = arch_key(arch)
        self._seen.add(key)
        self._choices[key] = choices
        return arch

    def ask(self) -> Arch | None:
        self._asked += 1
        if (
            self._asked > self.n_init
            and len(self._history) - self._trained_on >= self.retrain_every
        ):
            self._trained_on = len(self._history)
            self._train()
        elif self._model is None and self._trained_on:
            self._train()  # after load_state_dict: the same ensemble again
        if self._asked > self.n_init and self._model is not None:
            cands = self._candidates()
            if cands:
                mean, std = self.predict(cands)
                its = self.rng.normal(mean, std)
                return self._take(cands[int(np.argmax(its))])
        for _ in range(1000):
            c = self._uniform()
            if arch_key(self.space.from_choices(c)) not in self._seen:
                return self._take(c)
        return None

    def tell(self, trial: Trial) -> None:
        key = arch_key(trial.arch)
        self._seen.add(key)
        self._choices_of(trial.arch)
        self._history.append((key, self._learn(trial)))

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "torch_seed": self._torch_seed,
            "choices": self._choices,
            "history": self._history,
            "seen": sorted(self._seen),
            "asked": self._asked,
            "trained_on": self._trained_on,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self._torch_seed = int(state["torch_seed"])
        self._choices = {k: list(v) for k, v in state["choices"].items()}
        self._history = [(k, None if r is None else float(r)) for k, r in state["history"]]
        self._seen = set(state["seen"])
        self._asked = int(state["asked"])
        self._trained_on = int(state["trained_on"])
        self._model = None
