"""Detection ops on (image, boxes), property-based: boxes stay inside the image and follow the
pixels exactly (a painted object is exactly its moved box, at the borders too), ops inside boxes
touch only the box's pixels, empty box lists work, boxes pushed out are dropped with their
labels; the published detection policies run."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from nasbeyond.augment.detection import (
    DETECTION_OPS,
    GEOMETRIC,
    ONLY_BOXES,
    DetectionAugment,
    apply_detection_op,
    box_pixels,
    load_detection_policy,
    transform_boxes,
)
from nasbeyond.augment.ops import source_pixels
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


def object_and_box(op, level, sign, box, size=(100, 100)):
    """A white object filling ``box`` on black, moved by ``op``; the white pixels' bounding
    box (None when none is left), the kept box and whether it was kept."""
    img = Image.new("L", size, 0)
    img.paste(255, tuple(int(v) for v in box))
    out, kept, mask = apply_detection_op(
        img, np.array([box], float), op, level, sign, random.Random(0)
    )
    white = np.argwhere(np.asarray(out) == 255)
    seen = None
    if len(white):
        (y0, x0), (y1, x1) = white.min(0), white.max(0) + 1
        seen = [x0, y0, x1, y1]
    return seen, kept, bool(mask[0])


@given(
    st.sampled_from(sorted(GEOMETRIC)),
    st.floats(0, 1),
    st.sampled_from([-1.0, 1.0]),
    st.integers(-45, 75),
    st.integers(-45, 75),
)
@example("TranslateY_BBox", 0.25, -1.0, 1, 7)  # issue 22: one row left at y = 99, box dropped
@example("TranslateX_BBox", 0.2257, -1.0, 13, 10)  # issue 22: one column left at x = 99
@example("TranslateY_BBox", 0.25, 1.0, 1, 7)  # the other way: the box leaves the image
@example("Rotate_BBox", 1.0, 1.0, -45, 75)  # a corner box, rotated a full 30 degrees
def test_boxes_follow_the_pixels(op, level, sign, bx, by):
    box = [30 + bx, 30 + by, 55 + bx, 50 + by]  # partly outside the image where bx, by reach
    seen, kept, was_kept = object_and_box(op, level, sign, box)
    # the object is exactly the kept box: no white pixel outside it, none of it without a box
    assert was_kept == (seen is not None)
    if was_kept:
        assert kept[0].tolist() == seen


def test_translate_y_keeps_the_last_row_of_an_object():
    # issue 22: 62 px down moves rows 37..56 to 99..118; row 99 (25 white pixels) stays
    seen, kept, was_kept = object_and_box("TranslateY_BBox", 0.25, -1.0, [31, 37, 56, 57])
    assert was_kept and kept[0].tolist() == [31, 99, 56, 100] == seen


def test_translate_x_keeps_the_last_column_of_an_object():
    # issue 22: 56 px right moves columns 43..67 to 99..123; column 99 (20 white pixels) stays
    seen, kept, was_kept = object_and_box("TranslateX_BBox", 0.2257, -1.0, [43, 40, 68, 60])
    assert was_kept and kept[0].tolist() == [99, 40, 100, 60] == seen


@st.composite
def maps_and_boxes(draw):
    """An affine map of any of PIL's three engines and fractional boxes, partly outside."""
    w, h = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    kind = draw(st.sampled_from(["shift", "scale", "fixed", "float"]))
    a0, a4 = 1.0, 1.0
    a1 = a3 = 0.0
    a2, a5 = draw(st.floats(-50, 50)), draw(st.floats(-50, 50))
    if kind == "scale":
        a0, a4 = draw(st.sampled_from([-1.0, 0.5, 2.0])), draw(st.sampled_from([1.0, -1.0, 1.5]))
    elif kind == "fixed":
        a0, a1, a3, a4 = (draw(st.floats(-1.5, 1.5)) for _ in range(4))
    elif kind == "float":  # rows start 40000 away and sweep back across the image
        k = draw(st.integers(1, 40))
        a1, a3, a5 = draw(st.floats(-1, 1)), -4e4 / k + draw(st.floats(-0.5, 0.5)), 4e4
    boxes = []
    for _ in range(draw(st.integers(1, 4))):
        x0, y0 = draw(st.floats(-10, w + 5)), draw(st.floats(-10, h + 5))
        boxes.append([x0, y0, x0 + draw(st.floats(0, w + 10)), y0 + draw(st.floats(0, h + 10))])
    return (a0, a1, a2, a3, a4, a5), np.array(boxes), (w, h)


