"""A Transformer encoder space after the Evolved Transformer (So, Liang & Le, "The Evolved
Transformer", ICML 2019), scaled down for CPUs. Each block has two branches; per branch the
input (any earlier hidden state), normalisation, layer, and activation; then a combiner joins
the two. Depth and width are searched too. The ET's per-branch output-width choice is left out.

Layers: self-attention with 1/2/4 heads, separable 1-D convolution with kernel 3/5/7/9, GLU,
feed-forward (4x), identity. Hidden state 0 is the token + position embedding; block i adds
state i+1. The classifier reads the masked mean (padding, token 0, ignored) of the sum of the
states no later block reads (as NASNet's cells return their unused nodes).

An arch is ``{"width": 64, "blocks": [{"left": {"input": 0, "norm": "layer_norm", "layer":
"attention_4", "activation": "none"}, "right": {...}, "combine": "add"}, ...]}``.

The task is token sequences (``TaskShape.vocab_size > 0``), e.g. the bundled ``listops``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, TaskShape, other_choice

LAYERS = (
    "attention_1",
    "attention_2",
    "attention_4",
    "sep_conv_3",
    "sep_conv_5",
    "sep_conv_7",
    "sep_conv_9",
    "glu",
    "ffn",
    "identity",
)
NORMS = ("layer_norm", "none")
ACTIVATIONS = ("none", "relu", "swish")
COMBINERS = ("add", "concat", "multiply")
WIDTHS = (32, 64)
BRANCH_FIELDS = ("input", "norm", "layer", "activation")


class _Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)

    def forward(self, x: torch.Tensor, pad_bias: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        scores = q @ k.transpose(-1, -2) * (d // self.heads) ** -0.5 + pad_bias
        return self.out((scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))


class _SepConv(nn.Module):
    def __init__(self, d: int, k: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv1d(d, d, k, padding=k // 2, groups=d)
        self.pointwise = nn.Conv1d(d, d, 1)

    def forward(self, x: torch.Tensor, pad_bias: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x.transpose(1, 2))).transpose(1, 2)


class _Position(nn.Module):
    """A position-wise layer (GLU, feed-forward, identity); ignores the padding bias."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor, pad_bias: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _GLU(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d, 2 * d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.glu(self.proj(x), dim=-1)


def _layer(name: str, d: int) -> nn.Module:
    kind, _, n = name.rpartition("_")
    if kind == "attention":
        return _Attention(d, int(n))
    if kind == "sep_conv":
        return _SepConv(d, int(n))
    if name == "glu":
        return _Position(_GLU(d))
    if name == "ffn":
        return _Position(nn.Sequential(nn.Linear(d, 4 * d), nn.ReLU(), nn.Linear(4 * d, d)))
    return _Position(nn.Identity())


class _Branch(nn.Module):
    def __init__(self, spec: dict[str, Any], d: int) -> None:
        super().__init__()
        self.input = int(spec["input"])
        self.norm = nn.LayerNorm(d) if spec["norm"] == "layer_norm" else nn.Identity()
        self.layer = _layer(spec["layer"], d)
        self.act = {"none": nn.Identity(), "relu": nn.ReLU(), "swish": nn.SiLU()}[
            spec["activation"]
        ]

    def forward(self, states: list[torch.Tensor], pad_bias: torch.Tensor) -> torch.Tensor:
        return self.act(self.layer(self.norm(states[self.input]), pad_bias))


class _Block(nn.Module):
    def __init__(self, spec: dict[str, Any], d: int) -> None:
        super().__init__()
        self.left = _Branch(spec["left"], d)
        self.right = _Branch(spec["right"], d)
        self.combine = spec["combine"]
        self.project = nn.Linear(2 * d, d) if self.combine == "concat" else nn.Identity()

    def forward(self, states: list[torch.Tensor], pad_bias: torch.Tensor) -> torch.Tensor:
        a, b = self.left(states, pad_bias), self.right(states, pad_bias)
        if self.combine == "add":
            return a + b
        if self.combine == "multiply":
            return a * b
        return self.project(torch.cat([a, b], dim=-1))


