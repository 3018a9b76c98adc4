"""A fitted tabular model (the teacher: an ensemble, or any scikit-learn estimator with
``predict`` / ``predict_proba`` on a pandas DataFrame) distilled into students that are cheap to
read or to serve: one decision tree of bounded depth (its rules print as text) and a small MLP.

Both students learn the teacher's soft labels (class probabilities, or its predictions for
regression) over the training rows plus rows generated around them, as in FAST-DAD (Fakoor et
al. 2020, "Fast, Accurate, and Simple Models for Tabular Data via Augmented Distillation") and
AutoGluon's ``distill``: a Gibbs-style sweep resamples one feature at a time of a copied training
row from its empirical conditional, approximated here by that column's values among the row's
k nearest neighbours (and, with a small probability, from the column's marginal). FAST-DAD
learns the conditionals with a self-attention network; the neighbourhood is the cheap stand-in.

``distill(teacher, X, X_holdout, y_holdout)`` returns a ``Distilled`` whose ``report`` holds,
per model, the fidelity (agreement with the teacher on held-out rows: share of equal predicted
classes, or R^2 against the teacher's predictions for regression), the score with the AutoML
Benchmark's metric (Gijsbers et al. 2022: ROC AUC for binary, log loss for multiclass, RMSE for
regression) and the time of one prediction (one row, milliseconds).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from nasbeyond.exceptions import ConfigError
from nasbeyond.tabular._data import TabularFrame

# Metrics of the AutoML Benchmark per task: (name, higher is better).
AMLB_METRICS = {"binary": ("roc_auc", True), "multiclass": ("log_loss", False)}
AMLB_METRICS["regression"] = ("rmse", False)


def task_of(teacher: Any) -> str:
    """``binary``, ``multiclass`` or ``regression`` for a fitted estimator."""
    classes = getattr(teacher, "classes_", None)
    if classes is None or not hasattr(teacher, "predict_proba"):
        return "regression"
    return "binary" if len(classes) == 2 else "multiclass"


def amlb_score(task: str, y: Any, out: np.ndarray, classes: Any = None) -> float:
    """The AutoML Benchmark metric: ROC AUC (binary; ``out`` = P(classes[1]) or the (n, 2)
    probabilities), log loss (multiclass; ``out`` = (n, C) probabilities in ``classes`` order)
    or RMSE (regression; ``out`` = predictions)."""
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

    y = np.asarray(y)
    if task == "regression":
        return float(np.sqrt(mean_squared_error(y.astype(float), out)))
    if task == "binary":
        p1 = out[:, 1] if out.ndim == 2 else out
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(roc_auc_score(y == np.asarray(classes)[1], p1))
    p = np.clip(out, 1e-15, 1.0)
    return float(log_loss(y, p / p.sum(1, keepdims=True), labels=list(classes)))


class StudentEncoder(TransformerMixin, BaseEstimator):
    """Raw rows -> a float32 matrix the students read: numeric and periodic columns as they are
    (missing -> the training median), categorical columns one-hot (missing -> its own level;
    levels seen fewer than ``min_frequency`` times and unseen ones -> all zeros).

    Attributes:
        frame_: the fitted ``TabularFrame`` (column understanding, checks at transform).
        numeric_: typed-frame columns kept as numbers; ``medians_``: their fill values.
        levels_: categorical column -> its kept levels, in one-hot order.
        feature_names_out_: one name per output column (``col`` or ``col=level``).
    """

    def __init__(self, min_frequency: int = 5, max_levels: int = 30):
        self.min_frequency = min_frequency
        self.max_levels = max_levels

    def fit(self, X: Any, y: Any = None) -> StudentEncoder:
        self.frame_ = TabularFrame().fit(X)
        typed = self.frame_.transform(X)
        self.numeric_ = [c.name for c in self.frame_.columns_ if c.kind != "categorical"]
        self.medians_ = [
            float(np.nanmedian(typed[c])) if typed[c].notna().any() else 0.0 for c in self.numeric_
        ]
        self.levels_: dict[str, list[str]] = {}
        for c in self.frame_.columns_:
            if c.kind == "categorical":
                counts = typed[c.name].fillna("(missing)").value_counts()
                kept = counts[counts >= self.min_frequency].index[: self.max_levels]
                self.levels_[c.name] = sorted(str(v) for v in kept)
        self.feature_names_out_ = list(self.numeric_) + [
            f"{c}={v}" for c, levels in self.levels_.items() for v in levels
        ]
        return self

    def transform(self, X: Any) -> np.ndarray:
        """(n_rows, len(feature_names_out_)) float32; raises ``TabularInputError`` (a
        ValueError naming the column) for missing columns or text where numbers were."""
        check_is_fitted(self, "feature_names_out_")
        typed = self.frame_.transform(X)
        parts = [typed[c].to_numpy(dtype=float, na_value=np.nan)[:, None] for c in self.numeric_]
        out = np.hstack(parts) if parts else np.zeros((len(typed), 0))
        if parts:
            out = np.where(np.isnan(out), np.asarray(self.medians_)[None, :], out)
        for c, levels in self.levels_.items():
            values = typed[c].fillna("(missing)").astype(str).to_numpy()
            out = np.hstack([out, (values[:, None] == np.asarray(levels)[None, :]).astype(float)])
        return out.astype(np.float32)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return np.asarray(self.feature_names_out_, dtype=object)


def gibbs_augment(
    X: Any,
    Z: np.ndarray,
    n: int,
    *,
    seed: int = 0,
    neighbours: int = 20,
    p_resample: float = 0.5,
    p_marginal: float = 0.1,
) -> Any:
    """``n`` generated rows (a pandas DataFrame with ``X``'s columns and dtypes).

    Each starts as a copy of a random training row; then, feature by feature in a random
    order, with probability ``p_resample`` its value is replaced by the same column's value of
    one of the row's ``neighbours`` nearest training rows (distance on ``Z``, the encoded
    rows, shape (len(X), d)) — the empirical conditional of that feature near the row — or,
    with probability ``p_marginal``, of any training row (the marginal).
    """
    import pandas as pd
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(seed)
    X = X.reset_index(drop=True)
    rows = len(X)
    seeds = rng.integers(0, rows, n)
    k = max(1, min(neighbours, rows))
    scale = Z.std(0) + 1e-12
    nn_index = NearestNeighbors(n_neighbors=k).fit(Z / scale)
    near = nn_index.kneighbors(Z[seeds] / scale, return_distance=False)  # (n, k)
    out: dict[str, Any] = {}
    for name in rng.permutation(np.asarray(X.columns, dtype=object)):
        col = X[name].to_numpy()
        donors = near[np.arange(n), rng.integers(0, k, n)]
        marginal = rng.random(n) < p_marginal
        donors[marginal] = rng.integers(0, rows, int(marginal.sum()))
        take = rng.random(n) < p_resample
        values = col[seeds].copy()
        values[take] = col[donors[take]]
        out[name] = values
    frame = pd.DataFrame({c: out[c] for c in X.columns})
    return frame.astype(X.dtypes.to_dict())


def soft_labels(teacher: Any, X: Any, task: str) -> np.ndarray:
    """The teacher's class probabilities (n, C) or predictions (n, 1), float64."""
    if task == "regression":
        return np.asarray(teacher.predict(X), dtype=float).reshape(-1, 1)
    return np.asarray(teacher.predict_proba(X), dtype=float)


