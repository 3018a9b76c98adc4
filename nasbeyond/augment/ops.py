"""The augmentation ops as one table: each op is a row (its level -> value mapping, its PIL
function, its batched tensor function; geometric ops carry their affine matrix instead), so
adding an op is adding a row (``register_op``) and every path dispatches by looking it up.

The table holds the 16 AutoAugment operations (Cubuk et al., "AutoAugment: Learning Augmentation
Policies from Data", CVPR 2019) and ``Identity``. Each runs twice: on PIL images (as the original
code) and on tensor batches, where every sample gets its own op and magnitude (CPU or CUDA, uint8
in 0..255 or float in 0..1). On uint8 input the tensor path computes what PIL computes, so both
give the same pixels exactly: integer lookup tables where PIL uses them, PIL's float32 blend and
3x3 SMOOTH filter in the same order of operations, and PIL's own sampling engines for the affine
ops (16.16 fixed point, or float64 positions accumulated pixel by pixel, with its border rules).

Magnitudes are a ``level`` in [0, 1] (AutoAugment's bin / 9; RandAugment's M / 10; TrivialAugment
draws it), mapped over the paper's ranges so that level 0 changes nothing wherever the op has a
magnitude and a higher level always changes more (the paper's meaning; some reference code runs
Posterize and Solarize the other way):

    ShearX/Y        shear 0..0.3, random sign           TranslateX/Y  0..0.45 of the size, sign
    Rotate          0..30 degrees, random sign          Solarize      threshold 256 -> 0
    Posterize       8 -> 4 bits                         Cutout        square side 0..0.2 of size
    Contrast, Color, Brightness, Sharpness   factor 1 -> 1 +- 0.9 (so 0.1..1.9), random sign
    SamplePairing   blend 0..0.4 with another image     AutoContrast, Invert, Equalize: no level

Geometric ops fill with grey 128 and sample nearest through the same output -> input affine
matrix on both paths, shears and translations about the top-left corner (as the original),
rotation about the centre.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from nasbeyond.exceptions import ConfigError

FILL = 128

Matrix = tuple[float, float, float, float, float, float]
PilFn = Callable[[Image.Image, float, Any, "Image.Image | None"], Image.Image]
BatchFn = Callable[
    [torch.Tensor, torch.Tensor, "torch.Generator | None", "torch.Tensor | None"], torch.Tensor
]
MatrixFn = Callable[[float, int, int], Matrix]
ValueFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Op:
    """One augmentation op: one row of the table.

    A pixel op gives ``pil`` and ``batch``; a geometric op gives ``matrix`` only, and both paths
    sample through it with PIL's nearest-neighbour engine.

    Attributes:
        name: the name policies use (``"Rotate"``).
        low: the value at level 0.
        high: the value at level 1 (values run linearly between).
        signed: a random sign flips the change ``value - low``.
        pil: ``pil(img, value, rng, pair) -> img`` on a PIL image of mode L or RGB; ``rng`` is a
            ``random.Random`` (or the ``random`` module), ``pair`` SamplePairing's partner or
            None.
        batch: ``batch(x, values, gen, pair) -> y``: ``x`` a (B, C, H, W) float tensor on the
            0..255 scale (whole numbers when the input was uint8), ``values`` (B,) float64 on
            ``x``'s device, ``gen`` a CPU ``torch.Generator`` or None, ``pair`` the samples'
            partners (B, C, H, W) on the same scale when ``pairs`` is set; ``y`` like ``x``, on
            the 0..255 scale (rounded and clipped for uint8 batches afterwards).
        matrix: ``matrix(value, width, height)`` -> PIL's six AFFINE coefficients, the map from
            an output position to its input position (pixel centres at +0.5).
        values: ``values(levels, signs) -> values`` on (B,) float64 tensors, replacing the
            linear map (for ops whose argument is a whole number).
        magnitude_free: the op ignores its level (AutoContrast, Equalize, Invert, Identity).
        pairs: the op blends each sample with a partner from the batch (SamplePairing).

    Example:
        A pixel op scaling the grey levels by its value, 1 at level 0 down to 0.5 at level 1::

            def darken_pil(img, v, rng, pair):
                return img.point(lambda i: int(i * v))

            def darken_batch(x, values, gen, pair):
                return torch.floor(x * values.view(-1, 1, 1, 1))

            register_op(Op("Darken", 1.0, 0.5, pil=darken_pil, batch=darken_batch))
    """

    name: str
    low: float = 0.0
    high: float = 0.0
    signed: bool = False
    pil: PilFn | None = None
    batch: BatchFn | None = None
    matrix: MatrixFn | None = None
    values: ValueFn | None = None
    magnitude_free: bool = False
    pairs: bool = False

    def __post_init__(self) -> None:
        at = f"augment op {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"augment op: name is {self.name!r}; allowed: a non-empty string")
        for field in ("low", "high"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"{at}: {field} is {v!r}; allowed: a finite number")
        if self.matrix is not None:
            if self.pil is not None or self.batch is not None or self.pairs:
                raise ConfigError(
                    f"{at}: a geometric op gives matrix only; allowed: matrix, or pil and batch"
                )
            if not callable(self.matrix):
                raise ConfigError(f"{at}: matrix is {self.matrix!r}; allowed: a function")
        elif not callable(self.pil) or not callable(self.batch):
            given = [f for f in ("pil", "batch") if callable(getattr(self, f))]
            raise ConfigError(
                f"{at}: functions given: {', '.join(given) or 'none'}; allowed: two functions, "
                "pil and batch (a pixel op), or matrix alone (a geometric op)"
            )
        if self.values is not None and not callable(self.values):
            raise ConfigError(f"{at}: values is {self.values!r}; allowed: a function or None")

    @property
    def where(self) -> str:
        """Where the row's code lives (``module.function``), for messages naming an op."""
        fn: Any = self.matrix if self.matrix is not None else self.batch
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


