"""Robustness found by bench/tabular.py: pandas extension dtypes (category, nullable, string)
as input columns, and the in-process baseline that gives a model when no searched pipeline
finishes within the time limit."""

from __future__ import annotations

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from nasbeyond.tabular import AutoClassifier, AutoRegressor  # noqa: E402
from nasbeyond.tabular._data import TabularFrame  # noqa: E402
from nasbeyond.tabular.estimator import BASELINE_ID  # noqa: E402
from nasbeyond.trial import Trial  # noqa: E402

TINY = {"models": ("linear",), "workers": 0, "max_trials": 2, "cv": 2, "time_limit": 20}


def _extension_frame(n: int = 60, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """As ISLP's Wage: category columns (ordered and not), plus nullable and object ones."""
    rng = np.random.default_rng(seed)
    edu = rng.choice(["1. < HS", "2. HS", "3. College"], n)
    region = rng.choice(["north", "south"], n)
    age = rng.integers(18, 70, n)
    X = pd.DataFrame(
        {
            "education": pd.Categorical(
                edu, categories=["1. < HS", "2. HS", "3. College"], ordered=True
            ),
            "region": pd.Categorical(region),
            "age": pd.array(age, dtype="Int64"),
            "insured": pd.array(rng.random(n) > 0.5, dtype="boolean"),
            "note": pd.array(rng.choice(["a", "b"], n), dtype="string"),
            "city": rng.choice(["x", "y", None], n).astype(object),
        }
    )
    X.loc[::7, "age"] = pd.NA
    X.loc[::5, "insured"] = pd.NA
    X.loc[::6, "note"] = pd.NA
    X.loc[::9, "region"] = np.nan
    y = 20.0 * (edu == "3. College") + 0.5 * age + rng.normal(size=n)
    return X, y


def test_category_nullable_string_and_object_columns():
    X, y = _extension_frame()
    frame = TabularFrame().fit(X)
    assert frame.kinds_ == {
        "education": "categorical",
        "region": "categorical",
        "age": "numeric",
        "insured": "numeric",
        "note": "categorical",
        "city": "categorical",
    }
    typed = frame.transform(X)
    assert typed["age"].dtype == np.float64 and typed["age"].isna().sum() == len(X[::7])
    assert typed["region"].isna().sum() == len(X[::9]) and typed["education"].iloc[0] in {
        "1. < HS",
        "2. HS",
        "3. College",
    }
    reg = AutoRegressor(**TINY).fit(X, y)
    assert reg.predict(X).shape == (len(X),) and reg.score(X, y) > 0.5
    # Later rows may come as plain object columns or with an unseen category.
    new = X.iloc[:4].astype(object)
    new["education"] = pd.Categorical(["4. PhD", "2. HS", None, "1. < HS"])
    assert np.isfinite(reg.predict(new)).all()


def test_baseline_alone_gives_a_model_when_no_searched_pipeline_finishes(monkeypatch):
    X, y = _extension_frame()
    labels = np.where(y > np.median(y), "high", "low")
    seen: list[int | None] = []

    def nothing_finished(self, *args, **kwargs):  # every searched trial cut at the deadline
        seen.append(args[-2])
        arch = self._default_arch("linear")
        return [Trial(1, arch, "failed", error="Timeout: still running at the time limit; cut")]

    monkeypatch.setattr(AutoClassifier, "_search", nothing_finished)
    clf = AutoClassifier(**{**TINY, "max_trials": None}).fit(X, labels)
    assert seen == [None]  # the search ran (and found nothing)
    assert [m.trial for m in clf.ensemble_] == [BASELINE_ID]
    board = clf.leaderboard()
    assert list(board["status"]) == ["ok", "ok", "failed"]
    assert board.iloc[1]["trial"] == BASELINE_ID
    assert board.iloc[1]["pipeline"].startswith("baseline: linear")
    assert set(clf.predict(X)) <= {"high", "low"} and clf.score(X, labels) > 0.7
    assert clf.predict_proba(X).shape == (len(X), 2)


def test_a_limit_too_short_for_the_baseline_says_what_to_raise_it_to():
    X, y = _extension_frame()
    with pytest.raises(TimeoutError, match=r"1e-06 s is too short .* at least \d+ s"):
        AutoRegressor(**TINY).fit(X, y, time_limit=1e-6)
