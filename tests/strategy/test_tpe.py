import numpy as np

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator
from nasbeyond.run import MemoryStore, run
from nasbeyond.space import NB201Space
from nasbeyond.strategy import TPE, RandomSearch


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
