"""Cell supernets: the NAS-Bench-201 and DARTS cell spaces with every op of every edge held once.

- ``NB201Supernet`` (Dong & Yang, ICLR 2020): the benchmark's network skeleton (stem, three
  stages of N cells joined by residual reductions, head), each cell's 6 edges holding all 5 ops.
  One architecture parameter matrix ``alphas["cell"]`` (6 edges x 5 ops) is shared by every
  cell, as in the benchmark's DARTS runs; ``derive`` takes the argmax op per edge (``none``
  included, as there).
- ``DARTSSupernet`` (Liu et al., ICLR 2019): the DARTS network skeleton (stem, 3N + 2 cells with
  reductions at N and 2N + 1, head); node j of a cell has one edge from each of its j + 2 earlier
  states, each edge holding all 8 DARTS ops; ``alphas["normal"]`` and ``alphas["reduce"]`` are
  14 x 8. ``derive`` keeps for every node the two incoming edges whose strongest op other than
  ``none`` is strongest, with that op (the paper's sec. 2.4 rule).

``supernet(x, arch)`` runs the path: exactly the modules ``space.build(arch, task)`` holds, in
its order (a ``none`` edge of NB201 still adds its zeros), so ``path_model(arch)`` - the
standalone model with the path's weights copied in - gives equal outputs. ``supernet(x)`` runs
the continuous relaxation: every edge is ``sum_o softmax(alpha_e)_o * o(x)`` (``none`` adds
nothing and is skipped), plus ``aux_skip * x`` on every stride-1 edge when ``aux_skip`` > 0
(DARTS-'s auxiliary skip connection, Chu et al., ICLR 2021; the method sets and decays it).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.oneshot.base import Supernet, register_supernet
from nasbeyond.space import Space
from nasbeyond.space.cell_ops import FactorizedReduce, cell_op, relu_conv_bn
from nasbeyond.space.cells import DARTS_OPS, CellNet, CellSpace
from nasbeyond.space.nb201 import EDGES, OPS, NB201Space, _Reduction
from nasbeyond.trial import TaskShape

PARAMETER_FREE = ("none", "skip_connect")  # the ops a collapsed search piles onto


class MixedEdge(nn.Module):
    """One edge with every op of ``ops`` on ``c`` channels at ``stride``."""

    def __init__(self, ops: tuple[str, ...], c: int, stride: int) -> None:
        super().__init__()
        self.names = ops
        self.stride = stride
        self.ops = nn.ModuleDict({name: cell_op(name, c, stride) for name in ops})

    def path(self, x: torch.Tensor, op: str) -> torch.Tensor:
        return self.ops[op](x)

    def mixed(self, x: torch.Tensor, weights: torch.Tensor, aux_skip: float) -> torch.Tensor:
        """``sum_o weights[o] * o(x)`` (+ ``aux_skip * x`` at stride 1); ``none`` is skipped."""
        out: torch.Tensor | None = None
        for w, name in zip(weights, self.names, strict=True):
            if name == "none":
                continue
            term = w * self.ops[name](x)
            out = term if out is None else out + term
        if aux_skip > 0 and self.stride == 1:
            assert out is not None
            out = out + aux_skip * x
        assert out is not None
        return out


def _copy(dst: Any, src: Any) -> None:
    """Load ``src``'s parameters and buffers into ``dst`` (modules of the same structure)."""
    dst.load_state_dict(src.state_dict())


def _parameter_free(arch_ops: list[str]) -> int:
    return sum(op in PARAMETER_FREE for op in arch_ops)


# -- NAS-Bench-201 ----------------------------------------------------------------------------


