"""Evaluators for tests, benchmarks and dry runs: no training, deterministic rewards, and
faults on request. They live in the package so spawned workers can import them."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from nasbeyond.arch import Arch, canonical_json
from nasbeyond.trial import Budget, Context, Result

FAULTS = ("raise", "nan", "hang", "die")


def pseudo_reward(arch: Arch) -> float:
    """A deterministic reward in [0, 1) derived from the arch alone."""
    digest = hashlib.sha1(canonical_json(arch).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


@dataclass
class ToyEvaluator:
    """Returns ``pseudo_reward(arch)`` at once. With ``fault`` set, every ``every``-th trial id
    misbehaves: ``raise`` an exception, return a ``nan`` reward, ``hang`` for ``hang_s``, or
    ``die`` (the worker process exits abruptly)."""

    fault: str | None = None
    every: int = 2
    hang_s: float = 60.0
    sleep_s: float = 0.0

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        if self.sleep_s:
            time.sleep(self.sleep_s)
        if self.fault and ctx.trial_id % self.every == 0:
            if self.fault == "raise":
                raise RuntimeError(f"injected failure in trial {ctx.trial_id}")
            if self.fault == "nan":
                return Result("ok", float("nan"))
            if self.fault == "hang":
                time.sleep(self.hang_s)
            if self.fault == "die":
                os._exit(3)
        reward = pseudo_reward(arch)
        return Result("ok", reward, {"val_acc": reward})
