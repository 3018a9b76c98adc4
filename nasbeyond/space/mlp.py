"""An MLP space for tabular features (and flattened images): depth, widths, activation,
dropout, skip connectivity (none, residual, or dense as in DenseNet), and, for datasets with
categorical columns, the size of their embeddings.

An arch is ``{"widths": [128, 64], "activation": "relu", "dropout": 0.1, "skip": "residual"}``
plus ``"embedding": 8`` (or ``"auto"``: min(50, (cardinality + 1) // 2) per column) when the
space searches embeddings (``embeddings=True``); otherwise categorical columns get ``auto``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, TaskShape, other_choice

WIDTHS = (32, 64, 128, 256)
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
DROPOUTS = (0.0, 0.1, 0.3)
SKIPS = ("none", "residual", "dense")
EMBEDDINGS = ("auto", 2, 4, 8, 16)


def embedding_size(rule: Any, cardinality: int) -> int:
    return min(50, (cardinality + 1) // 2) if rule == "auto" else int(rule)


class TabularMLP(nn.Module):
    """Categorical columns (the first ``len(task.categories)`` features, integer codes carried
    as floats) go through embeddings; the rest is used as is (images are flattened). Hidden
    layers are chained, with residual additions (projected where widths differ) or dense
    concatenation of every earlier output."""

    def __init__(self, arch: Arch, task: TaskShape) -> None:
        super().__init__()
        self.cards = list(task.categories)
        size = arch.get("embedding", "auto")
        dims = [embedding_size(size, k) for k in self.cards]
        self.embeds = nn.ModuleList(
            nn.Embedding(k, d) for k, d in zip(self.cards, dims, strict=True)
        )
        cin = math.prod(task.input_shape) - len(self.cards) + sum(dims)
        self.skip = arch.get("skip", "none")
        act, p = ACTIVATIONS[arch["activation"]], arch["dropout"]
        self.layers = nn.ModuleList()
        self.shortcuts = nn.ModuleList()
        total = cin  # dense: every earlier output is concatenated
        for w in arch["widths"]:
            fan_in = total if self.skip == "dense" else cin
            body: list[nn.Module] = [nn.Linear(fan_in, w), act()]
            body += [nn.Dropout(p)] if p else []
            self.layers.append(nn.Sequential(*body))
            if self.skip == "residual":
                short = nn.Identity() if cin == w else nn.Linear(cin, w, bias=False)
                self.shortcuts.append(short)
            cin, total = w, total + w
        self.head = nn.Linear(total if self.skip == "dense" else cin, task.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        if self.cards:
            n = len(self.cards)
            codes = x[:, :n].long()
            parts = [
                e(codes[:, i].clamp(0, k - 1))
                for i, (e, k) in enumerate(zip(self.embeds, self.cards, strict=True))
            ]
            x = torch.cat([*parts, x[:, n:]], dim=1)
        feats = [x]
        h = x
        for i, layer in enumerate(self.layers):
            if self.skip == "dense":
                h = layer(torch.cat(feats, dim=1))
                feats.append(h)
            elif self.skip == "residual":
                h = layer(h) + self.shortcuts[i](h)
            else:
                h = layer(h)
        return self.head(torch.cat(feats, dim=1) if self.skip == "dense" else h)


@register("space", "mlp")
class MLPSpace(Space):
    """Fully connected networks with 1..max_layers hidden layers.

    Args:
        max_layers: the most hidden layers an arch may have.
        embeddings: search the embedding size of categorical columns.
    """

    name = "mlp"

    def __init__(self, max_layers: int = 4, embeddings: bool = False) -> None:
        if not 1 <= max_layers <= 16:
            raise SpaceError(f"mlp: max_layers is {max_layers}; allowed 1..16")
        self.max_layers = max_layers
        self.embeddings = bool(embeddings)

    def _fields(self) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {
            "activation": tuple(ACTIVATIONS),
            "dropout": DROPOUTS,
            "skip": SKIPS,
        }
        if self.embeddings:
            out["embedding"] = EMBEDDINGS
        return out

    def decisions(self) -> list[Decision]:
        return [
            Decision("num_layers", tuple(range(1, self.max_layers + 1))),
            *[Decision(f"width{i}", WIDTHS) for i in range(self.max_layers)],
            *[Decision(k, v) for k, v in self._fields().items()],
        ]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"mlp: expected {len(ds)} choices, got {len(choices)}")
        v = {d.name: d.choices[c] for d, c in zip(ds, choices, strict=True)}
        widths = [v[f"width{i}"] for i in range(v["num_layers"])]
        return {"widths": widths, **{k: v[k] for k in self._fields()}}

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one width, the activation or the dropout, or add or drop a layer."""
        child = copy_arch(self.validate(arch))
        widths: list[int] = child["widths"]
        moves = ["width", *self._fields()]
        moves += ["insert"] if len(widths) < self.max_layers else []
        moves += ["remove"] if len(widths) > 1 else []
        move = moves[int(rng.integers(len(moves)))]

        if move == "width":
            i = int(rng.integers(len(widths)))
            widths[i] = other_choice(WIDTHS, widths[i], rng)
        elif move in self._fields():
            child[move] = other_choice(self._fields()[move], child.get(move, "none"), rng)
        elif move == "insert":
            widths.insert(int(rng.integers(len(widths) + 1)), WIDTHS[int(rng.integers(4))])
        else:
            del widths[int(rng.integers(len(widths)))]
        return self.validate(child)

    def validate(self, arch: Arch) -> Arch:
        fields = self._fields()
        if not isinstance(arch, dict):
            raise SpaceError(f"mlp: arch must be a mapping of widths, {', '.join(fields)}")
        extra = set(arch) - {"widths", *fields}
        if extra:
            raise SpaceError(
                f"mlp: unknown field {sorted(extra)[0]!r}; allowed: widths, {', '.join(fields)}"
            )
        widths = arch.get("widths")
        if not isinstance(widths, list) or not 1 <= len(widths) <= self.max_layers:
            raise SpaceError(f"mlp: widths must be a list of 1..{self.max_layers} entries")
        for i, w in enumerate(widths):
            if isinstance(w, bool) or w not in WIDTHS:
                raise SpaceError(
                    f"mlp: widths[{i}] is {w!r}; allowed: {', '.join(map(str, WIDTHS))}"
                )
        for k, allowed in fields.items():
            v = arch.get(k, "none" if k == "skip" else None)  # skip may be left out: none
            if v not in allowed or isinstance(v, bool):
                raise SpaceError(f"mlp: {k} is {v!r}; allowed: {', '.join(map(str, allowed))}")
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return TabularMLP(self.validate(arch), task)

    def graph(self, arch: Arch) -> list[Panel]:
        nodes: list[Node] = [
            ("input" + (f" (+ embeddings {arch['embedding']})" if "embedding" in arch else ""), [])
        ]
        skip = arch.get("skip", "none")
        for i, w in enumerate(arch["widths"]):
            edges = [(i, "")]
            if skip == "dense":
                edges += [(j, "dense") for j in range(i)]
            elif skip == "residual" and i:
                edges += [(i - 1, "residual")]
            nodes.append((f"linear {w} {arch['activation']}", edges))
        last = len(nodes) - 1
        edges = [(last, "")] + ([(j, "dense") for j in range(last)] if skip == "dense" else [])
        nodes.append(("classifier", edges))
        return [(self.name, nodes)]

    def describe(self, arch: Arch) -> str:
        extra = f" skip={arch['skip']}" if arch.get("skip", "none") != "none" else ""
        extra += f" embedding={arch['embedding']}" if "embedding" in arch else ""
        return (
            f"mlp {'-'.join(map(str, arch['widths']))} {arch['activation']} "
            f"dropout={arch['dropout']}{extra}"
        )
