"""Datasets: every loader returns a normalised in-memory ``Dataset`` with a held-out test split."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from nasbeyond.data import builtin
from nasbeyond.data._base import Dataset, make_dataset, stratified_split
from nasbeyond.registry import lookup

__all__ = ["Dataset", "builtin", "load_dataset", "make_dataset", "stratified_split"]


def load_dataset(name: str, data_dir: str | None = None, **options: Any) -> Dataset:
    """Load a registered dataset by name (cached per process)."""
    return _cached(name, data_dir, tuple(sorted(options.items())))


@lru_cache(maxsize=4)
def _cached(name: str, data_dir: str | None, options: tuple[tuple[str, Any], ...]) -> Dataset:
    return lookup("dataset", name)(data_dir=data_dir, **dict(options))
