"""Small mixed-type tables and quick scikit-learn teachers for the distillation, export,
serving and CLI tests (the AutoML estimator itself is tested in test_estimator.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder


def table(n: int = 240, seed: int = 0, task: str = "classification") -> pd.DataFrame:
    """Columns a, b (numeric, b with missing values), c (text), y (target)."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rng.normal(size=n)
    c = rng.choice(["x", "y", "z"], n)
    signal = 1.5 * a + 0.5 * b + (c == "x") * 1.0
    if task == "classification":
        y = np.where(signal + 0.3 * rng.normal(size=n) > 0.3, "yes", "no")
    else:
        y = 10.0 * signal + rng.normal(size=n)
    frame = pd.DataFrame({"a": a, "b": b, "c": c, "y": y})
    frame.loc[::17, "b"] = np.nan
    return frame


def teacher(task: str = "classification") -> Pipeline:
    """A fast teacher that takes the raw frame (a, b, c)."""
    pre = ColumnTransformer(
        [
            ("num", SimpleImputer(), ["a", "b"]),
            ("cat", make_pipeline(OneHotEncoder(handle_unknown="ignore")), ["c"]),
        ]
    )
    model = LogisticRegression(max_iter=500) if task == "classification" else Ridge()
    return Pipeline([("pre", pre), ("model", model)])