class MixedNB201Cell(nn.Module):
    """NB201's cell with every op on each of its 6 edges (``EDGES`` order)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.edges = nn.ModuleList(MixedEdge(OPS, c, 1) for _ in EDGES)

    def forward(
        self,
        x: torch.Tensor,
        ops: list[str] | None,
        weights: torch.Tensor | None,
        aux_skip: float = 0.0,
    ) -> torch.Tensor:
        states = [x]
        for j in (1, 2, 3):
            outs = []
            for k, (dst, src) in enumerate(EDGES):
                if dst != j:
                    continue
                edge = self.edges[k]
                assert isinstance(edge, MixedEdge)
                if ops is not None:
                    outs.append(edge.path(states[src], ops[k]))
                else:
                    assert weights is not None
                    outs.append(edge.mixed(states[src], weights[k], aux_skip))
            total = outs[0]
            for o in outs[1:]:
                total = total + o
            states.append(total)
        return states[3]


class NB201Supernet(Supernet):
    """The NB201 network with mixed cells; ``body`` parallels ``NB201Net``'s children."""

    def __init__(self, space: NB201Space, task: TaskShape) -> None:
        super().__init__(space, task)
        if len(task.input_shape) != 3:
            raise SpaceError(f"nb201: input shape {task.input_shape} is not an image (C, H, W)")
        c, n = space.channels, space.cells
        body: list[nn.Module] = [
            nn.Conv2d(task.input_shape[0], c, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c),
        ]
        for stage in range(3):
            width = c * 2**stage
            if stage:
                body.append(_Reduction(width // 2, width))
            body += [MixedNB201Cell(width) for _ in range(n)]
        body += [
            nn.BatchNorm2d(c * 4),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(c * 4, task.num_classes),
        ]
        self.body = nn.ModuleList(body)
        self.alphas["cell"] = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))
        self.aux_skip = 0.0

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        ops = None if arch is None else self.space.validate(arch)["edges"]
        weights = F.softmax(self.alphas["cell"], dim=-1) if arch is None else None
        for module in self.body:
            if isinstance(module, MixedNB201Cell):
                x = module(x, ops, weights, self.aux_skip)
            else:
                x = module(x)
        return x

    def path_model(self, arch: Arch) -> nn.Module:
        ops = self.space.validate(arch)["edges"]
        model = self.space.build(arch, self.task)
        for sup, std in zip(self.body, model.children(), strict=True):
            if isinstance(sup, MixedNB201Cell):
                nodes: Any = std.ops
                for j in (1, 2, 3):
                    ks = [k for k, (dst, _) in enumerate(EDGES) if dst == j]
                    for i, k in enumerate(ks):
                        edge = sup.edges[k]
                        assert isinstance(edge, MixedEdge)
                        _copy(nodes[j - 1][i], edge.ops[ops[k]])
            else:
                _copy(std, sup)
        return model

    def derive(self) -> Arch:
        best = self.alphas["cell"].detach().argmax(dim=-1).tolist()
        return {"edges": [OPS[i] for i in best]}

    def skip_or_none(self, arch: Arch) -> int:
        """How many edges of ``arch`` are ``skip_connect`` or ``none``."""
        return _parameter_free(arch["edges"])


# -- DARTS ------------------------------------------------------------------------------------


class MixedDARTSCell(nn.Module):
    """A DARTS cell with both input preprocessings and, for node j, one mixed edge from each
    of the j + 2 earlier states (edge index ``offset(j) + src``)."""

    def __init__(
        self, nodes: int, c_pp: int, c_p: int, c: int, reduce: bool, prev_reduce: bool
    ) -> None:
        super().__init__()
        self.pre0 = FactorizedReduce(c_pp, c) if prev_reduce else relu_conv_bn(c_pp, c, 1)
        self.pre1 = relu_conv_bn(c_p, c, 1)
        self.nodes = nodes
        self.reduce = reduce
        self.edges = nn.ModuleList(
            MixedEdge(DARTS_OPS, c, 2 if reduce and src < 2 else 1)
            for j in range(nodes)
            for src in range(j + 2)
        )
        self.out_channels = c * nodes

    @staticmethod
    def offset(j: int) -> int:
        return sum(i + 2 for i in range(j))

    def forward(
        self,
        s0: torch.Tensor,
        s1: torch.Tensor,
        spec: list[dict[str, Any]] | None,
        weights: torch.Tensor | None,
        aux_skip: float = 0.0,
    ) -> torch.Tensor:
        states = [self.pre0(s0), self.pre1(s1)]
        for j in range(self.nodes):
            if spec is not None:
                node = spec[j]
                outs = []
                for src, op in zip(node["inputs"], node["ops"], strict=True):
                    edge = self.edges[self.offset(j) + src]
                    assert isinstance(edge, MixedEdge)
                    outs.append(edge.path(states[src], op))
                total = outs[0]
                for o in outs[1:]:
                    total = total + o
            else:
                assert weights is not None
                terms = []
                for src in range(j + 2):
                    e = self.offset(j) + src
                    edge = self.edges[e]
                    assert isinstance(edge, MixedEdge)
                    terms.append(edge.mixed(states[src], weights[e], aux_skip))
                total = terms[0]
                for t in terms[1:]:
                    total = total + t
            states.append(total)
        return torch.cat(states[2:], dim=1)


