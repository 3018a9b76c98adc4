"""AssembleNet's space (Ryoo, Piergiovanni, Tan & Angelova, "AssembleNet: Searching for
Multi-Stream Neural Connectivity in Video Architectures", ICLR 2020; arXiv 2019): a video
network is a graph of (2+1)D residual blocks over several input streams, and the search chooses
which blocks read which.

An arch is ``{"blocks": [{"id": 0, "level": 1, "channels": 16, "dilation": 1, "inputs":
["s0"]}, ...], "next_id": 4}``. Streams are the stems ``s0``, ``s1``, ... (``s0`` the frames,
``s1`` the frame differences of ``nasbeyond.data.video``); ``b<id>`` names a block. A block at
level L (1..4) reads any non-empty set of stems and blocks of lower levels: each input is
resized to the block's resolution, projected to its channels by a 1x1x1 convolution, and the
inputs are summed with learned connection weights ``sigmoid(w)`` (one scalar per edge, as the
paper's; here ``sigmoid(GAIN * w)``, see ``GAIN``). Every level holds 1..``max_blocks``
blocks; levels halve the spatial resolution (the stems already quarter the input), time keeps
its length and blocks see it through a temporal convolution of dilation 1, 2 or 4. The
classifier sums the pooled, linearly mapped outputs of the level-4 blocks, again with learned
weights. Blocks that no level-4 block depends on are
kept in the arch but not built (a mutation may connect them again).

Mutations are the paper's: add or remove a connection, change a block's temporal dilation,
split a block into two of half the channels (same inputs, same readers) or merge two blocks of
a level. ``after_training`` is its Lamarckian step: connections whose learned weight fell
below ``prune_below`` are removed before the arch breeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, TaskShape, other_choice

LEVELS = 4
WIDTHS = (8, 16, 32)  # channels a sampled block gets; split and merge reach others (4..64)
MIN_CHANNELS, MAX_CHANNELS = 4, 64
DILATIONS = (1, 2, 4)
# Connection weights are sigmoid(GAIN * w): the gain makes the few scalars learn at the pace of
# the convolutions in a short training (under SGD it is a GAIN**2 larger learning rate for them).
GAIN = 10.0
STREAM_NAMES = ("frames", "diff")  # the streams of nasbeyond.data.video, by stem index
MUTATIONS = ("add_connection", "remove_connection", "alter_dilation", "split", "merge")
BLOCK_KEYS = frozenset({"id", "level", "channels", "dilation", "inputs"})


def _source_order(name: str) -> tuple[int, int]:
    """Stems first, then blocks by id: the one order of a block's ``inputs``."""
    return (0 if name[0] == "s" else 1, int(name[1:]))


def _canonical(blocks: list[dict[str, Any]], next_id: int) -> Arch:
    for b in blocks:
        b["inputs"] = sorted(set(b["inputs"]), key=_source_order)
    blocks.sort(key=lambda b: (b["level"], b["id"]))
    return {"blocks": blocks, "next_id": next_id}


def late_fusion(channels: int = 16, dilations: Sequence[int] = (1, 1, 2, 2)) -> Arch:
    """The hand-made two-stream network: one tower of four blocks per stream (frames: ``s0``,
    frame differences: ``s1``) and the two towers' class scores summed at the end (late
    fusion, as the two-stream networks of Simonyan & Zisserman 2014)."""
    blocks = []
    for stream in (0, 1):
        for level in range(1, LEVELS + 1):
            i = stream * LEVELS + level - 1
            src = f"s{stream}" if level == 1 else f"b{i - 1}"
            blocks.append(
                {
                    "id": i,
                    "level": level,
                    "channels": channels,
                    "dilation": dilations[level - 1],
                    "inputs": [src],
                }
            )
    return _canonical(blocks, 2 * LEVELS)


def single_stream(
    channels: int = 16, dilations: Sequence[int] = (1, 1, 2, 2), stream: int = 0
) -> Arch:
    """A one-stream network: one tower of four blocks on stem ``s<stream>`` (0: the frames,
    1: the frame differences)."""
    blocks = [
        {
            "id": level - 1,
            "level": level,
            "channels": channels,
            "dilation": dilations[level - 1],
            "inputs": [f"s{stream}" if level == 1 else f"b{level - 2}"],
        }
        for level in range(1, LEVELS + 1)
    ]
    return _canonical(blocks, LEVELS)


