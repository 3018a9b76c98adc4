import numpy as np

from nasbeyond.arch import arch_key
from nasbeyond.space import MLPSpace
from nasbeyond.strategy import AgingEvolution, RandomSearch
from nasbeyond.trial import Trial


def test_oldest_dies_whatever_its_reward():
    s = AgingEvolution(MLPSpace(), seed=0, population_size=3, sample_size=2)
    archs = [s.ask() for _ in range(4)]
    for i, (a, r) in enumerate(zip(archs, [0.99, 0.1, 0.2, 0.3], strict=True)):
        s.tell(Trial(i, a, "ok", r))
    alive = [r for _, r in s.state_dict()["population"]]
    assert alive == [0.1, 0.2, 0.3]  # the best (0.99) was oldest and died


def test_child_mutates_the_tournament_winner():
    space = MLPSpace()
    s = AgingEvolution(space, seed=1, population_size=4, sample_size=4)
    archs = [s.ask() for _ in range(4)]
    for i, a in enumerate(archs):
        s.tell(Trial(i, a, "ok", [0.1, 0.9, 0.2, 0.3][i]))
    best = archs[1]
    child = s.ask()
    # with the tournament spanning the population, the child is one mutation of the winner
    assert arch_key(child) != arch_key(best)
    diffs = sum(child[k] != best[k] for k in ("activation", "dropout")) + (
        child["widths"] != best["widths"]
    )
    assert diffs == 1


def test_failed_trials_never_join_the_population():
    s = AgingEvolution(MLPSpace(), seed=0, population_size=2, sample_size=1)
    a = s.ask()
    s.tell(Trial(1, a, "failed", None, error="x"))
    assert s.state_dict()["population"] == []


def test_evolution_beats_random_on_a_smooth_objective():
    # Reward: fewer hidden layers and wider first layer is better. Evolution exploits it.
    space = MLPSpace(max_layers=8)

    def reward(a):
        return a["widths"][0] / 256 - len(a["widths"]) / 8 + (a["activation"] == "gelu")

    def best_of(strategy, n=80):
        top = -9.0
        for i in range(n):
            a = strategy.ask()
            top = max(top, reward(a))
            strategy.tell(Trial(i, a, "ok", reward(a)))
        return top

    evo = np.mean(
        [
            best_of(AgingEvolution(space, seed=s, population_size=10, sample_size=5))
            for s in range(10)
        ]
    )
    rnd = np.mean([best_of(RandomSearch(space, seed=s)) for s in range(10)])
    assert evo >= rnd


def test_random_search_never_repeats_and_reports_exhaustion():
    space = MLPSpace(max_layers=1)  # 4 widths x 3 activations x 3 dropouts x 3 skips = 108
    s = RandomSearch(space, seed=0, max_tries=2000)
    keys = []
    while (a := s.ask()) is not None:
        keys.append(arch_key(a))
    assert len(keys) == len(set(keys)) == 108


def test_a_failed_arch_is_not_proposed_again():
    space = MLPSpace(max_layers=1)  # 108 archs: random draws meet a failed one often
    s = AgingEvolution(space, seed=0, population_size=200, sample_size=1)
    failed = set()
    for i in range(60):
        arch = s.ask()
        assert arch_key(arch) not in failed
        failed.add(arch_key(arch))
        s.tell(Trial(i, arch, "failed", None, error="x"))


def test_nan_rewards_never_join_the_population():
    s = AgingEvolution(MLPSpace(), seed=0, population_size=3, sample_size=1)
    for i, r in enumerate([0.5, float("nan"), float("inf")]):
        s.tell(Trial(i, s.ask(), "ok", r))
    assert [r for _, r in s.state_dict()["population"]] == [0.5]
