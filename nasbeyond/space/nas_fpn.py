"""The NAS-FPN space (Ghiasi et al., "NAS-FPN: Learning Scalable Feature Pyramid Architecture for
Object Detection", CVPR 2019): the feature pyramid of a one-stage detector built from N merging
cells, scaled down from the paper's P3-P7 to P3-P5 so it trains on 2 CPU cores.

The pool of feature maps starts as ``P3 in``..``P6 in``: the backbone's C3-C5 (strides 8, 16,
32) brought to F channels by a 1x1 convolution + BN, and a stride-64 map made by 2x2 max pooling
of the C5 one (the paper makes its P6/P7 inputs this way). Merging cell ``k`` picks two different
feature maps of the pool (pool index ``i`` < 4 + k), an output level and a binary op; both
inputs are resized to the output level (nearest-neighbour upsampling, or 2x2 max pooling per
level), combined by ``sum`` or ``global_pool`` (global-pooling attention:
``a + b * sigmoid(global max pool(a))``, as in the authors' TensorFlow code), then
ReLU -> conv 3x3 -> BN; its output joins the pool. The last three cells are the output cells:
their levels are a permutation of P3, P4, P5 (the paper lets the controller choose that order),
and each one first adds every feature map of its level that no cell has read yet (the paper's
rule for unconnected feature maps). Their outputs are the pyramid P3-P5.

An arch, ``cells`` merging cells (3 = the output cells alone, the default; the paper's 7 cells
for 5 levels scale to 5 for 3)::

    {"cells": [{"inputs": [3, 2], "level": 5, "op": "sum"}, ...]}

``fpn_arch()`` is the hand-made FPN (Lin et al., CVPR 2017) as a point of this space: the
top-down path ``P5 = cell(C5 + up(C6))``, ``P4 = cell(C4 + up(P5))``, ``P3 = cell(C3 +
up(P4))``.

``build(arch, task)`` gives the whole detector (``NasFPNDetector``): a small fixed CNN backbone,
the pyramid, and an FCOS-style head (Tian et al., "FCOS: Fully Convolutional One-Stage Object
Detection", ICCV 2019): per location class logits, box distances (l, t, r, b) and centerness,
trained with the sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV
2017; alpha 0.25, gamma 2), the GIoU loss on boxes (Rezatofighi et al., CVPR 2019) and a binary
cross-entropy on centerness.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Node, Panel, Space, other_choice
from nasbeyond.trial import TaskShape

OPS = ("sum", "global_pool")
LEVELS = (3, 4, 5)  # the pyramid's output levels (P3-P5; the paper's P3-P7, scaled down)
INPUT_LEVELS = (3, 4, 5, 6)  # the pool's first feature maps: C3-C5 projected, and C6
ORDERS = tuple(itertools.permutations(LEVELS))  # the output cells' levels, in order
STRIDES = {level: 2**level for level in INPUT_LEVELS}
# FCOS's size ranges, scaled to objects of 8-48 px: a location of level l regresses a box whose
# largest distance m = max(l, t, r, b) lies in (lo, hi]
RANGES = {3: (0.0, 12.0), 4: (12.0, 24.0), 5: (24.0, float("inf"))}
CENTER_RADIUS = 1.5  # FCOS center sampling: positives within 1.5 strides of the box centre
PRIOR = 0.01  # RetinaNet's initial foreground probability of the class logits
NMS_IOU = 0.6  # FCOS's NMS threshold
PRE_NMS = 1000  # top-scoring candidates per image kept before NMS


def fpn_arch() -> Arch:
    """The hand-made FPN as merging cells (a point of ``NasFPNSpace(cells=3)``, the default): a
    top-down path of sums, each level's input plus the upsampled level above it."""
    return {
        "cells": [
            {"inputs": [2, 3], "level": 5, "op": "sum"},  # P5 = C5 + up(C6)
            {"inputs": [1, 4], "level": 4, "op": "sum"},  # P4 = C4 + up(P5)
            {"inputs": [0, 5], "level": 3, "op": "sum"},  # P3 = C3 + up(P4)
        ]
    }


def pool_levels(arch: Arch) -> list[int]:
    """The level of every feature map in the pool: the four inputs, then each cell's output."""
    return list(INPUT_LEVELS) + [int(c["level"]) for c in arch["cells"]]


