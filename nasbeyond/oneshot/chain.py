"""Chain supernets: one network that holds every path of a chain space, so that many candidate
archs share their weights (weight-sharing NAS).

- ``MacroSupernet`` for ``macro-cnn``, ENAS-style (Pham et al., "Efficient Neural Architecture
  Search via Parameter Sharing", ICML 2018, the macro search space): every layer holds every
  filter shape (kh x kw) once, each with its own BatchNorm and one weight block per possible
  input layer; a path picks one shape per layer, its filter count (the leading output
  channels), its stride and its skip inputs.
- ``MnasNetSupernet`` for ``mnasnet``, as SPOS trains it (Guo et al., "Single Path One-Shot
  Neural Architecture Search with Uniform Sampling", ECCV 2020): every layer slot of every block
  holds every choice of (op, kernel, SE ratio) once, built at the widest filter multiplier; a
  path's filter multiplier takes the leading channels (SPOS's channel-number search) and its
  layer count runs the first slots of the block.

``supernet(x, arch)`` computes exactly what ``space.build(arch, task)`` computes once the path's
weights are copied into it, which is what ``path_model(arch)`` returns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError, SpaceError
from nasbeyond.oneshot.base import Supernet, register_supernet
from nasbeyond.space import Space
from nasbeyond.space.macro_cnn import FILTERS, KERNELS, MacroCNN, MacroCNNSpace
from nasbeyond.space.mnasnet import _SE, BASE, CHOICES, MnasNetSpace, _cbr, _Layer, _round8
from nasbeyond.trial import TaskShape


def batch_norm(x: torch.Tensor, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``bn`` applied to ``x``'s channels, which may be fewer than ``bn``'s: the leading
    ``x.shape[1]`` entries of its affine parameters and running statistics are used (and
    updated in training mode), exactly as ``nn.BatchNorm2d.forward`` would with that many."""
    c = x.shape[1]
    factor = 0.0
    if bn.training and bn.track_running_stats and bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)
        factor = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
    use_batch = bn.training or bn.running_mean is None
    mean = None if bn.running_mean is None else bn.running_mean[:c]
    var = None if bn.running_var is None else bn.running_var[:c]
    weight = None if bn.weight is None else bn.weight[:c]
    bias = None if bn.bias is None else bn.bias[:c]
    return F.batch_norm(x, mean, var, weight, bias, use_batch, factor, bn.eps)


def copy_leading(src: nn.Module, dst: nn.Module) -> None:
    """Copy into every parameter and buffer of ``dst`` the leading block of the same-named
    tensor of ``src`` (``src`` is the same structure built wider)."""
    source = src.state_dict()
    with torch.no_grad():
        for name, t in dst.state_dict().items():
            s = source[name]
            t.copy_(s[tuple(slice(0, n) for n in t.shape)] if t.dim() else s)


def _check_image(space: str, task: TaskShape) -> None:
    if len(task.input_shape) != 3:
        raise SpaceError(f"{space}: input shape {task.input_shape} is not an image (C, H, W)")


# -- macro-cnn -------------------------------------------------------------------------------


class _MacroOp(nn.Module):
    """One filter shape of one layer: a weight block per possible input layer (the leading
    ``filters`` output and the source's leading input channels are used) and a BatchNorm."""

    def __init__(self, sources: Sequence[int], width: int, kh: int, kw: int) -> None:
        super().__init__()
        self.kh, self.kw = kh, kw
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(width, c, kh, kw)) for c in sources
        )
        for w in self.weights:
            # He init over the output fan (independent of how many inputs a path concatenates;
            # the BatchNorm after the convolution makes the scale immaterial anyway).
            nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
        self.bn = nn.BatchNorm2d(width)

    def weight(self, sources: Sequence[int], widths: Sequence[int], filters: int) -> torch.Tensor:
        """The ``(filters, sum(widths), kh, kw)`` kernel of a path reading ``sources`` (in
        concatenation order) with ``widths`` channels each."""
        blocks = [self.weights[j][:filters, :c] for j, c in zip(sources, widths, strict=True)]
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1)


