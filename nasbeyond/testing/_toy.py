"""Evaluators for tests, benchmarks and dry runs: no training, deterministic rewards, and
faults on request. They live in the package so spawned workers can import them."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

import numpy as np

from nasbeyond.arch import Arch, canonical_json
from nasbeyond.exceptions import SpaceError
from nasbeyond.trial import Budget, Context, Result

FAULTS = ("raise", "nan", "hang", "die", "memory")


def pseudo_reward(arch: Arch) -> float:
    """A deterministic reward in [0, 1) derived from the arch alone."""
    digest = hashlib.sha1(canonical_json(arch).encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


@dataclass
class ToyEvaluator:
    """Returns ``pseudo_reward(arch)`` at once. With ``fault`` set, every ``every``-th trial id
    misbehaves: ``raise`` an exception, return a ``nan`` reward, ``hang`` for ``hang_s``,
    ``die`` (the worker process exits abruptly) or ask for far too much ``memory``.

    It knows no space, so the only bad input it can tell is something that is not an arch (a
    dict of JSON values): that raises SpaceError, as a space's ``validate`` would.
    """

    fault: str | None = None
    every: int = 2
    hang_s: float = 60.0
    sleep_s: float = 0.0
    die_once_dir: str | None = None  # with "die": only the first attempt of each trial dies

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        if not isinstance(arch, dict):
            raise SpaceError(f"toy: an arch is a dict of JSON values, not {type(arch).__name__}")
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
                if self.die_once_dir is None:
                    os._exit(3)
                mark = os.path.join(self.die_once_dir, str(ctx.trial_id))
                if not os.path.exists(mark):
                    os.makedirs(self.die_once_dir, exist_ok=True)
                    open(mark, "w").close()
                    os._exit(3)
            if self.fault == "memory":  # ~9 TiB: refused at once, never touches real memory
                np.ones(10**13, dtype=np.uint8)
        try:
            reward = pseudo_reward(arch)
        except (TypeError, ValueError) as e:  # a value JSON cannot hold
            raise SpaceError(f"toy: an arch is a dict of JSON values ({e})") from None
        return Result("ok", reward, {"val_acc": reward})
