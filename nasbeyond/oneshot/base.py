"""Weight sharing: supernets built from the same Spaces, and the one-shot methods that train them.

A **supernet** holds every module any arch of its space could use, once (every op of every
edge of a cell; every choice of every layer of a chain). A candidate is a *path*:
``supernet(x, arch)`` runs exactly the modules ``space.build(arch, task)`` would hold, in the
same order, so ``supernet.path_model(arch)`` (a standalone ``space.build`` model with the path's
weights copied in) gives the same outputs. ``supernet(x)`` without an arch runs the continuous
relaxation (DARTS's mixed ops, weighted by the softmax of the architecture parameters) where the
supernet has one.

A **one-shot method** (registry kind ``oneshot``: ``darts``, ``enas``, ``spos``) trains a
supernet and returns one arch: ``method.search(supernet, data, checkpoint_dir, log) -> Arch``.
The run layer (``nasbeyond.run.oneshot.run_oneshot``) builds the supernet for the run's space
and task, calls ``search``, then trains the derived arch standalone as an ordinary trial of the
one loop (``--epochs``) and, as any search, retrains it for the test report (``--final-epochs``).
``nasbeyond search --strategy darts --space nb201 --dataset fashion-mnist`` reaches it: the CLI's
``--strategy`` takes the names of both kinds, ``--strategy-arg`` the method's own arguments.

Note for the ENAS / SPOS implementer (how a method plugs in)::

    @register("oneshot", "spos")          # and a line in registry.BUILTINS["oneshot"]
    class SPOS(OneShotMethod):
        def __init__(self, seed: int = 0, epochs: int = 10, ...) -> None: ...  # store only
        def search(self, supernet, data, checkpoint_dir, log) -> Arch:
            state = load_checkpoint(checkpoint_dir)          # None on a fresh run
            ... supernet(x, arch) for a path; supernet.sample_path(rng) draws one uniformly
            log.epoch({"epoch": e, "train_loss": ..., ...})  # after each supernet epoch
            save_checkpoint(checkpoint_dir, {"epoch": e, "supernet": supernet.state_dict(), ...})
            # the evolutionary search on the one loop, scored with inherited weights:
            best = log.loop(Evolution(space, seed=..), InheritedWeights(supernet, data), trials)
            return best.arch

- ``load_checkpoint`` / ``save_checkpoint`` keep one file per method in ``checkpoint_dir``
  (atomic replace; ``checkpoint_dir`` is None in benchmark mode: nothing is kept). Save after
  every epoch and a SIGKILLed run resumes from the last one.
- ``log.epoch(record)`` records one supernet epoch in the run's store (``cost_s`` and ``cpu_s``
  are added for you); ``log.candidate(arch, score, cost_s, **metrics)`` one inherited-weight
  evaluation; ``log.loop(strategy, evaluator, trials)`` runs the one loop (``run``) over
  candidates with any registered strategy and evaluator, resumable, each finished trial also
  logged as a candidate, and returns the best trial.
- ``InheritedWeights(supernet, data)`` is that evaluator: a path's validation accuracy with the
  supernet's weights, BatchNorm statistics recalibrated on training batches first (SPOS, Guo
  et al. 2020) when ``recalibrate`` > 0. ``path_accuracy`` and ``recalibrate_bn`` are its parts.
- Supernets: subclass ``Supernet`` and add a row to ``SUPERNET_MODULES`` (space name -> module
  that calls ``register_supernet``); ``make_supernet(space, task)`` builds one.
"""

from __future__ import annotations

import importlib
import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.space import Space
from nasbeyond.trial import Budget, Context, Result, TaskShape, Trial

# -- supernets --------------------------------------------------------------------------------


