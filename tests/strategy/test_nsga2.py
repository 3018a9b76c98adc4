"""NSGA-II's selection: Deb et al. 2002's crowded comparison, rank first, crowding only among
equal ranks, compared as tuples; and what it learns from failures."""

import math

from nasbeyond.space import MLPSpace
from nasbeyond.strategy import NSGA2
from nasbeyond.strategy._nsga2 import crowded_keys
from nasbeyond.trial import Trial

# Issue 12, fault 1: (a, b), both maximised. The first five are the best front, three of them
# duplicates (crowding 0 for the middle one); (0.5, 0.5) is alone in the second front.
FAULT_1 = [(3, 0), (1, 1), (1, 1), (1, 1), (0, 3), (0.5, 0.5)]


def told(points, population_size, nan_at=()):
    s = NSGA2(MLPSpace(), seed=0, objectives="a:max,b:max", population_size=population_size)
    for i, (a, b) in enumerate(points, start=1):
        arch = s.ask()
        metrics = {"a": math.nan if i in nan_at else a, "b": b}
        s.tell(Trial(i, arch, "ok", float(a), metrics))
    return s


def test_fault1_the_whole_best_front_survives():
    s = told(FAULT_1, population_size=5)
    survivors = sorted(tuple(v) for _, v in s.state_dict()["population"])
    assert survivors == sorted([(3, 0), (1, 1), (1, 1), (1, 1), (0, 3)])


def test_fault1_rank_decides_before_crowding():
    keys = crowded_keys(FAULT_1)
    assert keys[2] == (0, -0.0)  # the middle duplicate: best rank, no crowding distance
    assert keys[5] == (1, -math.inf)  # second front, alone: infinite crowding distance
    assert keys[2] < keys[5]  # the crowded comparison's winner (a folded float tied them)
    assert max(range(6), key=lambda i: keys[i]) == 5  # the one selection removes


def test_tournaments_use_the_same_order():
    s = told(FAULT_1, population_size=6)  # no one removed: both fronts in the population
    parents = []
    s.space.mutate = lambda arch, rng: parents.append(arch) or MLPSpace().mutate(arch, rng)
    for _ in range(60):
        s.ask()
    second_front = s.state_dict()["population"][5][0]
    # (0.5, 0.5) loses every tournament it enters, so it is never a parent
    assert parents and second_front not in parents


def test_nan_objectives_never_join_the_population():
    s = told([(1, 1), (2, 0), (0, 2)], population_size=5, nan_at=(2,))
    assert sorted(tuple(v) for _, v in s.state_dict()["population"]) == [(0, 2), (1, 1)]
