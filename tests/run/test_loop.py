"""The loop: faults become failed trials, the search completes, and runs resume exactly."""

from __future__ import annotations

from nasbeyond.arch import arch_key
from nasbeyond.run import InlineExecutor, SQLiteStore, run
from nasbeyond.space import MLPSpace
from nasbeyond.strategy import AgingEvolution, RandomSearch
from nasbeyond.testing import ToyEvaluator


def search(tmp_path, evaluator, trials=6, executor=None, strategy=None):
    space = MLPSpace()
    store = SQLiteStore(tmp_path)
    best = run(
        space,
        strategy or RandomSearch(space, seed=0),
        evaluator,
        store=store,
        trials=trials,
        executor=executor or InlineExecutor(),
    )
    return store, best


def test_inline_search_finds_the_best(tmp_path):
    store, best = search(tmp_path, ToyEvaluator())
    trials = store.trials()
    assert len(trials) == 6 and all(t.status == "ok" for t in trials)
    assert best is not None and best.reward == max(t.reward for t in trials)


def test_inline_executor_records_exceptions(tmp_path):
    store, _ = search(tmp_path, ToyEvaluator(fault="raise", every=3), trials=6)
    assert [t.status for t in store.trials()].count("failed") == 2


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    space = MLPSpace()
    straight = SQLiteStore(tmp_path / "a")
    run(
        space,
        AgingEvolution(space, seed=1, population_size=3),
        ToyEvaluator(),
        store=straight,
        trials=10,
    )
    first = SQLiteStore(tmp_path / "b")
    run(
        space,
        AgingEvolution(space, seed=1, population_size=3),
        ToyEvaluator(),
        store=first,
        trials=4,
    )
    # a fresh process: new strategy object with another seed, state comes from the store
    run(
        space,
        AgingEvolution(space, seed=99, population_size=3),
        ToyEvaluator(),
        store=SQLiteStore(tmp_path / "b"),
        trials=10,
    )
    assert [t.arch for t in first.trials()] == [t.arch for t in straight.trials()]


def test_interrupted_trials_are_rerun_once(tmp_path):
    space = MLPSpace()
    store = SQLiteStore(tmp_path)
    strategy = RandomSearch(space, seed=0)
    # Simulate a kill: two trials started, one finished, the driver died.
    a = store.start_trial(strategy.ask(), None, strategy.state_dict)
    b = store.start_trial(strategy.ask(), None, strategy.state_dict)
    from nasbeyond.trial import Result

    store.finish_trial(a, Result("ok", 0.5), strategy.state_dict)
    run(space, RandomSearch(space, seed=0), ToyEvaluator(), store=store, trials=5)
    trials = store.trials()
    assert len(trials) == 5 and all(t.status == "ok" for t in trials)
    assert trials[1].id == b  # restarted under its own id
    assert len({arch_key(t.arch) for t in trials}) == 5


def test_exhausted_strategy_ends_the_search(tmp_path):
    space = MLPSpace(max_layers=1)  # 4 widths x 3 activations x 3 dropouts x 3 skips = 108
    store = SQLiteStore(tmp_path)
    run(space, RandomSearch(space, seed=0, max_tries=2000), ToyEvaluator(), store=store, trials=200)
    assert store.count_finished() == 108
