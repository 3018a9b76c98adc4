"""Bounding-box-aware augmentation for object detection (Zoph et al., "Learning Data Augmentation
Strategies for Object Detection", 2019) on (PIL image, boxes). Boxes are an (N, 4) float array
of pixel coordinates ``[x0, y0, x1, y1]`` (edges, so a box of the whole image is
``[0, 0, W, H]``).

- Geometric ``*_BBox`` ops (Rotate, ShearX/Y, TranslateX/Y) move the image and its boxes
  together: each box becomes the bounding box of its transformed corners, clipped to the image;
  boxes left with no width or height are dropped (their labels too).
- ``*_Only_BBoxes`` ops change only the pixels inside each box, each box on its own with the
  entry's probability / 3 (the reference code's rule); ``BBox_Cutout`` cuts a hole in one box.
- Colour ops and ``Cutout`` act on the whole image as in classification.

Levels are the detection policies' 0..10 with the reference code's hyper-parameters (translate
250 px, 120 px inside boxes, Cutout pad 100 px, 50 px inside boxes, grey 128 fill). As for
classification, a higher level always changes more (Posterize keeps 8 - 4 * level / 10 bits,
Solarize's threshold falls from 256); the four enhance ops use the reference mapping
factor = level / 10 * 1.8 + 0.1, as the policies were learned with it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

from nasbeyond.augment.ops import affine_matrix, apply_pil, fill_of
from nasbeyond.augment.transforms import published_policy
from nasbeyond.exceptions import ConfigError

MAX_LEVEL = 10
TRANSLATE_PX, TRANSLATE_BOX_PX, CUTOUT_PAD, CUTOUT_BOX_PAD = 250, 120, 100, 50
GEOMETRIC = {"Rotate_BBox", "ShearX_BBox", "ShearY_BBox", "TranslateX_BBox", "TranslateY_BBox"}
ONLY_BOXES = {
    "Rotate_Only_BBoxes",
    "ShearX_Only_BBoxes",
    "ShearY_Only_BBoxes",
    "TranslateX_Only_BBoxes",
    "TranslateY_Only_BBoxes",
    "Flip_Only_BBoxes",
    "Equalize_Only_BBoxes",
    "Solarize_Only_BBoxes",
    "Cutout_Only_BBoxes",
}
IMAGE_OPS = {
    "AutoContrast",
    "Equalize",
    "Posterize",
    "Solarize",
    "SolarizeAdd",
    "Color",
    "Contrast",
    "Brightness",
    "Sharpness",
    "Cutout",
    "BBox_Cutout",
}
DETECTION_OPS = tuple(sorted(GEOMETRIC | ONLY_BOXES | IMAGE_OPS))


def _geometry(
    name: str, level: float, sign: float, size: tuple[int, int], only_box: bool
) -> tuple[float, ...]:
    base = name.split("_")[0]  # Rotate, ShearX, ShearY, TranslateX, TranslateY
    w, h = size
    if base == "Rotate":
        return affine_matrix("Rotate", 30.0 * level * sign, w, h)
    if base.startswith("Shear"):
        return affine_matrix(base, 0.3 * level * sign, w, h)
    pixels = (TRANSLATE_BOX_PX if only_box else TRANSLATE_PX) * level * sign
    frac = pixels / (w if base == "TranslateX" else h)
    return affine_matrix(base, frac, w, h)


def transform_boxes(
    boxes: np.ndarray, matrix: tuple[float, ...], size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes after the affine map whose output -> input ``matrix`` moved the pixels: the
    bounding boxes of their mapped corners, clipped to the image; and which boxes survive."""
    if len(boxes) == 0:
        return boxes.reshape(0, 4), np.zeros(0, dtype=bool)
    a, b, c, d, e, f = matrix
    inv = np.linalg.inv(np.array([[a, b, c], [d, e, f], [0.0, 0.0, 1.0]]))
    x0, y0, x1, y1 = boxes.T
    corners = np.stack(
        [np.stack([x0, y0]), np.stack([x1, y0]), np.stack([x0, y1]), np.stack([x1, y1])]
    )  # (4, 2, N)
    xs = inv[0, 0] * corners[:, 0] + inv[0, 1] * corners[:, 1] + inv[0, 2]
    ys = inv[1, 0] * corners[:, 0] + inv[1, 1] * corners[:, 1] + inv[1, 2]
    w, h = size
    out = np.stack(
        [xs.min(0).clip(0, w), ys.min(0).clip(0, h), xs.max(0).clip(0, w), ys.max(0).clip(0, h)],
        axis=1,
    )
    keep = (out[:, 2] - out[:, 0] >= 1) & (out[:, 3] - out[:, 1] >= 1)
    return out, keep


def _enhance(img: Image.Image, name: str, level: float) -> Image.Image:
    enhancer: Any = getattr(ImageEnhance, name)(img)
    return enhancer.enhance(level * 1.8 + 0.1)


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


