"""``pixel_scale`` on the detection ops: the pixel magnitudes (translate, Cutout pad) scale
exactly, ``"auto"`` sizes them to the image (shorter side / 640), boxes still follow the pixels,
other ops are untouched, bad values are one-line ConfigErrors; the ``detection-train`` evaluator
applies policies with ``"auto"`` unless told otherwise."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from PIL import Image

from nasbeyond.augment.detection import (
    DetectionAugment,
    apply_detection_op,
    resolve_pixel_scale,
)
from nasbeyond.cli import main
from nasbeyond.exceptions import ConfigError
from tests.train.test_detection_trainer import DATA_ARGS, SEARCH, _trainer


def _scene(w: int, h: int, box: list[int]) -> tuple[Image.Image, np.ndarray]:
    """A black image with one white object filling ``box`` exactly."""
    a = np.zeros((h, w), dtype=np.uint8)
    a[box[1] : box[3], box[0] : box[2]] = 255
    return Image.fromarray(a), np.array([box], dtype=float)


def _ink_box(img: Image.Image) -> list[int]:
    ys, xs = np.nonzero(np.asarray(img) == 255)
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


@pytest.mark.parametrize(("op", "axis"), [("TranslateX_BBox", 0), ("TranslateY_BBox", 1)])
def test_half_scale_halves_the_translation_exactly(op, axis):
    img, boxes = _scene(400, 400, [150, 150, 170, 180])
    shifts = {}
    for scale in (1.0, 0.5):  # level 0.4: 100 px at the reference scale, 50 px at half
        out, kept, keep = apply_detection_op(img, boxes, op, 0.4, 1.0, pixel_scale=scale)
        assert keep.tolist() == [True]
        shift = kept[0] - boxes[0]
        assert shift[1 - axis] == shift[3 - axis] == 0 and shift[axis] == shift[axis + 2]
        assert _ink_box(out) == kept[0].tolist()  # the object went where its box went
        shifts[scale] = shift[axis]
    assert shifts == {1.0: -100.0, 0.5: -50.0}  # sign +1 moves up / left, as the reference


def test_half_scale_halves_the_cutout_pad_exactly():
    img = Image.new("L", (500, 500), 255)  # Cutout fills with grey 128
    for scale, pad in ((1.0, 40), (0.5, 20)):  # level 0.4: a pad of 40 px at the reference
        out, _, _ = apply_detection_op(
            img, [], "Cutout", 0.4, rng=random.Random(3), pixel_scale=scale
        )
        r = random.Random(3)
        cx, cy = r.randrange(500), r.randrange(500)
        ys, xs = np.nonzero(np.asarray(out) == 128)
        hole = [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]
        want = [max(0, cx - pad), max(0, cy - pad), min(500, cx + pad), min(500, cy + pad)]
        assert hole == want


def test_auto_scales_to_a_64_px_image():
    assert resolve_pixel_scale("auto", (64, 64)) == pytest.approx(0.1)
    assert resolve_pixel_scale("auto", (96, 64)) == pytest.approx(0.1)  # the shorter side
    assert resolve_pixel_scale("auto", (640, 1280)) == 1.0
    assert resolve_pixel_scale(0.3, (9, 9)) == 0.3
    # detection_v0's TranslateX_BBox at level 4: 100 px moves every object out of a 64-px
    # scene; scaled to the image it is 10 px and the object stays, with its label
    img, boxes = _scene(64, 64, [20, 20, 40, 44])
    policy = [[["TranslateX_BBox", 1.0, 4]]]
    wiped = DetectionAugment(policy, seed=0)(img, boxes, labels=[7])
    assert len(wiped[1]) == 0 and len(wiped[2]) == 0
    for seed in range(4):
        out, kept, labels = DetectionAugment(policy, seed=seed, pixel_scale="auto")(
            img, boxes, labels=[7]
        )
        assert labels.tolist() == [7] and abs(kept[0, 0] - 20) == 10
        assert _ink_box(out) == kept[0].tolist()


@pytest.mark.parametrize("op", ["TranslateX_BBox", "TranslateY_BBox"])
@pytest.mark.parametrize("scale", [0.1, 0.37, "auto"])
@pytest.mark.parametrize("sign", [-1.0, 1.0])
def test_scaled_boxes_follow_the_pixels(op, scale, sign):
    img, boxes = _scene(90, 70, [30, 25, 52, 47])
    for level in (0.15, 0.5, 1.0):
        out, kept, keep = apply_detection_op(img, boxes, op, level, sign, pixel_scale=scale)
        if keep[0]:
            assert _ink_box(out) == kept[0].tolist(), (level, kept)
        else:
            assert not (np.asarray(out) == 255).any()


def test_scaled_translation_inside_a_box_stays_in_the_box():
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (64, 64), dtype=np.uint8))
    box = np.array([[10, 12, 42, 40]], dtype=float)
    ref, _, _ = apply_detection_op(img, box, "TranslateX_Only_BBoxes", 0.5, 1.0, random.Random(0))
    out, kept, _ = apply_detection_op(
        img, box, "TranslateX_Only_BBoxes", 0.5, 1.0, random.Random(0), pixel_scale="auto"
    )
    a, b = np.asarray(img), np.asarray(out)
    assert (np.asarray(ref)[12:40, 10:42] == 128).all()  # 60 px at the reference: all grey
    outside = np.ones_like(a, dtype=bool)
    outside[12:40, 10:42] = False
    assert np.array_equal(a[outside], b[outside]) and np.array_equal(kept, box)
    # auto: 6 px (120 px x 0.5 x 0.1), so the crop moved by 6 columns either way
    crop_a, crop_b = a[12:40, 10:42], b[12:40, 10:42]
    assert np.array_equal(crop_b[:, 6:], crop_a[:, :-6]) or np.array_equal(
        crop_b[:, :-6], crop_a[:, 6:]
    )


def test_ops_without_pixel_magnitudes_ignore_the_scale():
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    boxes = [[5, 5, 30, 40]]
    for op in ("Rotate_BBox", "ShearX_BBox", "Solarize", "BBox_Cutout", "Color"):
        a = apply_detection_op(img, boxes, op, 0.6, -1.0, random.Random(2))
        b = apply_detection_op(img, boxes, op, 0.6, -1.0, random.Random(2), pixel_scale=0.25)
        assert np.array_equal(np.asarray(a[0]), np.asarray(b[0])) and np.array_equal(a[1], b[1])


@pytest.mark.parametrize("bad", [0, -1.0, math.nan, math.inf, True, "big", None, [0.5]])
def test_bad_pixel_scales_are_one_line_config_errors(bad):
    for make in (
        lambda: DetectionAugment("detection_v0", pixel_scale=bad),
        lambda: apply_detection_op(Image.new("L", (8, 8)), [], "Cutout", 0.5, pixel_scale=bad),
        lambda: apply_detection_op(Image.new("L", (8, 8)), [], "Color", 0.5, pixel_scale=bad),
        lambda: _trainer(augment="detection_v0", pixel_scale=bad),
    ):
        with pytest.raises(ConfigError) as e:
            make()
        msg = str(e.value)
        assert msg.startswith("pixel_scale: ") and "allowed: a number > 0" in msg
        assert "'auto'" in msg and "\n" not in msg


def test_the_evaluator_scales_policies_to_the_image_unless_told(tmp_path):
    policy = tmp_path / "translate.json"  # 100 px at the reference: leaves a 32-px scene
    policy.write_text(json.dumps([[["TranslateX_BBox", 1.0, 4]]]))
    assert _trainer().pixel_scale == "auto" and DetectionAugment().pixel_scale == 1.0
    kept = {}
    for scale in ("auto", 1.0):
        ev = _trainer(augment=str(policy), pixel_scale=scale)
        d = ev.data()
        apply = ev.augmenter(seed=0)
        assert apply is not None
        _, boxes, labels = apply(d.images_train[:6], d.boxes_train[:6], d.labels_train[:6])
        assert [len(b) for b in boxes] == [len(lab) for lab in labels]
        kept[scale] = sum(len(b) for b in boxes)
    total = sum(len(b) for b in _trainer().data().boxes_train[:6])
    assert kept[1.0] == 0 and 0 < kept["auto"] <= total  # auto: 5 px on 32-px scenes


def test_a_bad_pixel_scale_from_the_cli_exits_2(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["search", *SEARCH, *DATA_ARGS, "--augment", "detection_v0"]
    assert main([*argv, "--evaluator-arg", "pixel_scale=0", "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pixel_scale: 0" in err[0]