class MacroSupernet(Supernet):
    """ENAS's macro supernet over the ``macro-cnn`` space (every layer up to ``max_layers``).

    Layer ``i`` holds, for each of the 16 filter shapes, one ``(64, C_j, kh, kw)`` weight block
    per layer ``j < i`` it may read (``C_j = 64``; the image's channels for layer 0) and one
    BatchNorm of 64 channels; the classifier holds one ``(classes, 64)`` block per layer. A path
    uses the leading ``filters`` channels of its shape's blocks for its sources.

    Args:
        space: the macro-cnn space (``max_layers``, ``min_layers``).
        task: input shape ``(C, H, W)`` and class count.

    Raises:
        SpaceError: the task's input is not an image.
    """

    def __init__(self, space: MacroCNNSpace, task: TaskShape) -> None:
        super().__init__(space, task)
        _check_image(space.name, task)
        self.space: MacroCNNSpace = space
        width, c0 = max(FILTERS), task.input_shape[0]
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    f"{kh}x{kw}": _MacroOp([c0] if i == 0 else [width] * i, width, kh, kw)
                    for kh in KERNELS
                    for kw in KERNELS
                }
            )
            for i in range(space.max_layers)
        )
        head = nn.Linear(width * space.max_layers, task.num_classes)
        self.head_weight = nn.Parameter(head.weight.detach().clone())
        self.head_bias = nn.Parameter(head.bias.detach().clone())
        # Only an arch without any layer reads the flattened image (min_layers = 0).
        self.flat_head = (
            nn.Linear(math.prod(task.input_shape), task.num_classes)
            if space.min_layers == 0
            else None
        )

    def _op(self, layer: int, kh: int, kw: int) -> _MacroOp:
        return cast(_MacroOp, cast(nn.ModuleDict, self.layers[layer])[f"{kh}x{kw}"])

    @staticmethod
    def _wiring(layers: list[dict[str, Any]], c0: int) -> list[tuple[list[int], list[int]]]:
        """Per layer: its sources (weight-block indices, concatenation order) and their
        channel counts, as ``MacroCNN`` concatenates them."""
        out = []
        for i, spec in enumerate(layers):
            srcs = ([i - 1] if i else []) + list(spec["skips"])
            if not srcs:
                out.append(([0], [c0]))
            else:
                out.append((srcs, [layers[j]["filters"] for j in srcs]))
        return out

    def _outputs(self, layers: list[dict[str, Any]]) -> list[int]:
        used = {j for i, spec in enumerate(layers) for j in ([i - 1] if i else []) + spec["skips"]}
        return [i for i in range(len(layers)) if i not in used]

    def _head(self, layers: list[dict[str, Any]], outputs: list[int]) -> torch.Tensor:
        width = max(FILTERS)
        blocks = [
            self.head_weight[:, i * width : i * width + layers[i]["filters"]] for i in outputs
        ]
        return torch.cat(blocks, dim=1)

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        """Logits ``(B, classes)`` of the path ``arch`` for images ``x`` ``(B, C, H, W)``.

        Raises:
            ConfigError: ``arch`` is None (a chain supernet has no continuous relaxation).
            SpaceError: ``arch`` is not in the space.
        """
        if arch is None:
            raise ConfigError("macro-cnn supernet: a path (arch) is required; it has no relaxation")
        layers = self.space.validate(arch)["layers"]
        if not layers:
            assert self.flat_head is not None  # validate allows no layer only if min_layers=0
            return self.flat_head(x.flatten(1))
        outs: list[torch.Tensor] = []
        scale: list[int] = []
        for i, (spec, (srcs, widths)) in enumerate(
            zip(layers, self._wiring(layers, x.shape[1]), strict=True)
        ):
            if i == 0 and not spec["skips"]:
                inp = x
            else:
                feats = [outs[srcs[0]]]
                for j in srcs[1:]:
                    f = scale[srcs[0]] // scale[j]
                    feats.append(F.avg_pool2d(outs[j], f, f, ceil_mode=True) if f > 1 else outs[j])
                inp = torch.cat(feats, dim=1) if len(feats) > 1 else feats[0]
            kh, kw, stride = spec["kh"], spec["kw"], spec["stride"]
            op = self._op(i, kh, kw)
            w = op.weight(srcs, widths, spec["filters"])
            y = F.conv2d(inp, w, None, stride, (kh // 2, kw // 2))
            outs.append(F.relu(batch_norm(y, op.bn)))
            scale.append((scale[i - 1] if i else 1) * stride)
        outputs = self._outputs(layers)
        pooled = torch.cat([outs[i].mean(dim=(2, 3)) for i in outputs], dim=1)
        return F.linear(pooled, self._head(layers, outputs), self.head_bias)

    def path_model(self, arch: Arch) -> nn.Module:
        """``space.build(arch, task)`` with this path's weights (and BatchNorm statistics)
        copied in, on the supernet's device: a standalone model equal to ``self(x, arch)``."""
        model = self.space.build(arch, self.task)
        assert isinstance(model, MacroCNN)
        layers = arch["layers"]
        with torch.no_grad():
            if not layers:
                assert self.flat_head is not None
                model.head.load_state_dict(self.flat_head.state_dict())
            wiring = self._wiring(layers, self.task.input_shape[0])
            for i, (spec, (srcs, widths), seq) in enumerate(
                zip(layers, wiring, model.convs.values(), strict=True)
            ):
                op = self._op(i, spec["kh"], spec["kw"])
                conv, bn = cast(nn.Sequential, seq)[0], cast(nn.Sequential, seq)[1]
                cast(nn.Conv2d, conv).weight.copy_(op.weight(srcs, widths, spec["filters"]))
                copy_leading(op.bn, bn)
            if layers:
                model.head.weight.copy_(self._head(layers, model.outputs))
                model.head.bias.copy_(self.head_bias)
        return model.to(self.head_bias.device)


# -- mnasnet ---------------------------------------------------------------------------------


def _choice_key(op: str, kernel: int, se: float) -> str:
    return f"{op}_k{kernel}_se{se:g}".replace(".", "p")


def _sliced_layer(
    layer: _Layer, x: torch.Tensor, cout: int, se: float, skip: bool, stride: int
) -> torch.Tensor:
    """``layer`` (built at the widest channels) run on ``x``'s channels with ``cout`` output
    channels: every convolution and BatchNorm uses its leading channels; an MBConv expands to
    ``expansion * C_in``; the SE block squeezes to ``max(1, int(C * se))``. The identity skip
    (``skip``) is added where ``stride`` is 1 and the widths agree, as ``_Layer`` does."""
    cin = x.shape[1]
    convs = [m for m in layer.body if isinstance(m, nn.Conv2d)]
    y = x
    for m in layer.body:
        if isinstance(m, nn.Conv2d):
            c = y.shape[1]
            if m.groups > 1:  # depthwise: one filter per channel
                y = F.conv2d(y, m.weight[:c], None, m.stride, m.padding, groups=c)
            else:
                out = cout if m is convs[-1] else cin * (m.out_channels // m.in_channels)
                y = F.conv2d(y, m.weight[:out, :c], None, m.stride, m.padding)
        elif isinstance(m, nn.BatchNorm2d):
            y = batch_norm(y, m)
        elif isinstance(m, _SE):
            c = y.shape[1]
            hidden = max(1, int(c * se))
            down, up = m.fc[1], m.fc[3]
            assert isinstance(down, nn.Conv2d) and isinstance(up, nn.Conv2d)
            s = y.mean(dim=(2, 3), keepdim=True)
            s = F.relu(F.conv2d(s, down.weight[:hidden, :c], down.bias[:hidden]))  # type: ignore[index]
            y = y * torch.sigmoid(F.conv2d(s, up.weight[:c, :hidden], up.bias[:c]))  # type: ignore[index]
        else:
            y = m(y)
    return x + y if skip and stride == 1 and cin == cout else y


class MnasNetSupernet(Supernet):
    """SPOS's supernet over the ``mnasnet`` space.

    Block ``b`` has ``max(1, base layers + 1)`` layer slots; each slot holds one ``_Layer`` per
    (op, kernel, SE ratio) choice (4 x 2 x 2 = 16), built at the widest filter multiplier
    (1.25) and, in the first slot, for the previous block's widest output. The stem is shared;
    the 1x1 head and the classifier are held at their widest. A path runs the first
    ``max(1, base + layers)`` slots of each block with its choice's layer, on the leading
    channels its filter multiplier gives; an identity skip adds the input where stride is 1 and
    the path's input and output widths agree (as ``space.build`` does).

    Args:
        space: the mnasnet space (``blocks``, ``width_mult``, ``stem_stride``).
        task: input shape ``(C, H, W)`` and class count.

    Raises:
        SpaceError: the task's input is not an image.
    """

    def __init__(self, space: MnasNetSpace, task: TaskShape) -> None:
        super().__init__(space, task)
        _check_image(space.name, task)
        self.space: MnasNetSpace = space
        wm, widest, deepest = space.width_mult, max(CHOICES["width"]), max(CHOICES["layers"])
        stem = _round8(32 * wm)
        self.stem = nn.Sequential(*_cbr(task.input_shape[0], stem, 3, space.stem_stride))
        blocks: list[nn.Module] = []
        cin = stem
        for filters, layers, stride in BASE[: space.blocks]:
            cout = _round8(filters * wm * widest)
            slots = []
            for i in range(max(1, layers + deepest)):
                choices = {
                    _choice_key(op, k, se): _Layer(
                        {"op": op, "kernel": k, "se": se, "skip": "identity"},
                        cin if i == 0 else cout,
                        cout,
                        stride if i == 0 else 1,
                    )
                    for op in CHOICES["op"]
                    for k in CHOICES["kernel"]
                    for se in CHOICES["se"]
                }
                slots.append(nn.ModuleDict(choices))
            blocks.append(nn.ModuleList(slots))
            cin = cout
        self.blocks = nn.ModuleList(blocks)
        head = _round8(1280 * wm) if space.blocks == len(BASE) else cin * 4
        self.head = nn.Sequential(*_cbr(cin, head, 1))
        self.classifier = nn.Linear(head, task.num_classes)

    @staticmethod
    def _choice(slots: nn.Module, i: int, key: str) -> _Layer:
        return cast(_Layer, cast(nn.ModuleDict, cast(nn.ModuleList, slots)[i])[key])

    def _plan(self, arch: Arch) -> list[tuple[dict[str, Any], int, int]]:
        """Per block of ``arch``: its spec, its output channels and its layer count."""
        wm = self.space.width_mult
        return [
            (block, _round8(filters * wm * block["width"]), max(1, layers + block["layers"]))
            for block, (filters, layers, _) in zip(arch["blocks"], BASE, strict=False)
        ]

    def _head_width(self, cin: int) -> int:
        return _round8(1280 * self.space.width_mult) if self.space.blocks == len(BASE) else cin * 4

    def forward(self, x: torch.Tensor, arch: Arch | None = None) -> torch.Tensor:
        """Logits ``(B, classes)`` of the path ``arch`` for images ``x`` ``(B, C, H, W)``.

        Raises:
            ConfigError: ``arch`` is None (a chain supernet has no continuous relaxation).
            SpaceError: ``arch`` is not in the space.
        """
        if arch is None:
            raise ConfigError("mnasnet supernet: a path (arch) is required; it has no relaxation")
        self.space.validate(arch)
        y = self.stem(x)
        for slots, (block, cout, n), (_, _, stride) in zip(
            self.blocks, self._plan(arch), BASE, strict=False
        ):
            key = _choice_key(block["op"], block["kernel"], block["se"])
            skip = block["skip"] == "identity"
            for i in range(n):
                s = stride if i == 0 else 1
                y = _sliced_layer(self._choice(slots, i, key), y, cout, block["se"], skip, s)
        conv, bn = self.head[0], self.head[1]
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)
        c = y.shape[1]
        head = self._head_width(c)
        y = F.relu(batch_norm(F.conv2d(y, conv.weight[:head, :c]), bn))
        y = y.mean(dim=(2, 3))
        return F.linear(y, self.classifier.weight[:, :head], self.classifier.bias)

    def path_model(self, arch: Arch) -> nn.Module:
        """``space.build(arch, task)`` with this path's weights (and BatchNorm statistics)
        copied in, on the supernet's device: a standalone model equal to ``self(x, arch)``."""
        model = self.space.build(arch, self.task)
        assert isinstance(model, nn.Sequential)
        mods = list(model)
        copy_leading(self.stem, nn.Sequential(*mods[:3]))
        at = 3
        for slots, (block, _, n) in zip(self.blocks, self._plan(arch), strict=True):
            key = _choice_key(block["op"], block["kernel"], block["se"])
            for i in range(n):
                copy_leading(self._choice(slots, i, key), mods[at])
                at += 1
        copy_leading(self.head, nn.Sequential(*mods[at : at + 3]))
        copy_leading(self.classifier, mods[-1])
        return model.to(self.classifier.weight.device)


@register_supernet("macro-cnn")
def macro_supernet(space: Space, task: TaskShape) -> Supernet:
    """``MacroSupernet`` for a ``macro-cnn`` space (the SUPERNETS row)."""
    if not isinstance(space, MacroCNNSpace):
        raise ConfigError(f"space: {space.name!r} is not macro-cnn")
    return MacroSupernet(space, task)


@register_supernet("mnasnet")
def mnasnet_supernet(space: Space, task: TaskShape) -> Supernet:
    """``MnasNetSupernet`` for an ``mnasnet`` space (the SUPERNETS row)."""
    if not isinstance(space, MnasNetSpace):
        raise ConfigError(f"space: {space.name!r} is not mnasnet")
    return MnasNetSupernet(space, task)