OPS: dict[str, Op] = {}


def register_op(op: Op) -> Op:
    """Add ``op`` as a row of the table; from then on ``apply_pil``, ``apply_batch``, policies and
    the transforms (given its name) know it.

    Args:
        op: the row.

    Returns:
        ``op``, so a module can keep it as ``MY_OP = register_op(Op(...))``.

    Raises:
        ConfigError: ``op`` is not an ``Op``, or its name is taken (the message names both ops).
    """
    if not isinstance(op, Op):
        raise ConfigError(f"register_op: got {type(op).__name__}; allowed: an augment.ops.Op")
    old = OPS.get(op.name)
    if old is not None:
        raise ConfigError(
            f"register_op: cannot register {op.name!r} ({op.where}): the name is taken by "
            f"{old.name!r} ({old.where}); allowed: a name not in {', '.join(OPS)}"
        )
    OPS[op.name] = op
    return op


def lookup_op(name: str) -> Op:
    """The row of ``name``.

    Raises:
        ConfigError: no op has that name (the message lists the names there are).
    """
    op = OPS.get(name) if isinstance(name, str) else None
    if op is None:
        raise ConfigError(f"augment: unknown operation {name!r}; allowed: {', '.join(OPS)}")
    return op


def op_value(name: str, level: float, sign: float = 1.0) -> float:
    """The op's argument at ``level`` in [0, 1] (``sign`` -1 flips signed ops).

    Raises:
        ConfigError: unknown op.
    """
    one = torch.tensor([float(level)], dtype=torch.float64)
    return float(op_values(name, one, torch.tensor([float(sign)], dtype=torch.float64))[0])


