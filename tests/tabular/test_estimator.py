"""AutoClassifier / AutoRegressor: scikit-learn's estimator checks, real small datasets, mixed
column types, bad input naming its column, resuming from a store, and cutting a running trial."""

from __future__ import annotations

import time

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("lightgbm")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from nasbeyond.exceptions import ConfigError  # noqa: E402
from nasbeyond.tabular import AutoClassifier, AutoRegressor  # noqa: E402
from nasbeyond.trial import Budget, Context, Result  # noqa: E402

# Small budgets: one linear pipeline on two folds in this process, so the ~100 checks stay fast.
SMALL = {"models": ("linear",), "workers": 0, "max_trials": 1, "cv": 2, "halving": False}


@parametrize_with_checks(
    [AutoClassifier(ensemble="best", **SMALL), AutoRegressor(ensemble="best", **SMALL)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _frame(data):
    return data.frame.drop(columns=["target"]), data.target


def test_breast_cancer_leaderboard_ensemble_and_importances():
    X, y = _frame(load_breast_cancer(as_frame=True))
    clf = AutoClassifier(
        models=("lightgbm", "linear", "knn"), workers=0, max_trials=4, cv=3, random_state=0
    ).fit(X, y)
    assert clf.task_ == "binary" and clf.metric_ == "roc_auc"
    board = clf.leaderboard()
    assert len(board) == 1 + 4 and board.iloc[0]["model"] == "ensemble"
    assert {"trial", "model", "pipeline", "roc_auc", "time_s", "status", "weight"} <= set(board)
    assert (board["status"] == "ok").all()
    assert board.iloc[0]["roc_auc"] >= board.iloc[1:]["roc_auc"].max() - 1e-9  # Caruana
    assert sum(m.weight for m in clf.ensemble_) == pytest.approx(1.0)
    proba = clf.predict_proba(X.iloc[:7])
    assert proba.shape == (7, 2) and np.allclose(proba.sum(axis=1), 1)
    assert clf.score(X, y) > 0.9
    imp = clf.feature_importances_
    assert imp.shape == (30,) and imp.sum() == pytest.approx(1.0) and (imp >= 0).all()
    assert list(clf.feature_names_in_) == list(X.columns)


def test_mixed_columns_numeric_categorical_datetime_missing():
    X, y = _frame(load_iris(as_frame=True))
    rng = np.random.default_rng(0)
    X = X.copy()
    X["colour"] = rng.choice(["red", "green", None], size=len(X))
    X["when"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 900, len(X)), "D")
    X["month"] = X["when"].dt.month
    X["count"] = pd.array(rng.integers(0, 9, len(X)), dtype="Int64")  # nullable, with pd.NA
    X.loc[::5, "count"] = pd.NA
    X.loc[::7, "sepal length (cm)"] = np.nan
    y = y.map({0: "setosa", 1: "versicolor", 2: "virginica"})
    clf = AutoClassifier(models=("lightgbm", "linear"), workers=0, max_trials=2, cv=3).fit(X, y)
    kinds = clf.preprocessor_.kinds_
    assert kinds["colour"] == "categorical" and kinds["when"] == "datetime"
    assert kinds["month"] == "periodic" and kinds["sepal width (cm)"] == "numeric"
    assert kinds["count"] == "numeric"
    assert clf.preprocessor_.transform(X)["count"].isna().sum() == len(X[::5])
    assert clf.task_ == "multiclass" and clf.metric_ == "log_loss"
    new = X.iloc[:5].copy()
    new["colour"] = ["purple", None, "red", "green", "blue"]  # unseen levels
    assert set(clf.predict(new)) <= set(clf.classes_)
    assert clf.score(X, y) > 0.9
    assert clf.feature_importances_.shape == (X.shape[1],)


def test_diabetes_regression_rmse():
    X, y = _frame(load_diabetes(as_frame=True))
    reg = AutoRegressor(
        models=("linear", "lightgbm"), workers=0, max_trials=2, cv=3, strategy="evolution"
    ).fit(X, y)
    assert reg.task_ == "regression" and reg.metric_ == "rmse"
    assert reg.oof_score_ < float(np.std(y))  # better than predicting the mean
    assert reg.predict(X.iloc[:4]).shape == (4,) and reg.score(X, y) > 0.3


def test_importances_of_models_without_their_own_are_permutation_drops():
    X, y = load_iris(return_X_y=True)
    X = np.c_[X, np.random.default_rng(0).normal(size=len(X))]  # a noise column
    clf = AutoClassifier(**{**SMALL, "models": ("knn",)}).fit(X, y)
    imp = clf.feature_importances_
    assert imp.sum() == pytest.approx(1.0) and imp[4] < imp[2]  # noise below petal length


def test_stacking_option():
    X, y = load_iris(return_X_y=True)
    clf = AutoClassifier(
        models=("linear", "knn"), ensemble="stacking", workers=0, max_trials=2, cv=3
    ).fit(X, y)
    assert clf.stacker_ is not None and clf.predict_proba(X).shape == (150, 3)
    assert clf.score(X, y) > 0.9


def _iris_frame():
    X, y = _frame(load_iris(as_frame=True))
    return X.copy(), y


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ("target_missing", "target: 1 missing value"),
        ("one_class", "one class only"),
        ("all_missing", "column 'empty': every value is missing"),
        ("no_target_column", "target: column 'label' not found"),
    ],
)
def test_bad_input_at_fit_names_the_column(change, match):
    X, y = _iris_frame()
    y = y.astype(float)
    target = y
    if change == "target_missing":
        target = y.copy()
        target.iloc[3] = np.nan
    elif change == "one_class":
        target = np.zeros(len(y))
    elif change == "all_missing":
        X["empty"] = np.nan
    else:
        target = "label"
    with pytest.raises(ValueError, match=match):
        AutoClassifier(**SMALL).fit(X, target)


