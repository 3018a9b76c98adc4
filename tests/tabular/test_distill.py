"""Distillation into a bounded tree and a small MLP (FAST-DAD-style augmented distillation)."""

from __future__ import annotations

import numpy as np
import pytest

from nasbeyond.exceptions import ConfigError
from nasbeyond.tabular.distill import StudentEncoder, distill, fidelity, gibbs_augment
from tests.tabular._fixtures import table, teacher


def split(task: str = "classification"):
    frame = table(task=task)
    X, y = frame.drop(columns="y"), frame["y"]
    return X[:180], y[:180], X[180:].reset_index(drop=True), y[180:].reset_index(drop=True)


def test_generated_rows_take_each_value_from_the_training_column():
    X, _, _, _ = split()
    Z = StudentEncoder().fit(X).transform(X)
    gen = gibbs_augment(X, Z, 300, seed=1)
    assert list(gen.columns) == list(X.columns) and len(gen) == 300
    assert (gen.dtypes == X.dtypes).all()
    for col in ("a", "c"):
        assert set(gen[col]) <= set(X[col])
    # resampled, not copied: rows that are no training row exist
    seen = {tuple(r) for r in X.fillna(0).itertuples(index=False)}
    new = [tuple(r) for r in gen.fillna(0).itertuples(index=False) if tuple(r) not in seen]
    assert len(new) > 100


def test_without_resampling_generated_rows_are_training_rows():
    X, _, _, _ = split()
    Z = StudentEncoder().fit(X).transform(X)
    gen = gibbs_augment(X, Z, 50, seed=0, p_resample=0.0, p_marginal=0.0)
    rows = {tuple(r) for r in X.fillna(-999).itertuples(index=False)}
    assert all(tuple(r) in rows for r in gen.fillna(-999).itertuples(index=False))


def test_classifier_distilled_into_a_readable_tree_and_an_mlp():
    X, y, Xh, yh = split()
    t = teacher().fit(X, y)
    d = distill(t, X, Xh, yh, max_depth=3, mlp_time_limit=5)
    assert d.task == "binary" and d.metric == "roc_auc"
    assert d.rows == {"train": 180, "generated": 360}
    assert d.tree.tree_.get_depth() <= 3
    for name in ("teacher", "tree", "mlp"):
        r = d.report[name]
        assert set(r) == {"fidelity", "latency_ms", "score"} and r["latency_ms"] > 0
    assert d.report["teacher"]["fidelity"] == 1.0
    assert d.report["tree"]["fidelity"] >= 0.8 and d.report["mlp"]["fidelity"] >= 0.8
    assert d.report["mlp"]["score"] > 0.8  # ROC AUC on held-out rows
    proba = d.mlp.predict_proba(Xh)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(1), 1.0)
    assert set(d.tree.predict(Xh)) <= {"no", "yes"}
    rules = d.tree.rules()
    assert "class: yes (p=" in rules and "a <=" in rules


def test_regressor_distilled_with_r2_fidelity():
    X, y, Xh, yh = split("regression")
    t = teacher("regression").fit(X, y)
    d = distill(t, X, Xh, yh, max_depth=4, generated=100, mlp_time_limit=5)
    assert d.task == "regression" and d.metric == "rmse"
    assert d.report["mlp"]["fidelity"] > 0.8  # R^2 against the teacher's predictions
    assert d.report["tree"]["fidelity"] > 0.5
    assert d.report["tree"]["score"] > 0  # RMSE
    assert "value: [" in d.tree.rules()


def test_fidelity_counts_equal_classes():
    t = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    s = np.array([[0.6, 0.4], [0.3, 0.7], [0.4, 0.6]])
    assert fidelity("binary", t, s) == pytest.approx(2 / 3)


def test_bad_depth_is_refused():
    X, y, Xh, yh = split()
    with pytest.raises(ConfigError, match="max_depth"):
        distill(teacher().fit(X, y), X, Xh, yh, max_depth=0)
