import numpy as np

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator
from nasbeyond.run import MemoryStore, run
from nasbeyond.space import MLPSpace, NB201Space
from nasbeyond.strategy import TPE, RandomSearch
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
