import pytest

from nasbeyond.exceptions import StoreError
from nasbeyond.run import MemoryStore, SQLiteStore
from nasbeyond.trial import Result


@pytest.fixture(params=["sqlite", "memory"])
def store(request, tmp_path):
    return SQLiteStore(tmp_path) if request.param == "sqlite" else MemoryStore()


def test_both_stores_keep_the_same_records(store):
    a = store.start_trial({"x": 1}, 2.0, lambda: {"step": 1})
    b = store.start_trial({"x": 2}, 2.0, lambda: {"step": 2}, parent=a)
    assert (a, b) == (1, 2)
    assert [t.status for t in store.trials()] == ["running", "running"]
    store.finish_trial(a, Result("ok", 0.5, {"params": 3}, 1.0), lambda: {"step": 3})
    store.finish_trial(b, Result.failed("boom", 2.5), lambda: {"step": 4})
    assert store.count_finished() == 2 and store.total_cost() == 3.5
    assert [t.id for t in store.best(5)] == [a]
    assert store.trial(b).error == "boom" and store.trial(a).metrics == {"params": 3}
    assert store.trial(a).budget == 2.0 and store.trial(b).parent == a
    assert [t.id for t in store.trials("failed")] == [b]
    with pytest.raises(StoreError, match="no trial 9"):
        store.trial(9)
    store.put("config", {"seed": 1})
    assert store.get("config") == {"seed": 1} and store.get("absent", 7) == 7


def test_non_finite_metrics_come_back_as_none(store):
    tid = store.start_trial({"x": 1}, None, dict)
    metrics = {"latency_ms": float("inf"), "curve": [1.0, float("nan")], "params": 3}
    back = store.finish_trial(tid, Result("ok", 0.5, metrics), dict)
    expected = {"latency_ms": None, "curve": [1.0, None], "params": 3}
    assert back.metrics == expected and store.trial(tid).metrics == expected


def test_best_breaks_reward_ties_by_id(store):
    for reward in (0.5, 0.7, 0.7, 0.1):
        tid = store.start_trial({"r": reward, "n": store.count_finished()}, None, dict)
        store.finish_trial(tid, Result("ok", reward), dict)
    assert [t.id for t in store.best(3)] == [2, 3, 1]


def test_sqlite_checkpoints_the_state_with_each_row(tmp_path):
    s = SQLiteStore(tmp_path)
    a = s.start_trial({"x": 1}, 2.0, lambda: {"step": 1})
    assert s.get("strategy_state") == {"step": 1}
    s.finish_trial(a, Result("ok", 0.5), lambda: {"step": 2})
    assert s.get("strategy_state") == {"step": 2}
    s.close()
    s2 = SQLiteStore(tmp_path, create=False)
    assert s2.trial(a).reward == 0.5
    assert s2._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_memory_store_never_asks_for_the_state():
    def state():
        raise AssertionError("a MemoryStore keeps no checkpoint")

    s = MemoryStore()
    s.finish_trial(s.start_trial({"x": 1}, None, state), Result("ok", 1.0), state)
    assert s.get("strategy_state") is None and s.run_dir is None


def test_restart_keeps_the_id(store):
    a = store.start_trial({"x": 1}, None, dict)
    assert store.start_trial({"x": 1}, None, dict, trial_id=a) == a
    assert len(store.trials()) == 1


def test_missing_or_foreign_run_dir(tmp_path):
    with pytest.raises(StoreError, match="none does not exist"):
        SQLiteStore(tmp_path / "none", create=False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="empty has no nasbeyond.db; is it a run directory"):
        SQLiteStore(tmp_path / "empty", create=False)
    (tmp_path / "nasbeyond.db").write_text("not a database at all" * 100)
    with pytest.raises(StoreError, match="not a nasbeyond database"):
        SQLiteStore(tmp_path)
