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

A batch is sorted once into routes, each run once for all its samples whatever ops they drew
(``apply_batch``): statistics-driven point ops as per-sample lookup tables and one lookup,
geometric ops as one gather (on the CPU: rectangle copies for translations and horizontal
shears), the rest by op in uint8 / int16 integer arithmetic or float32 scratch buffers; on the
CPU in cache-sized chunks (``CPU_CHUNK_BYTES``), and for large images one sample at a time,
straight into the output. Large uint8 samples on the CPU (``LARGE_VALUES``) take routes of
their own, read where they lie: geometric ops as rectangle copies or per-plane lookups, and,
where OpenCV (``cv2``, the ``fast-cpu`` extra) imports, the point ops, statistics, SMOOTH
filter and grey image as OpenCV kernels, exact by construction (``use_opencv`` turns them off).

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

import importlib
import math
import random
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require

FILL = 128

Matrix = tuple[float, float, float, float, float, float]
PilFn = Callable[[Image.Image, float, Any, "Image.Image | None"], Image.Image]
BatchFn = Callable[
    [torch.Tensor, torch.Tensor, "torch.Generator | None", "torch.Tensor | None"], torch.Tensor
]
MatrixFn = Callable[[float, int, int], Matrix]
ValueFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
LutFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


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
        lut: optional, for point ops (each output pixel a function of its own value, its
            sample's value and its sample's statistics): ``lut(x, values) -> tables``, ``x`` the
            (B, C, H, W) uint8 samples, ``tables`` (B, C, 256) or (B, 1, 256) on the 0..255
            scale, whole numbers, the output of each input level. uint8 batches then take one
            table lookup for all such samples of a batch, whatever their op (``batch`` still
            serves float batches), unless the row also has a ``batch_u8``, which goes first.
            ``pointwise_lut(batch)`` builds it for ops that read no statistics.
        batch_u8: optional ``batch_u8(x, values, gen, pair) -> y`` on uint8 samples and
            partners, returning uint8 equal to ``batch``'s result rounded (integer arithmetic
            where ``batch`` would convert to float: Invert, Posterize, Solarize, Cutout;
            float32 only where PIL blends). ``x`` is the batch's own working copy: the kernel
            may write into it and return it. A kernel wrapped in ``chunked`` (it draws no
            random numbers) may be run one sample at a time.
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
    lut: LutFn | None = None
    batch_u8: BatchFn | None = None

    def __post_init__(self) -> None:
        at = f"augment op {self.name!r}"
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"augment op: name is {self.name!r}; allowed: a non-empty string")
        for field in ("low", "high"):
            v = getattr(self, field)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ConfigError(f"{at}: {field} is {v!r}; allowed: a finite number")
        if self.matrix is not None:
            pixel_fns = (self.pil, self.batch, self.lut, self.batch_u8)
            if self.pairs or any(f is not None for f in pixel_fns):
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
        for field in ("values", "lut", "batch_u8"):
            fn = getattr(self, field)
            if fn is not None and not callable(fn):
                raise ConfigError(f"{at}: {field} is {fn!r}; allowed: a function or None")

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


def _scratch(key: str, shape: tuple[int, ...], dtype: torch.dtype, device: Any) -> torch.Tensor:
    """A scratch tensor of ``shape`` kept between calls (one per thread, key, dtype and device),
    so that the intermediates of a batch cost no fresh allocation (page faults on the CPU,
    allocator traffic on a GPU). Its contents are undefined; it is never handed to a caller.
    The view of each shape is kept too (a dictionary lookup: on 224x224 images the kernels run
    one sample at a time, and host time per call adds up)."""
    views: dict[tuple[Any, ...], tuple[torch.Tensor, torch.Tensor]]
    views = _SCRATCH.__dict__.setdefault("views", {})
    vk = (key, shape, dtype, device)
    hit = views.get(vk)
    store: dict[tuple[str, torch.dtype, torch.device], torch.Tensor]
    store = _SCRATCH.__dict__.setdefault("store", {})
    k = (key, dtype, torch.device(device))
    if hit is not None and store.get(k) is hit[0]:
        return hit[1]
    n = math.prod(shape)
    buf = store.get(k)
    if buf is None or buf.numel() < n:
        buf = store[k] = torch.empty(n, dtype=dtype, device=device)
    if len(views) > 1024:
        views.clear()
    view = buf[:n].view(shape)
    views[vk] = (buf, view)
    return view


_SCRATCH = threading.local()


def _fixed_axis(
    start: torch.Tensor,
    per_row: torch.Tensor,
    per_col: torch.Tensor,
    width: int,
    height: int,
    limit: int,
    device: Any,
) -> torch.Tensor:
    """One axis of PIL's affine_fixed: ``(start + y * per_row + x * per_col) >> 16`` clipped to
    ``0..limit``, from (B,) int64 16.16 coefficients on the CPU. An axis that does not depend on
    x (or y) stays (B, H, 1) (or (B, 1, W)), so shears and axis-aligned maps cost a fraction of a
    full (B, H, W) pass. Computed in int32 when every partial sum fits (|start| + |per_row| * H
    + |per_col| * W < 2**31 bounds them all), else int64."""
    bound = int((start.abs() + per_row.abs() * height + per_col.abs() * width).max())
    dtype = torch.int32 if bound < 2**31 else torch.int64
    t = start.to(device, dtype).view(-1, 1, 1)
    if bool((per_row != 0).any()):
        ys = torch.arange(height, device=device, dtype=dtype).view(1, height, 1)
        t = t + ys * per_row.to(device, dtype).view(-1, 1, 1)
    if bool((per_col != 0).any()):
        xs = torch.arange(width, device=device, dtype=dtype).view(1, 1, width)
        t = t + xs * per_col.to(device, dtype).view(-1, 1, 1)
    return t.bitwise_right_shift_(16).clamp_(0, limit)  # >> is floor division on signed ints