def test_bad_input_at_predict_names_the_column():
    X, y = _iris_frame()
    clf = AutoClassifier(**SMALL).fit(X, y)
    text = X.iloc[:3].copy()
    text["petal width (cm)"] = ["0.2", "wide", "1.0"]
    with pytest.raises(ValueError, match=r"column 'petal width \(cm\)': text where numbers"):
        clf.predict(text)
    with pytest.raises(ValueError, match="petal length"):
        clf.predict(X.drop(columns=["petal length (cm)"]))
    with pytest.raises(ConfigError, match="time_limit"):
        AutoClassifier(time_limit=-1).fit(X, y)


def test_target_column_by_name_and_store_resumes(tmp_path):
    X, y = _iris_frame()
    data = X.assign(label=y)
    store = str(tmp_path / "run")
    first = AutoClassifier(store=store, **{**SMALL, "max_trials": 2}).fit(data, "label")
    again = AutoClassifier(store=store, **{**SMALL, "max_trials": 3}).fit(data, "label")
    ids = lambda est: sorted(t for t in est.leaderboard()["trial"] if t == t)  # noqa: E731
    assert ids(first) == [0, 1] and ids(again) == [0, 1, 2]  # 0: the baseline
    with pytest.raises(ConfigError, match="other data"):
        AutoClassifier(store=store, **SMALL).fit(data.iloc[:100], "label")


def _sleep(arch, budget: Budget, ctx: Context) -> Result:
    time.sleep(600)
    return Result("ok", 1.0)


def test_a_running_trial_is_cut_at_the_deadline(tmp_path):  # it sleeps 600 s: any load
    from nasbeyond.tabular._search import DeadlineExecutor

    ex = DeadlineExecutor(time.monotonic() + 4.0, str(tmp_path), workers=1)
    ex.start(_sleep)
    try:
        ex.submit((1, {}, Budget(), Context(1, 0)))
        done = []
        while not done:
            done = ex.wait(timeout=1.0)
    finally:
        ex.shutdown()
    [(tid, result)] = done
    assert tid == 1 and result.status == "failed" and result.error.startswith("Timeout")