class DistilledTree(BaseEstimator):
    """A depth-bounded regression tree on the encoded rows that predicts the teacher's soft
    labels (probability vectors, or the prediction for regression), so its leaves hold class
    probabilities. ``rules()`` is its text (``sklearn.tree.export_text``) with class names.

    Attributes (fitted by ``distill``): encoder_, tree_ (DecisionTreeRegressor),
    classes_ (classification only), task_.
    """

    def __init__(self, max_depth: int = 6, min_samples_leaf: int = 5):
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf

    def fit_encoded(
        self, encoder: StudentEncoder, Z: np.ndarray, soft: np.ndarray, task: str, classes: Any
    ) -> DistilledTree:
        from sklearn.tree import DecisionTreeRegressor

        self.encoder_, self.task_ = encoder, task
        if task != "regression":
            self.classes_ = np.asarray(classes)
        target = soft[:, 0] if task == "regression" else soft
        self.tree_ = DecisionTreeRegressor(
            max_depth=self.max_depth, min_samples_leaf=self.min_samples_leaf, random_state=0
        ).fit(Z, target)
        # Leaf values rounded to float32, so that ONNX (float32 trees) gives the same numbers.
        values = self.tree_.tree_.value
        values[...] = values.astype(np.float32)
        return self

    def raw(self, Z: np.ndarray) -> np.ndarray:
        """The tree's output on encoded rows: (n, C) probabilities or (n,) predictions."""
        return np.asarray(self.tree_.predict(Z))

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.raw(self.encoder_.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        out = self.raw(self.encoder_.transform(X))
        return out if self.task_ == "regression" else self.classes_[out.argmax(1)]

    def rules(self, decimals: int = 3) -> str:
        """The tree as nested if-rules; each leaf says the class it predicts and its
        probability (or the predicted value for regression)."""
        from sklearn.tree import export_text

        text = export_text(
            self.tree_,
            feature_names=list(self.encoder_.feature_names_out_),
            decimals=decimals,
            max_depth=self.max_depth + 1,
        )
        for col, levels in self.encoder_.levels_.items():  # one-hot splits read as tests
            for level in levels:
                half = f"{0.5:.{decimals}f}"
                text = text.replace(f"{col}={level} <= {half}", f"{col} != {level}")
                text = text.replace(f"{col}={level} >  {half}", f"{col} == {level}")
        if self.task_ == "regression":
            return text

        def leaf(m: re.Match[str]) -> str:
            probs = [float(v) for v in m.group(1).split(",")]
            best = int(np.argmax(probs))
            return f"class: {self.classes_[best]} (p={probs[best]:.{decimals}f})"

        return re.sub(r"value: \[([^\]]*)\]", leaf, text)


class DistilledMLP(BaseEstimator):
    """A small MLP (ReLU hidden layers) on the standardized encoded rows, trained in PyTorch
    with Adam on the teacher's soft labels (cross-entropy against its probabilities; MSE
    against its standardized predictions for regression). Weights are kept as numpy arrays
    so the model saves without pickled code; ``module()`` rebuilds the torch network.

    Attributes (fitted by ``distill``): encoder_, weights_ / biases_ (lists of float32 arrays),
    mean_ / scale_ (input standardization), y_mean_ / y_scale_ (regression), classes_, task_.
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 64),
        epochs: int = 60,
        lr: float = 3e-3,
        batch_size: int = 256,
        time_limit: float = 20.0,
        seed: int = 0,
    ):
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.time_limit = time_limit
        self.seed = seed

    def fit_encoded(
        self, encoder: StudentEncoder, Z: np.ndarray, soft: np.ndarray, task: str, classes: Any
    ) -> DistilledMLP:
        import torch

        self.encoder_, self.task_ = encoder, task
        if task != "regression":
            self.classes_ = np.asarray(classes)
        self.mean_ = Z.mean(0).astype(np.float32)
        self.scale_ = (Z.std(0) + 1e-6).astype(np.float32)
        target = soft.astype(np.float32)
        self.y_mean_, self.y_scale_ = 0.0, 1.0
        if task == "regression":
            self.y_mean_ = float(target.mean())
            self.y_scale_ = float(target.std() + 1e-12)
            target = (target - self.y_mean_) / self.y_scale_
        torch.manual_seed(self.seed)
        sizes = [Z.shape[1], *self.hidden, target.shape[1]]
        layers: list[Any] = []
        for a, b in zip(sizes[:-1], sizes[1:], strict=True):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])
        x = torch.from_numpy((Z - self.mean_) / self.scale_).float()
        t = torch.from_numpy(target)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        gen = torch.Generator().manual_seed(self.seed)
        start = time.monotonic()
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a small net: more threads only contend on a loaded machine
        try:
            for _ in range(self.epochs):
                for idx in torch.randperm(len(x), generator=gen).split(self.batch_size):
                    out = net(x[idx])
                    if task == "regression":
                        loss = torch.nn.functional.mse_loss(out, t[idx])
                    else:
                        loss = -(t[idx] * torch.log_softmax(out, 1)).sum(1).mean()
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                if time.monotonic() - start > self.time_limit:
                    break
        finally:
            torch.set_num_threads(threads)
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        self.weights_ = [m.weight.detach().numpy().copy() for m in linears]
        self.biases_ = [m.bias.detach().numpy().copy() for m in linears]
        return self

    def module(self) -> Any:
        """The network as a float64 ``torch.nn.Module`` on encoded rows ((n, d)) with the
        standardization inside: probabilities (n, C) or predictions (n, 1)."""
        return _mlp_module_class()(self).double()

    def raw(self, Z: np.ndarray) -> np.ndarray:
        """Probabilities (n, C) or predictions (n,) for encoded rows, computed in float64."""
        h = (np.asarray(Z, dtype=np.float64) - self.mean_) / self.scale_
        for i, (w, b) in enumerate(zip(self.weights_, self.biases_, strict=True)):
            h = h @ w.T + b
            if i < len(self.weights_) - 1:
                h = np.maximum(h, 0.0)
        if self.task_ == "regression":
            return h[:, 0] * self.y_scale_ + self.y_mean_
        e = np.exp(h - h.max(1, keepdims=True))
        return e / e.sum(1, keepdims=True)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.raw(self.encoder_.transform(X))

    def predict(self, X: Any) -> np.ndarray:
        out = self.raw(self.encoder_.transform(X))
        return out if self.task_ == "regression" else self.classes_[out.argmax(1)]


def _mlp_module_class() -> Any:
    import torch

    class MLPModule(torch.nn.Module):
        mean: torch.Tensor
        scale: torch.Tensor

        def __init__(self, mlp: DistilledMLP):
            super().__init__()
            self.register_buffer("mean", torch.from_numpy(mlp.mean_))
            self.register_buffer("scale", torch.from_numpy(mlp.scale_))
            self.linears = torch.nn.ModuleList()
            for w, b in zip(mlp.weights_, mlp.biases_, strict=True):
                lin = torch.nn.Linear(w.shape[1], w.shape[0])
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(w))
                    lin.bias.copy_(torch.from_numpy(b))
                self.linears.append(lin)
            self.regression = mlp.task_ == "regression"
            self.y_mean, self.y_scale = float(mlp.y_mean_), float(mlp.y_scale_)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = (x - self.mean) / self.scale
            for i, lin in enumerate(self.linears):
                h = lin(h)
                if i < len(self.linears) - 1:
                    h = torch.relu(h)
            if self.regression:
                return h * self.y_scale + self.y_mean
            return torch.softmax(h, 1)

    return MLPModule


@dataclass
class Distilled:
    """The students and how they compare with the teacher.

    Attributes:
        tree, mlp: the fitted students (same ``encoder_``).
        task: ``binary``, ``multiclass`` or ``regression``; metric: the AMLB metric's name.
        report: model (``teacher``, ``tree``, ``mlp``) -> {"score", "fidelity",
            "latency_ms"}; fidelity is 1.0 for the teacher by definition.
        rows: training rows and generated rows the students learned from.
    """

    tree: DistilledTree
    mlp: DistilledMLP
    task: str
    metric: str
    report: dict[str, dict[str, float]] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)


def _latency_ms(fn: Any, row: Any, seconds: float = 0.5) -> float:
    """Median wall time of ``fn(row)`` in ms: 1 to 15 calls after a warm-up, about
    ``seconds`` in all (a slow ensemble is timed fewer times)."""
    t0 = time.perf_counter()
    fn(row)
    first = time.perf_counter() - t0
    times = []
    for _ in range(int(min(15, max(1, seconds / max(first, 1e-9))))):
        t0 = time.perf_counter()
        fn(row)
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1000.0)


def fidelity(task: str, teacher_out: np.ndarray, student_out: np.ndarray) -> float:
    """Share of rows where the student predicts the teacher's class (classification), or
    R^2 of the student's predictions against the teacher's (regression)."""
    if task == "regression":
        t, s = teacher_out.reshape(-1), student_out.reshape(-1)
        denom = float(((t - t.mean()) ** 2).sum())
        return 1.0 - float(((t - s) ** 2).sum()) / denom if denom > 0 else float("nan")
    return float((teacher_out.argmax(1) == student_out.argmax(1)).mean())


def distill(
    teacher: Any,
    X: Any,
    X_holdout: Any,
    y_holdout: Any = None,
    *,
    max_depth: int = 6,
    hidden: tuple[int, ...] = (64, 64),
    generated: int | None = None,
    mlp_time_limit: float = 20.0,
    seed: int = 0,
) -> Distilled:
    """Distil ``teacher`` into a tree and an MLP and compare all three on held-out rows.

    Args:
        teacher: a fitted estimator (``predict_proba`` + ``classes_`` for classification).
        X: the training rows (pandas DataFrame, raw columns as the teacher takes them).
        X_holdout: rows the students never saw; fidelity and latency are measured on them.
        y_holdout: their true labels, for the score (omit: no score).
        max_depth: the tree's depth bound (>= 1).
        hidden: the MLP's hidden widths.
        generated: generated rows (default: 2 x len(X), at most 20,000).
        mlp_time_limit: seconds of MLP training at most.
        seed: fixes the generated rows and the MLP's initialization.

    Raises:
        ConfigError: ``max_depth`` < 1 or an empty ``X`` / ``X_holdout``.
    """
    import pandas as pd

    if max_depth < 1:
        raise ConfigError(f"max_depth: {max_depth}; allowed: >= 1")
    X = pd.DataFrame(X).reset_index(drop=True)
    X_holdout = pd.DataFrame(X_holdout).reset_index(drop=True)
    if len(X) == 0 or len(X_holdout) == 0:
        raise ConfigError("X, X_holdout: need at least one row each")
    task = task_of(teacher)
    classes = getattr(teacher, "classes_", None)
    encoder = StudentEncoder().fit(X)
    Z = encoder.transform(X)
    n_gen = min(2 * len(X), 20_000) if generated is None else int(generated)
    extra = gibbs_augment(X, Z, n_gen, seed=seed) if n_gen > 0 else X.iloc[:0]
    rows = pd.concat([X, extra], ignore_index=True)
    Z_all = np.vstack([Z, encoder.transform(extra)]) if n_gen > 0 else Z
    soft = soft_labels(teacher, rows, task)
    tree = DistilledTree(max_depth=max_depth).fit_encoded(encoder, Z_all, soft, task, classes)
    mlp = DistilledMLP(hidden=hidden, time_limit=mlp_time_limit, seed=seed).fit_encoded(
        encoder, Z_all, soft, task, classes
    )
    metric, _ = AMLB_METRICS[task]
    t_out = soft_labels(teacher, X_holdout, task)
    report: dict[str, dict[str, float]] = {}
    one = X_holdout.iloc[:1]
    predict_fn = {"teacher": teacher.predict, "tree": tree.predict, "mlp": mlp.predict}
    for name, model in (("teacher", teacher), ("tree", tree), ("mlp", mlp)):
        out = t_out if name == "teacher" else model.raw(encoder.transform(X_holdout))
        out2 = out.reshape(-1, 1) if task == "regression" else out
        entry = {
            "fidelity": fidelity(task, t_out, out2),
            "latency_ms": _latency_ms(predict_fn[name], one),
        }
        if y_holdout is not None:
            flat = out2[:, 0] if task == "regression" else out2
            entry["score"] = amlb_score(task, y_holdout, flat, classes)
        report[name] = entry
    return Distilled(tree, mlp, task, metric, report, {"train": len(X), "generated": n_gen})