def _scale_plan(mats: torch.Tensor, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """ImagingScaleAffine's padded input rows (B, H) and columns (B, W) as int64 tensors."""
    cols, rows = scale_axes(mats, width, height)
    return torch.from_numpy(rows + 1), torch.from_numpy(cols + 1)


def _index_into(
    mats: torch.Tensor,
    kind: torch.Tensor,
    fixed: torch.Tensor,
    width: int,
    height: int,
    out: torch.Tensor,
) -> None:
    """Write the padded source index of B samples into ``out`` (B, H, W) int64, from the
    host-side plan: the (B, 6) float64 matrices, each sample's engine and its 16.16
    coefficients (see ``_padded_index``)."""
    device, w2 = out.device, width + 2
    kinds = kind.tolist()
    for k in sorted(set(kinds)):
        where = [i for i, v in enumerate(kinds) if v == k]
        whole = len(where) == len(kinds)
        dst = (
            out
            if whole
            else torch.empty((len(where), height, width), dtype=out.dtype, device=device)
        )
        sel = torch.tensor(where)
        if k == FIXED:
            a = fixed[sel].unbind(1)
            # + 65536 moves the result one pixel on, into the padded image, exactly:
            # (v + 65536) >> 16 == (v >> 16) + 1
            col = _fixed_axis(a[2] + 65536, a[1], a[0], width, height, width + 1, device)
            row = _fixed_axis(a[5] + 65536, a[4], a[3], width, height, height + 1, device)
            full = col.expand(-1, height, width)  # an axis may hold one value
            torch.add(full, row, alpha=w2, out=dst)  # widened to int64 on the way
        elif k == SCALE:
            rows, cols = _scale_plan(mats[sel], width, height)
            rows, cols = rows.to(device).view(-1, height, 1), cols.to(device).view(-1, 1, width)
            torch.add(cols.expand(-1, height, width), rows, alpha=w2, out=dst)
        else:
            cols_f, rows_f = (
                torch.from_numpy(v + 1) for v in _float_axes(mats[sel], width, height)
            )
            dst.copy_(torch.add(cols_f, rows_f, alpha=w2))
        if not whole:
            out.index_copy_(0, sel.to(device), dst)


def _padded_index(
    mats: torch.Tensor,
    width: int,
    height: int,
    device: torch.device | str,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, H, W) int64: where each output pixel reads in the image padded by one fill pixel on
    every side (index 0 is fill), so sampling is one gather with no masks. Written into ``out``
    when given (contiguous (B, H, W) int64)."""
    mats = mats.to(torch.float64).cpu()
    if out is None:
        out = torch.empty((len(mats), height, width), dtype=torch.long, device=device)
    kind = sampling_engine(mats, width, height)
    _index_into(mats, kind, fixed_coefficients(mats), width, height, out)
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


def warp(
    x: torch.Tensor, mats: torch.Tensor, fill: float = FILL, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Nearest sampling of a (B, C, H, W) batch through each sample's (B, 6) output -> input
    matrix, exactly as PIL samples it; pixels mapped outside take ``fill``. Same dtype and
    device out (into ``out``, contiguous like ``x``, when given: it may be ``x`` itself).

    Each distinct map's index is built once and cached (``MAP_CACHE_BYTES``). On a GPU the
    pixels go in one gather for the whole batch. On the CPU the batch goes run by run of
    samples sharing a map (``apply_batch`` sorts them so): a map that moves runs of whole
    rows (translations, horizontal shears) is copied rectangle by rectangle
    (``_rectangles``), any other by one int32 lookup per plane on large images, one gather
    per chunk (``CPU_CHUNK_BYTES``) on small ones."""
    b, c, h, w = x.shape
    if out is None:
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if b == 0:
        return out
    # batches repeat few maps (RandAugment: two per op at its one magnitude): each distinct map's
    # index is built once and kept (a small LRU)
    distinct, which = _distinct_rows(mats)
    if x.device.type != "cpu":
        table = _map_indices(distinct, w, h, x.device).view(len(distinct), h * w)
        idx = table[which.to(x.device)].view(b, 1, h * w)
        padded = _padded_batch(x, fill)
        torch.gather(padded.view(b, c, -1), 2, idx.expand(-1, c, -1), out=out.view(b, c, -1))
        return out
    plans = _map_plans(distinct, w, h)
    marks = which.tolist()
    run_start = 0
    for i in range(1, b + 1):
        if i < b and marks[i] == marks[run_start]:
            continue
        m = marks[run_start]
        rects = plans[m]
        if isinstance(rects, torch.Tensor) and h * w < 1 << 12:  # small: a gather per chunk
            for sl in _chunks(run_start, i, max(8, _chunk_len(x, 8))):
                n = sl.stop - sl.start
                padded = _padded_batch(x[sl], fill)
                index = _map_indices(distinct[m : m + 1], w, h, x.device).view(1, 1, h * w)
                index = index.expand(n, c, -1)
                torch.gather(padded.view(n, c, -1), 2, index, out=out[sl].view(n, c, h * w))
            run_start = i
            continue
        if isinstance(rects, torch.Tensor):  # large: one lookup per plane, int32 keys
            src = _scratch("warp_flat", (c, h * w + 1), x.dtype, x.device)
            for j in range(run_start, i):
                src[:, : h * w].copy_(x[j].reshape(c, -1))  # x[j] may be out[j]: copied first
                src[:, h * w].fill_(fill)
                target = out[j].view(c, -1)
                for ch in range(c):
                    torch.index_select(src[ch], 0, rects, out=target[ch])
            run_start = i
            continue
        # a rectangle copy runs at memory speed and costs a fixed host time: large chunks
        for sl in _chunks(run_start, i, max(1, _chunk_len(x, 1) * 16)):
            n = sl.stop - sl.start
            src = _scratch("warp_src", (n, c, h, w), x.dtype, x.device).copy_(x[sl])
            dst = out[sl]
            dst.fill_(fill)
            for y0, y1, x0, x1, dy, dx in rects:
                dst[:, :, y0:y1, x0:x1] = src[:, :, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        run_start = i
    return out


def _distinct_rows(mats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct rows of (B, 6) matrices (float64, CPU) and each row's place among them:
    ``torch.unique(..., dim=0, return_inverse=True)`` in order of first appearance, by a
    dictionary (a batch holds few maps; unique along a dimension sorts, far slower)."""
    seen: dict[tuple[float, ...], int] = {}
    rows = mats.to(torch.float64).cpu()
    which: list[int] = []
    firsts: list[int] = []
    for i, r in enumerate(rows.tolist()):
        k = seen.setdefault(tuple(r), len(seen))
        if k == len(firsts):
            firsts.append(i)
        which.append(k)
    return rows[firsts], torch.tensor(which, dtype=torch.long)


def _padded_batch(x: torch.Tensor, fill: float) -> torch.Tensor:
    """``x`` framed by one pixel of ``fill`` on every side, in a scratch buffer."""
    n, c, h, w = x.shape
    padded = _scratch("warp", (n, c, h + 2, w + 2), x.dtype, x.device)
    for edge in (padded[:, :, 0], padded[:, :, -1], padded[:, :, :, 0], padded[:, :, :, -1]):
        edge.fill_(fill)
    padded[:, :, 1:-1, 1:-1].copy_(x)
    return padded


Rect = tuple[int, int, int, int, int, int]  # y0, y1, x0, x1, dy, dx
MAX_RECTANGLES = 96  # a map needing more is sampled by a gather


def _map_plans(mats: torch.Tensor, width: int, height: int) -> list[list[Rect] | torch.Tensor]:
    """How the CPU samples each distinct map, from a per-thread cache keyed like
    ``_map_indices``: its rectangles (``_rectangles``), or else its (H * W,) int32 index
    into a plane followed by one fill pixel (index H * W), for one ``index_select`` per plane
    (faster than a gather with int64 keys)."""
    cache: dict[tuple[Any, ...], list[Rect] | torch.Tensor]
    cache = _SCRATCH.__dict__.setdefault("plans", {})
    if len(cache) > 256:
        cache.clear()
    plans = []
    for m, row in enumerate(mats.tolist()):
        key = (*row, width, height)
        if key not in cache:
            idx = _padded_index(mats[m : m + 1], width, height, "cpu").view(-1)
            rects = _rectangles(idx.view(height, width), width, height)
            if rects is None:
                w2 = width + 2
                rowp, colp = idx // w2 - 1, idx % w2 - 1
                inside = (rowp >= 0) & (rowp < height) & (colp >= 0) & (colp < width)
                flat = torch.where(inside, rowp * width + colp, height * width)
                cache[key] = flat.to(torch.int32)
            else:
                cache[key] = rects
        plans.append(cache[key])
    return plans


def _rectangles(idx: torch.Tensor, width: int, height: int) -> list[Rect] | None:
    """A map's padded index (H, W) as rectangles ``out[y0:y1, x0:x1] = in[y0+dy:y1+dy,
    x0+dx:x1+dx]`` (every other pixel the fill), when each output row reads one run of
    consecutive pixels of one input row: translations take one rectangle, horizontal shears
    one per band of rows moved alike. The rectangles are checked by rebuilding the index from
    them: None unless they give it exactly (or need more than ``MAX_RECTANGLES``; column
    bands, as a vertical shear's, copy too slowly to be worth it)."""
    ix = idx.cpu().numpy()
    w2 = width + 2
    rowp, colp = ix // w2 - 1, ix % w2 - 1
    inside = (rowp >= 0) & (rowp < height) & (colp >= 0) & (colp < width)
    # along each output row: its inside run, its input row's offset, its shift
    pos = np.arange(width)
    any_in: np.ndarray = np.asarray(inside.any(axis=1))
    first = np.where(any_in, inside.argmax(axis=1), 0)
    last = np.where(any_in, width - inside[:, ::-1].argmax(axis=1), 0)
    run = (pos >= first[:, None]) & (pos < last[:, None])
    if not np.array_equal(run, inside):
        return None
    offsets = []
    for d in (rowp - np.arange(height)[:, None], colp - pos):
        lo = d.min(axis=1, where=inside, initial=np.iinfo(np.int64).max)
        hi = d.max(axis=1, where=inside, initial=np.iinfo(np.int64).min)
        if not np.all((lo == hi) | ~any_in):
            return None
        offsets.append(np.where(any_in, hi, 0))
    best: list[Rect] = []
    prev = None
    for k in range(height):
        if not bool(any_in[k]):
            prev = None
            continue
        sig = (int(first[k]), int(last[k]), int(offsets[0][k]), int(offsets[1][k]))
        if prev == sig:
            best[-1] = (best[-1][0], k + 1, *sig)
        else:
            best.append((k, k + 1, *sig))
        prev = sig
    if len(best) > MAX_RECTANGLES:
        return None
    # the rectangles must give the index exactly: rebuild it and compare
    rebuilt = np.zeros((height, width), dtype=ix.dtype)  # 0: the fill (padded corner)
    ys, xs = np.arange(height)[:, None], np.arange(width)[None, :]
    for y0, y1, x0, x1, dy, dx in best:
        rebuilt[y0:y1, x0:x1] = (ys[y0:y1] + dy + 1) * w2 + (xs[:, x0:x1] + dx + 1)
    expected = np.where(inside, ix, 0)
    return best if np.array_equal(rebuilt, expected) else None


MAP_CACHE_BYTES = 64 << 20  # padded indices of recent maps kept per thread, all sizes and devices


def _map_indices(mats: torch.Tensor, width: int, height: int, device: Any) -> torch.Tensor:
    """(D, H, W) int64 padded indices of D distinct (D, 6) float64 maps, from a per-thread LRU
    (``MAP_CACHE_BYTES``) keyed by the exact coefficients, size and device; the missing ones
    built in one call."""
    cache: OrderedDict[tuple[Any, ...], torch.Tensor]
    cache = _SCRATCH.__dict__.setdefault("maps", OrderedDict())
    dev = torch.device(device)
    keys = [(*row, width, height, dev) for row in mats.tolist()]
    missing = [i for i, k in enumerate(keys) if k not in cache]
    if missing:
        built = _padded_index(mats[missing], width, height, dev)
        for i, idx in zip(missing, built, strict=True):
            cache[keys[i]] = idx
    for k in keys:
        cache.move_to_end(k)
    table = torch.stack([cache[k] for k in keys])
    held = sum(v.numel() * v.element_size() for v in cache.values())
    while held > MAP_CACHE_BYTES and len(cache) > len(keys):  # the oldest go first
        _, old = cache.popitem(last=False)
        held -= old.numel() * old.element_size()
    return table


def _warp_pil(img: Image.Image, matrix: Matrix) -> Image.Image:
    return img.transform(
        img.size, Image.Transform.AFFINE, matrix, Image.Resampling.NEAREST, fillcolor=fill_of(img)
    )


def _affine_matrices(op: Op, values: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, 6) float64 matrices, each from the row's scalar function so that a batch and a single
    image get bit-identical coefficients."""
    assert op.matrix is not None  # only geometric rows reach here
    # one call per distinct value (RandAugment's batches hold two: +-M)
    distinct, where = torch.unique(values.cpu().double(), return_inverse=True)
    rows = [op.matrix(v, width, height) for v in distinct.tolist()]
    return torch.tensor(rows, dtype=torch.float64).view(len(rows), 6)[where]


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


# On the CPU a route runs over chunks of samples whose intermediates (int32 keys, float32
# blends, int64 indices) fit in about 1 MiB, so each pass reads what the last one left in cache;
# at 224x224 that halves the time of a memory-bound chain. GPUs take the whole route at once.
CPU_CHUNK_BYTES = 1 << 20


def _chunk_len(x: torch.Tensor, bytes_per_value: int) -> int:
    """Samples per chunk for intermediates of ``bytes_per_value`` per pixel value."""
    if x.device.type != "cpu":
        return max(1, len(x))
    per_sample = x.shape[1] * x.shape[2] * x.shape[3] if x.dim() == 4 else x[0].numel()
    return max(1, CPU_CHUNK_BYTES // max(1, per_sample * bytes_per_value))


def _chunks(start: int, stop: int, size: int) -> list[slice]:
    return [slice(a, min(a + size, stop)) for a in range(start, stop, size)]


def chunked(kernel: BatchFn) -> BatchFn:
    """A uint8 kernel (``Op.batch_u8``) that draws no random numbers, run chunk by chunk on the
    CPU (see ``CPU_CHUNK_BYTES``), each chunk's result written back into ``x``; whole on other
    devices. Same result, less memory traffic."""

    def run(
        x: torch.Tensor, values: torch.Tensor, gen: Any, pair: torch.Tensor | None
    ) -> torch.Tensor:
        if len(x) == 1:
            return kernel(x, values, gen, pair)
        k = _chunk_len(x, 8)
        if k >= len(x):
            return kernel(x, values, gen, pair)
        for sl in _chunks(0, len(x), k):  # results back into x, as batch_u8 may
            res = kernel(x[sl], values[sl], gen, None if pair is None else pair[sl])
            if res.data_ptr() != x[sl].data_ptr():
                x[sl] = res
        return x

    run.__qualname__ = getattr(kernel, "__qualname__", "kernel")
    run.__wrapped__ = kernel  # type: ignore[attr-defined]
    run.per_sample = True  # type: ignore[attr-defined]  # apply_batch may run it sample by sample
    return run


# -- the pixel rows, uint8 side: tables for point ops, integer kernels --------------------------
# A point op's table is its float function run on the 256 grey levels, so the two cannot
# disagree; the ops that read statistics (the mean grey, the extremes, the histogram) take them
# from the uint8 samples first.

_LEVELS = torch.arange(256, dtype=torch.float32)


def _levels(n: int, device: Any) -> torch.Tensor:
    """The 256 grey levels as a (n, 1, 1, 256) float32 batch of one-row "images"."""
    return _LEVELS.to(device).view(1, 1, 1, 256).expand(n, 1, 1, 256)


def pointwise_lut(batch: BatchFn) -> LutFn:
    """The ``lut`` of a pixel op whose ``batch`` maps each pixel by its value alone (and its
    sample's value): ``batch`` run once on the 256 grey levels of each sample.

    Args:
        batch: the op's float function (see ``Op``); it must read no image statistics.

    Returns:
        ``lut(x, values) -> (B, 1, 256)`` tables.
    """

    def lut(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return batch(_levels(len(x), x.device), values, None, None).reshape(len(x), 1, 256)

    lut.__qualname__ = f"pointwise_lut({getattr(batch, '__qualname__', 'batch')})"
    return lut


# float32 constants as 0-d tensors: an in-place op with a 0-d tensor costs PyTorch about a third
# of the host time of one with a Python number, and computes the same (the number is rounded to
# float32 either way)
_C_HALF = torch.tensor(0.5, dtype=torch.float32)
_C_THIRTEENTH = torch.tensor(1.0 / 13, dtype=torch.float32)
_C_ROUND16 = torch.tensor(float(0x8000), dtype=torch.float32)
_C_SCALE16 = torch.tensor(1.0 / 65536, dtype=torch.float32)
_C_19595 = torch.tensor(19595.0, dtype=torch.float32)


def _gray_f32(f: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """``_gray`` of whole-number float32 samples (B, 3, H, W) into ``out`` (B, 1, H, W): PIL's
    16-bit fixed-point luma. Every product and partial sum is a whole number under 2**24, so
    float32 holds it exactly, and the / 65536 is exact too."""
    r, g, b = f[:, 0:1], f[:, 1:2], f[:, 2:3]
    torch.mul(r, _C_19595, out=out)
    out.add_(g, alpha=38470).add_(b, alpha=7471).add_(_C_ROUND16)
    return out.mul_(_C_SCALE16).floor_()


def _contrast_lut(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """ImageEnhance.Contrast's table: blend with ``int(mean + 0.5)`` of the grey image (its
    pixel sum exact in float64, chunk by chunk on the CPU)."""
    b, c, h, w = x.shape
    sums = torch.empty(b, dtype=torch.float64, device=x.device)
    for sl in _chunks(0, b, _chunk_len(x, 4)):
        part = x[sl]
        if c == 1:
            sums[sl] = part.sum(dim=(1, 2, 3), dtype=torch.float64)
            continue
        gray = _scratch("gray_f", (len(part), 1, h, w), torch.float32, x.device)
        _gray_f32(_float_scratch("a", part), gray)
        sums[sl] = gray.sum(dim=(1, 2, 3), dtype=torch.float64)
    return _contrast_tables(sums, h * w, values)


def _contrast_tables(sums: torch.Tensor, pixels: int, values: torch.Tensor) -> torch.Tensor:
    """(B, 1, 256) Contrast tables from each sample's exact (B,) float64 grey-level sum over
    ``pixels`` pixels: a blend of the levels with ``int(mean + 0.5)``."""
    m = torch.floor(sums / pixels + 0.5).to(torch.float32).view(-1, 1, 1, 1)
    levels = _levels(len(sums), sums.device)
    return _blend(levels, m.expand_as(levels), values).reshape(len(sums), 1, 256)


def _autocontrast_lut(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """ImageOps.autocontrast's table per sample and channel, from the channel's extremes."""
    b, c = x.shape[:2]
    flat = x.reshape(b * c, -1)
    lo, hi = flat.amin(dim=1, keepdim=True).double(), flat.amax(dim=1, keepdim=True).double()
    return _autocontrast_tables(lo, hi).view(b, c, 256)


def _autocontrast_tables(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """(N, 256) float64 autocontrast tables from (N, 1) float64 plane extremes."""
    scale = torch.full_like(lo, 255.0) / (hi - lo).clamp(min=1)  # see _autocontrast
    offset = -lo * scale
    levels = torch.arange(256, dtype=torch.float64, device=lo.device)
    lut = torch.trunc(levels * scale + offset).clamp_(0, 255)
    return torch.where(hi > lo, lut, levels)


def _histograms(x: torch.Tensor) -> torch.Tensor:
    """(B * C, 256) int64 counts of each grey level per sample and channel. Large planes on
    the CPU: one bincount of each uint8 plane as it is (no key conversion); otherwise one
    bincount of the levels offset by 256 per channel, chunk by chunk."""
    b, c = x.shape[:2]
    hist = torch.empty(b * c, 256, dtype=torch.int64, device=x.device)
    if x.device.type == "cpu" and x.shape[2] * x.shape[3] >= 1 << 14:
        planes = x.reshape(b * c, -1)
        for i in range(b * c):
            hist[i] = torch.bincount(planes[i], minlength=256)
        return hist
    for sl in _chunks(0, b, _chunk_len(x, 4)):
        n = sl.stop - sl.start
        keys = _scratch("hist", (n, *x.shape[1:]), torch.int32, x.device).copy_(x[sl])
        keys.add_(_channel_offsets(n * c, x.device).view(n, c, 1, 1))
        counts = torch.bincount(keys.view(-1), minlength=n * c * 256)
        hist[sl.start * c : sl.stop * c] = counts.view(n * c, 256)
    return hist


def _channel_offsets(n: int, device: Any) -> torch.Tensor:
    return torch.arange(0, n * 256, 256, dtype=torch.int32, device=device)


def _equalize_lut(x: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """ImageOps.equalize's integer table per sample and channel (see ``_equalize``)."""
    b, c, h, w = x.shape
    return _equalize_tables(_histograms(x), h * w).view(b, c, 256)


def _equalize_tables(hist: torch.Tensor, pixels: int) -> torch.Tensor:
    """(N, 256) int64 equalize tables from (N, 256) int64 histograms of ``pixels`` pixels."""
    last = 255 - torch.argmax((hist.flip(1) > 0).long(), dim=1)  # highest used level
    step = (pixels - hist.gather(1, last.unsqueeze(1)).squeeze(1)) // 255
    csum = torch.cumsum(hist, 1) - hist
    lut = ((step.unsqueeze(1) // 2 + csum) // step.clamp(min=1).unsqueeze(1)).clamp(max=255)
    levels = torch.arange(256, device=hist.device).expand_as(lut)
    return torch.where((step == 0).unsqueeze(1), levels, lut)


def apply_luts(
    x: torch.Tensor, tables: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """Look each pixel of uint8 samples up in its sample's and channel's table.

    Args:
        x: (B, C, H, W) uint8.
        tables: (B, C, 256) uint8 on ``x``'s device.
        out: where to write, contiguous, like ``x`` (may be ``x`` itself); a new tensor if
            None.

    Returns:
        (B, C, H, W) uint8: one index_select over the whole batch.
    """
    b, c, h, w = x.shape
    keys = _scratch("lut", x.shape, torch.int32, x.device).copy_(x)
    if out is None:
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    if x.device.type == "cpu" and h * w >= 1 << 14:
        # large planes on the CPU: one lookup per (sample, channel) plane in its own table
        # saves the pass that offsets the keys; the host cost per plane is small beside it
        planes, keys_p, out_p = (
            tables.reshape(b * c, 256),
            keys.view(b * c, -1),
            out.view(b * c, -1),
        )
        for i in range(b * c):
            torch.index_select(planes[i], 0, keys_p[i], out=out_p[i])
        return out
    keys.add_(_channel_offsets(b * c, x.device).view(b, c, 1, 1))
    torch.index_select(tables.reshape(-1), 0, keys.view(-1), out=out.view(-1))
    return out


def _invert_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    return x.bitwise_not_()  # 255 - x on uint8, in the batch's working copy


def _posterize_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    # keeping the top bits is (x >> s) << s
    bits = values.long()
    mask = torch.full_like(bits, 255).bitwise_left_shift_(8 - bits).bitwise_and_(255)
    return x.bitwise_and_(mask.to(x.device, torch.uint8).view(-1, 1, 1, 1))


def _cutout_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """``_cutout`` on uint8, in place: the holes' pixel positions listed (at most side**2 a
    sample and channel) and filled in one index_fill, so the cost follows the holes' area."""
    b, c, h, w = x.shape
    side = torch.round(values.cpu() * min(h, w)).long()
    cy, cx = cutout_centres(b, h, w, gen)
    longest = int(side.max()) if b else 0
    if longest <= 0:
        return x
    steps = torch.arange(longest)
    within = steps < side.view(b, 1)
    rows = (cy - torch.div(side, 2, rounding_mode="floor")).view(b, 1) + steps
    cols = (cx - torch.div(side, 2, rounding_mode="floor")).view(b, 1) + steps
    row_ok, col_ok = within & (rows >= 0) & (rows < h), within & (cols >= 0) & (cols < w)
    keep = (row_ok.view(b, 1, -1, 1) & col_ok.view(b, 1, 1, -1)).expand(b, c, -1, -1)
    planes = torch.arange(b * c).view(b, c, 1, 1) * (h * w)
    where = planes + (rows.view(b, 1, -1, 1) * w + cols.view(b, 1, 1, -1))
    out = x if x.is_contiguous() else x.contiguous()
    out.view(-1).index_fill_(0, where[keep].to(x.device), FILL)
    return out


def _float_scratch(key: str, x: torch.Tensor) -> torch.Tensor:
    """``x`` as float32 on the 0..255 scale, in a scratch buffer."""
    return _scratch(key, x.shape, torch.float32, x.device).copy_(x)


def _to_u8(f: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Whole-number float32 ``f`` in 0..255 into uint8 ``out`` (same shape, may be strided):
    by way of int16, because PyTorch's float32 -> uint8 conversion is several times slower on
    the CPU than float32 -> int16 -> uint8 (truncation either way; exact on 0..255)."""
    return out.copy_(_scratch("to_u8", f.shape, torch.int16, f.device).copy_(f))


def _blend_u8(
    a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor, out: torch.Tensor
) -> torch.Tensor:
    """``_blend`` for whole-number float32 ``a`` (a scratch, overwritten) and ``b``
    (broadcastable): the same float32 operations in the same order, in place; the uint8
    result written into ``out`` and returned."""
    f = factor.to(a.device, torch.float32).view(-1, 1, 1, 1)
    a.sub_(b).mul_(f).add_(b).clamp_(0, 255)
    return _to_u8(a, out)  # truncation is floor on 0..255


def _color_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    if x.shape[1] == 1:
        return x  # the grey of a grey image is itself: any blend of the two is too
    f = _float_scratch("a", x)
    gray = _scratch("gray_f", (len(x), 1, *x.shape[2:]), torch.float32, x.device)
    return _blend_u8(f, _gray_f32(f, gray), values, out=x)


def _sample_pairing_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    # PIL's blend(img, pair, v) is pair + ... see _sample_pairing: a = pair, b = x
    return _blend_u8(_float_scratch("a", pair), _float_scratch("b", x), values, out=x)


def _brightness_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """``_brightness`` on uint8, in place: PIL blends with black, ``0 + f * (x - 0)``, which is
    ``f * x`` in float32 (adding or subtracting zero changes no float)."""
    f = _float_scratch("a", x)
    f.mul_(values.to(x.device, torch.float32).view(-1, 1, 1, 1)).clamp_(0, 255)
    return _to_u8(f, x)


def _whole_sum(f: torch.Tensor) -> torch.Tensor:
    """(B,) float64 sums of (B, 1, H, W) float32 planes of whole numbers in 0..255, exactly:
    each row summed in float32 (every partial sum a whole number under 2**24 while a row is
    shorter than 65,794 pixels), the rows in float64."""
    if f.shape[-1] * 255 >= 1 << 24:
        return f.sum(dim=(1, 2, 3), dtype=torch.float64)
    return f.sum(dim=3).sum(dim=(1, 2), dtype=torch.float64)


def _contrast_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """``_contrast`` on uint8, in place: the grey image's mean from the whole-number float32
    luma (its sum exact in float64), then the float32 blend with it."""
    b, c, h, w = x.shape
    f = _float_scratch("a", x)
    if c == 1:
        sums = _whole_sum(f)
    else:
        gray = _scratch("gray_f", (b, 1, h, w), torch.float32, x.device)
        sums = _whole_sum(_gray_f32(f, gray))
    mean = torch.floor(sums / (h * w) + 0.5).to(torch.float32).view(-1, 1, 1, 1)
    return _blend_u8(f, mean, values, out=x)


def _solarize_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """``_solarize`` on uint8, in place, in uint8 arithmetic (no comparison: PyTorch's uint8
    comparisons and ``where`` are slow on the CPU): with ``t`` the whole threshold,
    ``max(x, t - 1) - (t - 1)`` is positive exactly where ``x >= t`` (every pixel when
    ``t <= 0``); clipped to 1 and negated it is 0 or 255, and XOR with 255 is ``255 - x``."""
    t = values.round().long().cpu()
    below = (t - 1).clamp(0, 255).to(x.device, torch.uint8).view(-1, 1, 1, 1)
    every = (t <= 0).to(x.device, torch.uint8).view(-1, 1, 1, 1)
    for sl in _chunks(0, len(x), _chunk_len(x, 1)):
        part = x[sl]
        mask = _scratch("mask", part.shape, torch.uint8, x.device)
        torch.maximum(part, below[sl], out=mask).sub_(below[sl]).clamp_(max=1)
        part.bitwise_xor_(mask.bitwise_or_(every[sl]).neg_())
    return x


def _sharpness_u8(x: torch.Tensor, values: torch.Tensor, gen: Any, pair: Any) -> torch.Tensor:
    """``_sharpness`` on uint8, in place. The SMOOTH value is ``(S + 4 c) / 13 + 0.5`` (S the
    3x3 sum, c the centre) truncated; its exact value is never within 1/26 of a whole number,
    and PIL's float32 sums err by under 1e-3, so the whole-number sum (in int16: at most
    13 * 255) scaled once in float32 gives PIL's pixels. PIL keeps the border, so only the
    inner pixels are written back; every other pass runs over whole planes (contiguous), its
    border rows and columns left unused."""
    b, c, h, w = x.shape
    if h < 3 or w < 3:
        return x
    xi = _scratch("sharp_x", x.shape, torch.int16, x.device).copy_(x)
    rows = _scratch("sharp_rows", x.shape, torch.int16, x.device)  # 3 along each row
    torch.add(xi[..., :-2], xi[..., 1:-1], out=rows[..., 1:-1]).add_(xi[..., 2:])
    total = _scratch("sharp_sum", x.shape, torch.int16, x.device)  # and 3 rows of those
    torch.add(rows[:, :, :-2], rows[:, :, 1:-1], out=total[:, :, 1:-1])
    total[:, :, 1:-1].add_(rows[:, :, 2:])
    total.add_(xi, alpha=4)
    deg = _scratch("sharp_deg", x.shape, torch.float32, x.device).copy_(total)
    deg.mul_(_C_THIRTEENTH).add_(_C_HALF).trunc_()
    blend = _float_scratch("a", x)
    f = values.to(x.device, torch.float32).view(-1, 1, 1, 1)
    blend.sub_(deg).mul_(f).add_(deg).clamp_(0, 255)  # _blend's float32 operations
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    _to_u8(blend[inner], x[inner])
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
        lut=_autocontrast_lut,
        magnitude_free=True,
    ),
    Op(
        "Invert",
        pil=lambda img, v, rng, pair: ImageOps.invert(img),
        batch=_invert,
        batch_u8=chunked(_invert_u8),
        magnitude_free=True,
    ),
    Op(
        "Equalize",
        pil=lambda img, v, rng, pair: ImageOps.equalize(img),
        batch=_equalize,
        lut=_equalize_lut,
        magnitude_free=True,
    ),
    Op(
        "Solarize",
        256.0,
        0.0,
        pil=lambda img, v, rng, pair: ImageOps.solarize(img, int(v)),
        batch=_solarize,
        values=_solarize_values,
        lut=pointwise_lut(_solarize),
        batch_u8=chunked(_solarize_u8),
    ),
    Op(
        "Posterize",
        8.0,
        4.0,
        pil=lambda img, v, rng, pair: ImageOps.posterize(img, int(v)),
        batch=_posterize,
        values=_posterize_values,
        batch_u8=chunked(_posterize_u8),
    ),
    Op(
        "Contrast",
        1.0,
        1.9,
        True,
        pil=_enhance_pil("Contrast"),
        batch=_contrast,
        lut=_contrast_lut,
        batch_u8=chunked(_contrast_u8),
    ),
    Op(
        "Color",
        1.0,
        1.9,
        True,
        pil=_enhance_pil("Color"),
        batch=_color,
        batch_u8=chunked(_color_u8),
    ),
    Op(
        "Brightness",
        1.0,
        1.9,
        True,
        pil=_enhance_pil("Brightness"),
        batch=_brightness,
        lut=pointwise_lut(_brightness),
        batch_u8=chunked(_brightness_u8),
    ),
    Op(
        "Sharpness",
        1.0,
        1.9,
        True,
        pil=_enhance_pil("Sharpness"),
        batch=_sharpness,
        batch_u8=chunked(_sharpness_u8),
    ),
    Op("Cutout", 0.0, 0.2, pil=_cutout_pil, batch=_cutout, batch_u8=_cutout_u8),
    Op(
        "SamplePairing",
        0.0,
        0.4,
        pil=_sample_pairing_pil,
        batch=_sample_pairing,
        pairs=True,
        batch_u8=chunked(_sample_pairing_u8),
    ),
):
    register_op(_op)

# The AutoAugment vocabulary (the policy search space's op choices): fixed, so that a registered
# op does not change the space, its size or its seeded samples.
OP_NAMES = tuple(n for n in OPS if n != "Identity")
MAGNITUDE_FREE = frozenset(n for n, o in OPS.items() if o.magnitude_free and n != "Identity")


# -- large uint8 images on the CPU: one sample at a time, where it lies --------------------
# From 2**14 pixel values a sample, sorting the samples that change into a copy (what
# ``apply_batch`` does for its batched routes) costs passes of its own; the routes here read
# each sample where it is and write it where it goes. Geometric ops copy rectangles (NumPy) or
# look their pixels up plane by plane (PyTorch), with or without OpenCV. With OpenCV (``cv2``,
# the ``fast-cpu`` extra; ``use_opencv``) the point ops are one ``cv2.LUT`` a sample (tables
# built by the same functions as the uint8 batched route's, so the pixels cannot differ), their
# statistics come from ``cv2.minMaxLoc`` and ``cv2.calcHist``, Invert is ``cv2.bitwise_not``
# and Sharpness's SMOOTH image ``cv2.boxFilter`` and ``cv2.addWeighted``.

# sample_route(op, x, out, samples, values, in_place): op's change to x[i] for each i in
# samples (values (n,) float64, CPU), written to out[i]; in_place: out is x
SampleFn = Callable[[Op, torch.Tensor, torch.Tensor, list[int], torch.Tensor, bool], None]
LARGE_VALUES = 1 << 14  # pixel values a sample from which uint8 CPU samples go one at a time

_OPENCV: dict[str, Any] = {"wanted": True, "tried": False, "module": None}


def _opencv() -> Any:
    """The ``cv2`` module when it is wanted and imports, else None (imported once)."""
    if not _OPENCV["wanted"]:
        return None
    if not _OPENCV["tried"]:
        _OPENCV["tried"] = True
        try:
            _OPENCV["module"] = importlib.import_module("cv2")
        except ImportError:
            _OPENCV["module"] = None
    return _OPENCV["module"]


def opencv_active() -> bool:
    """True when large uint8 CPU batches use OpenCV's kernels (``cv2`` imports and
    ``use_opencv(False)`` was not called)."""
    return _opencv() is not None


def use_opencv(enabled: bool = True) -> bool:
    """Let large uint8 batches on the CPU (from 2**14 pixel values a sample) use OpenCV's
    kernels, or keep them on PyTorch and NumPy only. Both routes give PIL's pixels exactly;
    OpenCV's is faster (``bench/augment_speed.py --ops``). On by default when ``cv2`` imports.

    Args:
        enabled: True to use OpenCV, False for the pure PyTorch route.

    Returns:
        Whether OpenCV was in use before the call.

    Raises:
        ConfigError: ``enabled`` but ``cv2`` does not import (names the ``fast-cpu`` extra).
    """
    before = opencv_active()
    _OPENCV["wanted"] = bool(enabled)
    if enabled and _opencv() is None:
        _OPENCV["wanted"] = False
        _OPENCV["module"] = require("cv2", "fast-cpu", "augment", "use_opencv(True)")
        _OPENCV["wanted"] = True
    return before


def _planes(a: np.ndarray) -> np.ndarray:
    """A (C, H, W) sample as one (C * H, W) image (a view; samples here are contiguous)."""
    return a.reshape(-1, a.shape[-1])


def _warp_samples(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """A geometric op sample by sample: a map that moves runs of rows (translations,
    horizontal shears) as rectangle copies in NumPy, any other by one int32 lookup a plane
    (see ``warp``); the maps from the same per-thread cache."""
    _, c, h, w = x.shape
    mats = _affine_matrices(op, values, w, h)
    distinct, which = _distinct_rows(mats)
    plans = _map_plans(distinct, w, h)
    xn, on = x.numpy(), out.numpy()
    for i, m in zip(samples, which.tolist(), strict=True):
        plan = plans[m]
        if isinstance(plan, torch.Tensor):
            src = _scratch("warp_flat", (c, h * w + 1), torch.uint8, "cpu")
            src[:, : h * w].copy_(x[i].view(c, -1))  # x[i] may be out[i]: copied first
            src[:, h * w].fill_(FILL)
            target = out[i].view(c, -1)
            for ch in range(c):
                torch.index_select(src[ch], 0, plan, out=target[ch])
            continue
        s, d = xn[i], on[i]
        if in_place:
            s = _scratch("warp_one", (c, h, w), torch.uint8, "cpu").numpy()
            np.copyto(s, d)
        d.fill(FILL)
        for y0, y1, x0, x1, dy, dx in plan:
            d[:, y0:y1, x0:x1] = s[:, y0 + dy : y1 + dy, x0 + dx : x1 + dx]


def _lut_samples(
    x: torch.Tensor, out: torch.Tensor, samples: list[int], tables: torch.Tensor
) -> None:
    """``cv2.LUT`` of each sample in its (C, 256) or (1, 256) uint8 tables (n, ., 256). A
    table that is the identity (AutoContrast of a plane spanning 0..255, Equalize of a flat
    one, a level-0 point op) is not looked up: the plane is copied, or left where it is."""
    cv2 = _opencv()
    xn, on, tn = x.numpy(), out.numpy(), tables.numpy()
    same = x.data_ptr() == out.data_ptr()
    identity = (tables == torch.arange(256, dtype=torch.uint8)).all(dim=2).tolist()
    for k, i in enumerate(samples):
        if tn.shape[1] == 1:
            if not identity[k][0]:
                cv2.LUT(_planes(xn[i]), tn[k, 0], dst=_planes(on[i]))
            elif not same:
                np.copyto(on[i], xn[i])
            continue
        for ch in range(xn.shape[1]):
            if not identity[k][ch]:
                cv2.LUT(xn[i, ch], tn[k, ch], dst=on[i, ch])
            elif not same:
                np.copyto(on[i, ch], xn[i, ch])


def _cv_point(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """A point op that reads no statistics (Solarize, Brightness): its ``lut`` run on the 256
    levels, one ``cv2.LUT`` a sample."""
    assert op.lut is not None  # registered only for rows with a table
    tables = op.lut(x[:1].expand(len(samples), -1, -1, -1), values).to(torch.uint8)
    _lut_samples(x, out, samples, tables.reshape(len(samples), 1, 256))


def _cv_autocontrast(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """AutoContrast: each plane's extremes by ``cv2.minMaxLoc``, ``_autocontrast_tables``."""
    cv2, c = _opencv(), x.shape[1]
    xn = x.numpy()
    ext = [cv2.minMaxLoc(xn[i, ch])[:2] for i in samples for ch in range(c)]
    lo_hi = torch.tensor(ext, dtype=torch.float64)
    tables = _autocontrast_tables(lo_hi[:, :1], lo_hi[:, 1:]).to(torch.uint8)
    _lut_samples(x, out, samples, tables.view(len(samples), c, 256))


def _cv_equalize(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """Equalize: each plane's histogram by ``cv2.calcHist`` (float32 counts, exact below
    2**24 pixels), ``_equalize_tables``."""
    cv2 = _opencv()
    _, c, h, w = x.shape
    xn = x.numpy()
    hists = [
        cv2.calcHist([xn[i, ch]], [0], None, [256], [0, 256]).reshape(256)
        for i in samples
        for ch in range(c)
    ]
    hist = torch.from_numpy(np.stack(hists)).to(torch.int64)
    tables = _equalize_tables(hist, h * w).to(torch.uint8)
    _lut_samples(x, out, samples, tables.view(len(samples), c, 256))


def _gray_sum(a: np.ndarray) -> int:
    """The exact sum of PIL's luma (``convert("L")``: ``(19595 R + 38470 G + 7471 B + 0x8000)
    >> 16``) over a (3, H, W) uint8 sample. With ``t`` the bracket, ``t >> 16 = (t - t mod
    2**16) / 2**16``: the sum of ``t`` comes from the three channel sums (``cv2.sumElems``,
    exact in float64), the sum of ``t mod 2**16`` from ``t`` in uint16 arithmetic, which wraps
    modulo 2**16 (NumPy), so no pixel needs 32 bits."""
    cv2 = _opencv()
    acc, tmp = _scratch("luma", (2, *a.shape[1:]), torch.int16, "cpu").numpy().view(np.uint16)
    np.multiply(a[0], np.uint16(19595), out=acc)
    acc += np.multiply(a[1], np.uint16(38470), out=tmp)
    acc += np.multiply(a[2], np.uint16(7471), out=tmp)
    acc += np.uint16(0x8000)
    low = int(cv2.sumElems(acc)[0])
    r, g, b = (int(cv2.sumElems(a[ch])[0]) for ch in range(3))
    whole = 19595 * r + 38470 * g + 7471 * b + 0x8000 * a[0].size
    return (whole - low) >> 16


def _cv_contrast(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """Contrast: the grey sum exact (``cv2.sumElems`` of a grey sample, ``_gray_sum`` of a
    colour one), ``_contrast_tables``, one ``cv2.LUT`` a sample."""
    cv2 = _opencv()
    _, c, h, w = x.shape
    xn = x.numpy()
    sums = [cv2.sumElems(xn[i, 0])[0] if c == 1 else _gray_sum(xn[i]) for i in samples]
    tables = _contrast_tables(torch.tensor(sums, dtype=torch.float64), h * w, values)
    _lut_samples(x, out, samples, tables.to(torch.uint8))


def _cv_invert(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    cv2 = _opencv()
    xn, on = x.numpy(), out.numpy()
    for i in samples:
        cv2.bitwise_not(_planes(xn[i]), dst=_planes(on[i]))


def _np_blend(a: np.ndarray, b: np.ndarray, factor: float, dst: np.ndarray) -> None:
    """``_blend_u8`` in NumPy: whole-number float32 ``a`` (overwritten) and ``b``
    (broadcastable), the same float32 operations in the same order (``b + f * (a - b)``,
    clipped), truncated into uint8 ``dst``. With ``f`` in [0, 1] the result lies between
    ``a`` and ``b`` (each float32 rounding is monotone and both ends are whole numbers), so
    only an extrapolating factor is clipped (by ``cv2.threshold``, two SIMD passes)."""
    f = np.float32(factor)
    np.subtract(a, b, out=a)
    np.multiply(a, f, out=a)
    np.add(a, b, out=a)
    if not 0 <= f <= 1:
        flat = a.reshape(-1, a.shape[-1])
        cv2 = _opencv()
        cv2.threshold(flat, 255.0, 255.0, cv2.THRESH_TRUNC, dst=flat)  # min(v, 255)
        cv2.threshold(flat, 0.0, 0.0, cv2.THRESH_TOZERO, dst=flat)  # v if v > 0 else 0
    np.copyto(dst, a, casting="unsafe")  # a C cast: truncation, floor on 0..255


def _np_scratch(key: str, shape: tuple[int, ...], dtype: torch.dtype) -> np.ndarray:
    return _scratch(key, shape, dtype, "cpu").numpy()


def _cv_sharpness(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """Sharpness: the SMOOTH image as ``round((S + 4 c) / 13)`` (S the 3x3 sum by
    ``cv2.boxFilter`` in float32, c the centre, ``cv2.addWeighted`` of the two and
    ``np.rint``: every sum is a whole number, and the exact quotient is never within 1/26 of
    a half, so rounding it in float gives PIL's ``int(... + 0.5)``, see ``_sharpness_u8``),
    the planes stacked as one image (the rows it mixes across planes are border rows, which
    keep their pixels), then ``_np_blend``, border included (a pixel blended with itself
    stays)."""
    cv2 = _opencv()
    _, c, h, w = x.shape
    xn, on = x.numpy(), out.numpy()
    xf = _np_scratch("np_a", (c * h, w), torch.float32)
    sf = _np_scratch("np_b", (c * h, w), torch.float32)
    xf3, sf3 = xf.reshape(c, h, w), sf.reshape(c, h, w)
    for k, i in enumerate(samples):
        s = _planes(xn[i])
        cv2.boxFilter(s, cv2.CV_32F, (3, 3), dst=sf, normalize=False)
        np.copyto(xf, s, casting="unsafe")
        cv2.addWeighted(sf, 1 / 13, xf, 4 / 13, 0.0, dst=sf)
        np.rint(sf, out=sf)
        for edge in (np.s_[:, 0, :], np.s_[:, -1, :], np.s_[:, :, 0], np.s_[:, :, -1]):
            sf3[edge] = xf3[edge]
        _np_blend(xf, sf, float(values[k]), _planes(on[i]))


def _cv_color(
    op: Op, x: torch.Tensor, out: torch.Tensor, samples: list[int], values: torch.Tensor,
    in_place: bool,
) -> None:  # fmt: skip
    """Color: PIL's luma in float32 (exact, as ``_gray_f32``) by ``cv2.addWeighted`` and
    ``cv2.scaleAdd``, then ``_np_blend``."""
    _, c, h, w = x.shape
    xn, on = x.numpy(), out.numpy()
    if c == 1:  # the grey of a grey image is itself: any blend of the two is too
        if not in_place:
            for i in samples:
                np.copyto(on[i], xn[i])
        return
    xf = _np_scratch("np_a", (c, h, w), torch.float32)
    gf = _np_scratch("np_g", (h, w), torch.float32)
    cv2 = _opencv()
    for k, i in enumerate(samples):
        np.copyto(xf, xn[i], casting="unsafe")
        # (19595 R + 38470 G + 0x8000) / 65536, then + 7471 B / 65536: each product and sum
        # a multiple of 2**-16 below 256, exact in float32 however it is rounded or fused
        cv2.addWeighted(xf[0], 19595 / 65536, xf[1], 38470 / 65536, 0.5, dst=gf)
        cv2.scaleAdd(xf[2], 7471 / 65536, gf, dst=gf)
        np.floor(gf, out=gf)
        _np_blend(xf, gf, float(values[k]), on[i])


# the ops with a route of their own for large uint8 samples: always (geometric), with OpenCV
_CV_ROUTES: dict[str, SampleFn] = {
    "AutoContrast": _cv_autocontrast,
    "Equalize": _cv_equalize,
    "Solarize": _cv_point,
    "Brightness": _cv_point,
    "Contrast": _cv_contrast,
    "Invert": _cv_invert,
    "Sharpness": _cv_sharpness,
    "Color": _cv_color,
}


def _sample_route(op: Op) -> SampleFn | None:
    if op.matrix is not None:
        return _warp_samples
    if OPS.get(op.name) is not op or _opencv() is None:
        return None
    return _CV_ROUTES.get(op.name)


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


# the routes a sample takes through apply_batch, in the order its sort puts them
_SKIP, _LUT, _WARP, _OWN = 0, 1, 2, 3


def _route(op: Op, u8: bool) -> int:
    if op.batch is _identity:
        return _SKIP
    if op.matrix is not None:
        return _WARP
    if u8 and op.batch_u8 is not None:  # a kernel of its own goes before the shared table
        return _OWN
    return _LUT if u8 and op.lut is not None else _OWN


def apply_batch(
    x: torch.Tensor,
    ops: torch.Tensor,
    levels: torch.Tensor,
    signs: torch.Tensor,
    apply: torch.Tensor,
    names: tuple[str, ...] = OP_NAMES,
    gen: torch.Generator | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Per-sample ops on a batch: sample i gets op ``names[ops[i]]`` at ``levels[i]`` with sign
    ``signs[i]`` when ``apply[i]``.

    One stable sort puts the samples that change in routes, and within a route by op; they are
    copied out in that order, each route then runs once on its samples, with their own
    magnitudes as (n,) tensors, whatever mix of ops they drew, and the results go back into
    the output (samples left as they are cost one copy of the batch, or none with ``out=x``):

    - statistics-driven point ops on uint8 (rows with a ``lut`` and no ``batch_u8``:
      AutoContrast, Equalize): one (n, C, 256) table per sample and channel, then ONE lookup
      for all of them;
    - geometric ops (rows with a ``matrix``): one (n, 6) matrix stack and ONE gather (on the
      CPU ``warp`` takes the samples sharing a map together: see there);
    - the rest by op: uint8 kernels (``batch_u8``: integer Invert, Posterize, Solarize,
      Cutout; int16 sums and float32 blends for Contrast, Brightness, Color, Sharpness,
      SamplePairing in scratch buffers) or the float function.

    On the CPU, for contiguous uint8 samples of ``LARGE_VALUES`` (2**14) pixel values or
    more, table lookups and the kernels that draw nothing write each sample straight into the
    output, one at a time, and the geometric ops and (with OpenCV, see ``use_opencv``)
    AutoContrast, Equalize, Invert, Solarize, Contrast, Brightness, Color and Sharpness run
    on each sample where it lies, after the rest (so SamplePairing's partners are the batch
    as it came); the pixels are the same on every route.

    Args:
        x: (B, C, H, W) uint8 (0..255) or float (0..1), any device.
        ops: (B,) long indices into ``names``.
        levels: (B,) float levels in [0, 1].
        signs: (B,) +1 / -1.
        apply: (B,) bool.
        names: registered op names (``Identity`` leaves a sample as it is).
        gen: CPU generator for the ops that draw (Cutout's centres, SamplePairing's partners).
        out: where to write the result: a contiguous tensor like ``x``, or ``x`` itself to
            change it in place (what a transform does with its own intermediate batches); a
            new tensor when None.

    Returns:
        The result (``out`` when given), same shape, dtype and device as ``x``.

    Raises:
        ConfigError: ``x`` is neither uint8 nor float, or a name is not registered.
    """
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ConfigError(f"augment: images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    rows = [lookup_op(n) for n in names]
    large = (
        x.dtype == torch.uint8
        and x.device.type == "cpu"
        and len(x) > 0
        and x[0].numel() >= LARGE_VALUES
        and x.is_contiguous()
        and (out is None or (out.is_contiguous() and out.shape == x.shape))
    )
    routes = [_sample_route(op) for op in rows] if large else []
    if not any(routes):
        return _apply_routes(x, ops, levels, signs, apply, rows, gen, out)
    # large uint8 samples on the CPU: the ops with a route of their own go one sample at a
    # time, after the rest (which may read the batch as it came: SamplePairing's partners)
    ops_c, apply_c = ops.cpu().long(), apply.cpu().bool()
    groups: dict[int, list[int]] = {}
    for i, (j, on) in enumerate(zip(ops_c.tolist(), apply_c.tolist(), strict=True)):
        if on and routes[j] is not None:
            groups.setdefault(j, []).append(i)
    if not groups:
        return _apply_routes(x, ops, levels, signs, apply, rows, gen, out)
    own = torch.zeros(len(x), dtype=torch.bool)
    own[[i for members in groups.values() for i in members]] = True
    in_place = out is not None and out.data_ptr() == x.data_ptr()
    out = _apply_routes(x, ops, levels, signs, apply_c & ~own, rows, gen, out, leave=own)
    levels_c, signs_c = levels.cpu().double(), signs.cpu().double()
    for j, members in groups.items():
        sel = torch.tensor(members)
        vals = op_values(rows[j].name, levels_c[sel], signs_c[sel])
        route = routes[j]
        assert route is not None  # groups hold only ops with a route
        route(rows[j], out if in_place else x, out, members, vals, in_place)
    return out


def _apply_routes(
    x: torch.Tensor,
    ops: torch.Tensor,
    levels: torch.Tensor,
    signs: torch.Tensor,
    apply: torch.Tensor,
    rows: list[Op],
    gen: torch.Generator | None = None,
    out: torch.Tensor | None = None,
    leave: torch.Tensor | None = None,
) -> torch.Tensor:
    """``apply_batch``'s batched routes, for the ops of ``rows``; samples marked in ``leave``
    ((B,) bool) are not copied to a separate ``out`` (the caller writes them)."""
    u8 = x.dtype == torch.uint8
    route = [_route(op, u8) for op in rows]
    in_place = out is not None and out.data_ptr() == x.data_ptr()
    # large uint8 images on the CPU: results go straight into out where the op allows (its
    # kernel runs one sample at a time anyway), saving a copy out and back; not when a sample
    # in place would be some other sample's SamplePairing partner
    direct_ok = x.device.type == "cpu" and u8 and len(x) > 0 and x[0].numel() >= LARGE_VALUES
    if direct_ok and in_place:
        drawn = torch.unique(ops.cpu().long()[apply.cpu().bool()]).tolist()
        direct_ok = not any(rows[i].pairs for i in drawn)
    direct = [
        direct_ok
        and route[i] == _OWN
        and not rows[i].pairs
        and getattr(rows[i].batch_u8, "per_sample", False)
        for i in range(len(rows))
    ]
    ranked = sorted(range(len(rows)), key=lambda i: (route[i], direct[i], i))
    key_list = [0] * len(rows)
    for rank, i in enumerate(ranked):
        key_list[i] = 0 if route[i] == _SKIP else rank + 1
    key_of = torch.tensor(key_list, dtype=torch.long)
    keys = torch.where(apply.cpu().bool(), key_of[ops.cpu().long()], 0)
    order = torch.argsort(keys, stable=True)
    counts = torch.bincount(keys, minlength=len(rows) + 1).tolist()
    if out is None:
        out = torch.empty_like(x, memory_format=torch.contiguous_format)
    left = set() if leave is None else set(torch.nonzero(leave).view(-1).tolist())
    if counts[0] == len(x) and not left:
        return out if out.data_ptr() == x.data_ptr() else out.copy_(x)
    if (direct_ok or counts[0] == len(x)) and out.data_ptr() != x.data_ptr():
        for i in order[: counts[0]].tolist():  # the samples that stay, copied as they are
            if i not in left:
                out[i].copy_(x[i])
    if counts[0] == len(x):
        return out
    levels, signs = levels.cpu().double(), signs.cpu().double()
    b, c, h, w = x.shape
    # the samples that change, in sorted order: every op's samples are a contiguous slice of
    # a copy, rewritten in place, then written back to their places in out: the whole batch
    # sorted and gathered back in one index_select each (small images, other devices), or
    # (direct_ok) only the samples that change, row by row (PyTorch's index_copy_ copies
    # element by element on the CPU)
    changed = order[counts[0] :]
    _group_maps(changed, keys[changed], levels, signs, [route[i] == _WARP for i in ranked])
    changed_d = changed.to(x.device)
    where = changed.tolist()
    n_direct = sum(counts[r + 1] for r, i in enumerate(ranked) if direct[i])
    n_sorted = len(changed) - n_direct  # the direct samples come last and are not copied
    if direct_ok:
        xs = _scratch("sorted", (n_sorted, c, h, w), x.dtype, x.device)
        torch.index_select(x, 0, changed_d[:n_sorted], out=xs)
    else:
        everything = _scratch("sorted", tuple(x.shape), x.dtype, x.device)
        torch.index_select(x, 0, order.to(x.device), out=everything)
        xs = everything[counts[0] :]
    perm: torch.Tensor | None = None
    start = scatter_from = 0
    for kind in (_LUT, _WARP, _OWN):
        members = [
            (rows[i], n, direct[i])
            for i, n in zip(ranked, counts[1:], strict=True)
            if route[i] == kind
        ]
        total = sum(n for _, n, _ in members)
        if total == 0:
            continue
        pieces: list[tuple[Op, slice, torch.Tensor, bool]] = []
        for op, n, straight in members:
            if n:
                sel = changed[start : start + n]
                vals = op_values(op.name, levels[sel], signs[sel])
                pieces.append((op, slice(start, start + n), vals, straight))
            start += n
        first = pieces[0][1].start
        if kind == _LUT:
            tables = torch.cat(
                [
                    op.lut(xs[part], vals.to(x.device)).to(torch.uint8).expand(-1, c, 256)
                    for op, part, vals, _ in pieces
                    if op.lut is not None
                ]
            )
            if direct_ok:  # each sample's pixels looked up straight into out
                for j in range(first, start):
                    k, i = j - first, where[j]
                    apply_luts(xs[j : j + 1], tables[k : k + 1], out=out[i : i + 1])
                scatter_from = start
                continue
            for sl in _chunks(first, start, _chunk_len(x, 4)):
                chunk = xs[sl]
                apply_luts(chunk, tables[sl.start - first : sl.stop - first], out=chunk)
        elif kind == _WARP:
            mats = torch.cat([_affine_matrices(op, vals, w, h) for op, _, vals, _ in pieces])
            span = xs[first:start]
            warp(span, mats, FILL if u8 else FILL / 255, out=span)
        else:
            for op, part, vals, straight in pieces:
                vals_d = vals.to(x.device)
                if straight:  # in out, one sample at a time
                    assert op.batch_u8 is not None  # direct only for rows with a uint8 kernel
                    for k, i in enumerate(where[part]):
                        row = out[i : i + 1]
                        if not in_place:
                            row.copy_(x[i : i + 1])
                        res = op.batch_u8(row, vals_d[k : k + 1], gen, None)
                        if res.data_ptr() != row.data_ptr():
                            row.copy_(res)
                    continue
                pair = None
                if op.pairs:  # partners: one shuffle of the whole batch, shared by such ops
                    if perm is None:
                        perm = torch.randperm(b, generator=gen).to(x.device)
                    pair = x.index_select(0, perm[changed_d[part]])
                if u8 and op.batch_u8 is not None:
                    res = op.batch_u8(xs[part], vals_d, gen, pair)
                else:
                    assert op.batch is not None  # Op checks that a pixel row has both functions
                    p255 = None if pair is None else to_255(pair)
                    res = from_255(op.batch(to_255(xs[part]), vals_d, gen, p255), x)
                if res.data_ptr() != xs[part].data_ptr():
                    xs[part].copy_(res)
    if not direct_ok:
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(b)
        torch.index_select(everything, 0, inverse.to(x.device), out=out)
    elif scatter_from < n_sorted:
        for j, i in enumerate(where[scatter_from:n_sorted], start=scatter_from):
            out[i].copy_(xs[j])
    return out


def _group_maps(
    changed: torch.Tensor,
    keys: torch.Tensor,
    levels: torch.Tensor,
    signs: torch.Tensor,
    moves: list[bool],
) -> None:
    """Within each geometric op's samples (a run of equal ``keys`` in ``changed``, ``moves``
    saying which keys, less one, are geometric), order them by level and sign, in place, so
    that samples sharing a map are neighbours (``warp`` takes a run of them at once)."""
    bounds = torch.unique_consecutive(keys, return_counts=True)
    start = 0
    for key, n in zip(bounds[0].tolist(), bounds[1].tolist(), strict=True):
        if n > 1 and moves[key - 1]:
            part = changed[start : start + n]
            lv, sg = levels[part].numpy(), signs[part].numpy()
            changed[start : start + n] = part[torch.from_numpy(np.lexsort((sg, lv)))]
        start += n


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """A PIL image of mode L or RGB as a (C, H, W) uint8 tensor."""
    a = np.asarray(img)
    return (
        torch.from_numpy(a.copy()).unsqueeze(0)
        if a.ndim == 2
        else torch.from_numpy(a.copy()).permute(2, 0, 1)
    )
