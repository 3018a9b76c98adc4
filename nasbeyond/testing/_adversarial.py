"""Adversarial results for a strategy: what a real loop can tell it, in the worst order.

``adversarial_trials`` turns a batch of proposals into the trials to tell, for one of
``SCENARIOS``. The strategy contract runs every scenario on every strategy and space.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from nasbeyond.space import Space
from nasbeyond.testing._toy import pseudo_reward
from nasbeyond.trial import Proposal, Trial

SCENARIOS = (
    "all-failed",  # every trial fails, in every form a failure takes
    "mostly-failed",  # one trial in six is ok
    "all-equal",  # every trial ok with the same reward and metrics
    "nan-metrics",  # ok trials with finite rewards whose metrics are NaN or infinite
    "out-of-order",  # a mix of outcomes, told in a shuffled order
    "duplicates",  # every arch told again under a new trial id, with another outcome
    "foreign",  # trials of archs the strategy never proposed, mixed in
)


def _metrics(reward: float, arch: Any) -> dict[str, float]:
    """Finite metrics for every built-in objective (accuracy, latency, params, macs)."""
    other = pseudo_reward({"of": arch})
    return {"val_acc": reward, "latency_ms": 1.0 + 9.0 * other, "params": 1e3, "macs": 1e6}


def _ok(tid: int, p: Proposal, reward: float | None = None) -> Trial:
    r = pseudo_reward(p.arch) if reward is None else reward
    return Trial(tid, p.arch, "ok", r, _metrics(r, p.arch), budget=p.budget, parent=p.parent)


def _failure(tid: int, p: Proposal, form: int) -> Trial:
    """A failure in one of five forms: failed with an error, pruned, and ok without a finite
    reward (NaN, +inf, None) — the last three are what a shaping function can produce."""
    kw: dict[str, Any] = {"budget": p.budget, "parent": p.parent}
    form %= 5
    if form == 0:
        return Trial(tid, p.arch, "failed", None, error="RuntimeError: injected", **kw)
    if form == 1:
        return Trial(tid, p.arch, "pruned", 0.1, {"val_acc": 0.1}, **kw)
    reward = (math.nan, math.inf, None)[form - 2]
    return Trial(tid, p.arch, "ok", reward, {"val_acc": math.nan}, **kw)


def adversarial_trials(
    scenario: str,
    batch: Sequence[tuple[int, Proposal]],
    rng: np.random.Generator,
    new_id: Callable[[], int],
    space: Space,
) -> list[Trial]:
    """The trials to tell, in the order to tell them, for a batch of ``(trial id, proposal)``.

    Args:
        scenario: one of ``SCENARIOS``.
        batch: proposals the strategy made, with the trial ids the loop gave them.
        rng: draws the shuffles, the foreign archs and which duplicates flip.
        new_id: gives a fresh trial id (duplicates and foreign archs are new trials).
        space: where foreign archs come from.

    Raises:
        ValueError: an unknown scenario.
    """
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario: {scenario!r}; allowed: {', '.join(SCENARIOS)}")
    out: list[Trial] = []
    for j, (tid, p) in enumerate(batch):
        if scenario == "all-failed":
            out.append(_failure(tid, p, j))
        elif scenario == "mostly-failed":
            out.append(_ok(tid, p) if j % 6 == 0 else _failure(tid, p, j))
        elif scenario == "all-equal":
            out.append(
                Trial(tid, p.arch, "ok", 0.5, _metrics(0.5, {}), 1.0, None, p.budget, p.parent)
            )
        elif scenario == "nan-metrics":
            t = _ok(tid, p)
            bad = (math.nan, math.inf, -math.inf)[j % 3]
            spoilt = {k: bad for k in t.metrics} if j % 2 else {**t.metrics, "latency_ms": bad}
            out.append(Trial(tid, p.arch, "ok", t.reward, spoilt, budget=p.budget, parent=p.parent))
        else:  # out-of-order, duplicates, foreign: a mix of outcomes
            out.append(_failure(tid, p, j) if j % 3 == 2 else _ok(tid, p))
    if scenario == "out-of-order":
        out = [out[int(i)] for i in rng.permutation(len(out))]
    elif scenario == "duplicates":
        again = []
        for t in out:
            p = Proposal(t.arch, t.budget, t.parent)
            flip = t.status != "ok" or bool(rng.integers(2))
            if flip:  # the other outcome: ok if it failed, failed if it was ok
                dup = _ok(new_id(), p) if t.status != "ok" else _failure(new_id(), p, 0)
            else:  # ok again, with another reward
                dup = _ok(new_id(), p, reward=float(rng.random()))
            again.append(dup)
        out += [again[int(i)] for i in rng.permutation(len(again))]
    elif scenario == "foreign":
        arch = space.sample(rng)
        stranger = Proposal(arch)
        fate = _ok(new_id(), stranger) if rng.integers(2) else _failure(new_id(), stranger, 0)
        out.insert(int(rng.integers(len(out) + 1)), fate)
    return out
