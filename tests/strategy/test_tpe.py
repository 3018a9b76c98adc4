import json
from functools import partial

import numpy as np
import pytest

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator
from nasbeyond.run import MemoryStore, run
from nasbeyond.space import MLPSpace, NB201Space
from nasbeyond.space.nb201 import OPS
from nasbeyond.strategy import TPE, RandomSearch
from nasbeyond.testing import StrategyContract
from nasbeyond.trial import Trial


def best_signal(strategy, queries=60):
    store = MemoryStore()
    run(strategy.space, strategy, NB201TableEvaluator(), store=store, trials=queries)
    return max(t.reward for t in store.trials())


def test_tpe_beats_random_search_on_nb201():
    tpe = np.mean([best_signal(TPE(NB201Space(), seed=s)) for s in range(8)])
    rnd = np.mean([best_signal(RandomSearch(NB201Space(), seed=s)) for s in range(8)])
    assert tpe > rnd


def test_tpe_never_repeats_an_arch():
    s = TPE(NB201Space(), seed=0, n_startup=5)
    store = MemoryStore()
    run(s.space, s, NB201TableEvaluator(), store=store, trials=80)
    keys = [tuple(t.arch["edges"]) for t in store.trials()]
    assert len(keys) == len(set(keys)) == 80


def fault2_tpe():
    """Issue 12, fault 2: TPE(MLPSpace(), seed=0, n_startup=8) told 1 ok trial (0.9), 7 failed."""
    s = TPE(MLPSpace(), seed=0, n_startup=8)
    archs = [s.ask() for _ in range(8)]
    for i, arch in enumerate(archs, start=1):
        if i == 5:
            s.tell(Trial(i, arch, "ok", 0.9))
        else:
            s.tell(Trial(i, arch, "failed", None, error="RuntimeError: injected"))
    return s, archs[4]


def test_fault2_good_density_is_built_from_the_ok_trial_alone():
    s, ok_arch = fault2_tpe()
    good, bad = s.groups()
    assert len(good) == 1 and bad == []  # failed trials are in neither density
    assert s.space.from_choices(good[0]) == ok_arch
    l_x, g_x = s.densities()
    for d, (choice, k) in enumerate(zip(good[0], s.sizes, strict=True)):
        # prior weight 1 spread over k choices, plus the one good trial
        expected = np.full(k, 1 / k / 2)
        expected[choice] += 1 / 2
        np.testing.assert_allclose(l_x[d], expected)
        np.testing.assert_allclose(g_x[d], np.full(k, 1 / k))  # the prior alone
    s.space.validate(s.ask())  # the model is in use (8 finished trials) and proposes


def test_nan_and_non_ok_rewards_are_failures():
    s = TPE(MLPSpace(), seed=0, n_startup=4, gamma=0.5)
    archs = [s.ask() for _ in range(4)]
    outcomes = [("ok", 0.2), ("ok", float("nan")), ("pruned", 0.99), ("ok", 0.1)]
    for i, (arch, (status, reward)) in enumerate(zip(archs, outcomes, strict=True), start=1):
        s.tell(Trial(i, arch, status, reward))
    good, bad = s.groups()
    assert [s.space.from_choices(c) for c in good] == [archs[0]]
    assert [s.space.from_choices(c) for c in bad] == [archs[3]]


def test_multivariate_kernels_follow_optunas_categorical_weights():
    s = TPE(NB201Space(), seed=0, multivariate=True, prior_weight=1.0)
    group = [[3, 3, 3, 1, 2, 3], [3, 0, 3, 1, 3, 3]]
    kernels = s._kernels(group)
    p = 1.0 / (len(group) + 1)  # prior weight over the group size plus the prior kernel
    for d, table in enumerate(kernels):
        assert table.shape == (3, 5)
        np.testing.assert_allclose(table.sum(axis=1), 1.0)
        np.testing.assert_allclose(table[-1], 0.2)  # the prior kernel is uniform
        for i, choices in enumerate(group):
            assert table[i, choices[d]] == pytest.approx((1 + p) / (1 + 5 * p))


def test_multivariate_tpe_keeps_good_combinations_together():
    """Two good trials that agree on nothing but pairs: the joint model proposes whole good
    combinations far more often than the independent one, which mixes them."""
    space = MLPSpace(max_layers=1)
    good = [[0, 0, 0, 0, 0], [0, 3, 2, 2, 2]]  # num_layers, width0, activation, dropout, skip
    hits = {}
    for multivariate in (False, True):
        s = TPE(space, seed=0, n_startup=0, gamma=0.5, multivariate=multivariate)
        s._obs = [(c, 1.0) for c in good] + [([0, 1, 1, 1, 1], 0.1), ([0, 2, 1, 1, 0], 0.1)]
        s.dedup = False
        draws = [s._model_choices() for _ in range(60)]
        # a combination within one kernel: width0's and skip's choices from the same trial
        hits[multivariate] = sum((d[1], d[4]) in {(0, 0), (3, 2)} for d in draws)
    assert hits[True] > hits[False]


def test_multivariate_tpe_beats_random_search_on_nb201():
    tpe = np.mean([best_signal(TPE(NB201Space(), seed=s, multivariate=True)) for s in range(4)])
    rnd = np.mean([best_signal(RandomSearch(NB201Space(), seed=s)) for s in range(4)])
    assert tpe > rnd


def test_climb_after_proposes_the_incumbents_neighbours_until_none_is_better():
    space = NB201Space()
    s = TPE(space, seed=0, n_startup=3, climb_after=2)
    told = 0

    def tell(arch, reward):
        nonlocal told
        told += 1
        s.tell(Trial(told, arch, "ok", reward))

    best = s.ask()
    tell(best, 0.9)
    for _ in range(2):  # two results without a new best: the climb starts
        tell(s.ask(), 0.1)
    centre = [OPS.index(op) for op in best["edges"]]
    for _ in range(24):  # NB201: 6 decisions x 4 other choices, all proposed, none better
        arch = s.ask()
        diff = sum(a != b for a, b in zip(arch["edges"], best["edges"], strict=True))
        assert diff == 1, "a climb proposes archs one decision away from the incumbent"
        tell(arch, 0.5)
    s.ask()  # every neighbour was worse: a local optimum, back to the model
    assert s._climbing is False and s._queue == []
    assert [OPS.index(op) for op in s.space.from_choices(s._best[0])["edges"]] == centre


def test_climb_moves_to_the_first_better_neighbour_and_resumes_after_a_state_round_trip():
    space = NB201Space()
    s = TPE(space, seed=1, n_startup=2, climb_after=1, multivariate=True)
    first = s.ask()
    s.tell(Trial(1, first, "ok", 0.5))
    s.tell(Trial(2, s.ask(), "ok", 0.1))  # no new best: climb from `first`
    better = s.ask()
    s.tell(Trial(3, better, "ok", 0.8))  # first improvement: climb on from `better`
    twin = TPE(space, seed=99, n_startup=2, climb_after=1, multivariate=True)
    twin.load_state_dict(json.loads(json.dumps(s.state_dict())))
    for _ in range(5):
        a, b = s.ask(), twin.ask()
        assert a == b
        diff = sum(x != y for x, y in zip(a["edges"], better["edges"], strict=True))
        assert diff == 1
        s.tell(Trial(9, a, "ok", 0.2))
        twin.tell(Trial(9, b, "ok", 0.2))


class TestClimbingTPE(StrategyContract):
    strategy = staticmethod(partial(TPE, multivariate=True, climb_after=2, n_startup=3))
    spaces = ("mlp", "nb201")
