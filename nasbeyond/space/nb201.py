"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020): a cell of 4 nodes whose 6 edges each
carry one of 5 ops; 5^6 = 15,625 archs. ``build`` gives the benchmark's network: a 3x3 stem,
three stages of N cells with C, 2C, 4C channels joined by residual reduction blocks, then
BN-ReLU, global pooling and a linear classifier.

An arch is ``{"edges": [op_1<-0, op_2<-0, op_2<-1, op_3<-0, op_3<-1, op_3<-2]}``;
``to_arch_str`` gives the benchmark's string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, other_choice
from nasbeyond.space.cell_ops import cell_op
from nasbeyond.space.cells import Cell
from nasbeyond.trial import TaskShape

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), benchmark order


def to_arch_str(arch: Arch) -> str:
    ops = arch["edges"]
    nodes = [
        [f"{ops[k]}~{src}" for k, (dst, src) in enumerate(EDGES) if dst == j] for j in (1, 2, 3)
    ]
    return "+".join("|" + "|".join(n) + "|" for n in nodes)


def from_arch_str(text: str) -> Arch:
    try:
        ops = [tok.split("~")[0] for node in text.split("+") for tok in node.strip("|").split("|")]
    except AttributeError:
        raise SpaceError(f"nb201: arch string must be text, got {text!r}") from None
    return {"edges": ops}


def _cell(ops: Sequence[str], c: int) -> Cell:
    """The benchmark's cell through the shared cell builder: node j sums one op per earlier
    node; the cell returns node 3."""
    nodes = [
        [(src, cell_op(ops[k], c)) for k, (dst, src) in enumerate(EDGES) if dst == j]
        for j in (1, 2, 3)
    ]
    return Cell(nodes, ["add"] * 3, [3], c)


class _Reduction(nn.Module):
    """The benchmark's residual block between stages: stride 2, channels doubled."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.a = nn.Sequential(
            nn.ReLU(), nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout)
        )
        self.b = nn.Sequential(
            nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
        )
        self.short = nn.Sequential(
            nn.AvgPool2d(2, 2, ceil_mode=True), nn.Conv2d(cin, cout, 1, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + self.short(x)


class NB201Net(nn.Sequential):
    def __init__(self, ops: Sequence[str], task: TaskShape, c: int, n: int) -> None:
        if len(task.input_shape) != 3:
            raise SpaceError(f"nb201: input shape {task.input_shape} is not an image (C, H, W)")
        layers: list[nn.Module] = [
            nn.Conv2d(task.input_shape[0], c, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c),
        ]
        for stage in range(3):
            width = c * 2**stage
            if stage:
                layers.append(_Reduction(width // 2, width))
            layers += [_cell(ops, width) for _ in range(n)]
        layers += [
            nn.BatchNorm2d(c * 4),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c * 4, task.num_classes),
        ]
        super().__init__(*layers)


@register("space", "nb201")
class NB201Space(Space):
    """NAS-Bench-201's cell space.

    Args:
        channels: C, the first stage's width (the benchmark: 16).
        cells: N, cells per stage (the benchmark: 5).
    """

    name = "nb201"

    def __init__(self, channels: int = 16, cells: int = 5) -> None:
        if channels < 1 or cells < 1:
            raise SpaceError(f"nb201: channels and cells must be >= 1, got {channels}, {cells}")
        self.channels = channels
        self.cells = cells

    def decisions(self) -> list[Decision]:
        return [Decision(f"edge{dst}<-{src}", OPS) for dst, src in EDGES]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        if len(choices) != len(EDGES):
            raise SpaceError(f"nb201: expected {len(EDGES)} choices, got {len(choices)}")
        return {"edges": [OPS[c] for c in choices]}

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Replace the op of one edge by another op (the REA mutation of the benchmark paper)."""
        ops = list(self.validate(arch)["edges"])
        k = int(rng.integers(len(ops)))
        ops[k] = other_choice(OPS, ops[k], rng)
        return {"edges": ops}

    def validate(self, arch: Arch) -> Arch:
        edges = arch.get("edges") if isinstance(arch, dict) else None
        if not isinstance(edges, list) or len(edges) != len(EDGES) or set(arch) != {"edges"}:
            raise SpaceError('nb201: arch must be {"edges": [6 op names]}')
        for k, op in enumerate(edges):
            if op not in OPS:
                raise SpaceError(f"nb201: edges[{k}] is {op!r}; allowed: {', '.join(OPS)}")
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return NB201Net(self.validate(arch)["edges"], task, self.channels, self.cells)

    def describe(self, arch: Arch) -> str:
        return to_arch_str(arch)

    def graph(self, arch: Arch) -> list[Panel]:
        ops = self.validate(arch)["edges"]
        nodes: list[Node] = [("in", [])]
        for j in (1, 2, 3):
            edges = [(src, ops[k]) for k, (dst, src) in enumerate(EDGES) if dst == j]
            nodes.append(("out" if j == 3 else str(j), [e for e in edges if e[1] != "none"]))
        return [("cell", nodes)]

    def index(self, arch: Arch) -> int:
        """The benchmark's own index of an arch (base-5 digits in edge order are NOT it; the
        table maps strings to indices)."""
        from nasbeyond.benchdata import load_table

        return load_table().index[to_arch_str(self.validate(arch))]
