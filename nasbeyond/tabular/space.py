"""The ``tabular-pipeline`` space: a whole tabular pipeline (per-feature transforms, feature
selection, a model and its hyperparameters) as one arch, searched by any strategy on the one loop.

An arch::

    {"model": "lightgbm",
     "params": {"num_leaves": 31, "learning_rate": 0.1, "min_child_samples": 20,
                "colsample_bytree": 1.0, "reg_lambda": 0.0},
     "features": {"numeric": "standardize",        # or {"age": "quantile", ...} per column
                  "categorical": "onehot", "periodic": "sincos", "missing": true,
                  "select": 1.0}}

Feature engineering is a set of decisions, as the talk's "2^d feature subsets, c^d per-feature
transforms" asks: with at most ``max_per_column`` numeric columns every column gets its own
transform decision (standardize, quantile to a normal, signed log ``sign(x) log(1 + |x|)``, or
none); with more, one decision covers them all and feature selection keeps the top ``select``
share of the transformed features by extra-trees importance (Geurts et al. 2006), which is how
the space stays small where d is large. Periodic columns (month, weekday, hour) become
``sin(2 pi x / period), cos(2 pi x / period)`` or stay raw; categorical columns are one-hot,
ordinal (embedded when the model is the MLP) or target encoded (Micci-Barreca 2001, scikit-learn's
cross-fitted ``TargetEncoder``); missing values are imputed (median / a ``__missing__`` level)
with optional missing-value indicators.

Models: LightGBM (Ke et al. 2017), random forest (Breiman 2001), extra trees, linear (logistic
regression / ridge), k-NN, and networks of the ``mlp`` space trained in PyTorch. ``build``
returns an unfitted scikit-learn ``Pipeline``; ``fidelity`` in ``pipeline`` scales boosting
rounds, trees, epochs, or (linear, k-NN) training rows for successive halving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from nasbeyond.arch import Arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space import Decision, Space, TaskShape
from nasbeyond.space._base import Node, Panel, other_choice
from nasbeyond.space.mlp import ACTIVATIONS, DROPOUTS, SKIPS, WIDTHS
from nasbeyond.tabular._data import MISSING, Column

MODELS = ("lightgbm", "random_forest", "extra_trees", "linear", "knn", "mlp")
NUMERIC = ("standardize", "quantile", "signed_log", "none")
CATEGORICAL = ("onehot", "ordinal", "target")
PERIODIC = ("sincos", "raw")
SELECT = (1.0, 0.75, 0.5, 0.25)
MLP_LAYERS = 3
TREE_PARAMS: dict[str, tuple[Any, ...]] = {
    "max_features": ("sqrt", 0.5, 1.0),
    "min_samples_leaf": (1, 2, 5, 10),
}
PARAMS: dict[str, dict[str, tuple[Any, ...]]] = {
    "lightgbm": {
        "num_leaves": (15, 31, 63, 127),
        "learning_rate": (0.03, 0.1, 0.3),
        "min_child_samples": (5, 10, 20, 50),
        "colsample_bytree": (0.5, 0.8, 1.0),
        "reg_lambda": (0.0, 1.0, 10.0),
    },
    "random_forest": TREE_PARAMS,
    "extra_trees": TREE_PARAMS,
    "linear": {"C": (0.01, 0.1, 1.0, 10.0, 100.0)},
    "knn": {"n_neighbors": (3, 5, 10, 20, 40), "weights": ("uniform", "distance")},
    "mlp": {
        "num_layers": tuple(range(1, MLP_LAYERS + 1)),
        **{f"width{i}": WIDTHS for i in range(MLP_LAYERS)},
        "activation": tuple(ACTIVATIONS),
        "dropout": DROPOUTS,
        "skip": SKIPS,
        "lr": (1e-3, 3e-3, 1e-2),
    },
}
# The models' own defaults: the first pipelines a search tries (a portfolio, as AutoGluon's).
DEFAULTS: dict[str, dict[str, Any]] = {
    "lightgbm": {
        "num_leaves": 31,
        "learning_rate": 0.1,
        "min_child_samples": 20,
        "colsample_bytree": 0.8,
        "reg_lambda": 1.0,
    },
    "random_forest": {"max_features": "sqrt", "min_samples_leaf": 1},
    "extra_trees": {"max_features": 0.5, "min_samples_leaf": 1},
    "linear": {"C": 1.0},
    "knn": {"n_neighbors": 10, "weights": "distance"},
    "mlp": {
        "widths": [128, 64],
        "activation": "relu",
        "dropout": 0.1,
        "skip": "none",
        "lr": 3e-3,
    },
}
# Full-fidelity sizes: boosting rounds by learning rate, trees, epochs.
ROUNDS = {0.03: 500, 0.1: 200, 0.3: 80}
TREES = 100
EPOCHS = 20


def _mlp_params(v: dict[str, Any]) -> dict[str, Any]:
    widths = [v[f"width{i}"] for i in range(v["num_layers"])]
    return {"widths": widths, **{k: v[k] for k in ("activation", "dropout", "skip", "lr")}}


@register("space", "tabular-pipeline")
class TabularPipelineSpace(Space):
    """Pipelines for one tabular task.

    Args:
        task: ``classification`` or ``regression`` (which model classes ``build`` uses).
        models: the model families searched (a tuple, or names joined by commas).
        columns: the typed frame's columns (``TabularFrame.columns_``); None: derived from the
            ``TaskShape`` at build time (its leading ``categories`` columns categorical, the
            rest numeric), with every feature decision present.
        max_per_column: up to this many numeric columns, each gets its own transform decision.
    """

    name = "tabular-pipeline"
    builds = "pipeline"  # build gives an unfitted scikit-learn Pipeline

    def __init__(
        self,
        task: str = "classification",
        models: str | Sequence[str] = MODELS,
        columns: Sequence[Column] | None = None,
        max_per_column: int = 12,
    ) -> None:
        if task not in ("classification", "regression"):
            raise SpaceError(f"{self.name}: task is {task!r}; allowed: classification, regression")
        names = tuple(models.split(",")) if isinstance(models, str) else tuple(models)
        bad = [m for m in names if m not in MODELS]
        if bad or not names:
            raise SpaceError(
                f"{self.name}: models has {bad[0] if bad else 'nothing'!r}; allowed: "
                + ", ".join(MODELS)
            )
        self.task = task
        self.models = tuple(dict.fromkeys(names))
        self.columns = None if columns is None else tuple(columns)
        self.max_per_column = max_per_column

    # ----- decisions ---------------------------------------------------------------------
    def _kinds(self) -> set[str]:
        if self.columns is None:
            return {"numeric", "categorical", "periodic"}
        return {c.kind for c in self.columns}

    def _numeric_columns(self) -> list[str] | None:
        """Column names with their own transform decision, or None (one decision for all)."""
        if self.columns is None:
            return None
        names = [c.name for c in self.columns if c.kind == "numeric"]
        return names if 0 < len(names) <= self.max_per_column else None

    def _feature_decisions(self) -> list[Decision]:
        kinds, per = self._kinds(), self._numeric_columns()
        out = [Decision(f"numeric[{n}]", NUMERIC) for n in per] if per else []
        out += [] if per else [Decision("numeric", NUMERIC)]
        out += [Decision("categorical", CATEGORICAL)] if "categorical" in kinds else []
        out += [Decision("periodic", PERIODIC)] if "periodic" in kinds else []
        return [*out, Decision("missing", (False, True)), Decision("select", SELECT)]

    def decisions(self) -> list[Decision]:
        out = [Decision("model", self.models)] if len(self.models) > 1 else []
        out += self._feature_decisions()
        for m in self.models:
            out += [Decision(f"{m}.{k}", v) for k, v in PARAMS[m].items()]
        return out

    def from_choices(self, choices: Sequence[int]) -> Arch:
        ds = self.decisions()
        if len(choices) != len(ds):
            raise SpaceError(f"{self.name}: expected {len(ds)} choices, got {len(choices)}")
        v = {d.name: d.choices[int(c)] for d, c in zip(ds, choices, strict=True)}
        model = v.get("model", self.models[0])
        params = {k: v[f"{model}.{k}"] for k in PARAMS[model]}
        if model == "mlp":
            params = _mlp_params(params)
        per = self._numeric_columns()
        features: dict[str, Any] = {
            "numeric": {n: v[f"numeric[{n}]"] for n in per} if per else v["numeric"],
            **{k: v[k] for k in ("categorical", "periodic", "missing", "select") if k in v},
        }
        return {"model": model, "params": params, "features": features}

    def to_choices(self, arch: Arch, rng: np.random.Generator | None = None) -> list[int]:
        """The decision indices of ``arch``; decisions it does not use (other models'
        hyperparameters) are drawn from ``rng`` (index 0 without one)."""
        arch = self.validate(arch)
        v: dict[str, Any] = {"model": arch["model"]}
        f = arch["features"]
        if isinstance(f["numeric"], dict):
            v.update({f"numeric[{n}]": t for n, t in f["numeric"].items()})
        else:
            v["numeric"] = f["numeric"]
        v.update({k: f[k] for k in ("categorical", "periodic", "missing", "select") if k in f})
        params = dict(arch["params"])
        if arch["model"] == "mlp":
            widths = params.pop("widths")
            params["num_layers"] = len(widths)
            params.update({f"width{i}": w for i, w in enumerate(widths)})
        v.update({f"{arch['model']}.{k}": p for k, p in params.items()})
        out = []
        for d in self.decisions():
            if d.name in v:
                out.append(d.choices.index(v[d.name]))
            else:
                out.append(0 if rng is None else int(rng.integers(len(d.choices))))
        return out

    def _used(self, arch: Arch) -> list[int]:
        """Indices of the decisions that ``arch`` depends on (mutation targets)."""
        model = arch["model"]
        width_used = {f"mlp.width{i}" for i in range(len(arch["params"].get("widths", [])))}
        out = []
        for i, d in enumerate(self.decisions()):
            head, _, rest = d.name.partition(".")
            if not rest or (
                head == model and (not rest.startswith("width") or d.name in width_used)
            ):
                out.append(i)
        return out

    # ----- the Space contract --------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Arch:
        return self.sample_by_choices(rng)

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """Change one decision the arch uses: the model (its hyperparameters drawn afresh), one
        feature decision or one of its model's hyperparameters."""
        choices = self.to_choices(arch, rng)
        ds = self.decisions()
        i = int(rng.choice(self._used(arch)))
        choices[i] = other_choice(range(len(ds[i].choices)), choices[i], rng)
        return self.from_choices(choices)

    def validate(self, arch: Arch) -> Arch:
        n = self.name
        if not isinstance(arch, dict) or set(arch) != {"model", "params", "features"}:
            raise SpaceError(f"{n}: an arch is a mapping of exactly model, params, features")
        model = arch["model"]
        if model not in self.models:
            raise SpaceError(f"{n}: model is {model!r}; allowed: {', '.join(self.models)}")
        params = arch["params"]
        if not isinstance(params, dict):
            raise SpaceError(f"{n}: params must be a mapping")
        allowed = dict(PARAMS[model])
        if model == "mlp":
            widths = params.get("widths")
            if not isinstance(widths, list) or not 1 <= len(widths) <= MLP_LAYERS:
                raise SpaceError(f"{n}: params.widths must be a list of 1..{MLP_LAYERS} widths")
            bad = [w for w in widths if isinstance(w, bool) or w not in WIDTHS]
            if bad:
                raise SpaceError(f"{n}: params.widths has {bad[0]!r}; allowed: {WIDTHS}")
            allowed = {k: v for k, v in allowed.items() if k in ("activation", "dropout", "skip")}
            allowed["lr"] = PARAMS["mlp"]["lr"]
            allowed["widths"] = ()
        if set(params) != set(allowed):
            raise SpaceError(f"{n}: params of {model} are exactly {', '.join(sorted(allowed))}")
        for k, values in allowed.items():
            if k != "widths" and (params[k] not in values or isinstance(params[k], bool)):
                raise SpaceError(f"{n}: params.{k} is {params[k]!r}; allowed: {values}")
        self._validate_features(arch["features"])
        return arch

    def _validate_features(self, f: Any) -> None:
        n = self.name
        wanted = {d.name for d in self._feature_decisions() if "[" not in d.name} | {"numeric"}
        if not isinstance(f, dict) or set(f) != wanted:
            raise SpaceError(f"{n}: features are exactly {', '.join(sorted(wanted))}")
        per = self._numeric_columns()
        num = f["numeric"]
        if per:
            if not isinstance(num, dict) or set(num) != set(per):
                raise SpaceError(f"{n}: features.numeric maps each of {per} to a transform")
            values = list(num.values())
        else:
            values = [num]
        for t in values:
            if t not in NUMERIC:
                raise SpaceError(f"{n}: numeric transform {t!r}; allowed: {', '.join(NUMERIC)}")
        for k, allowed in (
            ("categorical", CATEGORICAL),
            ("periodic", PERIODIC),
            ("missing", (False, True)),
            ("select", SELECT),
        ):
            if k in f and (f[k] not in allowed or (k != "missing") == isinstance(f[k], bool)):
                raise SpaceError(f"{n}: features.{k} is {f[k]!r}; allowed: {allowed}")

    def build(self, arch: Arch, task: TaskShape) -> Any:
        """An unfitted scikit-learn ``Pipeline`` (preprocess -> [select] -> model) at full
        fidelity. Without ``columns`` it takes a numeric array whose first
        ``len(task.categories)`` columns are categorical codes."""
        if self.columns is not None:
            return self.pipeline(arch)
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import FunctionTransformer

        cols = _columns_of(task)
        pipe = self.pipeline(arch, columns=cols)
        frame = FunctionTransformer(_ArrayToFrame([c.kind for c in cols]))
        return Pipeline([("frame", frame), *pipe.steps])

    def pipeline(
        self,
        arch: Arch,
        columns: Sequence[Column] | None = None,
        fidelity: float = 1.0,
        n_rows: int | None = None,
        seed: int = 0,
        threads: int = 1,
    ) -> Any:
        """The unfitted Pipeline of ``arch`` on ``columns`` (default: the space's own).

        Args:
            fidelity: in (0, 1]: the share of boosting rounds, trees or epochs (successive
                halving's budget); linear and k-NN models take it as a share of rows instead
                (``RowSubsample`` in front of the model).
            n_rows: training rows, if known (k-NN's k is kept below it).
        """
        from sklearn.pipeline import Pipeline

        arch = self.validate(arch)
        cols = list(columns if columns is not None else self.columns or ())
        if not cols:
            raise SpaceError(f"{self.name}: pipeline needs the frame's columns")
        f, model = arch["features"], arch["model"]
        embed = model == "mlp" and f.get("categorical") == "ordinal" and f["select"] == 1.0
        steps: list[tuple[str, Any]] = [("features", _preprocessor(f, cols, seed, embed))]
        if f["select"] < 1.0:
            steps.append(("select", _selector(f["select"], self.task, seed, threads)))
        n_cat = sum(c.kind == "categorical" for c in cols) if embed else 0
        rows = fidelity if model in ("linear", "knn") else 1.0
        if n_rows is not None:
            n_rows = max(1, int(n_rows * rows))
        est = _model(self.task, model, arch["params"], fidelity, n_rows, seed, threads, n_cat)
        if rows < 1.0:
            from nasbeyond.tabular.models import RowSubsample

            est = RowSubsample(est, fraction=rows, random_state=seed)
        steps.append(("model", est))
        return Pipeline(steps)

    # ----- reading ----------------------------------------------------------------------
    def describe(self, arch: Arch) -> str:
        f, p = arch["features"], dict(arch["params"])
        if "widths" in p:
            p["widths"] = "-".join(map(str, p["widths"]))
        num = f["numeric"]
        if isinstance(num, dict):
            counts: dict[str, int] = {}
            for t in num.values():
                counts[t] = counts.get(t, 0) + 1
            num = "+".join(f"{t}x{k}" for t, k in sorted(counts.items()))
        feats = [f"numeric={num}"]
        feats += [f"{k}={f[k]}" for k in ("categorical", "periodic") if k in f]
        feats += ["missing-indicators"] if f["missing"] else []
        feats += [f"select={f['select']:g}"] if f["select"] < 1 else []
        params = ",".join(f"{k}={v}" for k, v in p.items())
        return f"{arch['model']}({params}) | {' '.join(feats)}"

    def graph(self, arch: Arch) -> list[Panel]:
        f = arch["features"]
        num = "per column" if isinstance(f["numeric"], dict) else f["numeric"]
        nodes: list[Node] = [("input", []), (f"numeric: {num}", [(0, "")])]
        for k in ("categorical", "periodic"):
            if k in f:
                nodes.append((f"{k}: {f[k]}", [(0, "")]))
        joined = [(i, "") for i in range(1, len(nodes))]
        nodes.append(("missing indicators" if f["missing"] else "impute", joined))
        if f["select"] < 1:
            nodes.append((f"select top {f['select']:g}", [(len(nodes) - 1, "")]))
        nodes.append((arch["model"], [(len(nodes) - 1, "")]))
        return [(self.name, nodes)]


