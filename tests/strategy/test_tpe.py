import numpy as np

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator
from nasbeyond.evaluate.simulate import simulate
from nasbeyond.space import NB201Space
from nasbeyond.strategy import TPE, RandomSearch


def best_signal(strategy, queries=60):
    steps = simulate(strategy, NB201TableEvaluator(), budget_seconds=1e12, max_trials=queries)
    return max(s.trial.reward for s in steps)


def test_tpe_beats_random_search_on_nb201():
    tpe = np.mean([best_signal(TPE(NB201Space(), seed=s)) for s in range(8)])
    rnd = np.mean([best_signal(RandomSearch(NB201Space(), seed=s)) for s in range(8)])
    assert tpe > rnd


def test_tpe_never_repeats_an_arch():
    s = TPE(NB201Space(), seed=0, n_startup=5)
    steps = simulate(s, NB201TableEvaluator(), budget_seconds=1e12, max_trials=80)
    keys = [tuple(st.trial.arch["edges"]) for st in steps]
    assert len(keys) == len(set(keys)) == 80
