"""NAS-Bench-201 benchmark mode: the space, the table evaluator, and the paper's rows."""

import numpy as np
import pytest
import torch

from nasbeyond.evaluate.nb201_table import NB201TableEvaluator, load_table
from nasbeyond.exceptions import ConfigError
from nasbeyond.run import MemoryStore, SQLiteStore, run
from nasbeyond.space import NB201Space, TaskShape
from nasbeyond.space.nb201 import from_arch_str, to_arch_str
from nasbeyond.strategy import AgingEvolution, RandomSearch
from nasbeyond.trial import Budget, Context

EXAMPLE = (
    "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|"
    "skip_connect~2|"
)


def test_every_benchmark_arch_is_in_the_space():
    space = NB201Space()
    table = load_table()
    assert len(table.index) == 15_625
    for s in table.index:
        assert to_arch_str(space.validate(from_arch_str(s))) == s


def test_lookup_and_simulated_cost():
    ev = NB201TableEvaluator()
    r = ev(from_arch_str(EXAMPLE), Budget(), Context(1, 0))
    assert r.reward == pytest.approx(0.82834)
    assert r.cost_s == pytest.approx(12 * 10.8482 + 3.7542)
    assert r.metrics["cifar10_test_acc_200ep"] == pytest.approx(93.66)
    assert r.metrics["nb201_index"] == 1
    full = ev(from_arch_str(EXAMPLE), Budget(epochs=200), Context(2, 0, parent=1, parent_budget=12))
    assert full.reward == pytest.approx(0.907693)
    assert full.cost_s == pytest.approx(188 * 10.8482 + 3.7542)  # continues, pays the rest
    with pytest.raises(ConfigError, match="fidelities 12 and 200"):
        ev(from_arch_str(EXAMPLE), Budget(epochs=50), Context(3, 0))
    assert ev.test(from_arch_str(EXAMPLE)) == pytest.approx(0.9366)


def test_benchmark_mode_is_the_loop_in_memory(tmp_path):
    space, ev = NB201Space(), NB201TableEvaluator()
    memory, disk = MemoryStore(), SQLiteStore(tmp_path)
    run(space, AgingEvolution(space, seed=3), ev, store=memory, budget_seconds=12_000)
    run(space, AgingEvolution(space, seed=3), ev, store=disk, budget_seconds=12_000)
    assert memory.trials() == disk.trials()
    assert memory.get("strategy_state") is None  # nothing checkpointed in memory
    spent = np.cumsum([t.cost_s for t in memory.trials()])
    assert spent[-2] < 12_000 <= spent[-1]  # the crossing trial counts


@pytest.mark.parametrize(("strategy", "paper"), [(RandomSearch, 93.70), (AgingEvolution, 93.92)])
def test_reproduces_the_papers_rows(strategy, paper):
    space, ev = NB201Space(), NB201TableEvaluator()
    accs = []
    for seed in range(60):
        store = MemoryStore()
        best = run(space, strategy(space, seed=seed), ev, store=store, budget_seconds=12_000)
        accs.append(best.metrics["cifar10_test_acc_200ep"])
    assert abs(np.mean(accs) - paper) < 0.25  # 60 runs: standard error ~0.05


def test_build_is_the_benchmark_network():
    space = NB201Space(channels=4, cells=1)
    model = space.build(from_arch_str(EXAMPLE), TaskShape((3, 32, 32), 10))
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    full = NB201Space().build(from_arch_str(EXAMPLE), TaskShape((3, 32, 32), 10))
    n = sum(p.numel() for p in full.parameters())
    assert 0.5e6 < n < 1.6e6  # the benchmark's cells at C=16, N=5 hold ~0.1-1.5M parameters