def _columns_of(task: TaskShape) -> list[Column]:
    n_cat = len(task.categories)
    d = math.prod(task.input_shape)
    return [Column(str(i), "categorical" if i < n_cat else "numeric", str(i)) for i in range(d)]


class _ArrayToFrame:
    """A numeric array -> the typed frame of ``_columns_of`` (categorical codes as text)."""

    def __init__(self, kinds: list[str]) -> None:
        self.kinds = kinds

    def __call__(self, x: Any) -> Any:
        import pandas as pd

        x = np.asarray(x, dtype=float)
        return pd.DataFrame(
            {
                str(i): x[:, i].astype(int).astype(str).astype(object)
                if k == "categorical"
                else x[:, i]
                for i, k in enumerate(self.kinds)
            }
        )


def _signed_log(x: Any) -> Any:
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


class _SinCos:
    """``x -> [sin(2 pi x / period), cos(2 pi x / period)]`` (a picklable callable)."""

    def __init__(self, period: float) -> None:
        self.period = period

    def __call__(self, x: Any) -> Any:
        a = 2 * np.pi * np.asarray(x, dtype=float) / self.period
        return np.hstack([np.sin(a), np.cos(a)])


def _numeric_pipe(transform: str, missing: bool) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, QuantileTransformer, StandardScaler

    steps: list[Any] = [SimpleImputer(strategy="median", add_indicator=missing)]
    if transform == "standardize":
        steps.append(StandardScaler())
    elif transform == "quantile":
        steps.append(QuantileTransformer(n_quantiles=100, output_distribution="normal"))
    elif transform == "signed_log":
        steps += [FunctionTransformer(_signed_log, feature_names_out="one-to-one")]
        steps.append(StandardScaler())
    return make_pipeline(*steps)


