"""Datasets: every loader returns a normalised in-memory ``Dataset`` with a held-out test split."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from nasbeyond.data import builtin, listops
from nasbeyond.data._base import Dataset, make_dataset, stratified_split
from nasbeyond.data._summary import summary
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import check_arguments, lookup, parameters

__all__ = [
    "Dataset",
    "builtin",
    "listops",
    "load_dataset",
    "make_dataset",
    "stratified_split",
    "summary",
]


def load_dataset(name: str, data_dir: str | None = None, **options: Any) -> Dataset:
    """Load a registered dataset by name (cached per process)."""
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
def _cached(name: str, data_dir: str | None, options: str) -> Dataset:
    try:
        return lookup("dataset", name)(data_dir=data_dir, **json.loads(options))
    except (TypeError, ValueError) as e:
        raise ConfigError(f"dataset_args: {name}: {e}") from None