@given(maps_and_boxes())
def test_a_moved_box_holds_exactly_the_moved_pixels(case):
    matrix, boxes, (w, h) = case
    moved, keep = transform_boxes(boxes, matrix, (w, h))
    ix, iy = (
        a[0].numpy() for a in source_pixels(torch.tensor([matrix], dtype=torch.float64), w, h)
    )
    for box, pixels, new, kept in zip(boxes, box_pixels(boxes, (w, h)), moved, keep, strict=True):
        x0, y0, x1, y1 = pixels
        hit = (ix >= x0) & (ix < x1) & (iy >= y0) & (iy < y1)  # output pixels from this box
        assert kept == hit.any(), box
        if kept:
            rows, cols = np.nonzero(hit.any(1))[0], np.nonzero(hit.any(0))[0]
            expect = [cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]
            assert box_pixels(new, (w, h))[0].tolist() == expect, box
            assert 0 <= new[0] < new[2] <= w and 0 <= new[1] < new[3] <= h


@given(
    st.sampled_from(sorted(ONLY_BOXES)),
    st.floats(0, 1),
    st.floats(-8, 30),
    st.floats(-8, 30),
    st.floats(0, 30),
    st.floats(0, 30),
    st.integers(0, 99),
)
def test_ops_inside_boxes_touch_only_the_box_pixels(op, level, x0, y0, bw, bh, seed):
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (24, 20, 3)).astype(np.uint8))  # 20 wide
    box = np.array([[x0, y0, x0 + bw, y0 + bh]])
    out, kept, _ = apply_detection_op(img, box, op, level, 1.0, random.Random(seed))
    assert np.array_equal(kept, box)
    px0, py0, px1, py1 = box_pixels(box, img.size)[0]
    a, b = np.asarray(img).copy(), np.asarray(out).copy()
    if op == "Flip_Only_BBoxes":  # the box's own pixels, mirrored: nothing from outside it
        assert np.array_equal(b[py0:py1, px0:px1], a[py0:py1, px0:px1][:, ::-1])
    a[py0:py1, px0:px1] = b[py0:py1, px0:px1] = 0
    assert np.array_equal(a, b)


@given(st.floats(-8, 30), st.floats(-8, 30), st.floats(0, 30), st.floats(0, 30), st.integers(0, 99))
def test_bbox_cutout_cuts_inside_its_box(x0, y0, bw, bh, seed):
    img = Image.new("RGB", (20, 24), (10, 20, 30))
    box = np.array([[x0, y0, x0 + bw, y0 + bh]])
    out, _, _ = apply_detection_op(img, box, "BBox_Cutout", 1.0, 1.0, random.Random(seed))
    px0, py0, px1, py1 = box_pixels(box, img.size)[0]
    changed = np.argwhere((np.asarray(out) != np.asarray(img)).any(-1))
    assert ((changed >= [py0, px0]) & (changed < [py1, px1])).all()


def test_flip_inside_a_box_at_the_border_mirrors_only_what_is_in_the_image():
    img = Image.fromarray(np.arange(20 * 10, dtype=np.uint8).reshape(10, 20))
    out, _, _ = apply_detection_op(img, [[15, 2, 30, 8]], "Flip_Only_BBoxes", 0.5)
    a, b = np.asarray(img), np.asarray(out)
    assert np.array_equal(b[2:8, 15:20], a[2:8, 15:20][:, ::-1])  # no black from outside
    assert np.array_equal(np.asarray(ImageOps.mirror(img.crop((15, 2, 20, 8)))), b[2:8, 15:20])


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