class DARTSSupernet(Supernet):
    """The DARTS network with mixed cells; same stem, reductions and head as ``CellNet``."""

    def __init__(self, space: CellSpace, task: TaskShape) -> None:
        super().__init__(space, task)
        c, n, nodes = space.channels, space.cells, space.nodes
        stem = 3 * c
        self.stem = nn.Sequential(
            nn.Conv2d(task.input_shape[0], stem, 3, 1, 1, bias=False), nn.BatchNorm2d(stem)
        )
        c_pp, c_p, width, prev_reduce = stem, stem, c, False
        cells = []
        for i in range(3 * n + 2):
            reduce = i in (n, 2 * n + 1)
            width *= 2 if reduce else 1
            cell = MixedDARTSCell(nodes, c_pp, c_p, width, reduce, prev_reduce)
            cells.append(cell)
            c_pp, c_p, prev_reduce = c_p, cell.out_channels, reduce
        self.cells = nn.ModuleList(cells)
        self.head = nn.Sequential(
            nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_p, task.num_classes)
        )
        n_edges = MixedDARTSCell.offset(nodes)
        for kind in ("normal", "reduce"):
            self.alphas[kind] = nn.Parameter(1e-3 * torch.randn(n_edges, len(DARTS_OPS)))
        self.aux_skip = 0.0

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        if arch is not None:
            self.space.validate(arch)
        w = {k: F.softmax(a, dim=-1) for k, a in self.alphas.items()} if arch is None else {}
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            assert isinstance(cell, MixedDARTSCell)
            kind = "reduce" if cell.reduce else "normal"
            spec = None if arch is None else arch[kind]
            s0, s1 = s1, cell(s0, s1, spec, w.get(kind), self.aux_skip)
        out: torch.Tensor = self.head(s1)
        return out

    def path_model(self, arch: Arch) -> nn.Module:
        model = self.space.build(arch, self.task)
        assert isinstance(model, CellNet)
        _copy(model.stem, self.stem)
        _copy(model.head, self.head)
        cells: Any = model.cells
        for sup, std in zip(self.cells, cells, strict=True):
            assert isinstance(sup, MixedDARTSCell)
            _copy(std.pre0, sup.pre0)
            _copy(std.pre1, sup.pre1)
            spec = arch["reduce" if sup.reduce else "normal"]
            ops: Any = std.cell.ops
            for j, node in enumerate(spec):
                for i, (src, op) in enumerate(zip(node["inputs"], node["ops"], strict=True)):
                    edge = sup.edges[sup.offset(j) + src]
                    assert isinstance(edge, MixedEdge)
                    _copy(ops[j][i], edge.ops[op])
        return model

    def derive(self) -> Arch:
        """Per node: the two incoming edges with the strongest non-``none`` op weight, each with
        that op; inputs ascending (the DARTS space's canonical form)."""
        arch: Arch = {}
        nodes = self.space.nodes  # type: ignore[attr-defined]
        none = DARTS_OPS.index("none")
        for kind, alpha in self.alphas.items():
            w = F.softmax(alpha.detach(), dim=-1).clone()
            w[:, none] = -1.0
            cell = []
            for j in range(nodes):
                rows = w[MixedDARTSCell.offset(j) : MixedDARTSCell.offset(j) + j + 2]
                strength, best = rows.max(dim=-1)
                top = sorted(torch.topk(strength, 2).indices.tolist())
                cell.append({"inputs": top, "ops": [DARTS_OPS[int(best[s])] for s in top]})
            arch[kind] = cell
        return arch

    def skip_or_none(self, arch: Arch) -> int:
        """Parameter-free ops (skip_connect, none) in the normal cell of ``arch`` (DARTS+'s
        collapse count, Liang et al. 2019)."""
        return _parameter_free([op for node in arch["normal"] for op in node["ops"]])


@register_supernet("nb201")
def nb201_supernet(space: Space, task: TaskShape) -> Supernet:
    assert isinstance(space, NB201Space)
    return NB201Supernet(space, task)


@register_supernet("darts")
def darts_supernet(space: Space, task: TaskShape) -> Supernet:
    assert isinstance(space, CellSpace)
    return DARTSSupernet(space, task)