def _image_op(
    img: Image.Image, boxes: np.ndarray, name: str, level: float, sign: float, rng: random.Random
) -> Image.Image:
    if name in ("Color", "Contrast", "Brightness", "Sharpness"):
        return _enhance(img, name, level)
    if name == "SolarizeAdd":
        add = int(level * 110)
        lut = [min(255, i + add) if i < 128 else i for i in range(256)] * len(img.getbands())
        return img.point(lut)
    if name == "Cutout":
        w, h = img.size
        return _cutout(img, rng.randrange(w), rng.randrange(h), int(level * CUTOUT_PAD))
    if name == "BBox_Cutout":
        if len(boxes) == 0:
            return img
        x0, y0, x1, y1 = boxes[rng.randrange(len(boxes))]
        bw, bh = x1 - x0, y1 - y0
        cx, cy = x0 + rng.random() * bw, y0 + rng.random() * bh
        pw, ph = level * 0.75 * bw / 2, level * 0.75 * bh / 2
        out = img.copy()
        l, t = int(round(max(x0, cx - pw))), int(round(max(y0, cy - ph)))
        r, b = int(round(min(x1, cx + pw))), int(round(min(y1, cy + ph)))
        if r > l and b > t:
            out.paste(fill_of(img), (l, t, r, b))
        return out
    # AutoContrast, Equalize, Posterize, Solarize: the classification ops (levels 0..1)
    return apply_pil(img, name, level, sign, rng)


def _inside_box(
    img: Image.Image, box: np.ndarray, name: str, level: float, sign: float, rng: random.Random
) -> Image.Image:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    if x1 - x0 < 1 or y1 - y0 < 1:
        return img
    crop = img.crop((x0, y0, x1, y1))
    base = name.replace("_Only_BBoxes", "")
    if base == "Flip":
        crop = ImageOps.mirror(crop)
    elif base == "Equalize":
        crop = ImageOps.equalize(crop)
    elif base == "Solarize":
        crop = apply_pil(crop, "Solarize", level)
    elif base == "Cutout":
        pad = int(level * CUTOUT_BOX_PAD)
        crop = _cutout(crop, rng.randrange(crop.size[0]), rng.randrange(crop.size[1]), pad)
    else:  # Rotate, ShearX/Y, TranslateX/Y inside the box, filled with grey
        m = _geometry(name, level, sign, crop.size, only_box=True)
        crop = crop.transform(
            crop.size, Image.Transform.AFFINE, m, Image.Resampling.NEAREST, fillcolor=fill_of(crop)
        )
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
) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """One op at ``level`` (0..1 = policy level / 10) on an image and its boxes; returns the
    image, the surviving boxes and the boolean mask of which input boxes survived.
    ``box_probability`` is the per-box chance of an ``*_Only_BBoxes`` op."""
    r = rng or random.Random()
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    keep = np.ones(len(boxes), dtype=bool)
    if name in GEOMETRIC:
        m = _geometry(name, level, sign, img.size, only_box=False)
        img = img.transform(
            img.size, Image.Transform.AFFINE, m, Image.Resampling.NEAREST, fillcolor=fill_of(img)
        )
        moved, keep = transform_boxes(boxes, m, img.size)
        return img, moved[keep], keep
    if name in ONLY_BOXES:
        for box in boxes:
            if r.random() < box_probability:
                img = _inside_box(img, box, name, level, r.choice((-1.0, 1.0)), r)
        return img, boxes, keep
    if name in IMAGE_OPS:
        return _image_op(img, boxes, name, level, sign, r), boxes, keep
    raise ConfigError(
        f"detection policy: unknown operation {name!r}; allowed: {', '.join(DETECTION_OPS)}"
    )


class DetectionAugment:
    """A learned detection policy (``detection_v0`` .. ``detection_v3``, a JSON file or a list
    of sub-policies of ``[op, probability, level 0..10]``) on (image, boxes[, labels])."""

    def __init__(self, policy: Any = "detection_v0", seed: int | None = None) -> None:
        self.policy = load_detection_policy(policy)
        self.rng = random.Random(seed)

    def __call__(self, img: Image.Image, boxes: Any, labels: Any = None) -> tuple[Any, ...]:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        idx = np.arange(len(boxes))
        for name, p, level in self.rng.choice(self.policy):
            lv = float(level or 0) / MAX_LEVEL
            sign = self.rng.choice((-1.0, 1.0))
            if name in ONLY_BOXES:  # each box on its own, at a third of the probability
                img, boxes, _ = apply_detection_op(img, boxes, name, lv, sign, self.rng, p / 3)
            elif self.rng.random() < p:
                img, boxes, keep = apply_detection_op(img, boxes, name, lv, sign, self.rng)
                idx = idx[keep]
        if labels is None:
            return img, boxes
        return img, boxes, np.asarray(labels)[idx]


def load_detection_policy(spec: Any) -> list[list[list[Any]]]:
    """``detection_v0`` .. ``detection_v3``, a JSON file, or the list; checked entry by entry."""
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
            if op not in DETECTION_OPS:
                raise ConfigError(
                    f"{at}: unknown operation {op!r}; allowed: {', '.join(DETECTION_OPS)}"
                )
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
                raise ConfigError(f"{at}: probability {p!r}; allowed: a number in 0..1")
            if level is not None and (
                isinstance(level, bool)
                or not isinstance(level, int | float)
                or not 0 <= level <= MAX_LEVEL
            ):
                raise ConfigError(f"{at}: level {level!r}; allowed: 0..{MAX_LEVEL}")
    return raw
