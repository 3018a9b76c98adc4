"""Property tests of nasbeyond.evaluate.pareto against brute force: the front, the fronts of the
non-dominated sort, crowding distances and 2-D hypervolume, on random point sets full of ties
and duplicates (small integer coordinates make them common)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nasbeyond.evaluate.pareto import (
    crowding,
    front_summary,
    hypervolume_2d,
    nondominated_sort,
    pareto_front,
)

# mostly small integers, so that equal coordinates and duplicate points are frequent
coord = st.one_of(
    st.integers(-3, 3).map(float),
    st.floats(-10, 10, allow_nan=False, allow_infinity=False),
)


def point_sets(dims: int, max_size: int = 24):
    return st.lists(st.tuples(*[coord] * dims), max_size=max_size)


some_dims = st.sampled_from([2, 3])


def beats(a, b) -> bool:
    """Brute-force dominance: nowhere worse and not equal."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and tuple(a) != tuple(b)


def brute_front(points, among) -> set[int]:
    return {i for i in among if not any(beats(points[j], points[i]) for j in among)}


def brute_fronts(points) -> list[set[int]]:
    left, fronts = set(range(len(points))), []
    while left:
        front = brute_front(points, left)
        fronts.append(front)
        left -= front
    return fronts


@given(st.data())
def test_pareto_front_is_the_non_dominated_set(data):
    points = data.draw(point_sets(data.draw(some_dims)))
    front = pareto_front(points)
    assert len(front) == len(set(front))
    assert set(front) == brute_front(points, range(len(points)))  # duplicates included


@given(point_sets(2))
def test_two_objective_front_comes_best_first_objective_first(points):
    xs = [points[i][0] for i in pareto_front(points)]
    assert xs == sorted(xs, reverse=True)


@given(st.data())
def test_nondominated_sort_peels_fronts(data):
    points = data.draw(point_sets(data.draw(some_dims)))
    fronts = nondominated_sort(points)
    assert [set(f) for f in fronts] == brute_fronts(points)
    assert sorted(i for f in fronts for i in f) == list(range(len(points)))


def brute_crowding(points, front) -> dict[int, float]:
    """Deb et al. 2002's distance, written without sorting: per objective, a member's
    neighbours are the nearest members by (value, position in ``front``); a member without one
    on either side is a boundary point (infinite distance)."""
    pos = {i: n for n, i in enumerate(front)}
    dist = {i: 0.0 for i in front}
    for k in range(len(points[front[0]]) if front else 0):
        values = [points[i][k] for i in front]
        span = max(values) - min(values)
        for i in front:
            key = (points[i][k], pos[i])
            below = [(points[j][k], pos[j]) for j in front if (points[j][k], pos[j]) < key]
            above = [(points[j][k], pos[j]) for j in front if (points[j][k], pos[j]) > key]
            if not below or not above:
                dist[i] = math.inf
            elif span > 0:
                dist[i] += (min(above)[0] - max(below)[0]) / span
    return dist


@given(st.data())
def test_crowding_distance_matches_its_definition(data):
    points = data.draw(point_sets(data.draw(some_dims)))
    front = data.draw(st.permutations(range(len(points))))  # any order: ties follow it
    got, want = crowding(points, front), brute_crowding(points, front)
    assert got.keys() == want.keys()
    for i in front:
        assert got[i] == pytest.approx(want[i], rel=1e-9, abs=1e-12)


def brute_hypervolume(points, ref) -> float:
    """Area of the union of the boxes [ref, p], summed over a grid of every coordinate."""
    inside = [p for p in points if p[0] > ref[0] and p[1] > ref[1]]
    xs = sorted({ref[0], *(p[0] for p in inside)})
    ys = sorted({ref[1], *(p[1] for p in inside)})
    area = 0.0
    for x0, x1 in zip(xs, xs[1:], strict=False):
        for y0, y1 in zip(ys, ys[1:], strict=False):
            if any(p[0] >= x1 and p[1] >= y1 for p in inside):
                area += (x1 - x0) * (y1 - y0)
    return area


@given(point_sets(2), st.tuples(coord, coord))
def test_hypervolume_matches_the_union_of_boxes(points, ref):
    assert hypervolume_2d(points, ref) == pytest.approx(
        brute_hypervolume(points, ref), rel=1e-9, abs=1e-9
    )


@given(point_sets(2), st.tuples(coord, coord), st.tuples(coord, coord))
def test_hypervolume_is_the_fronts_and_grows_with_points(points, ref, extra):
    hv = hypervolume_2d(points, ref)
    front_hv = hypervolume_2d([points[i] for i in pareto_front(points)], ref)
    assert front_hv == pytest.approx(hv, rel=1e-9, abs=1e-9)
    assert hypervolume_2d([*points, extra], ref) >= hv - 1e-9


values = st.one_of(coord, st.just(math.nan), st.just(math.inf))


@given(st.lists(st.tuples(values, values), max_size=16))
def test_front_summary_scores_finite_trials_and_breaks_ties_by_id(rows):
    metrics = [(tid, {"a": a, "b": b}) for tid, (a, b) in enumerate(rows, start=1)]
    summary = front_summary(metrics, "a:max,b:max")
    finite = {tid: (a, b) for tid, (a, b) in enumerate(rows, start=1) if math.isfinite(a + b)}
    assert summary["scored"] == len(finite)
    ids = list(finite)
    pts = list(finite.values())
    want = sorted(
        (ids[i] for i in brute_front(pts, range(len(pts)))),
        key=lambda t: (-finite[t][0], -finite[t][1], t),
    )
    assert summary["trials"] == want
