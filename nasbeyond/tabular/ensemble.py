"""Ensembles of searched pipelines from their out-of-fold predictions.

``caruana``: greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew &
Ksikes, ICML 2004, "Ensemble selection from libraries of models"), as auto-sklearn and
AutoGluon use it: start from the best model, then repeatedly add (again, possibly) the model
whose addition most improves the averaged prediction's score; the weights are how often each
model was picked. ``stacker``: a linear model over the members' predictions (Wolpert 1992), as
an option.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def caruana(
    preds: Sequence[np.ndarray],
    score: Callable[[np.ndarray], float],
    iterations: int = 25,
    deadline: float | None = None,
) -> np.ndarray:
    """Weights (summing to 1, shape (len(preds),)) of a greedy ensemble with replacement.

    Args:
        preds: out-of-fold predictions of each candidate, all of one shape.
        score: maps an averaged prediction to a value to MAXIMISE (negate losses).
        iterations: models added in all (the first pick included); ties go to the earlier
            candidate. Of the nested ensembles built, the best scoring (the earliest of equal
            scores) is returned, as in the paper, so it is never worse than the best single.
        deadline: a ``time.monotonic()`` time after which no further model is added (the
            first pick is always made).

    Raises:
        ValueError: no candidates.
    """
    if not preds:
        raise ValueError("preds: no candidate predictions to ensemble")
    counts = np.zeros(len(preds), dtype=int)
    total = np.zeros_like(np.asarray(preds[0], dtype=float))
    kept, kept_score = counts.copy(), -np.inf
    for k in range(max(1, iterations)):
        scores = [score((total + p) / (k + 1)) for p in preds]
        best = int(np.argmax(scores))  # first of equal maxima
        counts[best] += 1
        total = total + preds[best]
        if scores[best] > kept_score:  # the best ensemble of the nested sequence is kept
            kept, kept_score = counts.copy(), scores[best]
        if deadline is not None and time.monotonic() > deadline:
            break
    out: np.ndarray = kept / kept.sum()
    return out


def blend(preds: Sequence[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """The weighted average of ``preds`` (members with weight 0 may be None)."""
    out: np.ndarray = sum(w * p for w, p in zip(weights, preds, strict=True) if w > 0)
    return out


def stack_features(preds: Sequence[np.ndarray]) -> np.ndarray:
    """Members' predictions side by side: (n_rows, sum of their widths)."""
    return np.hstack([p.reshape(len(p), -1) for p in preds])


def stacker(task: str, seed: int = 0) -> Any:
    """The level-2 model: multinomial logistic regression on the members' probabilities, or
    non-negative least squares on their values for regression."""
    from sklearn.linear_model import LinearRegression, LogisticRegression

    if task == "regression":
        return LinearRegression(positive=True)
    return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
