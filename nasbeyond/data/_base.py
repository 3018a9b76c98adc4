"""The in-memory dataset every loader returns, and the helpers loaders share."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nasbeyond.exceptions import DataError
from nasbeyond.trial import TaskShape

TEST_FRACTION = 0.2  # carved once, with a fixed seed, from datasets that ship no test split


@dataclass(frozen=True)
class Dataset:
    """Normalised float inputs and integer labels; the test split is for final reports only."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    vocab_size: int = 0  # token datasets: inputs are token ids 0..vocab_size-1 (0 = padding)
    categories: tuple[int, ...] = ()  # tabular: cardinalities of the leading categorical columns
    pixel_mean: tuple[float, ...] = ()  # images: per-channel statistics of the standardisation,
    pixel_std: tuple[float, ...] = ()  # to undo it for augmentation (pixels were in 0..1)

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
) -> Dataset:
    """Carve a test split if none is given, standardise with the training statistics
    (per channel for images, per column for flat features; the leading ``len(categories)``
    columns hold category codes and are left as they are) and convert to tensors."""
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
    mean = x_train.mean(axis=axes, keepdims=True)
    std = x_train.std(axis=axes, keepdims=True) + 1e-6
    if categories:
        mean[..., : len(categories)], std[..., : len(categories)] = 0.0, 1.0
    num_classes = int(max(y_train.max(), np.max(y_test)) + 1)
    return Dataset(
        name=name,
        x_train=torch.from_numpy((x_train - mean) / std),
        y_train=torch.from_numpy(y_train),
        x_test=torch.from_numpy((x_test - mean) / std),
        y_test=torch.from_numpy(np.asarray(y_test, dtype=np.int64)),
        num_classes=num_classes,
        categories=tuple(categories),
        pixel_mean=tuple(mean.ravel().tolist()) if x_train.ndim == 4 else (),
        pixel_std=tuple(std.ravel().tolist()) if x_train.ndim == 4 else (),
    )
