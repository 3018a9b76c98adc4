"""Datasets: every loader returns a normalised in-memory ``Dataset`` with a held-out test split."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from nasbeyond.data import builtin, listops
from nasbeyond.data._base import Dataset, make_dataset, stratified_split
from nasbeyond.data._summary import summary
from nasbeyond.data.detection import DETECTION_DATASETS, DetectionDataset
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import check_arguments, lookup, parameters

__all__ = [
    "Dataset",
    "DetectionDataset",
    "builtin",
    "listops",
    "load_any",
    "load_dataset",
    "load_detection_dataset",
    "make_dataset",
    "stratified_split",
    "summary",
]


def load_dataset(name: str, data_dir: str | None = None, **options: Any) -> Dataset:
    """Load a registered classification dataset by name (cached per process).

    Raises:
        ConfigError: an unknown option, or ``name`` is a detection dataset (it has boxes: see
            ``load_detection_dataset``).
    """
    data = load_any(name, data_dir, **options)
    if isinstance(data, DetectionDataset):
        raise ConfigError(
            f"dataset: {name!r} is a detection dataset (images with boxes); use it with "
            "--evaluator detection-train"
        )
    return data


def load_detection_dataset(
    name: str, data_dir: str | None = None, **options: Any
) -> DetectionDataset:
    """Load a registered detection dataset by name (cached per process, as ``load_dataset``).

    Raises:
        ConfigError: ``name`` is a classification dataset, or an option is unknown.
        DataError: the files are unreadable or inconsistent (the message names the field).
    """
    data = load_any(name, data_dir, **options)
    if not isinstance(data, DetectionDataset):
        raise ConfigError(
            f"dataset: {name!r} has no boxes; allowed for detection: "
            + ", ".join(DETECTION_DATASETS)
        )
    return data


def load_any(name: str, data_dir: str | None = None, **options: Any) -> Any:
    """Load a registered dataset of any kind by name (cached per process): a ``Dataset``, a
    ``DetectionDataset``, or whatever a plugin's loader returns."""
    allowed = [p for p in parameters("dataset", name) if p != "data_dir"]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(
            f"dataset_args: unknown argument {unknown[0]!r} for dataset {name!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        )
    check_arguments("dataset", name, options)  # types: one line naming the argument
    if data_dir is not None and not isinstance(data_dir, str):
        raise ConfigError(f"data_dir: expected a path, got {data_dir!r}")
    return _cached(name, data_dir, json.dumps(options, sort_keys=True, default=str))


@lru_cache(maxsize=4)
def _cached(name: str, data_dir: str | None, options: str) -> Any:
    try:
        return lookup("dataset", name)(data_dir=data_dir, **json.loads(options))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"dataset_args: {name}: {e}") from None
