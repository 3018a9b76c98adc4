"""Tabular NAS benchmark data shipped with nasbeyond (see each folder's README for provenance),
and its reader. Ground floor: imports nothing of nasbeyond, so spaces and evaluators both read
the tables."""

from __future__ import annotations

import csv
import gzip
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np


@dataclass(frozen=True)
class NB201Table:
    """All 15,625 rows: ``index`` maps arch strings to rows, ``cols`` holds float columns."""

    index: dict[str, int]
    cols: dict[str, np.ndarray]


def _read(name: str) -> tuple[list[str], list[list[str]]]:
    path = resources.files("nasbeyond.benchdata") / "nb201" / name
    with path.open("rb") as raw, gzip.open(raw, "rt", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@lru_cache(maxsize=1)
def load_table() -> NB201Table:
    head, rows = _read("nb201.csv.gz")
    cols = {
        h: np.array([float(r[i]) for r in rows])
        for i, h in enumerate(head)
        if h not in ("index", "arch_str")
    }
    index = {r[1]: i for i, r in enumerate(rows)}
    lat_head, lat_rows = _read("nb201_latency_ms.csv.gz")
    for i, h in enumerate(lat_head[1:], start=1):
        cols[f"latency_ms_{h}"] = np.array([float(r[i]) for r in lat_rows])
    return NB201Table(index, cols)


def latency_devices() -> list[str]:
    return sorted(
        c.removeprefix("latency_ms_") for c in load_table().cols if c.startswith("latency_ms_")
    )