def unread_inputs(arch: Arch) -> list[list[int]]:
    """Per cell, the pool indices an output cell adds to its sum by the paper's rule: feature
    maps of its level that no earlier cell read (empty for the other cells)."""
    cells = arch["cells"]
    levels = pool_levels(arch)
    first_output = len(cells) - len(LEVELS)
    read: set[int] = set()
    extra: list[list[int]] = []
    for k, cell in enumerate(cells):
        read.update(cell["inputs"])
        mine: list[int] = []
        if k >= first_output:
            mine = [
                i
                for i in range(len(INPUT_LEVELS) + k)
                if i not in read and levels[i] == levels[len(INPUT_LEVELS) + k]
            ]
            read.update(mine)
        extra.append(mine)
    return extra


# -- the detector ---------------------------------------------------------------------------------


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
    )


class Backbone(nn.Module):
    """A small fixed CNN (3x3 conv-BN-ReLU, stride 2 at each stage): C3, C4, C5 at strides 8,
    16, 32 with 32, 48, 64 channels. A 3x3 conv of stride 2 gives ceil(H / 2) rows."""

    widths = (32, 48, 64)

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv_bn_relu(in_channels, 16, 2), _conv_bn_relu(16, 24, 2))
        stages, cin = [], 24
        for w in self.widths:
            stages.append(nn.Sequential(_conv_bn_relu(cin, w, 2), _conv_bn_relu(w, w, 1)))
            cin = w
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            out.append(x)
        return out


def _resize(x: torch.Tensor, src: int, dst: int, like: torch.Tensor) -> torch.Tensor:
    """``x`` of level ``src`` at level ``dst`` (the size of ``like``): nearest-neighbour
    upsampling, or one 2x2 max pooling (ceil mode, as the backbone's strided convs) per level."""
    if src > dst:
        return F.interpolate(x, size=like.shape[-2:], mode="nearest")
    for _ in range(dst - src):
        x = F.max_pool2d(x, 2, 2, ceil_mode=True)
    return x


class MergingCell(nn.Module):
    """One merging cell: resize two pool maps (and, for an output cell, the unread maps of its
    level) to ``level``, combine them with ``op``, then ReLU -> conv 3x3 -> BN."""

    def __init__(self, inputs: Sequence[int], extra: Sequence[int], level: int, op: str, c: int):
        super().__init__()
        self.inputs, self.extra, self.level, self.op = list(inputs), list(extra), level, op
        self.post = nn.Sequential(
            nn.ReLU(), nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
        )

    def forward(self, pool: list[torch.Tensor], levels: list[int]) -> torch.Tensor:
        like = pool[self.level - INPUT_LEVELS[0]]  # the input map of the output level
        a, b = (_resize(pool[i], levels[i], self.level, like) for i in self.inputs)
        if self.op == "sum":
            x = a + b
        else:  # global-pooling attention
            x = a + b * torch.sigmoid(torch.amax(a, dim=(2, 3), keepdim=True))
        for i in self.extra:
            x = x + pool[i]
        return self.post(x)


