"""MnasNet's factorized hierarchical space (Tan et al., "MnasNet: Platform-Aware Neural
Architecture Search for Mobile", CVPR 2019): the network is cut into B blocks that each search
their own layer: the conv op (regular, depthwise-separable, or MBConv with expansion 3 or 6),
kernel 3 or 5, squeeze-and-excitation ratio 0 or 0.25, skip op (none or identity residual), a
filter multiplier {0.75, 1.0, 1.25} and a layer count {-1, 0, +1} relative to a MobileNetV2-like
base; all layers of one block are the same.

An arch is ``{"blocks": [{"op": "mbconv6", "kernel": 3, "se": 0.25, "skip": "identity",
"width": 1.0, "layers": 0}, ...]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, TaskShape, other_choice

# (filters, layers, stride) of the base network's blocks, as in MnasNet's Figure 4 / MobileNetV2.
BASE = ((16, 1, 1), (24, 2, 2), (40, 3, 2), (80, 4, 2), (96, 2, 1), (192, 4, 2), (320, 1, 1))
CHOICES: dict[str, tuple[Any, ...]] = {
    "op": ("conv", "dwconv", "mbconv3", "mbconv6"),
    "kernel": (3, 5),
    "se": (0.0, 0.25),
    "skip": ("none", "identity"),
    "width": (0.75, 1.0, 1.25),
    "layers": (-1, 0, 1),
}


def _round8(x: float) -> int:
    return max(8, int(x + 4) // 8 * 8)


class _SE(nn.Module):
    def __init__(self, c: int, ratio: float) -> None:
        super().__init__()
        hidden = max(1, int(c * ratio))
        self.fc = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(c, hidden, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, c, 1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)


def _cbr(
    cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: bool = True
) -> list[nn.Module]:
    mods: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    return mods + ([nn.ReLU(inplace=True)] if act else [])


class _Layer(nn.Module):
    def __init__(self, spec: dict[str, Any], cin: int, cout: int, stride: int) -> None:
        super().__init__()
        k, op = spec["kernel"], spec["op"]
        mods: list[nn.Module]
        if op == "conv":
            mods = _cbr(cin, cout, k, stride)
            se_c = cout
        elif op == "dwconv":
            mods = _cbr(cin, cin, k, stride, groups=cin)
            se_c = cin
        else:
            mid = cin * (3 if op == "mbconv3" else 6)
            mods = _cbr(cin, mid, 1) + _cbr(mid, mid, k, stride, groups=mid)
            se_c = mid
        if spec["se"]:
            mods.append(_SE(se_c, spec["se"]))
        if op != "conv":
            mods += _cbr(se_c, cout, 1, act=False)  # linear bottleneck / pointwise projection
        self.body = nn.Sequential(*mods)
        self.residual = spec["skip"] == "identity" and stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


@register("space", "mnasnet")
class MnasNetSpace(Space):
    """MnasNet's per-block search space over a MobileNetV2-like skeleton.

    Args:
        blocks: how many of the base's 7 blocks to use (fewer: a smaller network).
        width_mult: scales every block's base filters.
        stem_stride: 2 as in MnasNet for 224x224 inputs; 1 suits 28x28 and 32x32.
    """

    name = "mnasnet"

    def __init__(self, blocks: int = 7, width_mult: float = 1.0, stem_stride: int = 1) -> None:
        if not 1 <= blocks <= len(BASE) or width_mult <= 0 or stem_stride not in (1, 2):
            raise SpaceError(
                f"mnasnet: need 1 <= blocks <= {len(BASE)}, width_mult > 0 and "
                f"stem_stride 1 or 2; got {blocks}, {width_mult}, {stem_stride}"
            )
        self.blocks, self.width_mult, self.stem_stride = blocks, width_mult, stem_stride

    def decisions(self) -> list[Decision]:
        return [
            Decision(f"block{b}.{f}", vals)
            for b in range(self.blocks)
            for f, vals in CHOICES.items()
        ]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"mnasnet: expected {len(ds)} choices, got {len(choices)}")
        vals = [d.choices[c] for d, c in zip(ds, choices, strict=True)]
        n = len(CHOICES)
        return {
            "blocks": [
                dict(zip(CHOICES, vals[b * n : (b + 1) * n], strict=True))
                for b in range(self.blocks)
            ]
        }

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one searched field of one block."""
        child = copy_arch(self.validate(arch))
        block = child["blocks"][int(rng.integers(self.blocks))]
        field = list(CHOICES)[int(rng.integers(len(CHOICES)))]
        block[field] = other_choice(CHOICES[field], block[field], rng)
        return child

    def validate(self, arch: Arch) -> Arch:
        blocks = arch.get("blocks") if isinstance(arch, dict) else None
        if not isinstance(blocks, list) or len(blocks) != self.blocks or set(arch) != {"blocks"}:
            raise SpaceError(self.name + f': arch must be {{"blocks": [{self.blocks} blocks]}}')
        for b, block in enumerate(blocks):
            if not isinstance(block, dict) or set(block) != set(CHOICES):
                raise SpaceError(
                    f"mnasnet: blocks[{b}] must have exactly the fields {', '.join(CHOICES)}"
                )
            for f, vals in CHOICES.items():
                v = block[f]
                if isinstance(v, bool) or v not in vals:
                    raise SpaceError(
                        f"mnasnet: blocks[{b}].{f} is {v!r}; allowed: " + ", ".join(map(str, vals))
                    )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        self.validate(arch)
        if len(task.input_shape) != 3:
            raise SpaceError(f"mnasnet: input shape {task.input_shape} is not an image (C, H, W)")
        stem = _round8(32 * self.width_mult)
        mods: list[nn.Module] = _cbr(task.input_shape[0], stem, 3, self.stem_stride)
        cin = stem
        for block, (filters, layers, stride) in zip(arch["blocks"], BASE, strict=False):
            cout = _round8(filters * self.width_mult * block["width"])
            for i in range(max(1, layers + block["layers"])):
                mods.append(_Layer(block, cin, cout, stride if i == 0 else 1))
                cin = cout
        head = _round8(1280 * self.width_mult) if self.blocks == len(BASE) else cin * 4
        mods += _cbr(cin, head, 1) + [
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(head, task.num_classes),
        ]
        return nn.Sequential(*mods)

    def graph(self, arch: Arch) -> list[Panel]:
        nodes: list[Node] = [("stem conv 3x3", [])]
        for i, part in enumerate(self.describe(arch).split()):
            nodes.append((f"block {i + 1}: {part}", [(i, "")]))
        nodes.append(("head 1x1 + pool + fc", [(len(nodes) - 1, "")]))
        return [(self.name, nodes)]

    def describe(self, arch: Arch) -> str:
        short = {"conv": "C", "dwconv": "DW", "mbconv3": "MB3", "mbconv6": "MB6"}
        parts = []
        for block, (_, layers, _) in zip(arch["blocks"], BASE, strict=False):
            s = f"{short[block['op']]}k{block['kernel']}x{max(1, layers + block['layers'])}"
            s += f"@{block['width']:g}" + ("+se" if block["se"] else "")
            s += "+id" if block["skip"] == "identity" else ""
            parts.append(s)
        return " ".join(parts)
