"""Selection metrics, as the AutoML Benchmark scores tasks (Gijsbers et al. 2019 / 2024): ROC AUC
for binary classification, log loss for multiclass, RMSE for regression; a few others by name.

Predictions are what a model gives: class probabilities of shape (n_rows, n_classes) for
classification (classes encoded 0..n_classes-1), values of shape (n_rows,) for regression.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from nasbeyond.exceptions import ConfigError


@dataclass(frozen=True)
class Metric:
    """A metric by name; ``greater`` is True when larger values are better."""

    name: str
    greater: bool
    task: str  # classification | regression

    def __call__(self, y: np.ndarray, pred: np.ndarray) -> float:
        """The metric's value (in its own orientation) of ``pred`` against ``y``."""
        from sklearn import metrics as m

        if self.task == "classification":
            labels = np.arange(pred.shape[1])
            if self.name == "roc_auc":
                if pred.shape[1] == 2:
                    return float(m.roc_auc_score(y, pred[:, 1]))
                p = pred / pred.sum(axis=1, keepdims=True)
                return float(m.roc_auc_score(y, p, multi_class="ovr", labels=labels))
            if self.name == "log_loss":
                p = np.clip(pred, 1e-15, 1.0)
                return float(m.log_loss(y, p / p.sum(axis=1, keepdims=True), labels=labels))
            hard = pred.argmax(axis=1)
            if self.name == "accuracy":
                return float(m.accuracy_score(y, hard))
            if self.name == "balanced_accuracy":
                return float(m.balanced_accuracy_score(y, hard))
            return float(m.f1_score(y, hard, average="macro", labels=labels))
        if self.name == "rmse":
            return float(np.sqrt(m.mean_squared_error(y, pred)))
        if self.name == "mae":
            return float(m.mean_absolute_error(y, pred))
        return float(m.r2_score(y, pred))

    def reward(self, value: float) -> float:
        """``value`` turned into a reward to maximise (losses negated)."""
        return value if self.greater else -value


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("roc_auc", True, "classification"),
        Metric("log_loss", False, "classification"),
        Metric("accuracy", True, "classification"),
        Metric("balanced_accuracy", True, "classification"),
        Metric("f1_macro", True, "classification"),
        Metric("rmse", False, "regression"),
        Metric("mae", False, "regression"),
        Metric("r2", True, "regression"),
    )
}


def get_metric(name: str | None, task: str) -> Metric:
    """The metric called ``name``, or AMLB's default for ``task`` (binary: roc_auc,
    multiclass: log_loss, regression: rmse).

    Raises:
        ConfigError: an unknown name, or one that does not fit the task.
    """
    if name is None:
        name = {"binary": "roc_auc", "multiclass": "log_loss"}.get(task, "rmse")
    kind = "regression" if task == "regression" else "classification"
    allowed = [n for n, m in METRICS.items() if m.task == kind]
    if name not in allowed:
        raise ConfigError(f"metric: {name!r} for {task}; allowed: {', '.join(allowed)}")
    return METRICS[name]


def align_proba(proba: Any, classes: Any, n_classes: int) -> np.ndarray:
    """(n_rows, n_classes) probabilities from a model that saw only ``classes`` (encoded
    0..n_classes-1) of them; absent classes get probability 0."""
    proba = np.asarray(proba, dtype=float)
    out = np.zeros((proba.shape[0], n_classes))
    out[:, np.asarray(classes, dtype=int)] = proba
    return out
