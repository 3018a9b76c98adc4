"""A small MLP space for flat features (and flattened images): depth, widths, activation,
dropout. The tabular issue extends it; here it is the fast space of tests and CSV data.

An arch is ``{"widths": [128, 64], "activation": "relu", "dropout": 0.1}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Space, TaskShape

WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
DROPOUTS = (0.0, 0.1, 0.3)


@register("space", "mlp")
class MLPSpace(Space):
    """Fully connected networks with 1..max_layers hidden layers.

    Args:
        max_layers: the most hidden layers an arch may have.
    """

    name = "mlp"

    def __init__(self, max_layers: int = 4) -> None:
        if not 1 <= max_layers <= 16:
            raise SpaceError(f"mlp: max_layers is {max_layers}; allowed 1..16")
        self.max_layers = max_layers

    def decisions(self) -> list[Decision]:
        return [
            Decision("num_layers", tuple(range(1, self.max_layers + 1))),
            *[Decision(f"width{i}", WIDTHS) for i in range(self.max_layers)],
            Decision("activation", tuple(ACTIVATIONS)),
            Decision("dropout", DROPOUTS),
        ]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"mlp: expected {len(ds)} choices, got {len(choices)}")
        v = [d.choices[c] for d, c in zip(ds, choices, strict=True)]
        n = v[0]
        return {"widths": list(v[1 : 1 + n]), "activation": v[-2], "dropout": v[-1]}

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one width, the activation or the dropout, or add or drop a layer."""
        child = copy_arch(self.validate(arch))
        widths: list[int] = child["widths"]
        moves = ["width", "activation", "dropout"]
        moves += ["insert"] if len(widths) < self.max_layers else []
        moves += ["remove"] if len(widths) > 1 else []
        move = moves[int(rng.integers(len(moves)))]

        def other(vals: Sequence[Any], cur: Any) -> Any:
            rest = [v for v in vals if v != cur]
            return rest[int(rng.integers(len(rest)))]

        if move == "width":
            i = int(rng.integers(len(widths)))
            widths[i] = other(WIDTHS, widths[i])
        elif move == "activation":
            child["activation"] = other(tuple(ACTIVATIONS), child["activation"])
        elif move == "dropout":
            child["dropout"] = other(DROPOUTS, child["dropout"])
        elif move == "insert":
            widths.insert(int(rng.integers(len(widths) + 1)), WIDTHS[int(rng.integers(4))])
        else:
            del widths[int(rng.integers(len(widths)))]
        return self.validate(child)

    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict):
            raise SpaceError(
                'mlp: arch must be {"widths": [...], "activation": ..., "dropout": ...}'
            )
        extra = set(arch) - {"widths", "activation", "dropout"}
        if extra:
            raise SpaceError(
                f"mlp: unknown field {sorted(extra)[0]!r}; allowed: widths, activation, dropout"
            )
        widths = arch.get("widths")
        if not isinstance(widths, list) or not 1 <= len(widths) <= self.max_layers:
            raise SpaceError(f"mlp: widths must be a list of 1..{self.max_layers} entries")
        for i, w in enumerate(widths):
            if isinstance(w, bool) or w not in WIDTHS:
                raise SpaceError(
                    f"mlp: widths[{i}] is {w!r}; allowed: {', '.join(map(str, WIDTHS))}"
                )
        if arch.get("activation") not in ACTIVATIONS:
            raise SpaceError(
                f"mlp: activation is {arch.get('activation')!r}; allowed: {', '.join(ACTIVATIONS)}"
            )
        if arch.get("dropout") not in DROPOUTS:
            raise SpaceError(
                f"mlp: dropout is {arch.get('dropout')!r}; allowed: {', '.join(map(str, DROPOUTS))}"
            )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        self.validate(arch)
        layers: list[nn.Module] = [nn.Flatten()]
        cin = math.prod(task.input_shape)
        for w in arch["widths"]:
            layers += [nn.Linear(cin, w), ACTIVATIONS[arch["activation"]]()]
            if arch["dropout"]:
                layers.append(nn.Dropout(arch["dropout"]))
            cin = w
        layers.append(nn.Linear(cin, task.num_classes))
        return nn.Sequential(*layers)

    def describe(self, arch: Arch) -> str:
        return (
            f"mlp {'-'.join(map(str, arch['widths']))} {arch['activation']} "
            f"dropout={arch['dropout']}"
        )
