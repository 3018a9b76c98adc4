"""What a loaded dataset holds, in a few lines a person can check before a search spends hours on
it (``nasbeyond search --check`` prints them): rows, inputs, target, task, classes and their
balance, missing values, and whatever its loader says about how it read the source."""

from __future__ import annotations

import numpy as np
import torch

from nasbeyond.data._base import Dataset
from nasbeyond.data.detection import DetectionDataset, detection_summary

LIST_CLASSES = 12  # up to this many classes are listed one by one
BALANCED = 1.5  # largest / smallest class size up to which a dataset is called balanced


def _input(d: Dataset) -> str:
    shape = tuple(d.x_train.shape[1:])
    if d.vocab_size:
        return (
            f"token sequences of length {shape[0]}, vocabulary {d.vocab_size} (0 = padding)"
            if len(shape) == 1
            else f"token ids of shape {'x'.join(map(str, shape))}, vocabulary {d.vocab_size}"
        )
    if len(shape) == 3:
        c, h, w = shape
        return f"images {c}x{h}x{w} (channels x height x width), standardised per channel"
    if len(shape) == 1:
        k = len(d.categories)
        text = f"{shape[0]} features: {shape[0] - k} numeric"
        text += " (standardised)" if shape[0] > k else ""
        return text + (
            f", {k} categorical (values: {', '.join(map(str, d.categories))})" if k else ""
        )
    return f"inputs of shape {'x'.join(map(str, shape))}"


def _balance(d: Dataset) -> str:
    y = np.concatenate([d.y_train.numpy(), d.y_test.numpy()])
    counts = np.bincount(y, minlength=d.num_classes)
    names = (
        list(d.classes) if len(d.classes) == d.num_classes else list(map(str, range(len(counts))))
    )
    share = counts / counts.sum()
    if len(counts) <= LIST_CLASSES:
        listed = ", ".join(
            f"{n!r} {c} ({p:.1%})" for n, c, p in zip(names, counts, share, strict=True)
        )
    else:
        lo, hi = int(np.argmin(counts)), int(np.argmax(counts))
        listed = (
            f"smallest {names[lo]!r} {counts[lo]} ({share[lo]:.1%}), "
            f"largest {names[hi]!r} {counts[hi]} ({share[hi]:.1%})"
        )
    present = counts[counts > 0]
    ratio = present.max() / present.min()
    if ratio <= BALANCED:
        verdict = "balanced"
    else:
        hi = int(np.argmax(counts))
        verdict = (
            f"imbalanced: the largest class has {ratio:.1f}x the rows of the smallest; always "
            f"answering {names[hi]!r} scores {share[hi]:.1%} accuracy"
        )
    empty = len(counts) - len(present)
    gaps = f"; {empty} class index(es) have no rows" if empty else ""
    return f"{len(counts)}, {verdict}{gaps}: {listed}"


def summary(dataset: Dataset) -> str:
    """What ``dataset`` holds, one ``topic: text`` line per topic.

    Topics, in order: dataset, file and header (where the loader read a file), rows (train /
    test), input (shape and kind; features as numeric / categorical counts), target (the column,
    for tables), task, classes (count, each class's rows and share, or the smallest and largest
    beyond ``LIST_CLASSES``, and whether they are balanced), missing values. A loader's ``about``
    entries replace the generic text of the same topic.

    Args:
        dataset: any loaded dataset (``load_dataset(...)``).

    Returns:
        Newline-separated lines, no trailing newline.
    """
    if isinstance(dataset, DetectionDataset):  # images with boxes: their own account
        return detection_summary(dataset)
    d = dataset
    n_train, n_test = len(d.y_train), len(d.y_test)
    bad = sum(  # streamed images are uint8 until the batch: always finite
        int((~np.isfinite(x.numpy())).sum())
        for x in (d.x_train, d.x_test)
        if isinstance(x, torch.Tensor)
    )
    lines: dict[str, str] = {
        "dataset": d.name,
        "rows": f"{n_train + n_test}: {n_train} train (validation is drawn from these), "
        f"{n_test} test",
        "input": _input(d),
        "task": f"classification into {d.num_classes} classes",
        "classes": _balance(d),
        "missing values": f"{bad} non-finite input values" if bad else "none",
    }
    about = dict(d.about)
    if "task" in about:  # the loader's reason for reading the target as classes
        about["task"] = f"{lines['task']}: {about['task']}"
    order = ["dataset", "file", "header", "rows", "input", "target", "task", "classes"]
    order += ["missing values"] + [
        k for k in about if k not in lines and k not in ("file", "header", "target")
    ]
    merged = {**lines, **about}
    return "\n".join(f"{k}: {merged[k]}" for k in order if k in merged)
