"""Neural networks of the ``mlp`` space as scikit-learn estimators, so that a network and a
gradient-boosted tree sit in the same pipeline, cross-validation and ensemble.

``TorchMLP`` trains ``MLPSpace().build(arch, ...)`` with Adam on standardised inputs (the
pipeline's preprocessing) and, for regression, a standardised target. Its first
``n_categorical`` input columns may be non-negative integer codes: they then go through the
network's embeddings (Guo & Berkhahn 2016, as the ``mlp`` space builds them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted


class TorchMLP(BaseEstimator):
    """Base of the classifier and regressor below (``_classify`` tells them apart).

    Args:
        arch: an ``mlp`` space arch (widths, activation, dropout, skip).
        epochs: passes over the training rows.
        lr: Adam's learning rate.
        batch_size: rows per step.
        n_categorical: leading columns holding integer codes (embedded), 0 for none.
        random_state: seeds torch's initialisation and the batch order.
        threads: torch threads while fitting and predicting.
    """

    _classify = False

    def __init__(
        self,
        arch: dict[str, Any] | None = None,
        epochs: int = 30,
        lr: float = 3e-3,
        batch_size: int = 128,
        n_categorical: int = 0,
        random_state: int = 0,
        threads: int = 1,
    ) -> None:
        self.arch = arch
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.n_categorical = n_categorical
        self.random_state = random_state
        self.threads = threads

    def fit(self, X: Any, y: Any) -> TorchMLP:
        import torch

        from nasbeyond.space.mlp import MLPSpace
        from nasbeyond.trial import TaskShape

        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y)
        torch.manual_seed(self.random_state)
        old_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            if self._classify:
                self.classes_, target = np.unique(y, return_inverse=True)
                outputs = len(self.classes_)
                t = torch.as_tensor(target, dtype=torch.long)
                loss_fn: Any = torch.nn.CrossEntropyLoss()
            else:
                self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
                outputs = 1
                t = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)[:, None]
                loss_fn = torch.nn.MSELoss()
            k = self.n_categorical
            self.cardinalities_ = tuple(int(X[:, i].max()) + 2 for i in range(k))
            arch = self.arch or {"widths": [64, 64], "activation": "relu", "dropout": 0.0}
            space = MLPSpace(max_layers=max(1, len(arch["widths"])))
            task = TaskShape((X.shape[1],), outputs, categories=self.cardinalities_)
            self.model_ = space.build(arch, task)
            opt = torch.optim.AdamW(self.model_.parameters(), lr=self.lr, weight_decay=1e-4)
            x = torch.as_tensor(X)
            gen = torch.Generator().manual_seed(self.random_state)
            self.model_.train()
            for _ in range(max(1, int(self.epochs))):
                for idx in torch.randperm(len(x), generator=gen).split(self.batch_size):
                    opt.zero_grad()
                    loss_fn(self.model_(x[idx]), t[idx]).backward()
                    opt.step()
            self.model_.eval()
        finally:
            torch.set_num_threads(old_threads)
        self.n_features_in_ = X.shape[1]
        return self

    def _forward(self, X: Any) -> np.ndarray:
        import torch

        check_is_fitted(self, "model_")
        X = np.asarray(X, dtype=np.float32).copy()
        for i, card in enumerate(self.cardinalities_):  # unseen codes: the spare last row
            X[:, i] = np.clip(X[:, i], 0, card - 1)
        with torch.no_grad():
            out: np.ndarray = self.model_(torch.as_tensor(X)).double().numpy()
        return out


class TorchMLPClassifier(ClassifierMixin, TorchMLP):
    """``TorchMLP`` with a softmax output; ``predict_proba`` gives (n_rows, n_classes)."""

    _classify = True

    def predict_proba(self, X: Any) -> np.ndarray:
        z = self._forward(X)
        z = np.exp(z - z.max(axis=1, keepdims=True))
        p: np.ndarray = z / z.sum(axis=1, keepdims=True)
        return p

    def predict(self, X: Any) -> np.ndarray:
        out: np.ndarray = self.classes_[self.predict_proba(X).argmax(axis=1)]
        return out


class TorchMLPRegressor(RegressorMixin, TorchMLP):
    """``TorchMLP`` with one linear output, trained on the standardised target."""

    def predict(self, X: Any) -> np.ndarray:
        out: np.ndarray = self._forward(X)[:, 0] * self.y_std_ + self.y_mean_
        return out


class RowSubsample(BaseEstimator):
    """Fits ``estimator`` on a random ``fraction`` of the rows (successive halving's budget for
    models without rounds or epochs); for classification every class keeps at least one row.

    Attributes:
        estimator_: the fitted clone; predictions are its own.
    """

    def __init__(self, estimator: Any = None, fraction: float = 1.0, random_state: int = 0):
        self.estimator = estimator
        self.fraction = fraction
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> RowSubsample:
        from sklearn.base import clone

        n = len(y)
        rng = np.random.default_rng(self.random_state)
        k = min(n, max(2, int(np.ceil(self.fraction * n))))
        idx = set(rng.choice(n, size=k, replace=False).tolist())
        if hasattr(self.estimator, "predict_proba"):
            _, first = np.unique(np.asarray(y), return_index=True)
            idx |= set(first.tolist())
        rows = np.sort(np.fromiter(idx, dtype=int))
        X = X.iloc[rows] if hasattr(X, "iloc") else np.asarray(X)[rows]
        self.estimator_ = clone(self.estimator).fit(X, np.asarray(y)[rows])
        if hasattr(self.estimator_, "classes_"):
            self.classes_ = self.estimator_.classes_
        return self

    def predict(self, X: Any) -> np.ndarray:
        out: np.ndarray = self.estimator_.predict(X)
        return out

    def predict_proba(self, X: Any) -> np.ndarray:
        out: np.ndarray = self.estimator_.predict_proba(X)
        return out
