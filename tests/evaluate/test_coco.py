"""coco_ap on hand-made cases whose COCO AP is known."""

from __future__ import annotations

import pytest
import torch

from nasbeyond.evaluate.coco import COCO_METRICS, coco_ap
from nasbeyond.exceptions import ConfigError

GT = [
    (torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 36.0]]), torch.tensor([0, 2])),
    (torch.tensor([[5.0, 5.0, 25.0, 15.0]]), torch.tensor([1])),
]


def _pred(boxes, labels, scores=None):
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    scores = torch.full((len(boxes),), 0.9) if scores is None else torch.tensor(scores)
    return {"boxes": boxes, "scores": scores, "labels": torch.tensor(labels, dtype=torch.int64)}


def test_perfect_predictions_score_one() -> None:
    preds = [_pred(b.tolist(), lab.tolist()) for b, lab in GT]
    ap = coco_ap(GT, preds, image_size=64, num_classes=3)
    assert set(ap) == set(COCO_METRICS)
    assert ap["AP"] == pytest.approx(1.0) and ap["AP50"] == pytest.approx(1.0)
    assert ap["AP75"] == pytest.approx(1.0) and ap["AR100"] == pytest.approx(1.0)
    assert ap["AP_large"] == -1.0  # no object over 96^2 px: undefined, as pycocotools says


def test_a_box_at_iou_061_counts_for_ap50_not_ap75() -> None:
    # shifted 2.4 px right: IoU = 7.6 * 10 / (200 - 76) = 0.613, a hit at IoU 0.50, 0.55, 0.60
    gt = [(torch.tensor([[0.0, 0.0, 10.0, 10.0]]), torch.tensor([0]))]
    ap = coco_ap(gt, [_pred([[2.4, 0.0, 12.4, 10.0]], [0])], image_size=(32, 16))
    assert ap["AP50"] == pytest.approx(1.0)
    assert ap["AP75"] == pytest.approx(0.0)
    assert ap["AP"] == pytest.approx(0.3)  # 3 of the 10 IoU thresholds


def test_no_predictions_wrong_class_and_half_found() -> None:
    empty = [_pred([], []) for _ in GT]
    assert all(coco_ap(GT, empty, 64)[k] == 0.0 for k in ("AP", "AP50", "AP75", "AR100"))
    wrong = [_pred(b.tolist(), ((lab + 1) % 3).tolist()) for b, lab in GT]
    assert coco_ap(GT, wrong, 64, num_classes=3)["AP50"] == pytest.approx(0.0)
    # two objects of one class, one found: precision 1 up to recall 0.5 -> 51 of 101 points
    gt = [(torch.tensor([[0.0, 0.0, 8.0, 8.0], [20.0, 20.0, 30.0, 30.0]]), torch.tensor([0, 0]))]
    half = coco_ap(gt, [_pred([[0.0, 0.0, 8.0, 8.0]], [0])], 32)
    assert half["AP"] == pytest.approx(51 / 101)
    # a false positive scored above the hit halves the precision at every recall point
    fp = _pred([[40.0, 40.0, 50.0, 50.0], [0.0, 0.0, 8.0, 8.0]], [0, 0], [0.9, 0.8])
    assert coco_ap(gt, [fp], 64)["AP"] == pytest.approx(0.5 * 51 / 101)


def test_bad_inputs_name_the_field() -> None:
    with pytest.raises(ConfigError, match="predictions: 1 images"):
        coco_ap(GT, [_pred([], [])], 64)
    with pytest.raises(ConfigError, match=r"predictions\[0\]: 1 boxes, 1 scores, 2 labels"):
        coco_ap(GT[:1], [_pred([[0, 0, 1, 1]], [0, 1])], 64)
    assert coco_ap([(torch.zeros(0, 4), torch.zeros(0))], [_pred([], [])], 8)["AP"] == -1.0