def op_values(name: str, levels: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """The op's arguments for (B,) float64 levels in [0, 1] and signs (+-1): linear from
    ``low`` to ``high`` unless the row maps them itself (Posterize: whole bits 8 -> 4, Solarize:
    a whole threshold 256 -> 0).

    Raises:
        ConfigError: unknown op.
    """
    op = lookup_op(name)
    if op.values is not None:
        return op.values(levels, signs)
    v = op.low + (op.high - op.low) * levels
    if op.signed:
        v = op.low + (v - op.low) * signs
    return v


def affine_matrix(name: str, value: float, width: int, height: int) -> Matrix:
    """The output -> input map of one geometric op, as PIL's six affine coefficients.

    Raises:
        ConfigError: ``name`` is not a geometric op.
    """
    op = lookup_op(name)
    if op.matrix is None:
        geometric = [n for n, o in OPS.items() if o.matrix is not None]
        raise ConfigError(
            f"affine_matrix: {name!r} moves no pixels; allowed: {', '.join(geometric)}"
        )
    return tuple(float(c) for c in op.matrix(float(value), width, height))  # type: ignore[return-value]


def fill_of(img: Image.Image) -> int | tuple[int, ...]:
    """The grey fill in ``img``'s mode: an int for one band, a tuple for several."""
    return FILL if len(img.getbands()) == 1 else (FILL,) * len(img.getbands())


# -- PIL's nearest-neighbour affine sampling, reproduced ------------------------------------
# PIL (libImaging/Geometry.c) picks one of three engines per transform, and each rounds its own
# way; matching PIL exactly means running the same one with the same arithmetic:
# - a[1] == a[3] == 0 (translations): ImagingScaleAffine, float64 positions from the first pixel
#   centre, one addition of a[0] (a[4]) per pixel along each axis;
# - otherwise, when the four corners map inside +-32768: affine_fixed, 16.16 fixed point;
# - otherwise: float64 positions, a[1] added per row, a[0] per pixel.
# Positions below 0 read as -1 (outside), others are truncated; outside pixels keep the fill.

SCALE, FIXED, FLOAT = 0, 1, 2


def sampling_engine(mats: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Which PIL engine samples each (B, 6) float64 matrix on a ``width`` x ``height`` image:
    (B,) long, ``SCALE``, ``FIXED`` or ``FLOAT``."""
    m = mats.to(torch.float64).unbind(1)
    fits = torch.ones(len(mats), dtype=torch.bool, device=mats.device)
    for x, y in ((0, 0), (width, height), (0, height), (width, 0)):  # PIL's check_fixed
        fits &= ((x * m[0] + y * m[1]) + m[2]).abs() < 32768.0
        fits &= ((x * m[3] + y * m[4]) + m[5]).abs() < 32768.0
    kind = torch.where(fits, FIXED, FLOAT)
    return torch.where((m[1] == 0) & (m[3] == 0), SCALE, kind)


def fixed_coefficients(mats: torch.Tensor) -> torch.Tensor:
    """(B, 6) float64 matrices -> (B, 6) int64 16.16 coefficients, as PIL's affine_fixed rounds
    them (the offsets moved to the first pixel centre)."""
    m = mats.to(torch.float64).unbind(1)

    def fix(v: torch.Tensor) -> torch.Tensor:
        return torch.floor(v * 65536.0 + 0.5).long()

    a2 = (m[2] + m[0] * 0.5) + m[1] * 0.5
    a5 = (m[5] + m[3] * 0.5) + m[4] * 0.5
    return torch.stack([fix(m[0]), fix(m[1]), fix(a2), fix(m[3]), fix(m[4]), fix(a5)], dim=1)


def _coord(pos: np.ndarray, size: int) -> np.ndarray:
    """PIL's COORD on float64 positions, plus its bounds check: -1 below 0 and at or past
    ``size``, else truncated."""
    inside = (pos >= 0) & (pos < size)
    return np.where(inside, np.trunc(np.where(inside, pos, 0)), -1).astype(np.int64)


def scale_axes(mats: torch.Tensor, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """ImagingScaleAffine's input column of each output column and input row of each output row:
    (B, W) and (B, H) int64, -1 outside. ``np.add.accumulate`` is defined as the sequential sum,
    so each position is PIL's running float64 sum bit for bit."""
    m = mats.to(torch.float64).cpu().numpy()
    xs = np.repeat(m[:, 0:1], width, axis=1)
    xs[:, 0] = m[:, 2] + m[:, 0] * 0.5
    ys = np.repeat(m[:, 4:5], height, axis=1)
    ys[:, 0] = m[:, 5] + m[:, 4] * 0.5
    cols = _coord(np.add.accumulate(xs, axis=1), width)
    return cols, _coord(np.add.accumulate(ys, axis=1), height)


def _float_axes(mats: torch.Tensor, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """ImagingTransformAffine's float64 engine (PIL's last resort, for maps reaching past
    +-32768): each row starts a[1] further on, each pixel a[0] further; (B, H, W) int64 input
    columns and rows, -1 outside."""
    m = mats.to(torch.float64).cpu().numpy()

    def positions(offset: int, per_row: int, per_pixel: int, size: int) -> np.ndarray:
        starts = np.repeat(m[:, per_row : per_row + 1], height, axis=1)
        starts[:, 0] = (m[:, offset] + m[:, per_row] * 0.5) + m[:, per_pixel] * 0.5
        grid = np.repeat(m[:, per_pixel, None, None], height, axis=1).repeat(width, axis=2)
        grid[:, :, 0] = np.add.accumulate(starts, axis=1)
        return _coord(np.add.accumulate(grid, axis=2), size)

    return positions(2, 1, 0, width), positions(5, 4, 3, height)


def _padded_index(
    mats: torch.Tensor, width: int, height: int, device: torch.device | str
) -> torch.Tensor:
    """(B, H, W) int64: where each output pixel reads in the image padded by one fill pixel on
    every side (index 0 is fill), so sampling is one gather with no masks."""
    mats = mats.to(torch.float64).cpu()
    kind = sampling_engine(mats, width, height)
    w2 = width + 2
    out: torch.Tensor | None = None
    for k in (SCALE, FIXED, FLOAT):
        sel = kind == k
        if not bool(sel.any()):
            continue
        if k == FIXED:
            a = fixed_coefficients(mats[sel]).to(device).view(-1, 6, 1, 1).unbind(1)
            xs = torch.arange(width, device=device).view(1, 1, width)
            ys = torch.arange(height, device=device).view(1, height, 1)
            # + 65536 moves the result one pixel on, into the padded image, exactly:
            # (v + 65536) >> 16 == (v >> 16) + 1, and >> on int64 is floor division
            col = ((a[2] + 65536 + ys * a[1]) + xs * a[0]).bitwise_right_shift_(16)
            row = ((a[5] + 65536 + ys * a[4]) + xs * a[3]).bitwise_right_shift_(16)
            col.clamp_(0, width + 1)
            idx = row.clamp_(0, height + 1).mul_(w2).add_(col)
        else:
            axes = scale_axes if k == SCALE else _float_axes
            cols, rows = (
                torch.from_numpy(v + 1).to(device) for v in axes(mats[sel], width, height)
            )
            if k == SCALE:
                cols, rows = cols.unsqueeze(1), rows.unsqueeze(2)
            idx = (rows * w2 + cols).expand(-1, height, width)
        if bool(sel.all()):
            return idx
        if out is None:
            out = torch.empty((len(mats), height, width), dtype=torch.long, device=device)
        out[sel.to(device)] = idx
    assert out is not None  # every sample has an engine
    return out


def source_pixels(
    mats: torch.Tensor, width: int, height: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The input pixel each output pixel takes under PIL's ``Image.transform(AFFINE, NEAREST)``
    on a ``width`` x ``height`` image, for each of B matrices.

    Args:
        mats: (B, 6) float64 output -> input matrices.
        width: image width in pixels (>= 1).
        height: image height in pixels (>= 1).
        device: where the index tensors go.

    Returns:
        Column and row indices, each (B, H, W) int64 on ``device``; both -1 where the output
        pixel keeps the fill.
    """
    idx = _padded_index(mats, width, height, device)
    ix, iy = idx % (width + 2) - 1, idx // (width + 2) - 1
    outside = (ix < 0) | (iy < 0) | (ix >= width) | (iy >= height)
    return ix.masked_fill_(outside, -1), iy.masked_fill_(outside, -1)


def warp(x: torch.Tensor, mats: torch.Tensor, fill: float = FILL) -> torch.Tensor:
    """Nearest sampling of a (B, C, H, W) batch through each sample's (B, 6) output -> input
    matrix, exactly as PIL samples it; pixels mapped outside take ``fill``. Same dtype and
    device out."""
    b, c, h, w = x.shape
    idx = _padded_index(mats, w, h, x.device).view(b, 1, h * w).expand(-1, c, -1)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), value=fill)
    return padded.view(b, c, -1).gather(2, idx).view_as(x)


def _warp_pil(img: Image.Image, matrix: Matrix) -> Image.Image:
    return img.transform(
        img.size, Image.Transform.AFFINE, matrix, Image.Resampling.NEAREST, fillcolor=fill_of(img)
    )


def _affine_matrices(op: Op, values: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, 6) float64 matrices, each from the row's scalar function so that a batch and a single
    image get bit-identical coefficients."""
    assert op.matrix is not None  # only geometric rows reach here
    rows = [op.matrix(v, width, height) for v in values.tolist()]
    return torch.tensor(rows, dtype=torch.float64).view(len(rows), 6)


# -- the geometric rows: output position -> input position ------------------------------------


def _shear_x(v: float, width: int, height: int) -> Matrix:
    return (1.0, v, 0.0, 0.0, 1.0, 0.0)


def _shear_y(v: float, width: int, height: int) -> Matrix:
    return (1.0, 0.0, 0.0, v, 1.0, 0.0)


def _translate_x(v: float, width: int, height: int) -> Matrix:
    return (1.0, 0.0, v * width, 0.0, 1.0, 0.0)


def _translate_y(v: float, width: int, height: int) -> Matrix:
    return (1.0, 0.0, 0.0, 0.0, 1.0, v * height)


def _rotate(v: float, width: int, height: int) -> Matrix:
    """Counter-clockwise by ``v`` degrees about the centre (PIL's Image.rotate)."""
    a = -math.radians(v)
    cos, sin = math.cos(a), math.sin(a)
    cx, cy = width / 2.0, height / 2.0
    return (cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy)


# -- the pixel rows, tensor side (x: (B, C, H, W) float on the 0..255 scale) --------------------


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of a (B, C, H, W) batch of whole numbers, as PIL's convert("L") (16-bit
    fixed point, rounded; every intermediate is exact in float32)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.floor((r * 19595 + g * 38470 + b * 7471 + 0x8000) / 65536)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's Image.blend(b, a, factor): ``b + factor * (a - b)`` in float32 with the factor
    rounded to float32 (ImagingBlend takes a C float), clipped and truncated."""
    f = factor.to(torch.float32).to(a.dtype).view(-1, 1, 1, 1)
    return torch.floor((b + f * (a - b)).clamp_(0, 255))


def _autocontrast(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """ImageOps.autocontrast per sample and channel: its lookup table ``int(i * scale +
    offset)``, computed in float64 as PIL does, then looked up (float input is rounded first)."""
    b, c, h, w = x.shape
    flat = x.reshape(b * c, h * w)
    lo = flat.amin(dim=1, keepdim=True).round().clamp(0, 255).double()
    hi = flat.amax(dim=1, keepdim=True).round().clamp(0, 255).double()
    # tensor / tensor: a Python number over a tensor is computed as number * (1 / tensor),
    # which rounds differently from PIL's 255.0 / (hi - lo)
    scale = torch.full_like(lo, 255.0) / (hi - lo).clamp(min=1)
    offset = -lo * scale
    levels = torch.arange(256, dtype=torch.float64, device=x.device)
    lut = torch.trunc(levels * scale + offset).clamp_(0, 255)
    lut = torch.where(hi > lo, lut, levels).to(x.dtype)  # one level: PIL leaves it
    return lut.gather(1, flat.round().clamp_(0, 255).long()).view(b, c, h, w)


def _equalize(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """ImageOps.equalize per sample and channel: its integer lookup table, vectorised."""
    b, c, h, w = x.shape
    v = x.round().long().clamp(0, 255).view(b * c, h * w)
    hist = torch.zeros(b * c, 256, dtype=torch.long, device=x.device).scatter_add_(
        1, v, torch.ones_like(v)
    )
    last = 255 - torch.argmax((hist.flip(1) > 0).long(), dim=1)  # highest used level
    step = (h * w - hist.gather(1, last.unsqueeze(1)).squeeze(1)) // 255
    csum = torch.cumsum(hist, 1) - hist  # counts below each level
    safe = step.clamp(min=1).unsqueeze(1)
    lut = ((step.unsqueeze(1) // 2 + csum) // safe).clamp(max=255)  # PIL clips the table to 8 bits
    out = lut.gather(1, v)
    keep = (step == 0).unsqueeze(1)
    return torch.where(keep, v, out).view(b, c, h, w).to(x.dtype)


def _invert(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return 255.0 - x


def _solarize(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return torch.where(x >= values.to(x.dtype).view(-1, 1, 1, 1), 255.0 - x, x)  # whole: exact


def _posterize(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    shift = (8 - values).long().view(-1, 1, 1, 1)
    return ((x.round().long() >> shift) << shift).to(x.dtype)


def _brightness(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return _blend(x, torch.zeros_like(x), values)


def _color(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return _blend(x, _gray(x.round()).expand_as(x), values)


def _contrast(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """ImageEnhance.Contrast: blend with the grey image's mean, ``int(mean + 0.5)``, the mean a
    float64 division of the exact pixel sum (as ImageStat)."""
    gray = _gray(x.round())
    mean = gray.sum(dim=(1, 2, 3), keepdim=True, dtype=torch.float64) / gray[0].numel()
    return _blend(x, torch.floor(mean + 0.5).to(x.dtype).expand_as(x), values)


# SMOOTH's kernel as ImagingFilter gets it: float32 weights divided by the float32 scale 13
_F32 = torch.float32
_K1 = (torch.tensor(1.0, dtype=_F32) / torch.tensor(13.0, dtype=_F32)).item()
_K5 = (torch.tensor(5.0, dtype=_F32) / torch.tensor(13.0, dtype=_F32)).item()


def _sharpness(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH, computed as ImagingFilter3x3 does
    (float32, 0.5 added first, rows below, centre, above, each summed left to right, then
    truncated); the border keeps its pixels, and an image under 3 pixels a side is left as it
    is (PIL's filter copies it)."""
    x = x.round()
    h, w = x.shape[2:]
    if h < 3 or w < 3:
        return x
    f = x.float()
    p1, p5 = f * torch.tensor(_K1, dtype=_F32), f * torch.tensor(_K5, dtype=_F32)
    rows = (p1[..., :-2] + p1[..., 1:-1]) + p1[..., 2:]  # (B, C, H, W-2)
    centre = (p1[..., 1:-1, :-2] + p5[..., 1:-1, 1:-1]) + p1[..., 1:-1, 2:]
    ss = ((0.5 + rows[:, :, 2:]) + centre) + rows[:, :, :-2]
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = ss.clamp_(0, 255).floor_().to(x.dtype)
    return _blend(x, degenerate, values)


def cutout_centres(
    n: int, height: int, width: int, gen: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The batched Cutout's hole centres, rows then columns (B,) each, drawn on the CPU."""
    cy = torch.randint(0, height, (n, 1, 1), generator=gen, device="cpu")
    cx = torch.randint(0, width, (n, 1, 1), generator=gen, device="cpu")
    return cy.view(n), cx.view(n)


def _cutout(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """A grey square of side ``round(value * min(H, W))`` (float64, half to even, as Python's
    round) centred on a random pixel, clipped at the borders."""
    b, _, h, w = x.shape
    side = torch.round(values * min(h, w)).long().view(b, 1, 1)
    cy, cx = (c.to(x.device).view(b, 1, 1) for c in cutout_centres(b, h, w, gen))
    y0, x0 = (
        cy - torch.div(side, 2, rounding_mode="floor"),
        cx - torch.div(side, 2, rounding_mode="floor"),
    )
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (ys >= y0) & (ys < y0 + side) & (xs >= x0) & (xs < x0 + side)
    return torch.where(hole.unsqueeze(1), torch.full_like(x, FILL), x)


def _sample_pairing(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return _blend(pair, x, values)


def _identity(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return x


# -- the pixel rows, PIL side ----------------------------------------------------------------


def _enhance_pil(kind: str) -> PilFn:
    def enhance(img: Image.Image, v: float, rng: Any, pair: Any) -> Image.Image:
        enhancer: Any = getattr(ImageEnhance, kind)(img)
        return enhancer.enhance(v)

    enhance.__qualname__ = f"enhance_{kind}"
    return enhance


def _cutout_pil(img: Image.Image, v: float, rng: Any, pair: Any) -> Image.Image:
    side = int(round(v * min(img.size)))
    if side <= 0:
        return img
    cx, cy = rng.randrange(img.size[0]), rng.randrange(img.size[1])
    out = img.copy()
    x0, y0 = cx - side // 2, cy - side // 2
    box = (max(0, x0), max(0, y0), min(img.size[0], x0 + side), min(img.size[1], y0 + side))
    out.paste(fill_of(img), box)
    return out


def _sample_pairing_pil(img: Image.Image, v: float, rng: Any, pair: Any) -> Image.Image:
    if pair is None or pair.size != img.size or pair.mode != img.mode:
        return img  # without a partner of the same size and mode the image stays
    return Image.blend(img, pair, v)


def _posterize_values(levels: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    return 8 - torch.round(4 * levels)


def _solarize_values(levels: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    return torch.trunc(256.0 + (0.0 - 256.0) * levels)


for _op in (
    Op("Identity", pil=lambda img, v, rng, pair: img, batch=_identity, magnitude_free=True),
    Op("ShearX", 0.0, 0.3, True, matrix=_shear_x),
    Op("ShearY", 0.0, 0.3, True, matrix=_shear_y),
    Op("TranslateX", 0.0, 0.45, True, matrix=_translate_x),
    Op("TranslateY", 0.0, 0.45, True, matrix=_translate_y),
    Op("Rotate", 0.0, 30.0, True, matrix=_rotate),
    Op(
        "AutoContrast",
        pil=lambda img, v, rng, pair: ImageOps.autocontrast(img),
        batch=_autocontrast,
        magnitude_free=True,
    ),
    Op(
        "Invert",
        pil=lambda img, v, rng, pair: ImageOps.invert(img),
        batch=_invert,
        magnitude_free=True,
    ),
    Op(
        "Equalize",
        pil=lambda img, v, rng, pair: ImageOps.equalize(img),
        batch=_equalize,
        magnitude_free=True,
    ),
    Op(
        "Solarize",
        256.0,
        0.0,
        pil=lambda img, v, rng, pair: ImageOps.solarize(img, int(v)),
        batch=_solarize,
        values=_solarize_values,
    ),
    Op(
        "Posterize",
        8.0,
        4.0,
        pil=lambda img, v, rng, pair: ImageOps.posterize(img, int(v)),
        batch=_posterize,
        values=_posterize_values,
    ),
    Op("Contrast", 1.0, 1.9, True, pil=_enhance_pil("Contrast"), batch=_contrast),
    Op("Color", 1.0, 1.9, True, pil=_enhance_pil("Color"), batch=_color),
    Op("Brightness", 1.0, 1.9, True, pil=_enhance_pil("Brightness"), batch=_brightness),
    Op("Sharpness", 1.0, 1.9, True, pil=_enhance_pil("Sharpness"), batch=_sharpness),
    Op("Cutout", 0.0, 0.2, pil=_cutout_pil, batch=_cutout),
    Op("SamplePairing", 0.0, 0.4, pil=_sample_pairing_pil, batch=_sample_pairing, pairs=True),
):
    register_op(_op)

# The AutoAugment vocabulary (the policy search space's op choices): fixed, so that a registered
# op does not change the space, its size or its seeded samples.
OP_NAMES = tuple(n for n in OPS if n != "Identity")
MAGNITUDE_FREE = frozenset(n for n, o in OPS.items() if o.magnitude_free and n != "Identity")


# -- applying ops ------------------------------------------------------------------------------


def apply_pil(
    img: Image.Image,
    name: str,
    level: float,
    sign: float = 1.0,
    rng: random.Random | None = None,
    pair: Image.Image | None = None,
) -> Image.Image:
    """One op on a PIL image.

    Args:
        img: mode L or RGB.
        name: a registered op.
        level: 0..1.
        sign: +1 or -1 (flips signed ops).
        rng: the random stream of ops that draw (Cutout); the ``random`` module if None.
        pair: SamplePairing's partner (same size and mode), or None.

    Returns:
        A new image of the same size and mode (or ``img`` itself where nothing changes).

    Raises:
        ConfigError: unknown op.
    """
    op = lookup_op(name)
    v = op_value(name, level, sign)
    if op.matrix is not None:
        return _warp_pil(img, affine_matrix(name, v, *img.size))
    assert op.pil is not None  # Op checks that a pixel row has both functions
    return op.pil(img, v, rng or random, pair)


def to_255(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 as is; float 0..1 -> the 0..255 scale.

    Raises:
        ConfigError: any other dtype.
    """
    if x.dtype == torch.uint8:
        return x.float()
    if not x.is_floating_point():
        raise ConfigError(f"augment: images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    return x * 255.0


def from_255(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Back from the 0..255 scale to ``like``'s dtype (uint8: rounded and clipped)."""
    if like.dtype == torch.uint8:
        return y.round_().clamp_(0, 255).to(torch.uint8)
    return (y / 255.0).to(like.dtype)


def apply_batch(
    x: torch.Tensor,
    ops: torch.Tensor,
    levels: torch.Tensor,
    signs: torch.Tensor,
    apply: torch.Tensor,
    names: tuple[str, ...] = OP_NAMES,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Per-sample ops on a batch: sample i gets op ``names[ops[i]]`` at ``levels[i]`` with sign
    ``signs[i]`` when ``apply[i]``.

    Samples are grouped by op (one sort), so each op runs once per batch on its samples only;
    uint8 batches are converted to float one group at a time, and geometric ops move pixels in
    the batch's own dtype.

    Args:
        x: (B, C, H, W) uint8 (0..255) or float (0..1), any device.
        ops: (B,) long indices into ``names``.
        levels: (B,) float levels in [0, 1].
        signs: (B,) +1 / -1.
        apply: (B,) bool.
        names: registered op names (``Identity`` leaves a sample as it is).
        gen: CPU generator for the ops that draw (Cutout's centres, SamplePairing's partners).

    Returns:
        A new batch, same shape, dtype and device.

    Raises:
        ConfigError: ``x`` is neither uint8 nor float, or a name is not registered.
    """
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ConfigError(f"augment: images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    rows = [lookup_op(n) for n in names]
    active = torch.nonzero(apply).squeeze(1)
    keys = ops[active]
    order = torch.argsort(keys, stable=True)
    active, keys = active[order], keys[order]
    counts = torch.bincount(keys, minlength=len(names)).tolist()
    groups = torch.split(active, counts)
    perm = None
    out = x.clone()
    h, w = x.shape[2:]
    for op, idx in zip(rows, groups, strict=True):
        if len(idx) == 0 or op.batch is _identity:
            continue  # nothing to change: skip the copy
        vals = op_values(op.name, levels[idx].double(), signs[idx].double())
        idx_d = idx.to(x.device)
        if op.matrix is not None:
            fill = FILL if x.dtype == torch.uint8 else FILL / 255
            out[idx_d] = warp(x[idx_d], _affine_matrices(op, vals, w, h), fill)
            continue
        pair = None
        if op.pairs:  # partners: one shuffle of the whole batch, shared by such ops
            if perm is None:
                perm = torch.randperm(len(x), generator=gen).to(x.device)
            pair = to_255(x[perm[idx_d]])
        assert op.batch is not None  # Op checks that a pixel row has both functions
        res = op.batch(to_255(x[idx_d]), vals.to(x.device), gen, pair)
        out[idx_d] = from_255(res, x)
    return out


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image of mode L or RGB as a (C, H, W) uint8 tensor."""
    a = np.asarray(img)
    return (
        torch.from_numpy(a.copy()).unsqueeze(0)
        if a.ndim == 2
        else torch.from_numpy(a.copy()).permute(2, 0, 1)
    )
