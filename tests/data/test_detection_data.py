"""Detection datasets: digit scenes (deterministic, boxes tight around each digit's ink) and
COCO-format folders (a folder written here reads back with its boxes and classes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from nasbeyond.data import load_dataset, load_detection_dataset
from nasbeyond.data.detection import INK, _mnist, digit_scenes, render_scene
from nasbeyond.exceptions import ConfigError, DataError

TINY = {"size": 32, "train_images": 6, "test_images": 3}


def test_digit_scenes_are_deterministic_and_well_formed() -> None:
    a, b = digit_scenes(**TINY), digit_scenes(**TINY)
    c = digit_scenes(**TINY, seed=1)
    assert torch.equal(a.images_train, b.images_train)
    assert all(torch.equal(x, y) for x, y in zip(a.boxes_train, b.boxes_train, strict=True))
    assert not torch.equal(a.images_train, c.images_train)
    assert a.images_train.shape == (6, 1, 32, 32) and a.images_test.shape == (3, 1, 32, 32)
    assert a.task.input_shape == (1, 32, 32) and a.task.num_classes == 10
    assert abs(float(a.images_train.mean())) < 1e-4  # standardised with train statistics
    for boxes, labels in zip(a.boxes_train, a.labels_train, strict=True):
        assert boxes.dtype == torch.float32 and labels.dtype == torch.int64
        assert 1 <= len(boxes) == len(labels) <= 6
        assert bool((boxes[:, 2:] > boxes[:, :2]).all()) and bool((boxes >= 0).all())
        assert bool((boxes <= 32).all()) and bool(((labels >= 0) & (labels < 10)).all())


def test_each_box_tightly_encloses_its_digit_ink() -> None:
    digits, classes = _mnist()
    rng = np.random.default_rng(3)
    for _ in range(20):
        image, boxes, labels = render_scene(digits[:200], classes[:200], 64, rng, clutter=False)
        ink = image > INK
        inside = np.zeros_like(ink)
        for x0, y0, x1, y1 in boxes.astype(int):
            patch = ink[y0:y1, x0:x1]
            # every edge row and column of the box holds ink: no slack on any side
            assert patch[0].any() and patch[-1].any() and patch[:, 0].any() and patch[:, -1].any()
            inside[y0:y1, x0:x1] = True
        assert not (ink & ~inside).any()  # no ink outside the boxes
        assert set(labels.tolist()) <= set(range(10))


def test_detection_and_classification_datasets_refuse_each_other() -> None:
    with pytest.raises(ConfigError, match="dataset: 'digit-scenes' is a detection dataset"):
        load_dataset("digit-scenes", **TINY)
    with pytest.raises(ConfigError, match="has no boxes; allowed for detection: digit-scenes"):
        load_detection_dataset("digits")
    with pytest.raises(ConfigError, match="size is 8; allowed: an integer in 16..256"):
        load_detection_dataset("digit-scenes", size=8)


def _write_coco(root, n: int = 5) -> list[list[float]]:
    """A COCO folder of ``n`` 40x20 RGB images, each with one white rectangle (category 7,
    "square") and one crowd annotation that must be left out."""
    (root / "images").mkdir(parents=True)
    images, anns, boxes = [], [], []
    for i in range(n):
        arr = np.zeros((20, 40, 3), np.uint8)
        x, y, w, h = 2 + 3 * i, 4, 10, 8
        arr[y : y + h, x : x + w] = 255
        Image.fromarray(arr).save(root / "images" / f"{i}.png")
        images.append({"id": 10 + i, "file_name": f"{i}.png", "width": 40, "height": 20})
        anns.append({"id": 100 + i, "image_id": 10 + i, "category_id": 7, "bbox": [x, y, w, h]})
        anns.append(
            {"id": 200 + i, "image_id": 10 + i, "category_id": 3, "bbox": [0, 0, 5, 5]}
            | {"iscrowd": 1}
        )
        boxes.append([x, y, x + w, y + h])
    cats = [{"id": 7, "name": "square"}, {"id": 3, "name": "crowd"}]
    doc = {"images": images, "annotations": anns, "categories": cats}
    (root / "annotations.json").write_text(json.dumps(doc))
    return boxes


def test_coco_folder_round_trip(tmp_path) -> None:
    boxes = _write_coco(tmp_path)
    d = load_detection_dataset("coco-folder", str(tmp_path), image_size=80)
    assert d.classes == ("crowd", "square")  # category ids in order: 3, 7
    assert d.images_train.shape == (4, 3, 80, 80) and d.images_test.shape == (1, 3, 80, 80)
    got = sorted(b.tolist()[0] for b in [*d.boxes_train, *d.boxes_test])
    assert got == sorted([[v * 2.0 for v in b] for b in boxes])  # scaled 40 -> 80 px
    assert all(lab.tolist() == [1] for lab in [*d.labels_train, *d.labels_test])
    # the image is letterboxed: the bottom half is padding, the box's pixels are white
    mean, std = d.pixel_mean[0], d.pixel_std[0]
    pixels = d.images_train[0, 0] * std + mean
    x0, y0, x1, y1 = (int(v) for v in d.boxes_train[0][0])
    assert float(pixels[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].min()) > 0.99
    assert float(pixels[40:].abs().max()) < 1e-4


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotations\[0\]\.bbox"),
        (lambda d: d["annotations"][0].update(category_id=99), "category_id 99 names no"),
        (lambda d: d["images"][0].pop("file_name"), r"images\[0\]\.file_name"),
        (lambda d: d.pop("categories"), "field 'categories' must be a list"),
    ],
)
def test_coco_folder_bad_fields_are_named(tmp_path, edit, message) -> None:
    _write_coco(tmp_path)
    doc = json.loads((tmp_path / "annotations.json").read_text())
    edit(doc)
    (tmp_path / "annotations.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=message):
        load_detection_dataset("coco-folder", str(tmp_path), image_size=32)


def test_coco_folder_without_annotations(tmp_path) -> None:
    with pytest.raises(DataError, match="has no annotations.json"):
        load_detection_dataset("coco-folder", str(tmp_path))


def test_coco_folder_unreadable_image_is_named(tmp_path) -> None:
    _write_coco(tmp_path)
    (tmp_path / "images" / "0.png").write_text("not a png")
    with pytest.raises(DataError, match=r"the image of id 10 \(file_name\): cannot read"):
        load_detection_dataset("coco-folder", str(tmp_path), image_size=32)
