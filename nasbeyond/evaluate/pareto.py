"""Objectives, Pareto fronts and hypervolume for multi-objective search.

An objective is a metric name and a direction, written ``metric:max`` or ``metric:min``; the
aliases ``accuracy`` (val_acc:max), ``latency`` (latency_ms:min), ``params`` and ``macs`` (min)
cover the usual ones. Internally every objective is turned into a value to maximise.

Points are sequences of floats, all maximised; equal points are duplicates, and neither
dominates the other, so duplicates of a non-dominated point are all on the front.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nasbeyond.exceptions import ConfigError

ALIASES = {
    "accuracy": "val_acc:max",
    "latency": "latency_ms:min",
    "params": "params:min",
    "macs": "macs:min",
}


@dataclass(frozen=True)
class Objective:
    metric: str
    maximize: bool

    @classmethod
    def parse(cls, text: str) -> Objective:
        spec = ALIASES.get(text.strip(), text.strip())
        metric, _, direction = spec.partition(":")
        if not metric or direction not in ("max", "min"):
            raise ConfigError(
                f"objectives: {text!r} is not METRIC:max or METRIC:min (or one of "
                f"{', '.join(ALIASES)})"
            )
        return cls(metric, direction == "max")

    def value(self, metrics: dict[str, Any]) -> float:
        """The metric as a number to maximise; KeyError when the trial did not report it."""
        v = float(metrics[self.metric])
        return v if self.maximize else -v


def parse_objectives(spec: str | Sequence[str]) -> list[Objective]:
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    objs = [Objective.parse(p) for p in parts if p.strip()]
    if len(objs) < 2:
        raise ConfigError("objectives: give at least two, e.g. accuracy,latency")
    return objs


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good everywhere and better somewhere (maximisation)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def nondominated_sort(points: Sequence[Sequence[float]]) -> list[list[int]]:
    """Fronts of indices, best first (Deb et al. 2002's fast non-dominated sort)."""
    n = len(points)
    beaten_by = [0] * n
    beats: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            if dominates(points[i], points[j]):
                beats[i].append(j)
                beaten_by[j] += 1
            elif dominates(points[j], points[i]):
                beats[j].append(i)
                beaten_by[i] += 1
    fronts = [[i for i in range(n) if beaten_by[i] == 0]]
    while fronts[-1]:
        nxt = []
        for i in fronts[-1]:
            for j in beats[i]:
                beaten_by[j] -= 1
                if beaten_by[j] == 0:
                    nxt.append(j)
        fronts.append(nxt)
    return fronts[:-1]


def crowding(points: Sequence[Sequence[float]], front: Sequence[int]) -> dict[int, float]:
    """Crowding distance of each member of ``front`` (Deb et al. 2002, section III-B).

    Per objective the members are sorted by value, equal values keeping their order in
    ``front``; the first and last get infinity, every other member adds the gap between its
    two neighbours divided by the objective's range (nothing when the range is zero).
    """
    dist = {i: 0.0 for i in front}
    for k in range(len(points[front[0]]) if front else 0):
        order = sorted(front, key=lambda i: points[i][k])  # stable: ties keep front order
        lo, hi = points[order[0]][k], points[order[-1]][k]
        dist[order[0]] = dist[order[-1]] = float("inf")
        if hi > lo:
            for a, i, b in zip(order, order[1:], order[2:], strict=False):
                dist[i] += (points[b][k] - points[a][k]) / (hi - lo)
    return dist


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (every objective maximised), duplicates included,
    in order of descending first objective (ties: the later objectives, then the index).

    One sweep in that order: no point can be dominated by a point after it, so each point is
    compared only with the front kept so far (two objectives: with the best second objective
    so far; more: vectorised against the whole front). 0.24 s for 10,000 random points of three
    objectives on one core here, where peeling every front with ``nondominated_sort`` takes
    minutes (7.5 s at 2,000)."""
    if not points:
        return []
    if len(points[0]) != 2:
        pts = np.asarray(points, dtype=float)
        sweep = np.lexsort(
            (np.arange(len(pts)),) + tuple(-pts[:, k] for k in range(pts.shape[1] - 1, -1, -1))
        )
        kept = np.empty_like(pts)
        n_kept = 0
        front_nd: list[int] = []
        for i in sweep.tolist():
            p = pts[i]
            f = kept[:n_kept]
            if n_kept and bool(np.any((f >= p).all(axis=1) & (f > p).any(axis=1))):
                continue
            kept[n_kept] = p
            n_kept += 1
            front_nd.append(i)
        return front_nd
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1], i))
    front: list[int] = []
    best: tuple[float, float] | None = None  # the front point with the highest y so far
    for i in order:
        x, y = points[i][0], points[i][1]
        # Every earlier point has x' >= x: this one survives only above the best y so far,
        # or as an exact duplicate of the point that set it.
        if best is None or y > best[1] or (x, y) == best:
            front.append(i)
            best = (x, y)
    return front


def hypervolume_2d(points: Sequence[Sequence[float]], ref: Sequence[float]) -> float:
    """Area dominated by ``points`` and bounded below by ``ref`` (both objectives maximised)."""
    pts = sorted({(x, y) for x, y in points if x > ref[0] and y > ref[1]}, reverse=True)
    area, best_y = 0.0, ref[1]
    for x, y in pts:  # descending x: each point adds the slab above the best y so far
        if y > best_y:
            area += (x - ref[0]) * (y - best_y)
            best_y = y
    return area


def front_summary(
    metrics: Sequence[tuple[int, dict[str, Any]]], objectives: str | Sequence[str]
) -> dict[str, Any]:
    """The Pareto front of ``(trial id, metrics)`` pairs under ``objectives``: the front's trial
    ids (best first objective first) and, for two objectives, its hypervolume with every
    objective scaled to [0, 1] by the range the trials span (reference point: the worst value
    seen of each), so 1.0 would be one trial best at both. Trials without a finite value of
    every objective are not scored. The front is ordered on every objective in turn, then by
    trial id (compared as a tuple, so ties come out the same way on every call)."""
    objs = parse_objectives(objectives)
    scored: list[tuple[int, dict[str, Any]]] = []
    points: list[list[float]] = []
    for tid, m in metrics:
        try:
            values = [o.value(m) for o in objs]
        except (KeyError, TypeError, ValueError):
            continue
        if all(math.isfinite(v) for v in values):
            scored.append((tid, m))
            points.append(values)
    front = sorted(pareto_front(points), key=lambda i: (*(-v for v in points[i]), scored[i][0]))
    hv = None
    if len(objs) == 2 and points:
        lo = [min(p[k] for p in points) for k in range(2)]
        span = [max(p[k] for p in points) - lo[k] or 1.0 for k in range(2)]
        scaled = [[(p[k] - lo[k]) / span[k] for k in range(2)] for p in points]
        hv = hypervolume_2d([scaled[i] for i in front], (0.0, 0.0))
    return {
        "objectives": [f"{o.metric}:{'max' if o.maximize else 'min'}" for o in objs],
        "trials": [scored[i][0] for i in front],
        "scored": len(scored),
        "hypervolume": hv,
    }
