"""Records that cross the loop: the evaluator's Result, the stored Trial, Budget and Context, and
the TaskShape a built model must fit."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from nasbeyond.arch import Arch

Status = Literal["ok", "failed", "pruned", "running"]


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite float in it (nested in dicts, lists and tuples)
    replaced by None: strict JSON, which SQLite's JSON functions and browsers require, has no
    spelling for them. Readers treat None like a missing or non-finite value."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


@dataclass(frozen=True)
class TaskShape:
    """What a built model must accept and produce."""

    input_shape: tuple[int, ...]  # one sample, without the batch dimension
    num_classes: int
    vocab_size: int = 0  # > 0: inputs are token ids (carried as floats), e.g. (seq_len,)
    categories: tuple[int, ...] = ()  # tabular: cardinalities of the leading categorical columns


@dataclass(frozen=True)
class Budget:
    """How much training one evaluation may spend: epochs (may be fractional) or steps."""

    epochs: float | None = None
    steps: int | None = None


@dataclass(frozen=True)
class Context:
    """Where and how a trial runs; handed to the evaluator in its worker."""

    trial_id: int
    seed: int
    run_dir: str | None = None
    threads: int = 1
    parent: int | None = None  # continue from this trial's saved weights (promotions)
    parent_budget: float | None = None  # how much training the parent already had


@dataclass(frozen=True)
class Result:
    """What an evaluator returns. ``reward`` is maximised; ``metrics`` holds JSON-able extras."""

    status: Literal["ok", "failed", "pruned"]
    reward: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    cost_s: float = 0.0
    error: str | None = None

    @classmethod
    def failed(cls, error: str, cost_s: float = 0.0) -> Result:
        return cls(status="failed", error=error, cost_s=cost_s)

    def checked(self) -> Result:
        """The result, or a failed one if it claims success without a finite reward."""
        if self.status == "ok" and (self.reward is None or not math.isfinite(self.reward)):
            return Result.failed(
                f"evaluator returned a non-finite reward ({self.reward})", self.cost_s
            )
        return self


@dataclass(frozen=True)
class Trial:
    """One candidate's evaluation as the store keeps it."""

    id: int
    arch: Arch
    status: Status
    reward: float | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    cost_s: float = 0.0
    error: str | None = None
    budget: float | None = None
    parent: int | None = None


@dataclass(frozen=True)
class Proposal:
    """What the loop asks a strategy for: an arch, optionally with its own training budget and
    a finished trial to continue from (multi-fidelity schedulers promote trials this way)."""

    arch: Arch
    budget: float | None = None
    parent: int | None = None


class Evaluator(Protocol):
    """Trains or measures one arch. Runs in a worker process, so it must pickle."""

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result: ...