def sigmoid_focal_loss(
    logits: torch.Tensor, targets: torch.Tensor, alpha: float = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """The focal loss of Lin et al. 2017 (alpha 0.25, gamma 2), summed; float tensors of equal
    shape, ``targets`` in {0, 1}."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    a_t = alpha * targets + (1 - alpha) * (1 - targets)
    return (a_t * (1 - p_t) ** gamma * ce).sum()


def giou_loss_ltrb(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - GIoU of boxes given as distances (l, t, r, b) from the same points, (M, 4) -> (M,)."""
    pl, pt, pr, pb = pred.unbind(1)
    tl, tt, tr, tb = target.unbind(1)
    area_p, area_t = (pl + pr) * (pt + pb), (tl + tr) * (tt + tb)
    inter = (torch.min(pl, tl) + torch.min(pr, tr)) * (torch.min(pt, tt) + torch.min(pb, tb))
    union = area_p + area_t - inter
    hull = (torch.max(pl, tl) + torch.max(pr, tr)) * (torch.max(pt, tt) + torch.max(pb, tb))
    iou = inter / union.clamp(min=1e-6)
    return 1 - (iou - (hull - union) / hull.clamp(min=1e-6))


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU of xyxy boxes, (N, 4) x (M, 4) -> (N, M)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    lt = torch.max(a[:, None, :2], b[None, :, :2])
    rb = torch.min(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(2)
    return inter / (area_a[:, None] + area_b[None, :] - inter).clamp(min=1e-6)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """Greedy non-maximum suppression within each class: indices of the kept boxes, by
    descending score. Boxes (N, 4) xyxy, scores (N,), labels (N,) int; a box is dropped when
    its IoU with a kept box of its class and higher score exceeds ``iou_threshold``."""
    order = torch.argsort(scores, descending=True, stable=True)
    kept = torch.zeros(len(boxes), dtype=torch.bool)
    for c in torch.unique(labels).tolist():
        idx = order[labels[order] == c]  # this class, best first
        overlap = (box_iou(boxes[idx], boxes[idx]) > iou_threshold).numpy()
        keep = np.ones(len(idx), dtype=bool)
        for i in range(len(idx)):
            if keep[i]:
                keep[i + 1 :] &= ~overlap[i, i + 1 :]
        kept[idx[torch.from_numpy(keep)]] = True
    return order[kept[order]]


class NasFPNDetector(nn.Module):
    """Backbone -> NAS-FPN pyramid (P3-P5) -> FCOS-style head shared by the levels.

    ``forward(images)`` takes a float32 (B, C, H, W) batch (standardised pixels) and returns the
    raw outputs of the three levels, a tuple of (B, K + 5, H_l, W_l) tensors, H_l = ceil(H /
    stride) for strides 8, 16, 32: channels 0..K-1 are class logits, K..K+3 the distances (l,
    t, r, b) in pixels from the location ((j + 0.5) * stride, (i + 0.5) * stride) to the box
    edges, K+4 the centerness logit. ``loss`` trains it and ``detect`` decodes boxes.
    """

    def __init__(self, arch: Arch, task: TaskShape, channels: int, head_convs: int) -> None:
        super().__init__()
        if len(task.input_shape) != 3:
            raise SpaceError(f"nas-fpn: input shape {task.input_shape} is not an image (C, H, W)")
        self.num_classes = task.num_classes
        self.image_size = tuple(task.input_shape[1:])
        self.levels = pool_levels(arch)
        self.backbone = Backbone(task.input_shape[0])
        self.lateral = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, channels, 1, bias=False), nn.BatchNorm2d(channels))
            for w in Backbone.widths
        )
        extra = unread_inputs(arch)
        self.cells = nn.ModuleList(
            MergingCell(c["inputs"], e, c["level"], c["op"], channels)
            for c, e in zip(arch["cells"], extra, strict=True)
        )
        self.outputs = {c["level"]: len(INPUT_LEVELS) + k for k, c in enumerate(arch["cells"])}
        tower: list[nn.Module] = []
        for _ in range(head_convs):
            tower += [nn.Conv2d(channels, channels, 3, 1, 1), nn.GroupNorm(8, channels), nn.ReLU()]
        self.tower = nn.Sequential(*tower)
        self.cls = nn.Conv2d(channels, task.num_classes, 3, 1, 1)
        assert self.cls.bias is not None
        self.box = nn.Conv2d(channels, 4, 3, 1, 1)
        self.ctr = nn.Conv2d(channels, 1, 3, 1, 1)
        self.scales = nn.Parameter(torch.ones(len(LEVELS)))  # FCOS's per-level box scale
        with torch.no_grad():
            self.cls.bias.fill_(-float(np.log((1 - PRIOR) / PRIOR)))

    def pyramid(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The feature maps P3, P4, P5, each (B, F, H_l, W_l)."""
        pool = [lat(c) for lat, c in zip(self.lateral, self.backbone(images), strict=True)]
        return self.merge(pool)

    def merge(self, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """The merging cells on the projected C3, C4, C5 maps (each (B, F, H_l, W_l)): P3-P5."""
        pool = list(inputs)
        pool.append(F.max_pool2d(pool[-1], 2, 2, ceil_mode=True))
        for cell in self.cells:
            pool.append(cell(pool, self.levels))
        return [pool[self.outputs[level]] for level in LEVELS]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = []
        for k, (level, p) in enumerate(zip(LEVELS, self.pyramid(images), strict=True)):
            t = self.tower(p)
            dist = torch.exp(torch.clamp(self.scales[k] * self.box(t), max=8.0)) * STRIDES[level]
            out.append(torch.cat([self.cls(t), dist, self.ctr(t)], dim=1))
        return tuple(out)

    def _flat(self, outputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """All levels' outputs as (B, M, K + 5), and the M locations' (x, y, stride, lo, hi)."""
        flat, where = [], []
        for level, o in zip(LEVELS, outputs, strict=True):
            b, ch, h, w = o.shape
            flat.append(o.permute(0, 2, 3, 1).reshape(b, h * w, ch))
            s = float(STRIDES[level])
            ys, xs = torch.meshgrid(
                (torch.arange(h, dtype=torch.float32) + 0.5) * s,
                (torch.arange(w, dtype=torch.float32) + 0.5) * s,
                indexing="ij",
            )
            lo, hi = RANGES[level]
            extra = torch.tensor([s, lo, hi]).expand(h * w, 3)
            where.append(torch.cat([xs.reshape(-1, 1), ys.reshape(-1, 1), extra], dim=1))
        return torch.cat(flat, dim=1), torch.cat(where).to(outputs[0].device)

    def _targets(
        self, where: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """FCOS's assignment for one image: per location the class (-1: background), the box
        distances (M, 4) and the centerness target (M,)."""
        m = len(where)
        if len(boxes) == 0:
            return torch.full((m,), -1, dtype=torch.long), torch.zeros(m, 4), torch.zeros(m)
        x, y, stride, lo, hi = where.unbind(1)
        x, y = x[:, None], y[:, None]
        ltrb = torch.stack(
            [x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=2
        )  # (M, K, 4)
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        r = CENTER_RADIUS * stride[:, None]
        near = ((x - cx).abs() < r) & ((y - cy).abs() < r) & (ltrb.min(dim=2).values > 0)
        reach = ltrb.max(dim=2).values
        ok = near & (reach > lo[:, None]) & (reach <= hi[:, None])
        # A box no location fell to (a small box whose edges lie on the grid) gets the location
        # nearest its centre on the level of its size, so that every object is learned.
        half = torch.max(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) / 2
        for j in torch.nonzero(~ok.any(dim=0)).flatten().tolist():
            dist = (x[:, 0] - cx[j]) ** 2 + (y[:, 0] - cy[j]) ** 2
            dist[(half[j] <= lo) | (half[j] > hi)] = float("inf")
            ok[int(dist.argmin()), j] = True
        area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None, :].expand(m, -1)
        area = torch.where(ok, area, torch.full_like(area, float("inf")))
        best_area, best = area.min(dim=1)
        cls = torch.where(torch.isfinite(best_area), labels[best], torch.full_like(best, -1))
        target = ltrb[torch.arange(m), best].clamp(min=0)
        lr, tb = target[:, [0, 2]], target[:, [1, 3]]
        ctr = torch.sqrt(
            (lr.min(1).values / lr.max(1).values.clamp(min=1e-6))
            * (tb.min(1).values / tb.max(1).values.clamp(min=1e-6))
        )
        return cls, target, torch.where(cls >= 0, ctr, torch.zeros_like(ctr))

    def loss(
        self, images: torch.Tensor, boxes: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """The training loss of a batch, a scalar: sigmoid focal loss over all locations and
        classes divided by the number of positive locations, plus the GIoU loss of the positives
        weighted by their centerness target (FCOS), plus centerness binary cross-entropy.

        Args:
            images: float32 (B, C, H, W).
            boxes: per image a float32 (K_i, 4) tensor of xyxy pixel edges.
            labels: per image an int64 (K_i,) tensor of classes 0..num_classes-1.
        """
        flat, where = self._flat(self(images))
        cls_t, box_t, ctr_t = zip(
            *(
                self._targets(where.cpu(), b.float().cpu().reshape(-1, 4), lb.long().cpu())
                for b, lb in zip(boxes, labels, strict=True)
            ),
            strict=True,
        )
        dev = flat.device
        cls, box, ctr = torch.stack(cls_t).to(dev), torch.stack(box_t).to(dev), torch.stack(ctr_t)
        ctr = ctr.to(dev)
        k = self.num_classes
        pos = cls >= 0
        onehot = F.one_hot(cls.clamp(min=0), k).to(flat.dtype) * pos[..., None]
        n_pos = max(int(pos.sum()), 1)
        loss = sigmoid_focal_loss(flat[..., :k], onehot) / n_pos
        if pos.any():
            weight = ctr[pos]
            giou = giou_loss_ltrb(flat[..., k : k + 4][pos], box[pos])
            loss = loss + (giou * weight).sum() / weight.sum().clamp(min=1e-6)
            loss = loss + F.binary_cross_entropy_with_logits(flat[..., k + 4][pos], weight)
        return loss

    @torch.no_grad()
    def detect(
        self, images: torch.Tensor, score_threshold: float = 0.05, max_detections: int = 100
    ) -> list[dict[str, torch.Tensor]]:
        """Detections per image (call ``eval()`` first): score = sqrt(class probability x
        centerness) (FCOS), those above ``score_threshold`` (at most 1,000 per image) decoded,
        clipped to the image, per-class NMS at IoU 0.6, the best ``max_detections`` kept.

        Returns:
            Per image a dict: ``boxes`` float32 (D, 4) xyxy pixels, ``scores`` float32 (D,),
            ``labels`` int64 (D,).
        """
        flat, where = self._flat(self(images))
        k = self.num_classes
        h, w = images.shape[-2:]
        scores = torch.sqrt(torch.sigmoid(flat[..., :k]) * torch.sigmoid(flat[..., k + 4 :]))
        out = []
        for b in range(len(images)):
            s = scores[b].flatten()
            idx = torch.nonzero(s > score_threshold).flatten()
            idx = idx[torch.argsort(s[idx], descending=True)[:PRE_NMS]]
            loc, label = idx // k, idx % k
            x, y = where[loc, 0], where[loc, 1]
            d = flat[b, loc, k : k + 4]
            xyxy = torch.stack([x - d[:, 0], y - d[:, 1], x + d[:, 2], y + d[:, 3]], dim=1)
            xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, float(w))
            xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, float(h))
            keep = batched_nms(xyxy.cpu(), s[idx].cpu(), label.cpu(), NMS_IOU)[:max_detections]
            keep = keep.to(xyxy.device)
            out.append(
                {
                    "boxes": xyxy[keep].float(),
                    "scores": s[idx][keep].float(),
                    "labels": label[keep].long(),
                }
            )
        return out


# -- the space ------------------------------------------------------------------------------------


def _pairs(k: int) -> tuple[tuple[int, int], ...]:
    """The ordered pairs of two different pool maps cell ``k`` may read."""
    return tuple(itertools.permutations(range(len(INPUT_LEVELS) + k), 2))


@register("space", "nas-fpn")
class NasFPNSpace(Space):
    """NAS-FPN merging cells over P3-P5 (see the module docstring); ``build`` gives the detector.

    Args:
        cells: N merging cells, >= 3; the last three are the output cells (the paper: 7 cells
            for P3-P7). 3, the default, holds the hand-made FPN (``fpn_arch()``).
        channels: F, the width of every pyramid level and of the head (a multiple of 8).
        head_convs: 3x3 conv-GN-ReLU layers of the head tower shared by the levels (FCOS: 4).
    """

    name = "nas-fpn"
    builds = "detector"  # build gives a NasFPNDetector: forward, loss, detect

    def __init__(self, cells: int = 3, channels: int = 32, head_convs: int = 2) -> None:
        if cells < len(LEVELS) or cells > 12:
            raise SpaceError(f"nas-fpn: cells must be in 3..12, got {cells}")
        if channels < 8 or channels % 8:
            raise SpaceError(f"nas-fpn: channels must be a positive multiple of 8, got {channels}")
        if head_convs < 0 or head_convs > 4:
            raise SpaceError(f"nas-fpn: head_convs must be in 0..4, got {head_convs}")
        self.cells, self.channels, self.head_convs = cells, channels, head_convs

    @property
    def _first_output(self) -> int:
        return self.cells - len(LEVELS)

    def decisions(self) -> list[Decision]:
        out = []
        for k in range(self.cells):
            out.append(Decision(f"cell{k}.inputs", _pairs(k)))
            if k < self._first_output:
                out.append(Decision(f"cell{k}.level", LEVELS))
            out.append(Decision(f"cell{k}.op", OPS))
        out.append(Decision("output_levels", ORDERS))
        return out

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"nas-fpn: expected {len(ds)} choices, got {len(choices)}")
        v = {d.name: d.choices[int(c)] for d, c in zip(ds, choices, strict=True)}
        order = v["output_levels"]
        cells = []
        for k in range(self.cells):
            level = v[f"cell{k}.level"] if k < self._first_output else order[k - self._first_output]
            cells.append(
                {"inputs": list(v[f"cell{k}.inputs"]), "level": level, "op": v[f"cell{k}.op"]}
            )
        return {"cells": cells}

    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """One of: a cell reads another pool map in place of one of its inputs; a cell's op
        changes; an intermediate cell's level changes; two output cells swap their levels."""
        child = copy_arch(self.validate(arch))
        cells = child["cells"]
        move = ("input", "op", "level")[int(rng.integers(3))]
        k = int(rng.integers(self.cells))
        cell = cells[k]
        if move == "input":
            j = int(rng.integers(2))
            allowed = [i for i in range(len(INPUT_LEVELS) + k) if i != cell["inputs"][1 - j]]
            cell["inputs"][j] = other_choice(allowed, cell["inputs"][j], rng)
        elif move == "op":
            cell["op"] = other_choice(OPS, cell["op"], rng)
        elif k < self._first_output:
            cell["level"] = other_choice(LEVELS, cell["level"], rng)
        else:
            outs = list(range(self._first_output, self.cells))
            other = other_choice(outs, k, rng)
            cell["level"], cells[other]["level"] = cells[other]["level"], cell["level"]
        return self.validate(child)

    def validate(self, arch: Arch) -> Arch:
        if not isinstance(arch, dict) or set(arch) != {"cells"}:
            raise SpaceError('nas-fpn: arch must be {"cells": [...]}')
        cells = arch["cells"]
        if not isinstance(cells, list) or len(cells) != self.cells:
            raise SpaceError(f"nas-fpn: cells must be a list of {self.cells} merging cells")
        for k, cell in enumerate(cells):
            at = f"nas-fpn: cells[{k}]"
            if not isinstance(cell, dict) or set(cell) != {"inputs", "level", "op"}:
                raise SpaceError(f"{at} must have exactly the keys inputs, level, op")
            ins, n = cell["inputs"], len(INPUT_LEVELS) + k
            if not isinstance(ins, list) or len(ins) != 2:
                raise SpaceError(f"{at}.inputs must be a list of two pool indices")
            for j, i in enumerate(ins):
                if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < n:
                    raise SpaceError(f"{at}.inputs[{j}] is {i!r}; allowed: 0..{n - 1}")
            if ins[0] == ins[1]:
                raise SpaceError(f"{at}.inputs {ins} must be two different feature maps")
            level = cell["level"]
            if isinstance(level, bool) or level not in LEVELS:
                raise SpaceError(f"{at}.level is {level!r}; allowed: 3, 4, 5")
            if cell["op"] not in OPS:
                raise SpaceError(f"{at}.op is {cell['op']!r}; allowed: {', '.join(OPS)}")
        outs = sorted(c["level"] for c in cells[self._first_output :])
        if outs != list(LEVELS):
            raise SpaceError(
                f"nas-fpn: the last {len(LEVELS)} cells are the outputs; their levels must be "
                f"3, 4 and 5 in some order, got {[c['level'] for c in cells[self._first_output :]]}"
            )
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return NasFPNDetector(self.validate(arch), task, self.channels, self.head_convs)

    def _name(self, levels: list[int], i: int) -> str:
        if i < len(INPUT_LEVELS):
            return f"C{levels[i]}"
        return f"#{i - len(INPUT_LEVELS) + 1}"

    def describe(self, arch: Arch) -> str:
        levels, extra = pool_levels(arch), unread_inputs(arch)
        parts = []
        for k, cell in enumerate(arch["cells"]):
            args = ", ".join(self._name(levels, i) for i in cell["inputs"])
            plus = "".join(f" + {self._name(levels, i)}" for i in extra[k])
            out = "P" if k >= self._first_output else "p"
            parts.append(f"#{k + 1} {out}{cell['level']}={cell['op']}({args}){plus}")
        return "; ".join(parts)

    def graph(self, arch: Arch) -> list[Panel]:
        """Merging cells as a graph of pyramid levels: the four input maps, then each cell
        labelled with its level and op (output cells as ``P4 out``); edges say how an input is
        resized (``up x2``, ``pool /4``) and ``+`` marks an unread map added to an output."""
        levels, extra = pool_levels(arch), unread_inputs(arch)
        nodes: list[Node] = [(f"C{level} (P{level} in)", []) for level in INPUT_LEVELS]
        for k, cell in enumerate(arch["cells"]):
            edges: list[tuple[int, str]] = []
            for i in cell["inputs"]:
                d = levels[i] - cell["level"]
                edges.append((i, f"up x{2**d}" if d > 0 else f"pool /{2**-d}" if d < 0 else ""))
            edges += [(i, "+") for i in extra[k]]
            what = "out" if k >= self._first_output else f"#{k + 1}"
            nodes.append((f"P{cell['level']} {what}: {cell['op']}", edges))
        return [(f"NAS-FPN, {self.cells} merging cells", nodes)]