class TransformerNet(nn.Module):
    def __init__(self, arch: Arch, task: TaskShape) -> None:
        super().__init__()
        if len(task.input_shape) != 1 or task.vocab_size < 2:
            raise SpaceError(
                f"transformer: needs token sequences (a dataset like listops), got input shape "
                f"{task.input_shape} with vocab_size {task.vocab_size}"
            )
        d, n = arch["width"], task.input_shape[0]
        self.vocab = task.vocab_size
        self.embed = nn.Embedding(self.vocab, d)
        self.position = nn.Parameter(torch.randn(1, n, d) * 0.02)
        self.blocks = nn.ModuleList(_Block(b, d) for b in arch["blocks"])
        used = {blk[side]["input"] for blk in arch["blocks"] for side in ("left", "right")}
        self.outputs = [i for i in range(1, len(arch["blocks"]) + 1) if i not in used]
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, task.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.long().clamp(0, self.vocab - 1)  # ids arrive as floats like every input
        keep = (tokens != 0).unsqueeze(-1).float()
        pad_bias = (1.0 - keep.transpose(1, 2)).unsqueeze(1) * -1e4  # (B, 1, 1, N)
        states = [self.embed(tokens) + self.position]
        for block in self.blocks:
            states.append(block(states, pad_bias))
        h = states[self.outputs[0]]
        for i in self.outputs[1:]:
            h = h + states[i]
        h = self.norm(h)
        return self.head((h * keep).sum(1) / keep.sum(1).clamp(min=1.0))


