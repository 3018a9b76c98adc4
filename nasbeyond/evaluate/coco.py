"""COCO-style detection metrics (AP, AP50, AP75, ...) computed by pycocotools' ``COCOeval``.

Ground truth and detections are handed over in memory, as tensors or arrays; they are put into
pycocotools' own ``COCO`` objects here (no files), so the figures are exactly those of the
COCO evaluation server's code (Lin et al., "Microsoft COCO: Common Objects in Context", ECCV
2014), with its defaults: IoU thresholds 0.50:0.05:0.95, 101 recall points, ``maxDets`` [1, 10,
100] and the area ranges small (< 32^2 px), medium, large (> 96^2 px).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require

# The names of COCOeval.stats, in its order (AR: average recall at 1, 10, 100 detections).
COCO_METRICS = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)


def _array(value: Any, shape: tuple[int, ...], dtype: Any, what: str) -> np.ndarray:
    """``value`` (a tensor or array-like) as a numpy array of ``shape`` (-1: any length)."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value, dtype=dtype)
    if arr.size == 0:
        return arr.reshape([0 if s == -1 else s for s in shape])
    try:
        return arr.reshape(shape)
    except ValueError:
        raise ConfigError(f"{what}: shape {arr.shape}; allowed: {shape}") from None


def _annotation(index: int, image: int, box: np.ndarray, label: Any) -> dict[str, Any]:
    """One COCO annotation of ``box`` (xyxy pixels) with class ``label`` on image ``image``
    (both 0-based here). Ids start at 1: COCOeval's matching reads id 0 as "unmatched"."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    return {
        "id": index + 1,
        "image_id": image + 1,
        "category_id": int(label) + 1,
        "bbox": [float(box[0]), float(box[1]), float(bw), float(bh)],
        "area": float(bw * bh),
        "iscrowd": 0,
    }


def coco_ap(
    ground_truth: Sequence[tuple[Any, Any]],
    predictions: Sequence[Mapping[str, Any]],
    image_size: int | tuple[int, int],
    num_classes: int | None = None,
) -> dict[str, float]:
    """COCO AP of ``predictions`` against ``ground_truth``, by pycocotools' ``COCOeval`` (bbox).

    Args:
        ground_truth: per image, ``(boxes, labels)``: boxes (K, 4) float ``[x0, y0, x1, y1]``
            in pixels (edges, the convention of ``nasbeyond.augment.detection``), labels (K,)
            int class indices 0..num_classes-1. Tensors or arrays; K may be 0.
        predictions: per image, in the same order, a mapping with ``boxes`` (D, 4) float,
            ``scores`` (D,) float and ``labels`` (D,) int, as a detector's ``detect`` returns.
        image_size: (width, height) of every image in pixels, or one int for squares (COCO
            records it; the area ranges use the boxes' own areas, w * h px).
        num_classes: number of classes (default: one more than the largest label seen).

    Returns:
        ``COCO_METRICS`` -> float: AP (mean over IoU 0.50:0.95), AP50, AP75, AP by object size,
        and average recall (AR1, AR10, AR100 and by size), each in 0..1; a metric with no
        ground truth to score (e.g. AP_large when no object is large) is -1, as in
        pycocotools. With ground truth but no detection at all, every AP and AR is 0.

    Raises:
        ConfigError: the two lists differ in length, or a box or label array has a bad shape
            (the message names it).
    """
    require("pycocotools", "detection", "evaluation", "COCO AP")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(ground_truth) != len(predictions):
        raise ConfigError(
            f"predictions: {len(predictions)} images; allowed: one per ground-truth image "
            f"({len(ground_truth)})"
        )
    w, h = (image_size, image_size) if isinstance(image_size, int) else image_size
    images: list[dict[str, Any]] = []
    gts: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    top = -1
    for i, ((boxes, labels), pred) in enumerate(zip(ground_truth, predictions, strict=True)):
        images.append({"id": i + 1, "width": int(w), "height": int(h)})
        b = _array(boxes, (-1, 4), np.float64, f"ground_truth[{i}] boxes")
        lab = _array(labels, (-1,), np.int64, f"ground_truth[{i}] labels")
        if len(b) != len(lab):
            raise ConfigError(f"ground_truth[{i}]: {len(b)} boxes but {len(lab)} labels")
        gts += [
            _annotation(len(gts) + k, i, box, c)
            for k, (box, c) in enumerate(zip(b, lab, strict=True))
        ]
        pb = _array(pred["boxes"], (-1, 4), np.float64, f"predictions[{i}] boxes")
        ps = _array(pred["scores"], (-1,), np.float64, f"predictions[{i}] scores")
        pl = _array(pred["labels"], (-1,), np.int64, f"predictions[{i}] labels")
        if not len(pb) == len(ps) == len(pl):
            raise ConfigError(
                f"predictions[{i}]: {len(pb)} boxes, {len(ps)} scores, {len(pl)} labels; "
                "allowed: one score and label per box"
            )
        dets += [
            {**_annotation(len(dets) + k, i, box, c), "score": float(s)}
            for k, (box, s, c) in enumerate(zip(pb, ps, pl, strict=True))
        ]
        top = max(top, int(lab.max(initial=-1)), int(pl.max(initial=-1)))
    k = num_classes if num_classes is not None else top + 1
    categories = [{"id": c + 1, "name": str(c)} for c in range(max(k, 0))]
    if not gts:
        return dict.fromkeys(COCO_METRICS, -1.0)  # nothing to find: AP is undefined
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        coco_gt, coco_dt = COCO(), COCO()
        coco_gt.dataset = {"images": images, "annotations": gts, "categories": categories}
        coco_dt.dataset = {"images": images, "annotations": dets, "categories": categories}
        coco_gt.createIndex()
        coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return {name: float(v) for name, v in zip(COCO_METRICS, ev.stats, strict=True)}
