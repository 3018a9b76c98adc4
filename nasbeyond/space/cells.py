"""One cell builder for the cell spaces: NASNet (Zoph et al., "Learning Transferable Architectures
for Scalable Image Recognition", CVPR 2018), DARTS (Liu et al., "DARTS: Differentiable
Architecture Search", ICLR 2019) and NAS-Bench-201 (Dong & Yang, ICLR 2020).

A cell is a small DAG: ``n_inputs`` input states, then nodes; every node applies one op to each
of its incoming states and combines the results (sum, or concatenation projected back to C
channels); the cell returns one node or the concatenation of several. Networks stack cells:
stem, then N normal cells, a reduction cell (ops on the cell inputs use stride 2, channels
double), N normal cells, a reduction cell, N normal cells, global pooling, a linear classifier.

NASNet arch (B=5 nodes per cell, inputs from {c_k-2, c_k-1, earlier nodes}, 13 ops)::

    {"normal": [{"inputs": [1, 0], "ops": ["sep_conv_3x3", "identity"], "combine": "add"}, ...],
     "reduce": [...]}

DARTS arch (4 nodes, two different inputs in increasing order, 8 ops, always summed)::

    {"normal": [{"inputs": [0, 1], "ops": ["sep_conv_3x3", "skip_connect"]}, ...], "reduce": ...}

Input index 0 is the cell before the previous one, 1 the previous cell, 2.. earlier nodes.
The ops are looked up by name in ``cell_ops.CELL_OPS``; a space's ``ops`` may name any entry.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, other_choice
from nasbeyond.space.cell_ops import FactorizedReduce, cell_op, relu_conv_bn
from nasbeyond.trial import TaskShape

NASNET_OPS = (
    "identity",
    "conv_1x3_3x1",
    "conv_1x7_7x1",
    "dil_conv_3x3",
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "sep_conv_7x7",
)
DARTS_OPS = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)


# -- the cell -------------------------------------------------------------------------------------


class Cell(nn.Module):
    """A DAG cell. ``nodes[j]`` lists the node's incoming ``(state index, op)`` edges;
    ``combine[j]`` is ``add`` or ``concat``; ``outputs`` are the states the cell returns
    (concatenated when more than one)."""

    def __init__(
        self,
        nodes: Sequence[Sequence[tuple[int, nn.Module]]],
        combine: Sequence[str],
        outputs: Sequence[int],
        c: int,
    ) -> None:
        super().__init__()
        self.sources = [[src for src, _ in node] for node in nodes]
        self.ops = nn.ModuleList(nn.ModuleList(op for _, op in node) for node in nodes)
        self.project = nn.ModuleDict(
            {
                str(j): nn.Sequential(nn.Conv2d(c * len(n), c, 1, bias=False), nn.BatchNorm2d(c))
                for j, (n, how) in enumerate(zip(nodes, combine, strict=True))
                if how == "concat"
            }
        )
        self.outputs = list(outputs)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        states = list(inputs)
        for j, (srcs, ops) in enumerate(zip(self.sources, self.ops, strict=True)):
            assert isinstance(ops, nn.ModuleList)
            outs = [op(states[s]) for s, op in zip(srcs, ops, strict=True)]
            if str(j) in self.project:
                states.append(self.project[str(j)](torch.cat(outs, dim=1)))
            else:
                total = outs[0]
                for o in outs[1:]:
                    total = total + o
                states.append(total)
        if len(self.outputs) == 1:
            return states[self.outputs[0]]
        return torch.cat([states[i] for i in self.outputs], dim=1)


# -- the NASNet / DARTS network ---------------------------------------------------------------


class _TwoInputCell(nn.Module):
    """A NASNet/DARTS cell with its input preprocessing: both inputs brought to C channels (the
    older one also halved in size when the previous cell reduced)."""

    def __init__(
        self,
        spec: list[dict[str, Any]],
        c_pp: int,
        c_p: int,
        c: int,
        reduce: bool,
        prev_reduce: bool,
        output: str,
    ) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c) if prev_reduce else relu_conv_bn(c_pp, c, 1)
        self.pre1 = relu_conv_bn(c_p, c, 1)
        nodes = [
            [
                (s, cell_op(o, c, 2 if reduce and s < 2 else 1))
                for s, o in zip(n["inputs"], n["ops"], strict=True)
            ]
            for n in spec
        ]
        states = range(2, 2 + len(spec))
        if output == "unused":
            used = {s for n in spec for s in n["inputs"]}
            outputs = [s for s in states if s not in used]
        else:
            outputs = list(states)
        self.cell = Cell(nodes, [n.get("combine", "add") for n in spec], outputs, c)
        self.out_channels = c * len(outputs)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        return self.cell(self.pre0(s0), self.pre1(s1))


class CellNet(nn.Module):
    def __init__(self, arch: Arch, task: TaskShape, c: int, n: int, output: str, name: str) -> None:
        super().__init__()
        if len(task.input_shape) != 3:
            raise SpaceError(f"{name}: input shape {task.input_shape} is not an image (C, H, W)")
        stem = 3 * c
        self.stem = nn.Sequential(
            nn.Conv2d(task.input_shape[0], stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem)
        )
        c_pp, c_p, width, prev_reduce = stem, stem, c, False
        cells = []
        for i in range(3 * n + 2):
            reduce = i in (n, 2 * n + 1)
            width *= 2 if reduce else 1
            kind = "reduce" if reduce else "normal"
            cell = _TwoInputCell(arch[kind], c_pp, c_p, width, reduce, prev_reduce, output)
            cells.append(cell)
            c_pp, c_p, prev_reduce = c_p, cell.out_channels, reduce
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(
            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_p, task.num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.head(s1)


class CellSpace(Space):
    """A space of a normal and a reduction cell (NASNet, DARTS), shared code of both.

    Args:
        channels: C, the width of the first stage's cells (doubles at each reduction).
        cells: N, normal cells per stage (3N + 2 cells in all).
    """

    ops: tuple[str, ...] = ()
    nodes: int = 0
    combiners: tuple[str, ...] = ("add",)
    distinct_inputs = False  # DARTS: two different inputs, in increasing order
    output = "all"  # which nodes the cell returns: "all" (DARTS) or "unused" (NASNet)

    def __init__(self, channels: int = 8, cells: int = 1) -> None:
        if channels < 2 or cells < 1:
            raise SpaceError(
                f"{self.name}: channels must be >= 2 and cells >= 1, got {channels}, {cells}"
            )
        self.channels = channels
        self.cells = cells

    def _pairs(self, j: int) -> list[tuple[int, int]]:
        return list(itertools.combinations(range(j + 2), 2))

    def decisions(self) -> list[Decision]:
        out: list[Decision] = []
        for kind in ("normal", "reduce"):
            for j in range(self.nodes):
                p = f"{kind}.node{j + 2}"
                if self.distinct_inputs:
                    pairs = self._pairs(j)
                    if len(pairs) > 1:
                        out.append(Decision(f"{p}.inputs", tuple(pairs)))
                    out += [Decision(f"{p}.op0", self.ops), Decision(f"{p}.op1", self.ops)]
                else:
                    states = tuple(range(j + 2))
                    out += [Decision(f"{p}.input0", states), Decision(f"{p}.op0", self.ops)]
                    out += [Decision(f"{p}.input1", states), Decision(f"{p}.op1", self.ops)]
                if len(self.combiners) > 1:
                    out.append(Decision(f"{p}.combine", self.combiners))
        return out

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"{self.name}: expected {len(ds)} choices, got {len(choices)}")
        v = {d.name: d.choices[int(c)] for d, c in zip(ds, choices, strict=True)}
        arch: Arch = {}
        for kind in ("normal", "reduce"):
            cell = []
            for j in range(self.nodes):
                p = f"{kind}.node{j + 2}"
                if self.distinct_inputs:
                    inputs = list(v.get(f"{p}.inputs", (0, 1)))
                else:
                    inputs = [v[f"{p}.input0"], v[f"{p}.input1"]]
                node: dict[str, Any] = {"inputs": inputs, "ops": [v[f"{p}.op0"], v[f"{p}.op1"]]}
                if len(self.combiners) > 1:
                    node["combine"] = v[f"{p}.combine"]
                cell.append(node)
            arch[kind] = cell
        return arch

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """AmoebaNet's mutations (Real et al. 2019): in the normal or the reduction cell, change
        one op, or one input of one node (the hidden-state mutation), or its combiner."""
        child = copy_arch(self.validate(arch))
        j = int(rng.integers(self.nodes))
        node = child[("normal", "reduce")[int(rng.integers(2))]][j]
        moves = ["op"]
        if not self.distinct_inputs or len(self._pairs(j)) > 1:
            moves.append("input")
        if len(self.combiners) > 1:
            moves.append("combine")
        move = moves[int(rng.integers(len(moves)))]

        if move == "op":
            k = int(rng.integers(2))
            node["ops"][k] = other_choice(self.ops, node["ops"][k], rng)
        elif move == "combine":
            node["combine"] = other_choice(self.combiners, node["combine"], rng)
        elif self.distinct_inputs:
            node["inputs"] = list(other_choice(self._pairs(j), tuple(node["inputs"]), rng))
        else:
            k = int(rng.integers(2))
            node["inputs"][k] = other_choice(range(j + 2), node["inputs"][k], rng)
        return self.validate(child)

    def validate(self, arch: Arch) -> Arch:
        n = self.name
        if not isinstance(arch, dict) or set(arch) != {"normal", "reduce"}:
            raise SpaceError(f'{n}: arch must be {{"normal": [...], "reduce": [...]}}')
        keys = {"inputs", "ops"} | ({"combine"} if len(self.combiners) > 1 else set())
        for kind in ("normal", "reduce"):
            cell = arch[kind]
            if not isinstance(cell, list) or len(cell) != self.nodes:
                raise SpaceError(f"{n}: {kind} must be a list of {self.nodes} nodes")
            for j, node in enumerate(cell):
                at = f"{n}: {kind}[{j}]"
                if not isinstance(node, dict) or set(node) != keys:
                    raise SpaceError(f"{at} must have exactly the keys {', '.join(sorted(keys))}")
                ins, ops = node["inputs"], node["ops"]
                if not isinstance(ins, list) or len(ins) != 2:
                    raise SpaceError(f"{at}.inputs must be a list of two state indices")
                for k, s in enumerate(ins):
                    if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < j + 2:
                        raise SpaceError(f"{at}.inputs[{k}] is {s!r}; allowed: 0..{j + 1}")
                if self.distinct_inputs and ins[0] >= ins[1]:
                    raise SpaceError(f"{at}.inputs {ins} must be two different states, ascending")
                if not isinstance(ops, list) or len(ops) != 2:
                    raise SpaceError(f"{at}.ops must be a list of two op names")
                for k, o in enumerate(ops):
                    if o not in self.ops:
                        raise SpaceError(f"{at}.ops[{k}] is {o!r}; allowed: {', '.join(self.ops)}")
                if "combine" in keys and node["combine"] not in self.combiners:
                    raise SpaceError(
                        f"{at}.combine is {node['combine']!r}; allowed: {', '.join(self.combiners)}"
                    )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return CellNet(self.validate(arch), task, self.channels, self.cells, self.output, self.name)

    def describe(self, arch: Arch) -> str:
        def cell(nodes: list[dict[str, Any]]) -> str:
            parts = []
            for j, node in enumerate(nodes):
                join = " ++ " if node.get("combine") == "concat" else " + "
                terms = join.join(
                    f"{o}({s})" for s, o in zip(node["inputs"], node["ops"], strict=True)
                )
                parts.append(f"{j + 2}={terms}")
            return "; ".join(parts)

        return f"normal[{cell(arch['normal'])}] reduce[{cell(arch['reduce'])}]"

    def graph(self, arch: Arch) -> list[Panel]:
        panels = []
        for kind in ("normal", "reduce"):
            nodes: list[Node] = [("c_k-2", []), ("c_k-1", [])]
            for j, node in enumerate(arch[kind]):
                label = f"{j + 2}" + (" (concat)" if node.get("combine") == "concat" else "")
                nodes.append((label, list(zip(node["inputs"], node["ops"], strict=True))))
            if self.output == "unused":
                used = {s for n in arch[kind] for s in n["inputs"]}
                outs = [s for s in range(2, 2 + self.nodes) if s not in used]
            else:
                outs = list(range(2, 2 + self.nodes))
            nodes.append(("c_k", [(s, "") for s in outs]))
            panels.append((f"{kind} cell", nodes))
        return panels


@register("space", "nasnet")
class NASNetSpace(CellSpace):
    """NASNet's cell space: B=5 nodes; each picks two inputs, two ops from the 13 NASNet ops and
    a combiner (add or concat); the cell returns its unused nodes, concatenated."""

    name = "nasnet"
    ops = NASNET_OPS
    nodes = 5
    combiners = ("add", "concat")
    output = "unused"


@register("space", "darts")
class DARTSSpace(CellSpace):
    """The DARTS cell space: 4 nodes; each sums two ops (8 DARTS ops) on two different earlier
    states; the cell returns all 4 nodes, concatenated."""

    name = "darts"
    ops = DARTS_OPS
    nodes = 4
    distinct_inputs = True