@register("space", "transformer")
class TransformerSpace(Space):
    """Evolved-Transformer-style encoder blocks of two branches each.

    Args:
        max_blocks: the deepest encoder (depth is searched in 1..max_blocks).
    """

    name = "transformer"

    def __init__(self, max_blocks: int = 4) -> None:
        if not 1 <= max_blocks <= 12:
            raise SpaceError(f"transformer: max_blocks is {max_blocks}; allowed 1..12")
        self.max_blocks = max_blocks

    def _branch_choices(self, b: int) -> dict[str, tuple[Any, ...]]:
        return {
            "input": tuple(range(b + 1)),
            "norm": NORMS,
            "layer": LAYERS,
            "activation": ACTIVATIONS,
        }

    def decisions(self) -> list[Decision]:
        out = [
            Decision("depth", tuple(range(1, self.max_blocks + 1))),
            Decision("width", WIDTHS),
        ]
        for b in range(self.max_blocks):
            for side in ("left", "right"):
                for f, choices in self._branch_choices(b).items():
                    if len(choices) > 1:
                        out.append(Decision(f"block{b}.{side}.{f}", choices))
            out.append(Decision(f"block{b}.combine", COMBINERS))
        return out

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"transformer: expected {len(ds)} choices, got {len(choices)}")
        v = {d.name: d.choices[int(c)] for d, c in zip(ds, choices, strict=True)}
        blocks = []
        for b in range(v["depth"]):
            block: dict[str, Any] = {
                side: {f: v.get(f"block{b}.{side}.{f}", 0) for f in BRANCH_FIELDS}
                for side in ("left", "right")
            }
            block["combine"] = v[f"block{b}.combine"]
            blocks.append(block)
        return {"width": v["width"], "blocks": blocks}

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """The ET's mutation: one field of one branch or block changes; or the width changes;
        or a block is added at the end or the last one removed."""
        child = copy_arch(self.validate(arch))
        blocks: list[dict[str, Any]] = child["blocks"]

        moves = ["field", "field", "field", "width"]
        moves += ["grow"] if len(blocks) < self.max_blocks else []
        moves += ["shrink"] if len(blocks) > 1 else []
        move = moves[int(rng.integers(len(moves)))]
        if move == "width":
            child["width"] = other_choice(WIDTHS, child["width"], rng)
        elif move == "grow":
            fresh = self.sample(rng)["blocks"][0]
            for side in ("left", "right"):
                fresh[side]["input"] = int(rng.integers(len(blocks) + 1))
            blocks.append(fresh)
        elif move == "shrink":
            blocks.pop()
        else:
            b = int(rng.integers(len(blocks)))
            options = [("combine", COMBINERS)] + [
                (f"{side}.{f}", c)
                for side in ("left", "right")
                for f, c in self._branch_choices(b).items()
                if len(c) > 1
            ]
            path, values = options[int(rng.integers(len(options)))]
            if path == "combine":
                blocks[b]["combine"] = other_choice(values, blocks[b]["combine"], rng)
            else:
                side, f = path.split(".")
                blocks[b][side][f] = other_choice(values, blocks[b][side][f], rng)
        return self.validate(child)

    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict) or set(arch) != {"width", "blocks"}:
            raise SpaceError('transformer: arch must be {"width": ..., "blocks": [...]}')
        if arch["width"] not in WIDTHS or isinstance(arch["width"], bool):
            raise SpaceError(
                f"transformer: width is {arch['width']!r}; allowed: {', '.join(map(str, WIDTHS))}"
            )
        blocks = arch["blocks"]
        if not isinstance(blocks, list) or not 1 <= len(blocks) <= self.max_blocks:
            raise SpaceError(f"transformer: blocks must be a list of 1..{self.max_blocks} blocks")
        for b, block in enumerate(blocks):
            at = f"transformer: blocks[{b}]"
            if not isinstance(block, dict) or set(block) != {"left", "right", "combine"}:
                raise SpaceError(f"{at} must have exactly the keys combine, left, right")
            if block["combine"] not in COMBINERS:
                raise SpaceError(
                    f"{at}.combine is {block['combine']!r}; allowed: {', '.join(COMBINERS)}"
                )
            for side in ("left", "right"):
                branch = block[side]
                if not isinstance(branch, dict) or set(branch) != set(BRANCH_FIELDS):
                    raise SpaceError(f"{at}.{side} must have the keys {', '.join(BRANCH_FIELDS)}")
                for f, choices in self._branch_choices(b).items():
                    v = branch[f]
                    if v not in choices or isinstance(v, bool):
                        allowed = ", ".join(map(str, choices))
                        raise SpaceError(f"{at}.{side}.{f} is {v!r}; allowed: {allowed}")
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return TransformerNet(self.validate(arch), task)

    def describe(self, arch: Arch) -> str:
        def branch(x: dict[str, Any]) -> str:
            norm = "ln·" if x["norm"] == "layer_norm" else ""
            act = "" if x["activation"] == "none" else f"·{x['activation']}"
            return f"{norm}{x['layer']}{act}({x['input']})"

        sym = {"add": "+", "concat": "++", "multiply": "*"}
        blocks = "; ".join(
            f"{branch(b['left'])} {sym[b['combine']]} {branch(b['right'])}" for b in arch["blocks"]
        )
        return f"transformer d={arch['width']} [{blocks}]"

    def graph(self, arch: Arch) -> list[Panel]:
        nodes: list[Node] = [("embedding", [])]
        for b in arch["blocks"]:
            edges = []
            for side in ("left", "right"):
                x = b[side]
                label = ("ln " if x["norm"] == "layer_norm" else "") + x["layer"]
                label += "" if x["activation"] == "none" else f" {x['activation']}"
                edges.append((int(x["input"]), label))
            nodes.append((b["combine"], edges))
        read = {src for _, edges in nodes for src, _ in edges}
        nodes.append(
            ("sum, pool, classify", [(i, "") for i in range(1, len(nodes)) if i not in read])
        )
        return [(f"transformer d={arch['width']}", nodes)]
