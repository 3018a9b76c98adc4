"""Bounding-box-aware augmentation for object detection (Zoph et al., "Learning Data Augmentation
Strategies for Object Detection", 2019) on (PIL image, boxes). Boxes are an (N, 4) float array
of pixel coordinates ``[x0, y0, x1, y1]`` (edges, so a box of the whole image is
``[0, 0, W, H]``); a box holds the pixels whose centres lie in it (``x0 <= i + 0.5 < x1``).

Each op is one row of ``DETECTION_OPS_TABLE``, of one of three shapes:

- geometric ``*_BBox`` ops (Rotate, ShearX/Y, TranslateX/Y) give an affine matrix; the image and
  its boxes move together, and a box follows its pixels exactly: under a whole-pixel shift it
  moves by that shift (keeping sub-pixel edges), under any other map it becomes the bounding box
  of the output pixels its pixels land on, computed with PIL's own sampling arithmetic; a box
  none of whose pixels stays in the image is dropped, with its label;
- ``*_Only_BBoxes`` ops change only the pixels of each box (clipped to the image), each box on
  its own with the entry's probability / 3 (the reference code's rule);
- image ops: the colour ops and ``Cutout`` act on the whole image as in classification, and
  ``BBox_Cutout`` cuts a hole made of pixels of one box.

Levels are the detection policies' 0..10 with the reference code's hyper-parameters (translate
250 px, 120 px inside boxes, Cutout pad 100 px, 50 px inside boxes, grey 128 fill: the
``cutout_const``, ``translate_const``, ``cutout_bbox_const``, ``translate_bbox_const`` of
tensorflow/tpu ``models/official/detection/utils/autoaugment_utils.py``). Those four are
absolute pixels, set for the paper's RetinaNet images of 640 x 640 px; ``pixel_scale``
multiplies them (the ops marked ``pixels=True``): ``"auto"`` is the image's shorter side / 640
(``REFERENCE_SIZE``), so a 64-px image gets a tenth (translate 25 px at level 10), and 1.0 (the
default) is the reference behaviour. As for
classification, a higher level always changes more (Posterize keeps 8 - 4 * level / 10 bits,
Solarize's threshold falls from 256); the four enhance ops use the reference mapping
factor = level / 10 * 1.8 + 0.1, as the policies were learned with it.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageEnhance, ImageOps

from nasbeyond.augment.ops import (
    FIXED,
    SCALE,
    Matrix,
    affine_matrix,
    apply_pil,
    fill_of,
    fixed_coefficients,
    sampling_engine,
    scale_axes,
    source_pixels,
)
from nasbeyond.augment.transforms import published_policy
from nasbeyond.exceptions import ConfigError

MAX_LEVEL = 10
TRANSLATE_PX, TRANSLATE_BOX_PX, CUTOUT_PAD, CUTOUT_BOX_PAD = 250, 120, 100, 50
# The image side the pixel constants were set for: Zoph et al. 2019 train RetinaNet at 640 x 640.
REFERENCE_SIZE = 640
PixelScale = float | str  # a number > 0, or "auto"

GeometryFn = Callable[[float, float, tuple[int, int]], Matrix]
InBoxFn = Callable[[Image.Image, float, float, random.Random], Image.Image]
ImageFn = Callable[[Image.Image, np.ndarray, float, float, random.Random], Image.Image]


@dataclass(frozen=True)
class DetectionOp:
    """One detection op: a row of the table; exactly one of its three functions is set.

    Attributes:
        name: the name policies use (``"TranslateX_BBox"``).
        geometry: ``geometry(level, sign, (W, H)) -> matrix``, PIL's six AFFINE coefficients
            (output -> input); image and boxes move together.
        in_box: ``in_box(crop, level, sign, rng) -> crop`` on the pixels of one box.
        image: ``image(img, boxes, level, sign, rng) -> img`` on the whole image, boxes kept.
        pixels: the op's magnitude is a length in pixels (level x a pixel constant), so
            ``apply_detection_op`` multiplies its level by ``pixel_scale``.
    """

    name: str
    geometry: GeometryFn | None = None
    in_box: InBoxFn | None = None
    image: ImageFn | None = None
    pixels: bool = False

    def __post_init__(self) -> None:
        given = [f for f in ("geometry", "in_box", "image") if getattr(self, f) is not None]
        if not isinstance(self.name, str) or not self.name or len(given) != 1:
            raise ConfigError(
                f"detection op {self.name!r}: gives {', '.join(given) or 'no function'}; "
                "allowed: a non-empty name and exactly one of geometry, in_box, image"
            )

    @property
    def where(self) -> str:
        """Where the row's code lives (``module.function``), for messages naming an op."""
        fn: Any = self.geometry or self.in_box or self.image
        return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


