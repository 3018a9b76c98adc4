"""The op library of the cell spaces (NASNet, DARTS, NAS-Bench-201) as one table, as DARTS's
``operations.py`` has it: ``CELL_OPS[name](c, stride)`` builds the op, ``c`` channels in and out.

Every cell op keeps its width (a node sums or concatenates its ops' outputs, all C channels
wide), so a factory takes C once; ``stride`` is 2 on the edges that leave a reduction cell's
inputs, else 1. A new op is one row, added with ``register_cell_op``::

    @register_cell_op("conv_5x5")
    def conv_5x5(c: int, stride: int) -> nn.Module:
        return relu_conv_bn(c, c, 5, stride)

after which a space whose ``ops`` name ``"conv_5x5"`` builds it.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from nasbeyond.exceptions import ConfigError, SpaceError

OpFactory = Callable[[int, int], nn.Module]
"""``factory(c, stride)``: an op on ``(B, c, H, W)`` float tensors giving
``(B, c, ceil(H / stride), ceil(W / stride))``."""


class Zero(nn.Module):
    """The ``none`` op: zeros of the output's shape (DARTS's way to drop an edge)."""

    def __init__(self, stride: int = 1) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing half the pixels: two 1x1 stride-2 convs, one shifted
    by a pixel, concatenated (the identity op of reduction cells)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.a = nn.Conv2d(cin, cout // 2, 1, 2, bias=False)
        self.b = nn.Conv2d(cin, cout - cout // 2, 1, 2, bias=False)
        self.pad = nn.ZeroPad2d((0, 1, 0, 1))
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = self.pad(x)[:, :, 1:, 1:]
        return self.bn(torch.cat([self.a(x), self.b(shifted)], dim=1))


def relu_conv_bn(
    cin: int, cout: int, k: int | tuple[int, int], stride: int | tuple[int, int] = 1
) -> nn.Sequential:
    """ReLU, a k x k convolution with "same" padding, batch norm."""
    kk = (k, k) if isinstance(k, int) else k
    pad = (kk[0] // 2, kk[1] // 2)
    return nn.Sequential(
        nn.ReLU(), nn.Conv2d(cin, cout, kk, stride, pad, bias=False), nn.BatchNorm2d(cout)
    )


def _dw_pw(c: int, k: int, stride: int, dilation: int) -> list[nn.Module]:
    return [
        nn.ReLU(),
        nn.Conv2d(c, c, k, stride, dilation * (k // 2), dilation, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c),
    ]


def identity(c: int, stride: int) -> nn.Module:
    """``identity`` / ``skip_connect``: the input itself, or a factorized reduction at stride 2."""
    return nn.Identity() if stride == 1 else FactorizedReduce(c, c)


def sep_conv(c: int, k: int, stride: int) -> nn.Sequential:
    """A k x k depthwise-separable conv applied twice, as DARTS does (only the first strides)."""
    return nn.Sequential(*_dw_pw(c, k, stride, 1), *_dw_pw(c, k, 1, 1))


def dil_conv(c: int, k: int, stride: int) -> nn.Sequential:
    """A k x k depthwise-separable conv with dilation 2."""
    return nn.Sequential(*_dw_pw(c, k, stride, 2))


def conv_1xn_nx1(c: int, n: int, stride: int) -> nn.Sequential:
    """NASNet's factorized n x n conv: 1 x n, then n x 1, then batch norm."""
    return nn.Sequential(
        nn.ReLU(),
        nn.Conv2d(c, c, (1, n), (1, stride), (0, n // 2), bias=False),
        nn.Conv2d(c, c, (n, 1), (stride, 1), (n // 2, 0), bias=False),
        nn.BatchNorm2d(c),
    )


def _avg_pool(k: int) -> OpFactory:
    return lambda c, stride: nn.AvgPool2d(k, stride, k // 2, count_include_pad=False)


def _max_pool(k: int) -> OpFactory:
    return lambda c, stride: nn.MaxPool2d(k, stride, k // 2)


def _conv(k: int) -> OpFactory:
    return lambda c, stride: relu_conv_bn(c, c, k, stride)


# Every op of the NASNet (13), DARTS (8) and NB201 (5) lists; the names are theirs, so NB201's
# ReLU-conv-BN is "nor_conv" where NASNet says "conv" (the same op).
CELL_OPS: dict[str, OpFactory] = {
    "none": lambda c, stride: Zero(stride),
    "identity": identity,
    "skip_connect": identity,
    "avg_pool_3x3": _avg_pool(3),
    "max_pool_3x3": _max_pool(3),
    "max_pool_5x5": _max_pool(5),
    "max_pool_7x7": _max_pool(7),
    "conv_1x1": _conv(1),
    "conv_3x3": _conv(3),
    "nor_conv_1x1": _conv(1),
    "nor_conv_3x3": _conv(3),
    "conv_1x3_3x1": lambda c, stride: conv_1xn_nx1(c, 3, stride),
    "conv_1x7_7x1": lambda c, stride: conv_1xn_nx1(c, 7, stride),
    "sep_conv_3x3": lambda c, stride: sep_conv(c, 3, stride),
    "sep_conv_5x5": lambda c, stride: sep_conv(c, 5, stride),
    "sep_conv_7x7": lambda c, stride: sep_conv(c, 7, stride),
    "dil_conv_3x3": lambda c, stride: dil_conv(c, 3, stride),
    "dil_conv_5x5": lambda c, stride: dil_conv(c, 5, stride),
}


def register_cell_op(name: str) -> Callable[[OpFactory], OpFactory]:
    """Decorator that adds ``factory(c, stride) -> nn.Module`` to ``CELL_OPS`` under ``name``.

    Raises:
        ConfigError: ``name`` is not a non-empty string, or is already in ``CELL_OPS`` (an op
            is never silently replaced: seeded models of the spaces that use it would change).
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"cell op name is {name!r}; allowed: a non-empty string")

    def deco(factory: OpFactory) -> OpFactory:
        old = CELL_OPS.get(name)
        if old is not None:
            raise ConfigError(
                f"cell op {name!r} is already in CELL_OPS ({old.__module__}."
                f"{getattr(old, '__qualname__', repr(old))}); pick another name"
            )
        CELL_OPS[name] = factory
        return factory

    return deco


def cell_op(name: str, c: int, stride: int = 1) -> nn.Module:
    """The op ``name`` of ``CELL_OPS`` on ``(B, c, H, W)`` tensors, spatial stride ``stride``.

    Raises:
        SpaceError: ``name`` is not in ``CELL_OPS`` (the message lists the names that are).
    """
    try:
        factory = CELL_OPS[name]
    except KeyError:
        raise SpaceError(f"cells: unknown op {name!r}; allowed: {', '.join(CELL_OPS)}") from None
    return factory(c, stride)