class Supernet(nn.Module, ABC):
    """Every module of every arch of ``space`` for inputs of ``task``, held once.

    Architecture parameters (if any) live in ``self.alphas`` (an ``nn.ParameterDict``) so
    that they are in ``state_dict`` (checkpoints) but apart from the weights. ``aux_skip``
    (DARTS-'s auxiliary skip coefficient) is added on stride-1 edges by the relaxation of
    supernets that support it; 0 turns it off.
    """

    aux_skip: float = 0.0

    def __init__(self, space: Space, task: TaskShape) -> None:
        super().__init__()
        self.space = space
        self.task = task
        self.alphas = nn.ParameterDict()

    @abstractmethod
    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        """Logits ``(B, classes)`` float32 for inputs ``(B, *task.input_shape)``.

        ``arch`` given: the single path ``space.build(arch, task)`` would hold. None: the
        continuous relaxation (ConfigError where the supernet has none).
        """

    @abstractmethod
    def path_model(self, arch: Arch) -> nn.Module:
        """A standalone ``space.build(arch, task)`` model holding copies of the path's weights
        and BatchNorm statistics (its outputs equal ``self(x, arch)`` in the same mode)."""

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (DARTS's alphas); empty for a supernet without any."""
        return list(self.alphas.values())

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every parameter that is not an architecture parameter."""
        arch_ids = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch_ids]

    def derive(self) -> Arch:
        """The discrete arch the architecture parameters point at (ConfigError without any)."""
        raise ConfigError(f"{self.space.name}: this supernet has no architecture parameters")

    def sample_path(self, rng: np.random.Generator) -> Arch:
        """A path drawn uniformly (SPOS's single-path sampling): the space's own sample."""
        return self.space.sample(rng)


SupernetBuilder = Callable[[Space, TaskShape], Supernet]
SUPERNETS: dict[str, SupernetBuilder] = {}
# space name -> the module whose import registers its supernet (as registry.BUILTINS does).
SUPERNET_MODULES: dict[str, str] = {
    "nb201": "nasbeyond.oneshot.cells",
    "darts": "nasbeyond.oneshot.cells",
    "macro-cnn": "nasbeyond.oneshot.chain",  # chain supernets: ENAS's macro space, SPOS's blocks
    "mnasnet": "nasbeyond.oneshot.chain",
}


def register_supernet(space_name: str) -> Callable[[SupernetBuilder], SupernetBuilder]:
    """Decorator: ``builder(space, task) -> Supernet`` becomes the supernet of ``space_name``."""

    def deco(builder: SupernetBuilder) -> SupernetBuilder:
        SUPERNETS[space_name] = builder
        return builder

    return deco


def require_supernet(space: Space) -> None:
    """Raise ConfigError (naming the spaces that have one) unless ``space`` has a supernet."""
    if space.name not in SUPERNETS and space.name in SUPERNET_MODULES:
        importlib.import_module(SUPERNET_MODULES[space.name])
    if space.name not in SUPERNETS:
        allowed = ", ".join(sorted(set(SUPERNETS) | set(SUPERNET_MODULES)))
        raise ConfigError(
            f"space: {space.name!r} has no supernet for weight sharing; allowed: {allowed}"
        )


def make_supernet(space: Space, task: TaskShape) -> Supernet:
    """The supernet of ``space`` (its settings, e.g. channels and cells, included) for ``task``.

    Raises:
        ConfigError: the space has no supernet (the message names the spaces that have one).
    """
    require_supernet(space)
    return SUPERNETS[space.name](space, task)


# -- data -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OneShotData:
    """The splits a one-shot method learns from: weights on ``train``, architecture
    parameters / controller rewards / candidate scores on ``val`` (never the test split).
    Inputs ``(N, *task.input_shape)`` float32, labels ``(N,)`` int64, on one device."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    task: TaskShape

    @property
    def device(self) -> torch.device:
        return self.x_train.device


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Minibatches of ``(x, y)``; shuffled with ``generator`` when one is given."""
    n = len(x)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    order = order.to(x.device)
    for i in range(0, n, batch_size):
        idx = order[i : i + batch_size]
        yield x[idx], y[idx]


@torch.no_grad()
def path_accuracy(
    supernet: Supernet,
    arch: Arch | None,
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int = 256,
) -> float:
    """Accuracy (0..1) of the path ``arch`` (None: the relaxation) on ``(x, y)`` in eval mode
    (BatchNorm running statistics), with the supernet's current weights."""
    was = supernet.training
    supernet.eval()
    correct = 0
    for xb, yb in batches(x, y, batch_size):
        correct += int((supernet(xb, arch).argmax(1) == yb).sum())
    supernet.train(was)
    return correct / max(1, len(x))


@torch.no_grad()
def recalibrate_bn(
    supernet: Supernet, arch: Arch, x: torch.Tensor, batch_size: int = 64, steps: int = 20
) -> None:
    """Reset every BatchNorm's running statistics and re-estimate them on the path ``arch``
    from ``steps`` training batches (cumulative average), as SPOS does before scoring a path
    (Guo et al., ECCV 2020, sec. 3.3)."""
    for m in supernet.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative moving average
    was = supernet.training
    supernet.train()
    for i, (xb, _) in enumerate(batches(x, x.new_zeros(len(x)), batch_size)):
        if i >= steps:
            break
        supernet(xb, arch)
    supernet.train(was)


@dataclass
class InheritedWeights:
    """An evaluator (the ``Evaluator`` protocol) that scores a path with the supernet's weights:
    validation accuracy after BatchNorm recalibration on ``recalibrate`` training batches
    (0: keep the running statistics). Runs inline (it holds the supernet); no training."""

    supernet: Supernet
    data: OneShotData
    recalibrate: int = 20
    batch_size: int = 64

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        start = time.perf_counter()
        if self.recalibrate > 0:
            x = self.data.x_train
            recalibrate_bn(self.supernet, arch, x, self.batch_size, self.recalibrate)
        acc = path_accuracy(self.supernet, arch, self.data.x_val, self.data.y_val)
        cost = time.perf_counter() - start
        return Result("ok", acc, {"val_acc": acc, "inherited": True}, cost)

    def task(self) -> TaskShape:
        return self.data.task


# -- the search log (the run's store, seen from a method) -------------------------------------


class SearchLog(Protocol):
    """What a method records through; the run layer implements it on the run's store."""

    def epoch(self, record: dict[str, Any]) -> None:
        """One finished supernet epoch (JSON-able values; ``epoch`` counts from 1)."""

    def candidate(self, arch: Arch, score: float, cost_s: float, **metrics: Any) -> None:
        """One candidate scored with inherited weights."""

    def loop(self, strategy: Any, evaluator: Any, trials: int) -> Trial | None:
        """Run the one loop over candidates (resumable) and return the best trial."""


class MemoryLog:
    """A SearchLog in memory (tests, benchmarks). ``loop`` needs a loop function, which the run
    layer supplies (``nasbeyond.run.oneshot.memory_log``)."""

    def __init__(self, loop: Callable[[Any, Any, int], Trial | None] | None = None) -> None:
        self.epochs: list[dict[str, Any]] = []
        self.candidates: list[dict[str, Any]] = []
        self._loop = loop
        self._t = (time.perf_counter(), time.process_time())

    def epoch(self, record: dict[str, Any]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.epochs.append({**record, "cost_s": wall - self._t[0], "cpu_s": cpu - self._t[1]})
        self._t = (wall, cpu)

    def candidate(self, arch: Arch, score: float, cost_s: float, **metrics: Any) -> None:
        self.candidates.append({"arch": arch, "score": score, "cost_s": cost_s, **metrics})

    def loop(self, strategy: Any, evaluator: Any, trials: int) -> Trial | None:
        if self._loop is None:
            raise ConfigError("MemoryLog: no loop function given (nasbeyond.run.oneshot)")
        return self._loop(strategy, evaluator, trials)


# -- methods ----------------------------------------------------------------------------------


def check_args(
    method: str,
    positive: dict[str, float] | None = None,
    non_negative: dict[str, float] | None = None,
    steps_per_epoch: int | None = None,
) -> None:
    """Check a weight-sharing method's numeric arguments.

    Raises:
        ConfigError: one line naming the first bad argument and what is allowed, e.g.
            ``strategy_args: darts: epochs is 0; allowed: > 0``.
    """
    bounds = [(positive or {}, "> 0", 0.0, False), (non_negative or {}, ">= 0", 0.0, True)]
    for values, allowed, low, inclusive in bounds:
        for name, value in values.items():
            if not (value >= low if inclusive else value > low):
                raise ConfigError(f"strategy_args: {method}: {name} is {value}; allowed: {allowed}")
    if steps_per_epoch is not None and steps_per_epoch < 1:
        raise ConfigError(
            f"strategy_args: {method}: steps_per_epoch is {steps_per_epoch}; "
            "allowed: >= 1, or unset for one pass over the data"
        )


class OneShotMethod(ABC):
    """A weight-sharing search: trains a supernet, returns one arch. ``__init__`` only stores
    its arguments (``seed`` first); the registry kind is ``oneshot``."""

    weight_sharing = True
    name = "oneshot"

    def __init__(self, seed: int = 0) -> None:
        self.seed = seed

    @abstractmethod
    def search(
        self,
        supernet: Supernet,
        data: OneShotData,
        checkpoint_dir: Path | None,
        log: SearchLog,
    ) -> Arch:
        """Train ``supernet`` (resuming from ``checkpoint_dir`` if it holds a checkpoint) and
        return the arch found. Epochs and candidates go to ``log``."""


def epoch_steps(n_train: int, batch_size: int, steps_per_epoch: int | None) -> int:
    """Minibatches per supernet epoch: one pass over ``n_train`` rows, capped by
    ``steps_per_epoch`` when set."""
    steps = math.ceil(n_train / batch_size)
    return steps if steps_per_epoch is None else min(steps, steps_per_epoch)


CHECKPOINT = "method.pt"


def save_checkpoint(checkpoint_dir: Path | None, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors, state dicts, numbers, strings) atomically; no-op for None."""
    if checkpoint_dir is None:
        return
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    tmp = checkpoint_dir / (CHECKPOINT + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, checkpoint_dir / CHECKPOINT)


def load_checkpoint(checkpoint_dir: Path | None) -> dict[str, Any] | None:
    """The last saved state, or None (no directory, or nothing saved yet). Loaded with
    ``weights_only=True``: tensors, numbers, strings, lists and dicts only."""
    if checkpoint_dir is None or not (checkpoint_dir / CHECKPOINT).exists():
        return None
    state: dict[str, Any] = torch.load(checkpoint_dir / CHECKPOINT, weights_only=True)
    return state


def rng_state() -> dict[str, Any]:
    """torch's CPU RNG state, to put in a checkpoint so a resumed epoch draws what it would."""
    return {"torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