DETECTION_OPS_TABLE: dict[str, DetectionOp] = {}


def register_detection_op(op: DetectionOp) -> DetectionOp:
    """Add ``op`` as a row of the detection table.

    Returns:
        ``op``.

    Raises:
        ConfigError: ``op`` is not a ``DetectionOp``, or its name is taken (naming both ops).
    """
    if not isinstance(op, DetectionOp):
        raise ConfigError(f"register_detection_op: got {type(op).__name__}; allowed: a DetectionOp")
    old = DETECTION_OPS_TABLE.get(op.name)
    if old is not None:
        raise ConfigError(
            f"register_detection_op: cannot register {op.name!r} ({op.where}): the name is "
            f"taken by {old.name!r} ({old.where}); allowed: a new name"
        )
    DETECTION_OPS_TABLE[op.name] = op
    return op


def _unknown(name: object, at: str) -> ConfigError:
    return ConfigError(
        f"{at}: unknown operation {name!r}; allowed: {', '.join(sorted(DETECTION_OPS_TABLE))}"
    )


# -- boxes follow the pixels ------------------------------------------------------------------


def box_pixels(boxes: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The pixels of each box: (N, 4) int64 half-open ranges ``[px0, py0, px1, py1]`` of the
    pixels whose centres lie in the box (``x0 <= i + 0.5 < x1``), clipped to the image."""
    w, h = size
    p = np.ceil(np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - 0.5)
    return np.clip(p, 0, [w, h, w, h]).astype(np.int64)


def _interval(
    c: int, d: int, start: np.ndarray, step: int
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """Per row, the whole x with ``c <= start + x * step < d`` as an inclusive [lo, hi]
    (exact integer arithmetic; empty when lo > hi)."""
    if step == 0:
        inside = (start >= c) & (start < d)
        return np.where(inside, -math.inf, math.inf), np.where(inside, math.inf, -math.inf)
    a, b = c - start, d - 1 - start  # step * x in [a, b]
    if step < 0:
        a, b = b, a
    return -((-a) // step), b // step  # ceil(a / step), floor(b / step)


def _fixed_box(
    px: np.ndarray, coef: list[int], size: tuple[int, int]
) -> tuple[int, int, int, int] | None:
    """Bounding box of the output pixels whose source lies in the pixel range ``px`` under PIL's
    16.16 fixed-point engine (source column ``(A2 + y*A1 + x*A0) >> 16``), row by row."""
    w, h = size
    a0, a1, a2, a3, a4, a5 = coef
    ys = np.arange(h, dtype=np.int64)
    x0, y0, x1, y1 = (int(v) << 16 for v in px)
    lo_x, hi_x = _interval(x0, x1, a2 + ys * a1, a0)
    lo_y, hi_y = _interval(y0, y1, a5 + ys * a4, a3)
    lo = np.maximum(np.maximum(lo_x, lo_y), 0)
    hi = np.minimum(np.minimum(hi_x, hi_y), w - 1)
    rows = np.nonzero(lo <= hi)[0]
    if len(rows) == 0:
        return None
    return int(lo[rows].min()), int(rows[0]), int(hi[rows].max()) + 1, int(rows[-1]) + 1


def transform_boxes(
    boxes: np.ndarray, matrix: Matrix, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes after the affine map that moved the pixels (``matrix``: output -> input, as given to
    PIL's ``Image.transform(AFFINE, NEAREST)``), following the pixels exactly.

    Args:
        boxes: (N, 4) float ``[x0, y0, x1, y1]``.
        matrix: the six coefficients.
        size: the image's (W, H).

    Returns:
        (N, 4) float64 moved boxes, and (N,) bool: which boxes still hold a pixel.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    w, h = size
    out = np.zeros_like(boxes)
    keep = np.zeros(len(boxes), dtype=bool)
    if len(boxes) == 0:
        return out, keep
    mats = torch.tensor([matrix], dtype=torch.float64)
    kind = int(sampling_engine(mats, w, h)[0])
    clipped = np.clip(boxes, 0, [w, h, w, h])
    pixels = box_pixels(boxes, size)
    if kind == SCALE:  # translations: each axis on its own
        axes = [a[0] for a in scale_axes(mats, w, h)]
        for i, px in enumerate(pixels):
            edges = []
            for axis, src in enumerate(axes):
                limit = float((w, h)[axis])
                hit = np.nonzero((src >= px[axis]) & (src < px[axis + 2]))[0]
                if len(hit) == 0:
                    break
                first, last = int(hit[0]), int(hit[-1]) + 1
                # moved by whole pixels, the box keeps its sub-pixel edges, if they still hold
                # exactly the moved pixels (a zoom or PIL's rounding may say otherwise)
                lo, hi = clipped[i, [axis, axis + 2]] + (first - src[first])
                lo, hi = max(lo, 0.0), min(hi, limit)
                held = np.clip(np.ceil(np.array([lo, hi]) - 0.5), 0, limit).tolist()
                edges.append((lo, hi) if held == [first, last] else (first, last))
            else:
                (out[i, 0], out[i, 2]), (out[i, 1], out[i, 3]) = edges
                keep[i] = True
        return out, keep
    if kind == FIXED:
        coef = fixed_coefficients(mats)[0].tolist()
        for i, px in enumerate(pixels):
            found = _fixed_box(px, coef, size) if (px[2:] > px[:2]).all() else None
            if found is not None:
                out[i], keep[i] = found, True
        return out, keep
    ix, iy = (a[0].numpy() for a in source_pixels(mats, w, h))  # PIL's float64 last resort
    for i, (x0, y0, x1, y1) in enumerate(pixels):
        hit = (ix >= x0) & (ix < x1) & (iy >= y0) & (iy < y1)
        rows, cols = np.nonzero(hit.any(1))[0], np.nonzero(hit.any(0))[0]
        if len(rows):
            out[i], keep[i] = (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1), True
    return out, keep


def _warp(img: Image.Image, matrix: Matrix) -> Image.Image:
    return img.transform(
        img.size, Image.Transform.AFFINE, matrix, Image.Resampling.NEAREST, fillcolor=fill_of(img)
    )


# -- the rows ---------------------------------------------------------------------------------


def _geometry(base: str, only_box: bool) -> GeometryFn:
    """The matrix of ``base`` (Rotate, ShearX/Y, TranslateX/Y) at a level and sign: 30 degrees,
    shear 0.3, or 250 px (120 px inside a box) at level 1."""

    def matrix(level: float, sign: float, size: tuple[int, int]) -> Matrix:
        w, h = size
        if base == "Rotate":
            return affine_matrix("Rotate", 30.0 * level * sign, w, h)
        if base.startswith("Shear"):
            return affine_matrix(base, 0.3 * level * sign, w, h)
        pixels = (TRANSLATE_BOX_PX if only_box else TRANSLATE_PX) * level * sign
        return affine_matrix(base, pixels / (w if base == "TranslateX" else h), w, h)

    matrix.__qualname__ = f"{base}_matrix"
    return matrix


def _moved_in_box(base: str) -> InBoxFn:
    geometry = _geometry(base, only_box=True)

    def move(crop: Image.Image, level: float, sign: float, rng: random.Random) -> Image.Image:
        return _warp(crop, geometry(level, sign, crop.size))  # filled with grey

    move.__qualname__ = f"{base}_in_box"
    return move


def _cutout(img: Image.Image, cx: int, cy: int, pad: int) -> Image.Image:
    if pad <= 0:
        return img
    out = img.copy()
    box = (
        max(0, cx - pad),
        max(0, cy - pad),
        min(img.size[0], cx + pad),
        min(img.size[1], cy + pad),
    )
    if box[2] > box[0] and box[3] > box[1]:
        out.paste(fill_of(img), box)
    return out


def _cutout_in_box(crop: Image.Image, level: float, sign: float, rng: random.Random) -> Image.Image:
    pad = int(level * CUTOUT_BOX_PAD)
    return _cutout(crop, rng.randrange(crop.size[0]), rng.randrange(crop.size[1]), pad)


def _enhance(kind: str) -> ImageFn:
    def enhance(
        img: Image.Image, boxes: np.ndarray, level: float, sign: float, rng: random.Random
    ) -> Image.Image:
        enhancer: Any = getattr(ImageEnhance, kind)(img)
        return enhancer.enhance(level * 1.8 + 0.1)

    enhance.__qualname__ = f"enhance_{kind}"
    return enhance


def _classification(name: str) -> ImageFn:
    """AutoContrast, Equalize, Posterize, Solarize: the classification ops (levels 0..1)."""

    def run(
        img: Image.Image, boxes: np.ndarray, level: float, sign: float, rng: random.Random
    ) -> Image.Image:
        return apply_pil(img, name, level, sign, rng)

    run.__qualname__ = f"classification_{name}"
    return run


def _solarize_add(
    img: Image.Image, boxes: np.ndarray, level: float, sign: float, rng: random.Random
) -> Image.Image:
    add = int(level * 110)
    lut = [min(255, i + add) if i < 128 else i for i in range(256)] * len(img.getbands())
    return img.point(lut)


def _image_cutout(
    img: Image.Image, boxes: np.ndarray, level: float, sign: float, rng: random.Random
) -> Image.Image:
    w, h = img.size
    return _cutout(img, rng.randrange(w), rng.randrange(h), int(level * CUTOUT_PAD))


def _bbox_cutout(
    img: Image.Image, boxes: np.ndarray, level: float, sign: float, rng: random.Random
) -> Image.Image:
    """A grey hole in one random box, up to 0.75 * level of its size, made of the box's own
    pixels (the same centre rule, clipped to the image)."""
    if len(boxes) == 0:
        return img
    x0, y0, x1, y1 = boxes[rng.randrange(len(boxes))]
    bw, bh = x1 - x0, y1 - y0
    cx, cy = x0 + rng.random() * bw, y0 + rng.random() * bh
    pw, ph = level * 0.75 * bw / 2, level * 0.75 * bh / 2
    hole = [max(x0, cx - pw), max(y0, cy - ph), min(x1, cx + pw), min(y1, cy + ph)]
    left, top, right, bottom = box_pixels(np.array(hole), img.size)[0].tolist()
    if right <= left or bottom <= top:
        return img
    out = img.copy()
    out.paste(fill_of(img), (left, top, right, bottom))
    return out


for _base in ("Rotate", "ShearX", "ShearY", "TranslateX", "TranslateY"):
    _px = _base.startswith("Translate")
    register_detection_op(
        DetectionOp(f"{_base}_BBox", geometry=_geometry(_base, only_box=False), pixels=_px)
    )
    register_detection_op(
        DetectionOp(f"{_base}_Only_BBoxes", in_box=_moved_in_box(_base), pixels=_px)
    )
for _op in (
    DetectionOp("Flip_Only_BBoxes", in_box=lambda crop, lv, s, r: ImageOps.mirror(crop)),
    DetectionOp("Equalize_Only_BBoxes", in_box=lambda crop, lv, s, r: ImageOps.equalize(crop)),
    DetectionOp(
        "Solarize_Only_BBoxes", in_box=lambda crop, lv, s, r: apply_pil(crop, "Solarize", lv)
    ),
    DetectionOp("Cutout_Only_BBoxes", in_box=_cutout_in_box, pixels=True),
    *(DetectionOp(n, image=_classification(n)) for n in ("AutoContrast", "Equalize")),
    *(DetectionOp(n, image=_classification(n)) for n in ("Posterize", "Solarize")),
    DetectionOp("SolarizeAdd", image=_solarize_add),
    *(DetectionOp(n, image=_enhance(n)) for n in ("Color", "Contrast", "Brightness", "Sharpness")),
    DetectionOp("Cutout", image=_image_cutout, pixels=True),
    DetectionOp("BBox_Cutout", image=_bbox_cutout),
):
    register_detection_op(_op)

# The built-in names by shape (the table itself is the source; these are for tests and docs).
GEOMETRIC = frozenset(n for n, o in DETECTION_OPS_TABLE.items() if o.geometry is not None)
ONLY_BOXES = frozenset(n for n, o in DETECTION_OPS_TABLE.items() if o.in_box is not None)
IMAGE_OPS = frozenset(n for n, o in DETECTION_OPS_TABLE.items() if o.image is not None)
DETECTION_OPS = tuple(sorted(DETECTION_OPS_TABLE))


def _inside_box(
    img: Image.Image, box: np.ndarray, op: InBoxFn, level: float, sign: float, rng: random.Random
) -> Image.Image:
    x0, y0, x1, y1 = box_pixels(box, img.size)[0].tolist()
    if x1 <= x0 or y1 <= y0:
        return img  # no pixel of the box is in the image
    crop = op(img.crop((x0, y0, x1, y1)), level, sign, rng)
    out = img.copy()
    out.paste(crop, (x0, y0))
    return out


def apply_detection_op(
    img: Image.Image,
    boxes: np.ndarray,
    name: str,
    level: float,
    sign: float = 1.0,
    rng: random.Random | None = None,
    box_probability: float = 1.0,
    pixel_scale: PixelScale = 1.0,
) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """One detection op on an image and its boxes.

    Args:
        img: a PIL image, mode L or RGB.
        boxes: (N, 4) ``[x0, y0, x1, y1]`` pixel edges (anything numpy reads as that).
        name: a row of ``DETECTION_OPS_TABLE``.
        level: 0..1 (the policy level / 10).
        sign: +1 or -1, the direction of geometric ops.
        rng: the random stream; a fresh one when None.
        box_probability: each box's chance under an ``*_Only_BBoxes`` op.
        pixel_scale: multiplies the pixel magnitudes (translate 250 / 120 px, Cutout pad 100 /
            50 px at level 1); ``"auto"``: the image's shorter side / 640. 1.0: the reference.

    Returns:
        The image, the surviving boxes (M, 4) float64, and the (N,) bool mask of which input
        boxes survived (only geometric ops drop boxes).

    Raises:
        ConfigError: unknown op, or a ``pixel_scale`` that is not a number > 0 or ``"auto"``.
    """
    op = DETECTION_OPS_TABLE.get(name) if isinstance(name, str) else None
    if op is None:
        raise _unknown(name, "detection policy")
    scale = resolve_pixel_scale(pixel_scale, img.size)  # checked for every op
    if op.pixels:
        level = level * scale
    r = rng or random.Random()
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.ones(len(boxes), dtype=bool)
    if op.geometry is not None:
        m = op.geometry(level, sign, img.size)
        moved, keep = transform_boxes(boxes, m, img.size)
        return _warp(img, m), moved[keep], keep
    if op.in_box is not None:
        for box in boxes:
            if r.random() < box_probability:
                img = _inside_box(img, box, op.in_box, level, r.choice((-1.0, 1.0)), r)
        return img, boxes, keep
    assert op.image is not None  # DetectionOp checks that exactly one function is set
    return op.image(img, boxes, level, sign, r), boxes, keep


def check_pixel_scale(value: Any) -> PixelScale:
    """``value`` if it is a finite number > 0 or ``"auto"``.

    Raises:
        ConfigError: anything else (one line naming ``pixel_scale`` and what is allowed).
    """
    if isinstance(value, str) and value == "auto":
        return value
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(
            f"pixel_scale: {value!r}; allowed: a number > 0 (1.0: the reference 640-px "
            "magnitudes) or 'auto' (the image's shorter side / 640)"
        )
    return float(value)


def resolve_pixel_scale(value: Any, size: tuple[int, int]) -> float:
    """The factor on pixel magnitudes for an image of ``size`` (W, H): ``value``, or for
    ``"auto"`` ``min(W, H) / REFERENCE_SIZE`` (0.1 for a 64-px image).

    Raises:
        ConfigError: see ``check_pixel_scale``.
    """
    scale = check_pixel_scale(value)
    return min(size) / REFERENCE_SIZE if scale == "auto" else float(scale)


class DetectionAugment:
    """A learned detection policy (``detection_v0`` .. ``detection_v3``, a JSON file or a list
    of sub-policies of ``[op, probability, level 0..10]``) on (image, boxes[, labels]).

    ``pixel_scale`` multiplies the reference code's pixel magnitudes (translate 250 / 120 px,
    Cutout pad 100 / 50 px at level 10), which were set for 640-px COCO images: a number > 0, or
    ``"auto"``, each image's shorter side / 640 (Zoph et al. 2019 train RetinaNet at 640 x 640).
    The default 1.0 is the reference behaviour.

    Raises:
        ConfigError: a bad policy, or a ``pixel_scale`` that is not a number > 0 or ``"auto"``.
    """

    def __init__(
        self, policy: Any = "detection_v0", seed: int | None = None, pixel_scale: PixelScale = 1.0
    ) -> None:
        self.policy = load_detection_policy(policy)
        self.pixel_scale = check_pixel_scale(pixel_scale)
        self.rng = random.Random(seed)

    def __call__(self, img: Image.Image, boxes: Any, labels: Any = None) -> tuple[Any, ...]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        idx = np.arange(len(boxes))
        for name, p, level in self.rng.choice(self.policy):
            lv = float(level or 0) / MAX_LEVEL
            sign = self.rng.choice((-1.0, 1.0))
            if DETECTION_OPS_TABLE[name].in_box is not None:  # each box, a third of p
                img, boxes, _ = apply_detection_op(
                    img, boxes, name, lv, sign, self.rng, p / 3, self.pixel_scale
                )
            elif self.rng.random() < p:
                img, boxes, keep = apply_detection_op(
                    img, boxes, name, lv, sign, self.rng, pixel_scale=self.pixel_scale
                )
                idx = idx[keep]
        if labels is None:
            return img, boxes
        return img, boxes, np.asarray(labels)[idx]


def load_detection_policy(spec: Any) -> list[list[list[Any]]]:
    """``detection_v0`` .. ``detection_v3``, a JSON file, or the list; checked entry by entry.

    Raises:
        ConfigError: unreadable file, or an entry that is not ``[op, probability, level]`` with
            a known op, a probability in 0..1 and a level in 0..10 (or null).
    """
    raw = spec
    if isinstance(spec, str | Path):
        text = str(spec)
        if text.startswith("detection_"):
            raw = published_policy(text)
        else:
            try:
                raw = json.loads(Path(text).read_text())
            except (OSError, ValueError) as e:
                raise ConfigError(f"detection policy: cannot read {text}: {e}") from None
    if not isinstance(raw, list) or not raw:
        raise ConfigError("detection policy: expected a non-empty list of sub-policies")
    for i, sub in enumerate(raw):
        if not isinstance(sub, list) or not sub:
            raise ConfigError(f"detection policy: sub-policy {i} must be a non-empty list")
        for j, entry in enumerate(sub):
            at = f"detection policy: sub-policy {i} entry {j}"
            if not isinstance(entry, list | tuple) or len(entry) != 3:
                raise ConfigError(f"{at} must be [operation, probability, level]")
            op, p, level = entry
            if not isinstance(op, str) or op not in DETECTION_OPS_TABLE:
                raise _unknown(op, at)
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
                raise ConfigError(f"{at}: probability {p!r}; allowed: a number in 0..1")
            if level is not None and (
                isinstance(level, bool)
                or not isinstance(level, int | float)
                or not 0 <= level <= MAX_LEVEL
            ):
                raise ConfigError(f"{at}: level {level!r}; allowed: 0..{MAX_LEVEL}")
    return raw
