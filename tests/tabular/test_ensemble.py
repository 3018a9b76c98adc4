"""Caruana et al.'s greedy ensemble selection with replacement, on constructed predictions and
on real out-of-fold predictions (breast cancer), and the stacking helpers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import cross_val_predict
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from nasbeyond.tabular.ensemble import blend, caruana, stack_features, stacker


def test_two_complementary_models_share_the_weight():
    y = np.array([0.0, 0.0, 1.0, 1.0])
    a = np.array([0.0, 0.0, 2.0, 0.0])  # right on rows 0-2, wrong on row 3
    b = np.array([0.0, 0.0, 0.0, 2.0])  # right on rows 0, 1, 3
    bad = np.array([5.0, 5.0, 5.0, 5.0])

    def neg_mse(p):
        return -float(np.mean((p - y) ** 2))

    w = caruana([bad, a, b], neg_mse, iterations=10)
    assert w.sum() == pytest.approx(1.0)
    assert w[0] == 0 and w[1] == pytest.approx(0.5) and w[2] == pytest.approx(0.5)
    assert neg_mse(blend([bad, a, b], w)) > max(neg_mse(a), neg_mse(b))


def test_a_dominant_model_takes_all_the_weight_and_ties_go_first():
    y = np.array([1.0, 2.0, 3.0])
    w = caruana([y + 1, y, y.copy()], lambda p: -float(np.abs(p - y).sum()), iterations=5)
    assert list(w) == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="no candidate"):
        caruana([], lambda p: 0.0)


def test_on_real_out_of_fold_predictions_the_ensemble_is_no_worse_than_the_best():
    X, y = load_breast_cancer(return_X_y=True)
    models = [
        make_pipeline(StandardScaler(), LogisticRegression(C=0.01)),
        GaussianNB(),
        make_pipeline(StandardScaler(), KNeighborsClassifier(15)),
    ]
    oofs = [cross_val_predict(m, X, y, cv=3, method="predict_proba") for m in models]
    w = caruana(oofs, lambda p: -log_loss(y, p), iterations=20)
    best_single = min(log_loss(y, p) for p in oofs)
    assert log_loss(y, blend(oofs, w)) <= best_single + 1e-12
    assert (w > 0).sum() >= 2  # on this data a mix beats any single model
    feats = stack_features(oofs)
    assert feats.shape == (len(y), 6)
    meta = stacker("classification").fit(feats, y)
    assert roc_auc_score(y, meta.predict_proba(feats)[:, 1]) > 0.98
