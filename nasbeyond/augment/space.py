"""Augmentation policies as search spaces, so the same loop and strategies search them.

- ``augment-policy`` (AutoAugment): a policy of 5 sub-policies x 2 ops, each op an
  ``[operation, probability, magnitude_bin]`` of the 16 operations, 11 probability bins
  (0.0 .. 1.0) and 10 magnitude bins (0 .. 9): (16 x 11 x 10)^10, about 2.9e32 policies.
  An arch is ``{"policy": [[["Invert", 0.1, 7], ["Contrast", 0.2, 6]], ...]}``, the format
  ``AutoAugment`` loads.
- ``randaugment``: RandAugment's two numbers, ``{"n": 2, "m": 9}`` (m on the 0..10 scale),
  over a grid small enough to search exhaustively with the ``grid`` strategy.

``build`` returns the transform (an ``nn.Module`` that augments batches); the ``augment-train``
evaluator trains a fixed child model with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.augment.ops import OP_NAMES
from nasbeyond.augment.transforms import MAGNITUDE_BINS, AutoAugment, RandAugment, validate_policy
from nasbeyond.exceptions import ConfigError, SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, TaskShape, other_choice

PROBABILITIES = tuple(round(i / 10, 1) for i in range(11))
MAGNITUDES = tuple(range(MAGNITUDE_BINS))
FIELDS = ("op", "prob", "mag")


@register("space", "augment-policy")
class PolicySpace(Space):
    """AutoAugment's policy space.

    Args:
        sub_policies: sub-policies per policy (the paper: 5).
        ops_per_sub_policy: operations per sub-policy (the paper: 2).
    """

    name = "augment-policy"
    builds = "transform"

    def __init__(self, sub_policies: int = 5, ops_per_sub_policy: int = 2) -> None:
        if not 1 <= sub_policies <= 25 or not 1 <= ops_per_sub_policy <= 4:
            raise SpaceError(
                "augment-policy: sub_policies must be 1..25 and ops_per_sub_policy 1..4"
            )
        self.sub_policies = sub_policies
        self.ops = ops_per_sub_policy

    def decisions(self) -> list[Decision]:
        choices = {"op": OP_NAMES, "prob": PROBABILITIES, "mag": MAGNITUDES}
        return [
            Decision(f"sub{i}.op{j}.{f}", choices[f])
            for i in range(self.sub_policies)
            for j in range(self.ops)
            for f in FIELDS
        ]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"augment-policy: expected {len(ds)} choices, got {len(choices)}")
        vals = [d.choices[int(c)] for d, c in zip(ds, choices, strict=True)]
        entries = [list(vals[k : k + 3]) for k in range(0, len(vals), 3)]
        return {
            "policy": [entries[i * self.ops : (i + 1) * self.ops] for i in range(self.sub_policies)]
        }

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change the operation, the probability bin or the magnitude bin of one entry."""
        child = copy_arch(self.validate(arch))
        entry = child["policy"][int(rng.integers(self.sub_policies))][int(rng.integers(self.ops))]
        k = int(rng.integers(3))
        values: tuple[Any, ...] = (OP_NAMES, PROBABILITIES, MAGNITUDES)[k]
        entry[k] = other_choice(values, entry[k], rng)
        return child

    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict) or set(arch) != {"policy"}:
            raise SpaceError('augment-policy: arch must be {"policy": [sub-policies]}')
        try:
            policy = validate_policy(arch["policy"], "augment-policy: policy")
        except ConfigError as e:
            raise SpaceError(str(e)) from None
        if len(policy) != self.sub_policies or any(len(s) != self.ops for s in policy):
            raise SpaceError(
                f"augment-policy: policy must have {self.sub_policies} sub-policies of "
                f"{self.ops} operations"
            )
        for i, sub in enumerate(policy):
            for j, (_, p, m) in enumerate(sub):
                if p not in PROBABILITIES or m not in MAGNITUDES or isinstance(m, bool):
                    raise SpaceError(
                        f"augment-policy: sub-policy {i} entry {j}: probability {p!r} / "
                        f"magnitude {m!r}; allowed: probabilities 0.0, 0.1, .., 1.0 and "
                        "magnitude bins 0..9"
                    )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return AutoAugment(self.validate(arch)["policy"], seed=0)

    def describe(self, arch: Arch) -> str:
        return " | ".join(
            " + ".join(f"{op}({p:g},{m})" for op, p, m in sub) for sub in arch["policy"]
        )

    def graph(self, arch: Arch) -> list[Panel]:
        nodes: list[Node] = [("image", [])]
        for i, sub in enumerate(arch["policy"]):
            nodes.append(
                (
                    f"sub-policy {i}: " + " then ".join(f"{op} p={p:g} m={m}" for op, p, m in sub),
                    [(0, "1/" + str(len(arch["policy"])))],
                )
            )
        return [(self.name, nodes)]


@register("space", "randaugment")
class RandAugmentSpace(Space):
    """RandAugment's (N, M) grid: N ops per image, magnitude M on the 0..10 scale.

    Args:
        ns: the values of N (default 1, 2, 3).
        ms: the values of M (default 1..10).
    """

    name = "randaugment"
    builds = "transform"

    def __init__(
        self, ns: Sequence[int] = (1, 2, 3), ms: Sequence[float] = tuple(range(1, 11))
    ) -> None:
        ok_n = all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= 10 for n in ns)
        ok_m = all(
            isinstance(m, int | float) and not isinstance(m, bool) and 0 <= m <= 10 for m in ms
        )
        if not ns or not ms or not ok_n or not ok_m or len(ns) * len(ms) < 2:
            raise SpaceError(
                "randaugment: ns must be integers 0..10 and ms numbers 0..10, 2+ points in all"
            )
        self.ns, self.ms = tuple(ns), tuple(ms)

    def decisions(self) -> list[Decision]:
        return [d for d in (Decision("n", self.ns), Decision("m", self.ms)) if len(d.choices) > 1]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"randaugment: expected {len(ds)} choices, got {len(choices)}")
        v = {d.name: d.choices[int(c)] for d, c in zip(ds, choices, strict=True)}
        return {"n": v.get("n", self.ns[0]), "m": v.get("m", self.ms[0])}

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        child = dict(self.validate(arch))
        options = [(d.name, d.choices) for d in self.decisions()]
        key, values = options[int(rng.integers(len(options)))]
        child[key] = other_choice(values, child[key], rng)
        return child

    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict) or set(arch) != {"n", "m"}:
            raise SpaceError('randaugment: arch must be {"n": N, "m": M}')
        for key, allowed in (("n", self.ns), ("m", self.ms)):
            if arch[key] not in allowed or isinstance(arch[key], bool):
                raise SpaceError(
                    f"randaugment: {key} is {arch[key]!r}; allowed: {', '.join(map(str, allowed))}"
                )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        a = self.validate(arch)
        return RandAugment(a["n"], a["m"], seed=0)

    def describe(self, arch: Arch) -> str:
        return f"RandAugment N={arch['n']} M={arch['m']}"
