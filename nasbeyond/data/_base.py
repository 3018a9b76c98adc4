"""The in-memory dataset every loader returns, and the helpers loaders share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from nasbeyond.exceptions import DataError
from nasbeyond.trial import TaskShape

if TYPE_CHECKING:
    from nasbeyond.data.stream import ImageStream

TEST_FRACTION = 0.2  # carved once, with a fixed seed, from datasets that ship no test split


@dataclass(frozen=True)
class Dataset:
    """Normalised float inputs and integer labels; the test split is for final reports only.

    ``x_*`` are float32 tensors of shape (N, *input_shape) (images (N, C, H, W), flat features
    (N, F), token ids (N, L)), or, for image sets streamed from disk, ``ImageStream``s of the
    same shape that yield such tensors a batch at a time; ``y_*`` are int64 class indices
    0..num_classes-1 of shape (N,).
    ``classes`` names the classes where the source does (a CSV's labels, image folders);
    ``about`` holds (topic, text) pairs a loader adds to ``summary``'s account of what it read.
    """

    name: str
    x_train: torch.Tensor | ImageStream
    y_train: torch.Tensor
    x_test: torch.Tensor | ImageStream
    y_test: torch.Tensor
    num_classes: int
    vocab_size: int = 0  # token datasets: inputs are token ids 0..vocab_size-1 (0 = padding)
    categories: tuple[int, ...] = ()  # tabular: cardinalities of the leading categorical columns
    pixel_mean: tuple[float, ...] = ()  # images: per-channel statistics of the standardisation,
    pixel_std: tuple[float, ...] = ()  # to undo it for augmentation (pixels were in 0..1)
    classes: tuple[str, ...] = ()  # class names by index, where the source names them
    about: tuple[tuple[str, str], ...] = ()  # (topic, text): how a loader read its source

    @property
    def task(self) -> TaskShape:
        shape = tuple(self.x_train.shape[1:])
        return TaskShape(shape, self.num_classes, self.vocab_size, self.categories)


def stratified_split(
    y: np.ndarray, fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (kept, held_out) with ``fraction`` of every class held out."""
    rng = np.random.default_rng(seed)
    held: list[np.ndarray] = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        rng.shuffle(idx)
        held.append(idx[: max(1, round(len(idx) * fraction))] if len(idx) > 1 else idx[:0])
    held_out = np.sort(np.concatenate(held))
    kept = np.setdiff1d(np.arange(len(y)), held_out)
    return rng.permutation(kept), rng.permutation(held_out)


def make_dataset(
    name: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
    categories: tuple[int, ...] = (),
    classes: tuple[str, ...] = (),
    about: tuple[tuple[str, str], ...] = (),
) -> Dataset:
    """Carve a test split if none is given, standardise with the training statistics and
    convert to tensors.

    Args:
        name: the dataset's registered name.
        x_train: inputs, (N, C, H, W) images (standardised per channel) or (N, F) features
            (standardised per column; the leading ``len(categories)`` columns hold category
            codes and are left as they are). NaN marks a missing feature value: it becomes the
            column's training mean (0 after standardisation).
        y_train: (N,) integer class indices 0..K-1.
        x_test: held-out inputs; None carves a stratified ``TEST_FRACTION`` from the train set.
        y_test: held-out labels, given with ``x_test``.
        categories: cardinalities of the leading categorical columns.
        classes: class names by index (optional).
        about: (topic, text) pairs for ``summary``.

    Raises:
        DataError: fewer than 2 classes, or too few rows to hold out a test split.
    """
    y_train = np.asarray(y_train, dtype=np.int64)
    if len(np.unique(y_train)) < 2:
        raise DataError(
            f"data_dir: dataset {name!r} needs at least 2 classes, found {len(np.unique(y_train))}"
        )
    if x_test is None or y_test is None:
        keep, test = stratified_split(y_train, TEST_FRACTION)
        if len(test) == 0 or len(keep) < 2:
            raise DataError(
                f"data_dir: dataset {name!r} has too few samples ({len(y_train)}) to hold out "
                "a test split"
            )
        x_train, x_test, y_train, y_test = (
            x_train[keep],
            x_train[test],
            y_train[keep],
            y_train[test],
        )
    x_train = np.asarray(x_train, dtype=np.float32)
    x_test = np.asarray(x_test, dtype=np.float32)
    axes = (0, 2, 3) if x_train.ndim == 4 else (0,)
    gaps = bool(np.isnan(x_train).any() or np.isnan(x_test).any())
    mean = (np.nanmean if gaps else np.mean)(x_train, axis=axes, keepdims=True)
    std = (np.nanstd if gaps else np.std)(x_train, axis=axes, keepdims=True) + 1e-6
    mean, std = np.nan_to_num(mean), np.nan_to_num(std, nan=1.0)  # a column empty in train
    if categories:
        mean[..., : len(categories)], std[..., : len(categories)] = 0.0, 1.0
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    if gaps:  # a missing value is the training mean: 0 once standardised
        x_train, x_test = np.nan_to_num(x_train, nan=0.0), np.nan_to_num(x_test, nan=0.0)
    num_classes = int(max(y_train.max(), np.max(y_test)) + 1)
    return Dataset(
        name=name,
        x_train=torch.from_numpy(x_train),
        y_train=torch.from_numpy(y_train),
        x_test=torch.from_numpy(x_test),
        y_test=torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
        num_classes=num_classes,
        categories=tuple(categories),
        pixel_mean=tuple(mean.ravel().tolist()) if x_train.ndim == 4 else (),
        pixel_std=tuple(std.ravel().tolist()) if x_train.ndim == 4 else (),
        classes=tuple(classes),
        about=tuple(about),
    )