def _categorical_pipe(encoding: str, seed: int, embed: bool) -> Any:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, TargetEncoder

    imputer = SimpleImputer(strategy="constant", fill_value=MISSING)
    if encoding == "onehot":
        enc: Any = OneHotEncoder(
            handle_unknown="infrequent_if_exist", max_categories=32, sparse_output=False
        )
    elif encoding == "ordinal":
        # unseen levels -> -1; the MLP's embeddings take code + 1 (0 is "unseen")
        enc = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1)
        if embed:
            from sklearn.preprocessing import FunctionTransformer

            return make_pipeline(
                imputer,
                enc,
                FunctionTransformer(np.add, kw_args={"x2": 1.0}, feature_names_out="one-to-one"),
            )
    else:
        enc = TargetEncoder(random_state=seed)
    return make_pipeline(imputer, enc)


def _sincos_names(transformer: Any, names: Any) -> list[str]:
    return [f"{n}_sin" for n in names] + [f"{n}_cos" for n in names]


def _preprocessor(f: dict[str, Any], cols: Sequence[Column], seed: int, embed: bool) -> Any:
    """A ColumnTransformer with one transformer per group of columns treated alike (named
    ``cat``, ``num_<transform>``, ``per_<period>``), categorical columns first (the MLP embeds
    the leading columns)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    groups: dict[str, list[Column]] = {}
    for c in cols:
        if c.kind == "categorical":
            key = "cat"
        elif c.kind == "periodic" and f.get("periodic", "sincos") == "sincos":
            key = f"per_{c.period:g}"
        else:
            num = f["numeric"]
            t = num.get(c.name, "standardize") if isinstance(num, dict) else num
            key = f"num_{'standardize' if c.kind == 'periodic' else t}"
        groups.setdefault(key, []).append(c)
    parts: list[tuple[str, Any, list[str]]] = []
    for key in sorted(groups, key=lambda k: k != "cat"):
        if key == "cat":
            pipe = _categorical_pipe(f["categorical"], seed, embed)
        elif key.startswith("per_"):
            pipe = make_pipeline(
                SimpleImputer(strategy="median"),
                FunctionTransformer(
                    _SinCos(float(key[4:])),
                    feature_names_out=_sincos_names,
                ),
            )
        else:
            pipe = _numeric_pipe(key[4:], f["missing"])
        parts.append((key, pipe, [c.name for c in groups[key]]))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def output_sources(ct: Any) -> list[str]:
    """For a fitted preprocessor of this space: the typed-frame column each output feature
    comes from (missing indicators and one-hot levels map to their column)."""
    out: list[str] = []
    for name, pipe, columns in ct.transformers_:
        if name == "remainder" or pipe == "drop":
            continue
        longest_first = sorted(columns, key=len, reverse=True)
        for feat in pipe.get_feature_names_out(list(columns)):
            feat = str(feat).removeprefix("missingindicator_")
            out.append(
                next(
                    (c for c in longest_first if feat == c or feat.startswith(f"{c}_")),
                    columns[0],
                )
            )
    return out


def _selector(share: float, task: str, seed: int, threads: int) -> Any:
    from sklearn.ensemble import ExtraTreesClassifier, ExtraTreesRegressor
    from sklearn.feature_selection import SelectFromModel

    cls = ExtraTreesClassifier if task == "classification" else ExtraTreesRegressor
    return SelectFromModel(
        cls(n_estimators=50, random_state=seed, n_jobs=threads),
        threshold=-np.inf,
        max_features=_Share(share),
    )


class _Share:
    """``max_features`` for SelectFromModel: a share of the columns, at least one."""

    def __init__(self, share: float) -> None:
        self.share = share

    def __call__(self, X: Any) -> int:
        return max(1, math.ceil(self.share * X.shape[1]))


def _model(
    task: str,
    model: str,
    p: dict[str, Any],
    fidelity: float,
    n_rows: int | None,
    seed: int,
    threads: int,
    n_categorical: int,
) -> Any:
    clf = task == "classification"
    if model == "lightgbm":
        from nasbeyond.extras import require

        lgb = require("lightgbm", "tabular", "models", "the lightgbm model")
        rounds = max(5, math.ceil(ROUNDS[p["learning_rate"]] * fidelity))
        cls = lgb.LGBMClassifier if clf else lgb.LGBMRegressor
        return cls(
            n_estimators=rounds,
            subsample=0.8,
            subsample_freq=1,
            importance_type="gain",
            verbose=-1,
            n_jobs=threads,
            random_state=seed,
            **p,
        )
    if model in ("random_forest", "extra_trees"):
        from sklearn import ensemble

        name = ("RandomForest" if model == "random_forest" else "ExtraTrees") + (
            "Classifier" if clf else "Regressor"
        )
        return getattr(ensemble, name)(
            n_estimators=max(10, math.ceil(TREES * fidelity)),
            n_jobs=threads,
            random_state=seed,
            **p,
        )
    if model == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        if clf:
            return LogisticRegression(C=p["C"], max_iter=1000)
        return Ridge(alpha=1.0 / p["C"])
    if model == "knn":
        from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor

        k = p["n_neighbors"] if n_rows is None else max(1, min(p["n_neighbors"], n_rows - 1))
        cls = KNeighborsClassifier if clf else KNeighborsRegressor
        return cls(n_neighbors=k, weights=p["weights"])
    from nasbeyond.tabular.models import TorchMLPClassifier, TorchMLPRegressor

    arch = {k: p[k] for k in ("widths", "activation", "dropout", "skip")}
    net = TorchMLPClassifier if clf else TorchMLPRegressor
    return net(
        arch=arch,
        epochs=max(2, math.ceil(EPOCHS * fidelity)),
        lr=p["lr"],
        n_categorical=n_categorical,
        random_state=seed,
        threads=threads,
    )
