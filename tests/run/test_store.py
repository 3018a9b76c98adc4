import pytest

from nasbeyond.exceptions import StoreError
from nasbeyond.run import Store
from nasbeyond.trial import Result


def test_trial_rows_and_strategy_state(tmp_path):
    s = Store(tmp_path)
    a = s.start_trial({"x": 1}, 2.0, {"step": 1})
    b = s.start_trial({"x": 2}, 2.0, {"step": 2})
    assert [t.status for t in s.trials()] == ["running", "running"]
    assert s.get("strategy_state") == {"step": 2}
    s.finish_trial(a, Result("ok", 0.5, {"params": 3}, 1.0), {"step": 3})
    s.finish_trial(b, Result.failed("boom"), {"step": 4})
    assert s.count_finished() == 2 and s.get("strategy_state") == {"step": 4}
    assert [t.id for t in s.best(5)] == [a]
    assert s.trial(b).error == "boom" and s.trial(a).metrics == {"params": 3}
    assert s.trial(a).budget == 2.0
    s.close()
    s2 = Store(tmp_path, create=False)
    assert s2.trial(a).reward == 0.5
    assert s2._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_restart_keeps_the_id(tmp_path):
    s = Store(tmp_path)
    a = s.start_trial({"x": 1}, None, {})
    assert s.start_trial({"x": 1}, None, {}, trial_id=a) == a
    assert len(s.trials()) == 1


def test_missing_or_foreign_run_dir(tmp_path):
    with pytest.raises(StoreError, match="no nasbeyond.db"):
        Store(tmp_path / "none", create=False)
    (tmp_path / "nasbeyond.db").write_text("not a database at all" * 100)
    with pytest.raises(StoreError, match="not a nasbeyond database"):
        Store(tmp_path)
