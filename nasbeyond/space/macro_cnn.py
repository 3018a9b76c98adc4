"""Macro CNN space after Zoph & Le 2017: a chain of conv layers with searched filter height and
width, filter count, stride and skip connections from any earlier layer.

An arch is ``{"layers": [{"kh": 3, "kw": 5, "filters": 36, "stride": 1, "skips": [0]}, ...]}``.
Layer ``i`` always reads layer ``i-1`` (the image for ``i = 0``); ``skips`` lists earlier layers
``j < i-1`` whose outputs are concatenated to that input, average-pooled to its size. As in the
paper, every layer whose output nobody reads feeds the classifier (global average pooling, then
concatenation, then one linear layer).
"""

from __future__ import annotations

import math
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

KERNELS = (1, 3, 5, 7)
FILTERS = (24, 36, 48, 64)
STRIDES = (1, 2)
_FIELDS = {"kh": KERNELS, "kw": KERNELS, "filters": FILTERS, "stride": STRIDES}


class _ConvLayer(nn.Sequential):
    def __init__(self, cin: int, spec: dict[str, Any]) -> None:
        kh, kw = spec["kh"], spec["kw"]
        conv = nn.Conv2d(
            cin, spec["filters"], (kh, kw), spec["stride"], (kh // 2, kw // 2), bias=False
        )
        act: list[nn.Module] = [nn.ReLU(inplace=True)] if spec.get("relu", True) else []
        super().__init__(conv, nn.BatchNorm2d(spec["filters"]), *act)


class MacroCNN(nn.Module):
    """The network an arch of the macro space describes. Layers are named by their ``id`` field
    when they have one, so weights can be matched across mutations that insert or remove
    layers; with no layer at all the classifier reads the flattened input."""

    def __init__(self, arch: Arch, task: TaskShape) -> None:
        super().__init__()
        if len(task.input_shape) != 3:
            raise SpaceError(
                f"macro-cnn: input shape {task.input_shape} is not an image (C, H, W); "
                "use the mlp space for flat features"
            )
        layers = arch["layers"]
        self.inputs: list[list[int]] = []
        convs: dict[str, nn.Module] = {}
        channels: list[int] = []
        # Strides are known here, so a skip is average-pooled by a static factor (which keeps
        # the model exportable to ONNX); with ceil_mode it lands on the size of its target.
        self.scale: list[int] = []  # product of the strides up to each layer
        for i, spec in enumerate(layers):
            srcs = ([i - 1] if i > 0 else []) + list(spec["skips"])
            cin = sum(channels[j] for j in srcs) if srcs else task.input_shape[0]
            convs[f"L{spec.get('id', i)}"] = _ConvLayer(cin, spec)
            self.inputs.append(srcs)
            channels.append(spec["filters"])
            self.scale.append((self.scale[i - 1] if i else 1) * spec["stride"])
        self.convs = nn.ModuleDict(convs)
        used = {j for srcs in self.inputs for j in srcs}
        self.outputs = [i for i in range(len(layers)) if i not in used]
        features = sum(channels[i] for i in self.outputs) or math.prod(task.input_shape)
        self.head = nn.Linear(features, task.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.inputs:
            return self.head(x.flatten(1))
        outs: list[torch.Tensor] = []
        for conv, srcs in zip(self.convs.values(), self.inputs, strict=True):
            if srcs:
                feats = [outs[srcs[0]]]
                for j in srcs[1:]:
                    f = self.scale[srcs[0]] // self.scale[j]
                    feats.append(F.avg_pool2d(outs[j], f, f, ceil_mode=True) if f > 1 else outs[j])
            else:
                feats = [x]
            outs.append(conv(torch.cat(feats, dim=1) if len(feats) > 1 else feats[0]))
        pooled = [outs[i].mean(dim=(2, 3)) for i in self.outputs]
        return self.head(torch.cat(pooled, dim=1))


def layer_graph(layers: list[dict[str, Any]]) -> list[Node]:
    """Conv layers as a graph: each reads the one before and its skips; unread layers feed the
    classifier."""
    nodes: list[Node] = [("input", [])]
    for i, layer in enumerate(layers):
        label = f"conv {layer['kh']}x{layer['kw']} x{layer['filters']}"
        label += (" /2" if layer["stride"] == 2 else "") + (
            "" if layer.get("relu", True) else " linear"
        )
        nodes.append((label, [(i, "")] + [(j + 1, "skip") for j in layer["skips"]]))
    read = {src for _, edges in nodes for src, _ in edges}
    nodes.append(("classifier", [(i, "") for i in range(len(nodes)) if i not in read]))
    return nodes


@register("space", "macro-cnn")
class MacroCNNSpace(Space):
    """Zoph & Le 2017's macro space: 1..max_layers conv layers with skip connections.

    Args:
        max_layers: the deepest network in the space.
        min_layers: the shallowest.
    """

    name = "macro-cnn"
    fields: dict[str, tuple[Any, ...]] = _FIELDS
    layer_keys: frozenset[str] = frozenset({"skips"})  # per-layer keys beyond ``fields``

    def __init__(self, max_layers: int = 6, min_layers: int = 1) -> None:
        if not 0 <= min_layers <= max_layers <= 30 or max_layers < 1:
            raise SpaceError(
                f"{self.name}: need 0 <= min_layers <= max_layers <= 30, got {min_layers}, "
                f"{max_layers}"
            )
        self.max_layers = max_layers
        self.min_layers = min_layers

    # -- decisions ------------------------------------------------------------------------
    def decisions(self) -> list[Decision]:
        out = [Decision("num_layers", tuple(range(self.min_layers, self.max_layers + 1)))]
        for i in range(self.max_layers):
            out += [Decision(f"layer{i}.{f}", vals) for f, vals in self.fields.items()]
            out += [Decision(f"layer{i}.skip{j}", (False, True)) for j in range(i - 1)]
        return out

    def from_choices(self, choices: Sequence[int]) -> Arch:
        decisions = self.decisions()
        if len(choices) != len(decisions):
            raise SpaceError(f"{self.name}: expected {len(decisions)} choices, got {len(choices)}")
        return self._from_picked(
            {d.name: d.choices[c] for d, c in zip(decisions, choices, strict=True)}
        )

    def _from_picked(self, picked: dict[str, Any]) -> Arch:
        layers = []
        for i in range(picked["num_layers"]):
            layer: dict[str, Any] = {f: picked[f"layer{i}.{f}"] for f in self.fields}
            layer["skips"] = [j for j in range(i - 1) if picked[f"layer{i}.skip{j}"]]
            layers.append(layer)
        return {"layers": layers}

    # -- sampling and mutation ------------------------------------------------------------
    def _random_layer(self, i: int, rng: np.random.Generator) -> dict[str, Any]:
        layer: dict[str, Any] = {
            f: vals[int(rng.integers(len(vals)))] for f, vals in self.fields.items()
        }
        layer["skips"] = [j for j in range(i - 1) if rng.random() < 0.3]
        return layer

    def sample(self, rng: np.random.Generator) -> Arch:
        n = int(rng.integers(self.min_layers, self.max_layers + 1))
        return {"layers": [self._random_layer(i, rng) for i in range(n)]}

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Alter one field of one layer, add or remove one skip, or insert or remove a layer."""
        child = copy_arch(self.validate(arch))
        self._mutate_layers(child["layers"], rng)
        return self.validate(child)

    def _mutate_layers(self, layers: list[dict[str, Any]], rng: np.random.Generator) -> str:
        """Apply one random move to ``layers`` in place; returns the move's name."""
        n = len(layers)
        moves = ["alter"] if n else []
        if n < self.max_layers:
            moves.append("insert")
        if n > self.min_layers:
            moves.append("remove")
        if any(len(layer["skips"]) < max(i - 1, 0) for i, layer in enumerate(layers)):
            moves.append("add_skip")
        if any(layer["skips"] for layer in layers):
            moves.append("remove_skip")
        move = moves[int(rng.integers(len(moves)))]
        if move == "alter":
            layer = layers[int(rng.integers(n))]
            field = list(self.fields)[int(rng.integers(len(self.fields)))]
            layer[field] = other_choice(self.fields[field], layer[field], rng)
            move = f"alter_{field}"
        elif move == "insert":
            at = int(rng.integers(n + 1))
            for layer in layers[at:]:  # layers after the new one see indices shift by one
                layer["skips"] = [j + 1 if j >= at else j for j in layer["skips"]]
            layers.insert(at, self._random_layer(at, rng))
            self._repair(layers)
        elif move == "remove":
            at = int(rng.integers(n))
            del layers[at]
            for layer in layers[at:]:
                layer["skips"] = [j - 1 if j > at else j for j in layer["skips"] if j != at]
            self._repair(layers)
        elif move == "add_skip":
            i = int(rng.choice([i for i, ly in enumerate(layers) if len(ly["skips"]) < i - 1]))
            free = [j for j in range(i - 1) if j not in layers[i]["skips"]]
            layers[i]["skips"] = sorted(layers[i]["skips"] + [int(rng.choice(free))])
        else:
            i = int(rng.choice([i for i, ly in enumerate(layers) if ly["skips"]]))
            layers[i]["skips"].remove(int(rng.choice(layers[i]["skips"])))
        return move

    @staticmethod
    def _repair(layers: list[dict[str, Any]]) -> None:
        # After an insertion or removal a skip may point at the layer just before: drop it.
        for i, layer in enumerate(layers):
            layer["skips"] = sorted({j for j in layer["skips"] if 0 <= j < i - 1})

    # -- checks and building --------------------------------------------------------------
    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict) or not isinstance(arch.get("layers"), list):
            raise SpaceError(self.name + ': arch must be {"layers": [...]}')
        layers = arch["layers"]
        if not self.min_layers <= len(layers) <= self.max_layers:
            raise SpaceError(
                f"{self.name}: layers has {len(layers)} entries; allowed "
                f"{self.min_layers}..{self.max_layers}"
            )
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict):
                raise SpaceError(f"{self.name}: layers[{i}] must be an object")
            extra = set(layer) - set(self.fields) - self.layer_keys
            if extra:
                raise SpaceError(f"{self.name}: layers[{i}] has unknown field {sorted(extra)[0]!r}")
            for f, vals in self.fields.items():
                v = layer.get(f)
                if isinstance(v, bool) != isinstance(vals[0], bool) or v not in vals:
                    raise SpaceError(
                        f"{self.name}: layers[{i}].{f} is {v!r}; allowed: "
                        + ", ".join(map(str, vals))
                    )
            skips = layer.get("skips")
            if (
                not isinstance(skips, list)
                or any(
                    isinstance(j, bool) or not isinstance(j, int) or not 0 <= j < i - 1
                    for j in skips
                )
                or len(set(skips)) != len(skips)
            ):
                allowed = (
                    f"distinct layer indices 0..{i - 2}" if i >= 2 else "[] (no earlier layer)"
                )
                raise SpaceError(f"{self.name}: layers[{i}].skips is {skips!r}; allowed: {allowed}")
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return MacroCNN(self.validate(arch), task)

    def graph(self, arch: Arch) -> list[Panel]:
        return [(self.name, layer_graph(arch["layers"]))]

    def describe(self, arch: Arch) -> str:
        parts = []
        for layer in arch["layers"]:
            s = f"{layer['kh']}x{layer['kw']}x{layer['filters']}"
            if layer["stride"] == 2:
                s += "/2"
            if layer["skips"]:
                s += "+" + ",".join(map(str, layer["skips"]))
            parts.append(s)
        return " > ".join(parts)
