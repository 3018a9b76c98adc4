"""Video sets: moving-digits is labelled by motion only (its first frames are shared by every
class), generated the same way from a seed; video-folder reads a user's clips and names a bad
file in one line."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from nasbeyond.data.video import (
    DIGIT_PX,
    class_names,
    moving_digits,
    render,
    speeds_px,
    video_folder,
)
from nasbeyond.exceptions import DataError

SMALL = {"train": 32, "test": 8, "frames": 4, "size": 24}


@pytest.fixture(scope="module")
def clips():
    return moving_digits(**SMALL)


def test_shapes_streams_and_balanced_motion_labels(clips):
    assert tuple(clips.x_train.shape) == (32, 2, 4, 24, 24)
    assert tuple(clips.x_test.shape) == (8, 2, 4, 24, 24)
    assert clips.task.input_shape == (2, 4, 24, 24) and clips.num_classes == 8
    assert clips.classes[:2] == ("right-slow", "right-fast")
    assert np.bincount(clips.y_train.numpy(), minlength=8).tolist() == [4] * 8
    # stream 1 is the difference of consecutive frames of stream 0 (before standardising: zero
    # at t=0 means one constant value there)
    assert clips.x_train[:, 1, 0].unique().numel() == 1


def test_the_first_frame_does_not_tell_the_class(clips):
    # Every first frame (digit image and position) occurs once in every class, so no classifier
    # of frame 0 (appearance, place) can beat chance: only the motion carries the label.
    by_first = defaultdict(set)
    for x, y in zip(clips.x_train[:, 0, 0].numpy(), clips.y_train.tolist(), strict=True):
        by_first[x.tobytes()].add(y)
    assert len(by_first) == 32 // 8
    assert all(labels == set(range(8)) for labels in by_first.values())
    # ...while the clips of a group differ (no clip appears under two labels)
    assert len({x.tobytes() for x in clips.x_train[:, 0].numpy()}) == 32


def test_seeded_and_deterministic():
    a, b = moving_digits(**SMALL), moving_digits(**SMALL)
    assert a.x_train.equal(b.x_train) and a.y_test.equal(b.y_test)
    c = moving_digits(**SMALL, seed=1)
    assert not c.x_train.equal(a.x_train)


def test_motion_bounces_or_wraps_at_the_edge():
    digit = np.ones((DIGIT_PX, DIGIT_PX), dtype=np.float32)
    size, free = 24, 24 - DIGIT_PX
    right = render(digit, (0, 2), "right", 3, "bounce", 4, size)
    cols = [np.flatnonzero(f.any(axis=0)) for f in right]
    assert [c[0] for c in cols] == [2, 5, 8, 9]  # 11 is past the free range 10: back to 9
    wrap = render(digit, (0, free), "right", 3, "wrap", 2, size)
    row = wrap[1, 0]  # at 13: columns 13..23, then 0..2 across the edge
    assert row[:3].all() and not row[3:13].any() and row[13:].all()
    slow, fast = speeds_px(size, 4)
    assert slow * 3 >= free and fast == 2 * slow  # every clip meets an edge


@pytest.mark.parametrize(
    ("labels", "n"), [("bounce", 2), ("speed+direction", 8), ("direction+speed+bounce", 16)]
)
def test_label_sets(labels, n):
    assert len(class_names(tuple(f for f in ("direction", "speed", "bounce") if f in labels))) == n
    d = moving_digits(train=2 * n, test=4, frames=4, size=24, labels=labels)
    assert d.num_classes == n and len(set(d.y_train.tolist())) == n


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"labels": "colour"}, "labels"),
        ({"frames": 2}, "frames"),
        ({"train": 3}, "train"),
    ],
)
def test_bad_arguments_name_the_field(args, field):
    with pytest.raises(DataError, match=field):
        moving_digits(**{**SMALL, **args})


def _folder(tmp_path, shape=(4, 6, 6)):
    rng = np.random.default_rng(0)
    for cls in ("jump", "wave"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            np.save(tmp_path / cls / f"{i}.npy", rng.integers(0, 255, shape, dtype=np.uint8))
    return tmp_path


def test_folder_of_clips(tmp_path):
    root = _folder(tmp_path)
    np.save(root / "wave" / "rgb.npy", np.zeros((4, 3, 6, 6), dtype=np.float32))  # channels
    d = video_folder(str(root))
    assert d.classes == ("jump", "wave") and d.num_classes == 2
    assert tuple(d.x_train.shape[1:]) == (2, 4, 6, 6)
    assert len(d.y_train) + len(d.y_test) == 11


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("notes.txt", "hello", "not a .npy file"),
        ("flat.npy", np.zeros((6, 6)), r"shape \(6, 6\)"),
        ("short.npy", np.zeros((3, 6, 6)), "same T, H and W"),
        ("text.npy", np.array([["a"] * 6] * 6 * 4).reshape(4, 6, 6), "dtype <U1"),
        ("broken.npy", b"\x93NUMPY garbage", "does not load"),
        ("nan.npy", np.full((4, 6, 6), np.nan), "NaN"),
    ],
)
def test_a_bad_file_is_named(tmp_path, name, content, match):
    root = _folder(tmp_path)
    path = root / "jump" / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    else:
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    with pytest.raises(DataError, match=match) as e:
        video_folder(str(root))
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="needs a folder"):
        video_folder(None)
    with pytest.raises(DataError, match="not a folder"):
        video_folder(str(tmp_path / "missing"))
    (tmp_path / "only").mkdir()
    with pytest.raises(DataError, match="1 class folders"):
        video_folder(str(tmp_path))
