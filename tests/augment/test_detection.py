"""Detection ops on (image, boxes), property-based: boxes stay inside the image, follow the
pixels (a painted box region moves with its box), empty box lists work, boxes pushed out are
dropped with their labels; the published detection policies run."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from nasbeyond.augment.detection import (
    DETECTION_OPS,
    GEOMETRIC,
    DetectionAugment,
    apply_detection_op,
    load_detection_policy,
)
from nasbeyond.exceptions import ConfigError


@st.composite
def scenes(draw):
    w, h = draw(st.integers(16, 96)), draw(st.integers(16, 96))
    n = draw(st.integers(0, 4))
    boxes = []
    for _ in range(n):
        x0, y0 = draw(st.integers(0, w - 2)), draw(st.integers(0, h - 2))
        boxes.append([x0, y0, draw(st.integers(x0 + 1, w)), draw(st.integers(y0 + 1, h))])
    return w, h, np.array(boxes, dtype=float).reshape(-1, 4)


@settings(max_examples=150, deadline=None)
@given(
    scenes(),
    st.sampled_from(DETECTION_OPS),
    st.floats(0, 1),
    st.sampled_from([-1.0, 1.0]),
    st.integers(0, 99),
)
def test_boxes_stay_inside_and_shapes_hold(scene, op, level, sign, seed):
    w, h, boxes = scene
    img = Image.new("RGB", (w, h), (40, 90, 200))
    out, kept, mask = apply_detection_op(img, boxes, op, level, sign, random.Random(seed))
    assert out.size == (w, h) and out.mode == "RGB"
    assert kept.shape == (int(mask.sum()), 4) and mask.shape == (len(boxes),)
    if len(kept):
        assert (kept[:, 0] >= 0).all() and (kept[:, 1] >= 0).all()
        assert (kept[:, 2] <= w).all() and (kept[:, 3] <= h).all()
        assert (kept[:, 2] - kept[:, 0] >= 1).all() and (kept[:, 3] - kept[:, 1] >= 1).all()


@settings(max_examples=120, deadline=None)
@given(
    st.sampled_from(sorted(GEOMETRIC)),
    st.floats(0.05, 1),
    st.sampled_from([-1.0, 1.0]),
    st.integers(0, 20),
    st.integers(0, 20),
)
def test_boxes_follow_the_pixels(op, level, sign, bx, by):
    w = h = 100
    box = np.array([[30 + bx, 30 + by, 55 + bx, 50 + by]], dtype=float)
    img = Image.new("L", (w, h), 0)
    img.paste(255, tuple(int(v) for v in box[0]))  # the object: a white rectangle
    out, kept, mask = apply_detection_op(img, box, op, level, sign, random.Random(0))
    white = np.argwhere(np.asarray(out) == 255)
    if not mask[0]:  # pushed out of the image: nothing of the object may remain
        assert len(white) <= 2
        return
    if len(white) == 0:
        return
    (y0, x0), (y1, x1) = white.min(0), white.max(0) + 1
    bx0, by0, bx1, by1 = kept[0]
    tol = 1.0
    assert bx0 - tol <= x0 and by0 - tol <= y0 and x1 <= bx1 + tol and y1 <= by1 + tol
    if op.startswith("Translate"):  # a translation moves the box exactly with its object
        assert np.allclose([x0, y0, x1, y1], [max(bx0, 0), max(by0, 0), bx1, by1], atol=1)


@pytest.mark.parametrize("op", sorted(GEOMETRIC))
def test_empty_box_lists(op):
    img = Image.new("RGB", (32, 32))
    out, kept, mask = apply_detection_op(img, np.zeros((0, 4)), op, 0.5)
    assert kept.shape == (0, 4) and mask.shape == (0,)
    aug = DetectionAugment("detection_v0", seed=0)
    out, boxes, labels = aug(img, [], labels=[])
    assert boxes.shape == (0, 4) and len(labels) == 0


def test_boxes_pushed_out_are_dropped_with_their_labels():
    img = Image.new("RGB", (200, 100))
    boxes = np.array([[0, 10, 20, 30], [120, 10, 140, 40]], dtype=float)
    aug = DetectionAugment([[["TranslateX_BBox", 1.0, 2]]], seed=0)  # 50 px, either way
    lefts = set()
    for _ in range(20):
        _, kept, labels = aug(img, boxes, labels=["cat", "dog"])
        assert len(kept) == len(labels)
        if len(labels) == 2:  # moved right by 50: both survive
            assert list(labels) == ["cat", "dog"] and kept[0][0] == 50
        else:  # moved left by 50: the first box left the image
            assert list(labels) == ["dog"] and kept[0][0] == 70
        lefts.add(tuple(labels))
    assert lefts == {("cat", "dog"), ("dog",)}


def test_only_bbox_ops_leave_pixels_outside_boxes():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (64, 64, 3)).astype(np.uint8))
    boxes = np.array([[10, 10, 30, 40]], dtype=float)
    for op in sorted(o for o in DETECTION_OPS if o.endswith("_Only_BBoxes")):
        out, kept, _ = apply_detection_op(img, boxes, op, 0.8, 1.0, random.Random(1))
        a, b = np.asarray(img).copy(), np.asarray(out).copy()
        a[10:40, 10:30] = b[10:40, 10:30] = 0
        assert np.array_equal(a, b), op
        assert np.array_equal(kept, boxes)


@pytest.mark.parametrize("name", [f"detection_v{i}" for i in range(4)])
def test_published_detection_policies_run(name):
    aug = DetectionAugment(name, seed=1)
    img = Image.new("RGB", (120, 90), (90, 120, 60))
    for _ in range(10):
        out, boxes, labels = aug(img, [[10, 10, 60, 50], [70, 20, 110, 80]], labels=[1, 2])
        assert out.size == (120, 90) and len(boxes) == len(labels)


def test_bad_detection_policies():
    with pytest.raises(ConfigError, match="unknown operation 'Blur'"):
        load_detection_policy([[["Blur", 0.5, 3]]])
    with pytest.raises(ConfigError, match="level 11; allowed: 0..10"):
        load_detection_policy([[["Rotate_BBox", 0.5, 11]]])