def live_blocks(arch: Arch) -> set[int]:
    """Ids of the blocks the classifier depends on: level-4 blocks and what they read."""
    by_id = {b["id"]: b for b in arch["blocks"]}
    live: set[int] = set()
    todo = [b["id"] for b in arch["blocks"] if b["level"] == LEVELS]
    while todo:
        i = todo.pop()
        if i in live:
            continue
        live.add(i)
        todo += [int(s[1:]) for s in by_id[i]["inputs"] if s[0] == "b"]
    return live


def _per_frame(conv: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """A 2D module applied to every frame of ``(B, C, T, H, W)``."""
    b, _, t, _, _ = x.shape
    y = conv(x.transpose(1, 2).flatten(0, 1))
    return y.unflatten(0, (b, t)).transpose(1, 2)


def _per_pixel(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A 1D module applied along time at every pixel of ``(B, C, T, H, W)``."""
    b, c, t, h, w = x.shape
    y = conv(x.permute(0, 3, 4, 1, 2).reshape(b * h * w, c, t))
    return y.reshape(b, h, w, -1, y.shape[-1]).permute(0, 3, 4, 1, 2)


class Block2Plus1D(nn.Module):
    """A (2+1)D residual block (Tran et al., CVPR 2018): a 3x3 spatial convolution on every
    frame, then a temporal one of kernel 3 and dilation ``dilation`` at every pixel, each
    batch-normalised, added to the input. Maps ``(B, C, T, H, W)`` to the same shape. (The
    factorised convolutions run as 2D and 1D ones: on a CPU those are several times faster
    than their ``Conv3d`` equivalents.)"""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        c, d = channels, dilation
        self.spatial = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm3d(c)
        self.temporal = nn.Conv1d(c, c, 3, padding=d, dilation=d, bias=False)
        self.bn2 = nn.BatchNorm3d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(_per_frame(self.spatial, x)))
        return torch.relu(x + self.bn2(_per_pixel(self.temporal, y)))


class _Stem(nn.Module):
    """One stream's stem: ``(B, T, H, W)`` -> ``(B, C, T, H/4, W/4)`` by a stride-2 3x3
    convolution and a stride-2 max pool on every frame (ResNet's stem, smaller)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, stride=2, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _per_frame(self.conv, x.unsqueeze(1))


class _Edge(nn.Module):
    """A connection: resize a source to the target's resolution (average pooling), project it
    to the target's channels (1x1 convolution, batch norm)."""

    def __init__(self, cin: int, cout: int, src: tuple[int, int], dst: tuple[int, int]) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(dst) if src != dst else nn.Identity()
        self.proj = nn.Conv2d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm3d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(_per_frame(lambda f: self.proj(self.pool(f)), x))


class AssembleNet(nn.Module):
    """The network of an ``assemblenet`` arch: ``(B, S, T, H, W)`` clips -> ``(B, classes)``
    logits. ``connection_weights()`` reads the learned ``sigmoid(w)`` of every built edge."""

    def __init__(self, arch: Arch, task: TaskShape, stem_channels: int) -> None:
        super().__init__()
        _, _, h, w = task.input_shape
        live = live_blocks(arch)
        self.order = [b for b in arch["blocks"] if b["id"] in live]
        used = sorted({s for b in self.order for s in b["inputs"] if s[0] == "s"})
        res = dict.fromkeys(used, (res_h(h), res_h(w)))
        chans = dict.fromkeys(used, stem_channels)
        self.stems = nn.ModuleDict({s: _Stem(stem_channels) for s in used})
        self.edges = nn.ModuleDict()
        self.blocks = nn.ModuleDict()
        self.alphas = nn.ParameterDict()
        for b in self.order:
            name, c = f"b{b['id']}", b["channels"]
            scale = 2 ** (b["level"] - 1)
            res[name] = (max(1, res_h(h) // scale), max(1, res_h(w) // scale))
            chans[name] = c
            for s in b["inputs"]:
                self.edges[f"{name}<-{s}"] = _Edge(chans[s], c, res[s], res[name])
            self.alphas[name] = nn.Parameter(torch.zeros(len(b["inputs"])))
            self.blocks[name] = Block2Plus1D(c, b["dilation"])
        self.outputs = [f"b{b['id']}" for b in self.order if b["level"] == LEVELS]
        self.heads = nn.ModuleDict({o: nn.Linear(chans[o], task.num_classes) for o in self.outputs})
        self.alphas["out"] = nn.Parameter(torch.zeros(len(self.outputs)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = {s: stem(x[:, int(s[1:])]) for s, stem in self.stems.items()}
        for b in self.order:
            name = f"b{b['id']}"
            weight = torch.sigmoid(GAIN * self.alphas[name])
            total = sum(
                weight[i] * self.edges[f"{name}<-{s}"](feats[s]) for i, s in enumerate(b["inputs"])
            )
            feats[name] = self.blocks[name](total)
        weight = torch.sigmoid(GAIN * self.alphas["out"])
        logits = [
            weight[i] * self.heads[o](feats[o].mean(dim=(2, 3, 4)))
            for i, o in enumerate(self.outputs)
        ]
        return torch.stack(logits).sum(0)

    def connection_weights(self) -> dict[str, float]:
        """``{"b3<-s0": 0.62, ..., "out<-b7": 0.55}``: the learned weight sigmoid(w) in 0..1 of
        every built connection, named target<-source."""
        out: dict[str, float] = {}
        for b in self.order:
            name = f"b{b['id']}"
            for s, v in zip(
                b["inputs"], torch.sigmoid(GAIN * self.alphas[name]).tolist(), strict=True
            ):
                out[f"{name}<-{s}"] = round(float(v), 4)
        for o, v in zip(
            self.outputs, torch.sigmoid(GAIN * self.alphas["out"]).tolist(), strict=True
        ):
            out[f"out<-{o}"] = round(float(v), 4)
        return out


def res_h(size: int) -> int:
    """The stems' output length of a side of ``size`` pixels (two stride-2 steps)."""
    return ((size + 1) // 2 + 1) // 2


@register("space", "assemblenet")
class AssembleNetSpace(Space):
    """Multi-stream connectivity of (2+1)D blocks at 4 levels (see the module docstring).

    Args:
        streams: input streams S of the clips ``(S, T, H, W)`` (2: frames, differences).
        max_blocks: blocks per level, at most (1..4).
        stem_channels: channels of each stream's stem.
        prune_below: the Lamarckian step removes connections whose learned weight sigmoid(w)
            is below this (0..1; each block keeps its strongest input).
    """

    name = "assemblenet"

    def __init__(
        self,
        streams: int = 2,
        max_blocks: int = 2,
        stem_channels: int = 8,
        prune_below: float = 0.4,
    ) -> None:
        if not 1 <= streams <= 8:
            raise SpaceError(f"assemblenet: streams is {streams}; allowed: 1..8")
        if not 1 <= max_blocks <= 4:
            raise SpaceError(f"assemblenet: max_blocks is {max_blocks}; allowed: 1..4")
        if not 1 <= stem_channels <= 64:
            raise SpaceError(f"assemblenet: stem_channels is {stem_channels}; allowed: 1..64")
        if not 0 <= prune_below < 1:
            raise SpaceError(f"assemblenet: prune_below is {prune_below}; allowed: 0 <= x < 1")
        self.streams = streams
        self.max_blocks = max_blocks
        self.stem_channels = stem_channels
        self.prune_below = prune_below

    # -- sampling and choices -----------------------------------------------------------------
    def _stems(self) -> list[str]:
        return [f"s{k}" for k in range(self.streams)]

    def sample(self, rng: np.random.Generator) -> Arch:
        blocks: list[dict[str, Any]] = []
        for level in range(1, LEVELS + 1):
            below = self._stems() + [f"b{b['id']}" for b in blocks]
            for _ in range(int(rng.integers(1, self.max_blocks + 1))):
                k = int(rng.integers(1, min(3, len(below)) + 1))
                picks = rng.choice(len(below), size=k, replace=False)
                blocks.append(
                    {
                        "id": len(blocks),
                        "level": level,
                        "channels": WIDTHS[int(rng.integers(len(WIDTHS)))],
                        "dilation": DILATIONS[int(rng.integers(len(DILATIONS)))],
                        "inputs": [below[int(i)] for i in picks],
                    }
                )
        # A block nothing reads would not be built: wire each into a random higher block, top
        # level first, so that every sampled block is part of the network.
        for level in range(LEVELS - 1, 0, -1):
            above = [b for b in blocks if b["level"] > level]
            for b in blocks:
                name = f"b{b['id']}"
                if b["level"] == level and not any(name in a["inputs"] for a in above):
                    above[int(rng.integers(len(above)))]["inputs"].append(name)
        return self.validate(_canonical(blocks, len(blocks)))

    def _slots(self) -> list[tuple[int, int, list[str]]]:
        """(level, slot, candidate sources) of every block position the decisions describe;
        slot j of level L is block id ``(L - 1) * max_blocks + j``."""
        out = []
        for level in range(1, LEVELS + 1):
            below = self._stems() + [
                f"b{(lv - 1) * self.max_blocks + j}"
                for lv in range(1, level)
                for j in range(self.max_blocks)
            ]
            out += [(level, j, below) for j in range(self.max_blocks)]
        return out

    def decisions(self) -> list[Decision]:
        out = []
        for level, j, below in self._slots():
            slot = f"L{level}.{j}"
            if j > 0:
                out.append(Decision(f"{slot}.present", (False, True)))
            out += [Decision(f"{slot}.channels", WIDTHS), Decision(f"{slot}.dilation", DILATIONS)]
            out += [Decision(f"{slot}<-{s}", (False, True)) for s in below]
        return out

    def from_choices(self, choices: Sequence[int]) -> Arch:
        decisions = self.decisions()
        if len(choices) != len(decisions):
            raise SpaceError(
                f"assemblenet: {len(choices)} choices given; the space makes {len(decisions)}"
            )
        picked = {d.name: d.choices[int(c)] for d, c in zip(decisions, choices, strict=True)}
        blocks: list[dict[str, Any]] = []
        present: set[str] = set(self._stems())
        for level, j, below in self._slots():
            slot = f"L{level}.{j}"
            if j > 0 and not picked[f"{slot}.present"]:
                continue
            bid = (level - 1) * self.max_blocks + j
            inputs = [s for s in below if s in present and picked[f"{slot}<-{s}"]]
            # no input chosen: the first block of the level below (the frames stem at level 1)
            fallback = "s0" if level == 1 else f"b{(level - 2) * self.max_blocks}"
            blocks.append(
                {
                    "id": bid,
                    "level": level,
                    "channels": picked[f"{slot}.channels"],
                    "dilation": picked[f"{slot}.dilation"],
                    "inputs": inputs or [fallback],
                }
            )
            present.add(f"b{bid}")
        return self.validate(_canonical(blocks, LEVELS * self.max_blocks))

    # -- mutation -----------------------------------------------------------------------------
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        child, _ = self.mutate_named(arch, rng)
        return child

    def mutate_named(self, arch: Arch, rng: np.random.Generator) -> tuple[Arch, str]:
        """One of the paper's mutations (``MUTATIONS``) and its name; a move that does not apply
        to this arch (no block to split, say) gives way to another."""
        self.validate(arch)
        for i in rng.permutation(len(MUTATIONS)):
            move = MUTATIONS[int(i)]
            child = copy_arch(arch)
            if getattr(self, f"_{move}")(child, rng):
                return self.validate(_canonical(child["blocks"], child["next_id"])), move
        raise SpaceError("assemblenet: no mutation applies")  # alter_dilation always does

    def _candidates(self, blocks: list[dict[str, Any]], level: int) -> list[str]:
        return self._stems() + [f"b{b['id']}" for b in blocks if b["level"] < level]

    def _add_connection(self, arch: Arch, rng: np.random.Generator) -> bool:
        blocks = arch["blocks"]
        pairs = [
            (b, s)
            for b in blocks
            for s in self._candidates(blocks, b["level"])
            if s not in b["inputs"]
        ]
        if not pairs:
            return False
        b, s = pairs[int(rng.integers(len(pairs)))]
        b["inputs"].append(s)
        return True

    def _remove_connection(self, arch: Arch, rng: np.random.Generator) -> bool:
        many = [b for b in arch["blocks"] if len(b["inputs"]) > 1]
        if not many:
            return False
        b = many[int(rng.integers(len(many)))]
        b["inputs"].pop(int(rng.integers(len(b["inputs"]))))
        return True

    def _alter_dilation(self, arch: Arch, rng: np.random.Generator) -> bool:
        b = arch["blocks"][int(rng.integers(len(arch["blocks"])))]
        b["dilation"] = other_choice(DILATIONS, b["dilation"], rng)
        return True

    def _split(self, arch: Arch, rng: np.random.Generator) -> bool:
        blocks = arch["blocks"]
        count = {lv: sum(b["level"] == lv for b in blocks) for lv in range(1, LEVELS + 1)}
        ok = [
            b
            for b in blocks
            if b["channels"] >= 2 * MIN_CHANNELS and count[b["level"]] < self.max_blocks
        ]
        if not ok:
            return False
        b = ok[int(rng.integers(len(ok)))]
        half = MIN_CHANNELS * math.ceil(b["channels"] / (2 * MIN_CHANNELS))
        twin = {**b, "id": arch["next_id"], "channels": b["channels"] - half}
        twin["inputs"] = list(b["inputs"])
        b["channels"] = half
        old, new = f"b{b['id']}", f"b{twin['id']}"
        for reader in blocks:
            if old in reader["inputs"]:
                reader["inputs"].append(new)
        blocks.append(twin)
        arch["next_id"] += 1
        return True

    def _merge(self, arch: Arch, rng: np.random.Generator) -> bool:
        blocks = arch["blocks"]
        levels = [lv for lv in range(1, LEVELS + 1) if sum(b["level"] == lv for b in blocks) > 1]
        if not levels:
            return False
        level = levels[int(rng.integers(len(levels)))]
        same = [b for b in blocks if b["level"] == level]
        i, j = sorted(int(k) for k in rng.choice(len(same), size=2, replace=False))
        keep, gone = same[i], same[j]
        keep["channels"] = min(MAX_CHANNELS, keep["channels"] + gone["channels"])
        keep["inputs"] = keep["inputs"] + gone["inputs"]
        old, new = f"b{gone['id']}", f"b{keep['id']}"
        for reader in blocks:
            if old in reader["inputs"]:
                reader["inputs"] = [new if s == old else s for s in reader["inputs"]]
        blocks.remove(gone)
        return True

    # -- the Lamarckian step ------------------------------------------------------------------
    def after_training(self, arch: Arch, metrics: dict[str, Any]) -> Arch:
        """The arch a trained candidate passes on (AssembleNet's connection-weight learning):
        every connection whose learned weight (``metrics["connections"]``, as the
        ``video-train`` evaluator reports them) is below ``prune_below`` is removed; a block
        keeps its strongest input. Connections without a reported weight (blocks that were not
        built) stay. Without weights in ``metrics`` the arch is returned unchanged."""
        weights = metrics.get("connections")
        if not isinstance(weights, dict) or not weights:
            return arch
        child = copy_arch(arch)
        for b in child["blocks"]:
            named = [(s, weights.get(f"b{b['id']}<-{s}")) for s in b["inputs"]]
            known = [(float(w), s) for s, w in named if isinstance(w, int | float)]
            if not known:
                continue
            strongest = max(known)[1]
            b["inputs"] = [
                s
                for s, w in named
                if s == strongest or not isinstance(w, int | float) or w >= self.prune_below
            ]
        return self.validate(_canonical(child["blocks"], child["next_id"]))

    # -- checking and building ----------------------------------------------------------------
    def validate(self, arch: Arch) -> Arch:
        def bad(what: str) -> SpaceError:
            return SpaceError(f"assemblenet: {what}")

        if not isinstance(arch, dict) or set(arch) != {"blocks", "next_id"}:
            raise bad(f"an arch is {{'blocks': [...], 'next_id': N}}; got {arch!r:.80}")
        blocks, nxt = arch["blocks"], arch["next_id"]
        if not isinstance(blocks, list) or not blocks:
            raise bad("blocks must be a non-empty list")
        seen: dict[int, int] = {}  # id -> level
        order = []
        for b in blocks:
            if not isinstance(b, dict) or set(b) != BLOCK_KEYS:
                raise bad(f"a block has the keys {', '.join(sorted(BLOCK_KEYS))}; got {b!r:.80}")
            bid, level, c, d = b["id"], b["level"], b["channels"], b["dilation"]
            if not _is_int(bid) or bid < 0 or bid in seen:
                raise bad(f"block id {bid!r} must be a distinct integer >= 0")
            if not _is_int(level) or not 1 <= level <= LEVELS:
                raise bad(f"block b{bid}: level {level!r}; allowed: 1..{LEVELS}")
            if not _is_int(c) or not MIN_CHANNELS <= c <= MAX_CHANNELS or c % MIN_CHANNELS:
                raise bad(
                    f"block b{bid}: channels {c!r}; allowed: multiples of {MIN_CHANNELS} in "
                    f"{MIN_CHANNELS}..{MAX_CHANNELS}"
                )
            if d not in DILATIONS or not _is_int(d):
                raise bad(f"block b{bid}: dilation {d!r}; allowed: {DILATIONS}")
            self._check_inputs(b, seen)
            seen[bid] = level
            order.append((level, bid))
        if order != sorted(order):
            raise bad("blocks must be listed by level, then id")
        for level in range(1, LEVELS + 1):
            n = sum(lv == level for lv in seen.values())
            if not 1 <= n <= self.max_blocks:
                raise bad(f"level {level} has {n} blocks; allowed: 1..{self.max_blocks}")
        if not _is_int(nxt) or nxt <= max(seen):
            raise bad(f"next_id is {nxt!r}; allowed: an integer above every block id")
        return arch

    def _check_inputs(self, b: dict[str, Any], seen: dict[int, int]) -> None:
        inputs = b["inputs"]
        where = f"assemblenet: block b{b['id']}"
        if not isinstance(inputs, list) or not inputs:
            raise SpaceError(f"{where}: inputs must be a non-empty list of sources")
        for s in inputs:
            ok = isinstance(s, str) and len(s) > 1 and s[0] in "sb" and s[1:].isdigit()
            if ok and s[0] == "s":
                ok = int(s[1:]) < self.streams
            elif ok:
                ok = seen.get(int(s[1:]), LEVELS + 1) < b["level"]
            if not ok:
                raise SpaceError(
                    f"{where}: input {s!r}; allowed: stems s0..s{self.streams - 1} and blocks "
                    "b<id> listed before it at a lower level"
                )
        if inputs != sorted(set(inputs), key=_source_order):
            raise SpaceError(f"{where}: inputs must be distinct, stems first, then blocks by id")

    def build(self, arch: Arch, task: TaskShape) -> torch.nn.Module:
        """The ``AssembleNet`` of ``arch`` for clips ``task.input_shape == (S, T, H, W)``.

        Raises:
            SpaceError: the task's inputs are not clips of ``streams`` streams.
        """
        self.validate(arch)
        shape = task.input_shape
        if len(shape) != 4 or shape[0] != self.streams:
            raise SpaceError(
                f"assemblenet: inputs of shape {shape}; the space needs clips (S, T, H, W) with "
                f"S = streams = {self.streams}, e.g. --dataset moving-digits"
            )
        return AssembleNet(arch, task, self.stem_channels)

    # -- reading ------------------------------------------------------------------------------
    def _stem_label(self, k: int) -> str:
        return f"s{k} {STREAM_NAMES[k]}" if k < len(STREAM_NAMES) else f"s{k}"

    def describe(self, arch: Arch) -> str:
        live = live_blocks(arch)
        parts = [
            f"b{b['id']}:L{b['level']} {b['channels']}c d{b['dilation']}"
            f"<{','.join(b['inputs'])}" + ("" if b["id"] in live else " (unused)")
            for b in arch["blocks"]
        ]
        return " | ".join(parts)

    def graph(self, arch: Arch) -> list[Panel]:
        index = {f"s{k}": k for k in range(self.streams)}
        nodes: list[Node] = [(self._stem_label(k), []) for k in range(self.streams)]
        live = live_blocks(arch)
        for b in arch["blocks"]:
            name = f"b{b['id']}"
            label = f"{name} L{b['level']} {b['channels']}c d{b['dilation']}"
            label += "" if b["id"] in live else " (unused)"
            index[name] = len(nodes)
            nodes.append((label, [(index[s], "") for s in b["inputs"]]))
        outs = [(index[f"b{b['id']}"], "") for b in arch["blocks"] if b["level"] == LEVELS]
        nodes.append(("classifier", outs))
        edges = sum(len(b["inputs"]) for b in arch["blocks"])
        return [(f"assemblenet: {len(arch['blocks'])} blocks, {edges} connections", nodes)]


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
