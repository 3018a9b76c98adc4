"""``AutoClassifier`` and ``AutoRegressor``: tabular AutoML as scikit-learn estimators.

``fit(X, y, time_limit=60)`` understands the columns (``TabularFrame``), searches the
``tabular-pipeline`` space (feature transforms, selection, model, hyperparameters) with a
registered strategy (TPE by default, or evolution, ...) under successive halving (ASHA on
boosting rounds / trees / epochs / rows) on the one loop (``nasbeyond.run.run``), scores each
pipeline by k-fold cross-validation, and ensembles the pipelines greedily from their
out-of-fold predictions (Caruana et al. 2004) or by stacking. Each ensemble member predicts
with the mean of its k fold models (bagging, as AutoGluon does), so no refit is needed and the
time limit holds: trials still running at the deadline are cut (their worker processes are
killed) and fail with ``Timeout``.

Before the search, a cheap baseline (trial 0: the first model family of ``PORTFOLIO_ORDER``
that is searched, normally logistic / ridge regression on the default preprocessing, on at most
``BASELINE_ROWS`` training rows) is cross-validated in this process, with no worker to start,
and always joins the leaderboard and the ensemble's candidates: ``fit`` returns a predictor
whenever the limit leaves room for it, even if no searched pipeline finishes. It is stopped
when its remaining folds would overrun the limit; then ``fit`` raises ``TimeoutError`` naming
the time it needs.

Fitted attributes other code may rely on (the export, CLI and serving parts do):

- ``classes_`` (classifier): the class labels, in the column order of ``predict_proba``.
- ``n_features_in_``; ``feature_names_in_`` when X was a DataFrame with string column names.
- ``task_``: ``binary | multiclass | regression``; ``metric_``: the selection metric's name
  (``nasbeyond.tabular.metrics.METRICS``); ``oof_score_``: the ensemble's out-of-fold value.
- ``preprocessor_``: a fitted ``TabularFrame``; ``preprocessor_.transform(raw rows)`` gives
  the typed frame every member takes (``preprocessor_.columns_`` describes its columns,
  ``preprocessor_.kinds_`` the kind of each input column).
- ``ensemble_``: list of ``Member`` (``trial``, ``weight``, ``arch``, ``pipelines`` — the k
  fitted scikit-learn Pipelines —, ``score``); ``member.predict(frame)`` gives that member's
  probabilities (n_rows, n_classes, classes encoded as indices into ``classes_``) or values.
  Caruana weights sum to 1; with ``ensemble="stacking"`` ``stacker_`` is the level-2 model
  over the members' predictions side by side (``ensemble.stack_features``) and the weights
  are 1 / len(ensemble_) for reading only.
- ``feature_importances_``: shape (n_features_in_,), summing to 1, per input column.
- ``leaderboard()``: a pandas DataFrame of every tried pipeline (the ensemble first).
- ``space_``: the searched ``TabularPipelineSpace``; ``search_time_s_``: wall seconds of
  the search.

Bad input raises ``ValueError`` naming the column (``TabularInputError``): a target with
missing values, one class only, an all-missing column, text where numbers were at fit, a
column missing at predict (or, for DataFrames, names that do not match: scikit-learn's message
lists them).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import pickle
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require
from nasbeyond.tabular._data import TabularFrame, TabularInputError
from nasbeyond.tabular.ensemble import blend, caruana, stack_features, stacker
from nasbeyond.tabular.metrics import Metric, get_metric
from nasbeyond.tabular.space import DEFAULTS, MODELS, TabularPipelineSpace, output_sources

STRATEGIES = ("tpe", "evolution", "random", "local-search", "bananas", "reinforce")
ENSEMBLES = ("caruana", "stacking", "best")
SEARCH_SHARE = 0.85  # of the time limit; the rest: ensemble selection, loading, shutdown
ENSEMBLE_SHARE = 0.95  # Caruana's selection adds no model after this share of the limit
POOL = 20  # best pipelines the ensemble may draw from
# The defaults are tried cheapest first, so that something finishes early under a short limit.
PORTFOLIO_ORDER = ("linear", "lightgbm", "knn", "extra_trees", "random_forest", "mlp")
BASELINE_ID = 0  # the in-process baseline's trial id (the store numbers searched trials from 1)
BASELINE_ROWS = 20_000  # training rows the baseline takes at most (linear, k-NN)
# Fidelity of the baseline when it is not a linear / k-NN model: boosting rounds, trees, epochs.
BASELINE_FIDELITY = {"lightgbm": 1 / 3, "extra_trees": 1 / 3, "random_forest": 1 / 3, "mlp": 1 / 9}


@dataclass
class Member:
    """One pipeline of the ensemble: its trial, weight, arch, k fitted fold pipelines and its
    own out-of-fold score (the metric in its own orientation)."""

    trial: int
    weight: float
    arch: Arch
    pipelines: list[Any]
    score: float
    n_classes: int

    def predict(self, frame: Any) -> np.ndarray:
        """Mean over the fold pipelines: probabilities (n_rows, n_classes) or values."""
        from nasbeyond.tabular._search import predict_pipeline

        preds = [predict_pipeline(p, frame, self.n_classes) for p in self.pipelines]
        out: np.ndarray = np.mean(preds, axis=0)
        return out


class _AutoBase(BaseEstimator):
    """Shared by ``AutoClassifier`` and ``AutoRegressor``.

    Args:
        time_limit: seconds ``fit`` may take in all (also ``fit(..., time_limit=)``).
        metric: selection metric (None: ROC AUC binary, log loss multiclass, RMSE regression,
            as the AutoML Benchmark); see ``nasbeyond.tabular.metrics.METRICS``.
        models: model families searched (None: all of ``space.MODELS``; LightGBM needs the
            ``tabular`` extra).
        strategy: a registered strategy name searching the pipeline space.
        halving: successive halving (ASHA, eta 3, fidelities 1/9, 1/3, 1) around the strategy.
        cv: folds of the cross-validation (stratified for classification).
        ensemble: ``caruana`` (greedy selection with replacement), ``stacking`` or ``best``.
        ensemble_size: Caruana's iterations (models added, with replacement).
        workers: worker processes for trials, one thread each (cut at the deadline; None: one
            per CPU core, at most 4); 0 runs trials in this
            process (no cutting: a running trial finishes; for tests and debugging).
        max_trials: stop after this many trials even if time is left, the baseline counting
            as one (None: time decides).
        store: a run directory: the search is stored there (SQLite) and a rerun with the
            same data resumes it; None: in memory.
        random_state: seeds folds, strategy and models.
        verbose: print the search's progress line.
    """

    _classify = False

    def __init__(
        self,
        time_limit: float = 60.0,
        metric: str | None = None,
        models: tuple[str, ...] | None = None,
        strategy: str = "tpe",
        halving: bool = True,
        cv: int = 5,
        ensemble: str = "caruana",
        ensemble_size: int = 25,
        workers: int | None = None,
        max_trials: int | None = None,
        store: str | None = None,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.time_limit = time_limit
        self.metric = metric
        self.models = models
        self.strategy = strategy
        self.halving = halving
        self.cv = cv
        self.ensemble = ensemble
        self.ensemble_size = ensemble_size
        self.workers = workers
        self.max_trials = max_trials
        self.store = store
        self.random_state = random_state
        self.verbose = verbose

    # ----- scikit-learn plumbing -----------------------------------------------------------
    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.non_deterministic = False
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"allow_nan": True, "X_types": ["2darray", "string", "categorical"]}

    def _frame(self, X: Any, reset: bool) -> Any:
        """``X`` as a DataFrame with the fitted column names, after scikit-learn's checks."""
        import scipy.sparse as sp
        from sklearn.utils.validation import _check_feature_names, _check_n_features, check_array

        pd = require("pandas", "tabular", "X", "tabular AutoML")
        if sp.issparse(X):
            raise TypeError("X: sparse input is not supported; pass a dense array or DataFrame")
        _check_feature_names(self, X, reset=reset)
        if isinstance(X, pd.DataFrame):
            frame = X.reset_index(drop=True)
            if frame.shape[0] == 0:
                raise ValueError("X: Found array with 0 sample(s); at least one row is needed")
            frame.columns = [str(c) for c in frame.columns]
        else:
            arr = check_array(X, dtype=None, ensure_all_finite=False, ensure_2d=True)
            if reset:
                names = [f"x{i}" for i in range(arr.shape[1])]
            else:
                names = [str(c) for c in self.preprocessor_.feature_names_in_]
                if len(names) != arr.shape[1]:
                    names = [f"x{i}" for i in range(arr.shape[1])]
            frame = pd.DataFrame(arr, columns=names)
            if arr.dtype.kind in "biuf":
                frame = frame.astype(float)
        _check_n_features(self, frame, reset=reset)
        return frame

    # ----- fit -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, time_limit: float | None = None) -> Any:
        """Search pipelines for ``time_limit`` seconds (default: the constructor's) and keep
        the ensemble. X: DataFrame or 2D array (numeric, categorical, datetime-like columns;
        NaN / None are missing). y: 1D labels or values, or (DataFrame X) a column name.

        Raises:
            ValueError: bad rows or target (the message names the column); ``TimeoutError``:
            no pipeline finished within the limit.
        """
        started = time.monotonic()
        limit = float(self.time_limit if time_limit is None else time_limit)
        self._check_params(limit)
        if isinstance(y, str) and hasattr(X, "columns"):
            if y not in X.columns:
                raise TabularInputError(
                    f"target: column {y!r} not found; columns: {', '.join(map(str, X.columns))}"
                )
            X, y = X.drop(columns=[y]), X[y]
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None"
            )
        frame = self._frame(X, reset=True)
        y_enc, n_classes = self._target(y, len(frame))
        if len(frame) < 2:
            raise ValueError("X: 1 sample; at least 2 rows are needed (n_samples=1)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.preprocessor_ = TabularFrame().fit(frame)
            typed = self.preprocessor_.transform(frame)
        metric = get_metric(self.metric, self.task_)
        self.metric_ = metric.name
        self.space_ = TabularPipelineSpace(
            task="regression" if not n_classes else "classification",
            models=self._models(),
            columns=self.preprocessor_.columns_,
        )
        folds = self._folds(y_enc, n_classes)
        deadline = started + SEARCH_SHARE * limit - 0.5
        workdir = self.store or tempfile.mkdtemp(prefix="nasbeyond-tabular-")
        try:
            self._check_store(typed, y_enc, metric)
            base = self._baseline(typed, y_enc, n_classes, folds, metric, workdir, started, limit)
            trials = [base]
            searched = None if self.max_trials is None else self.max_trials - 1
            # Starting workers costs seconds under load: no search without time for a trial.
            if (searched is None or searched > 0) and time.monotonic() < deadline - 1.0:
                skip = base.arch if base.metrics.get("fidelity") == 1.0 else None
                trials += self._search(
                    typed, y_enc, n_classes, folds, metric, workdir, deadline, searched, skip
                )
            self.search_time_s_ = time.monotonic() - started
            self._build_ensemble(trials, y_enc, n_classes, metric, workdir, limit, started)
        finally:
            if self.store is None:
                shutil.rmtree(workdir, ignore_errors=True)
        self._importances(typed, y_enc, n_classes)
        self.fit_time_s_ = time.monotonic() - started
        return self

    def _check_params(self, limit: float) -> None:
        if not limit > 0 or not math.isfinite(limit):
            raise ConfigError(f"time_limit is {limit}; allowed: a positive number of seconds")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"strategy is {self.strategy!r}; allowed: {', '.join(STRATEGIES)}")
        if self.ensemble not in ENSEMBLES:
            raise ConfigError(f"ensemble is {self.ensemble!r}; allowed: {', '.join(ENSEMBLES)}")
        if not isinstance(self.cv, int) or self.cv < 2:
            raise ConfigError(f"cv is {self.cv!r}; allowed: an integer >= 2")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 0):
            raise ConfigError(f"workers is {self.workers!r}; allowed: 0 (in process) or more")

    def _models(self) -> tuple[str, ...]:
        if self.models is not None:
            models = tuple(self.models)
            if "lightgbm" in models:
                require("lightgbm", "tabular", "models", "the lightgbm model")
            return models
        try:
            import lightgbm  # noqa: F401
        except ImportError:
            return tuple(m for m in MODELS if m != "lightgbm")
        return MODELS

    def _target(self, y: Any, n_rows: int) -> tuple[np.ndarray, int]:
        raise NotImplementedError

    def _folds(self, y: np.ndarray, n_classes: int) -> list[tuple[np.ndarray, np.ndarray]]:
        from sklearn.model_selection import KFold, StratifiedKFold

        n = len(y)
        if n_classes:
            smallest = int(np.bincount(y).min())
            k = max(2, min(self.cv, smallest, n // 2))
            splitter: Any = StratifiedKFold(k, shuffle=True, random_state=self.random_state)
        else:
            k = max(2, min(self.cv, n // 2))
            splitter = KFold(k, shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [(tr, va) for tr, va in splitter.split(np.zeros((n, 1)), y)]

    def _search(
        self,
        typed: Any,
        y: np.ndarray,
        n_classes: int,
        folds: list[tuple[np.ndarray, np.ndarray]],
        metric: Metric,
        workdir: str,
        deadline: float,
        max_trials: int | None = None,
        skip: Arch | None = None,
    ) -> list[Any]:
        """The searched trials (ids from 1); ``skip``: an arch already evaluated (the
        baseline), left out of the defaults tried first."""
        from nasbeyond.registry import create
        from nasbeyond.run import InlineExecutor, MemoryStore, SQLiteStore, run
        from nasbeyond.tabular._search import (
            MAX_BUDGET,
            CrossValidate,
            DeadlineExecutor,
            Portfolio,
        )

        space = self.space_
        seed = self.random_state
        if self.halving:
            base = create(
                "strategy",
                "asha",
                space=space,
                seed=seed,
                base=self.strategy,
                min_budget=1.0,
                max_budget=MAX_BUDGET,
                eta=3.0,
            )
        else:
            base = create("strategy", self.strategy, space=space, seed=seed)
        cheap_first = sorted(space.models, key=PORTFOLIO_ORDER.index)
        first = [a for a in map(self._default_arch, cheap_first) if a != skip]
        strategy = Portfolio(space, base, first, deadline=deadline, seed=seed)
        evaluator = CrossValidate(space, typed, y, folds, metric, n_classes, workdir)
        store: Any = MemoryStore() if self.store is None else SQLiteStore(self.store)
        executor: Any
        if self.workers == 0:
            executor = InlineExecutor()
        else:
            n = self.workers if self.workers is not None else min(4, os.cpu_count() or 1)
            executor = DeadlineExecutor(deadline, workdir, workers=n, threads=1)
        try:
            run(
                space,
                strategy,
                evaluator,
                store=store,
                trials=max_trials or 10**9,
                executor=executor,
                seed=seed,
                progress=self.verbose or None,
            )
            trials = store.trials()
        finally:
            store.close()
        return trials

    def _baseline(
        self,
        typed: Any,
        y: np.ndarray,
        n_classes: int,
        folds: list[tuple[np.ndarray, np.ndarray]],
        metric: Metric,
        workdir: str,
        started: float,
        limit: float,
    ) -> Any:
        """Cross-validate the baseline in this process (trial ``BASELINE_ID``): the first
        searched model family of ``PORTFOLIO_ORDER`` with its defaults and the default
        preprocessing, linear / k-NN on at most ``BASELINE_ROWS`` rows, trees and networks at
        a reduced fidelity (``BASELINE_FIDELITY``). Writes its pipelines and out-of-fold
        predictions as a searched trial's. A failing baseline returns a failed trial.

        Raises:
            TimeoutError: the baseline's remaining folds would end past the limit.
        """
        from threadpoolctl import threadpool_limits

        from nasbeyond.tabular._search import (
            MAX_BUDGET,
            _atomic_write,
            oof_file,
            predict_pipeline,
            trial_file,
        )
        from nasbeyond.trial import Trial

        model = min(self.space_.models, key=PORTFOLIO_ORDER.index)
        arch = self._default_arch(model)
        n_train = max(len(tr) for tr, _ in folds)
        if model in ("linear", "knn"):
            fidelity = min(1.0, BASELINE_ROWS / n_train)
        else:
            fidelity = BASELINE_FIDELITY[model]
        end = started + ENSEMBLE_SHARE * limit - 0.25  # leaves time to blend and return
        t0 = time.monotonic()
        oof = np.zeros((len(y), n_classes) if n_classes else (len(y),))
        fitted = []
        try:
            with warnings.catch_warnings(), threadpool_limits(limits=1):
                warnings.simplefilter("ignore")
                for i, (train, val) in enumerate(folds):
                    now = time.monotonic()
                    per_fold = (now - t0) / i if i else 0.0
                    if now + per_fold * (len(folds) - i) > end:
                        raise TimeoutError(_too_short(limit, now - started, per_fold, len(folds)))
                    pipe = self.space_.pipeline(
                        arch,
                        fidelity=fidelity,
                        n_rows=len(train),
                        seed=self.random_state % (2**31 - 1),
                        threads=1,
                    )
                    pipe.fit(typed.iloc[train], y[train])
                    oof[val] = predict_pipeline(pipe, typed.iloc[val], n_classes)
                    fitted.append(pipe)
            value = metric(y, oof)
            if not np.isfinite(value):
                raise ValueError(f"{metric.name} is {value}")
        except TimeoutError:
            raise
        except Exception as exc:  # a failing baseline leaves the search to find a model
            error = f"{type(exc).__name__}: {exc}"
            return Trial(BASELINE_ID, arch, "failed", cost_s=time.monotonic() - t0, error=error)
        _atomic_write(
            trial_file(workdir, BASELINE_ID),
            lambda fh: pickle.dump(fitted, fh, protocol=pickle.HIGHEST_PROTOCOL),
        )
        _atomic_write(oof_file(workdir, BASELINE_ID), lambda fh: np.save(fh, oof))
        return Trial(
            BASELINE_ID,
            arch,
            "ok",
            reward=metric.reward(value),
            metrics={"score": value, "metric": metric.name, "fidelity": fidelity},
            cost_s=time.monotonic() - t0,
            budget=fidelity * MAX_BUDGET,
        )

    def _check_store(self, typed: Any, y: np.ndarray, metric: Metric) -> None:
        """Refuse a store that holds a search on other data or settings; mark it as ours."""
        from nasbeyond.run import SQLiteStore

        if self.store is None:
            return
        store = SQLiteStore(self.store)
        try:
            key = _data_key(typed, y, list(self.space_.models), metric.name)
            old = store.get("tabular_data")
            if old is not None and old != key:
                raise ConfigError(
                    f"store: {self.store} holds a search on other data or settings; "
                    "use a fresh directory"
                )
            store.put("tabular_data", key)
        finally:
            store.close()

    def _default_arch(self, model: str) -> Arch:
        arch = self.space_.from_choices([0] * len(self.space_.decisions()))
        features = dict(arch["features"])
        if isinstance(features["numeric"], dict):
            features["numeric"] = {k: "standardize" for k in features["numeric"]}
        else:
            features["numeric"] = "standardize"
        features.update({"missing": True, "select": 1.0})
        if "categorical" in features:
            features["categorical"] = "onehot"
        if "periodic" in features:
            features["periodic"] = "sincos"
        return self.space_.validate(
            {"model": model, "params": dict(DEFAULTS[model]), "features": features}
        )

    def _build_ensemble(
        self,
        trials: list[Any],
        y: np.ndarray,
        n_classes: int,
        metric: Metric,
        workdir: str,
        limit: float,
        started: float,
    ) -> None:
        from nasbeyond.tabular._search import MAX_BUDGET, oof_file, trial_file

        ok = [t for t in trials if t.status == "ok" and oof_file(workdir, t.id).exists()]
        if not ok:
            errors = sorted({(t.error or "").splitlines()[0] for t in trials if t.error})
            raise TimeoutError(
                f"time_limit: no pipeline finished in {limit:g} s ({len(trials)} tried"
                + (f"; e.g. {errors[0]}" if errors else "")
                + f"); raise time_limit (e.g. to {math.ceil(2 * limit)} s)"
            )
        ok.sort(key=lambda t: (-(t.reward or 0.0), t.id))
        pool = ok[:POOL]
        oofs = [np.load(oof_file(workdir, t.id)) for t in pool]
        self.stacker_ = None
        if self.ensemble == "best" or len(pool) == 1:
            weights = np.zeros(len(pool))
            weights[0] = 1.0
        elif self.ensemble == "caruana":
            from sklearn import config_context

            with config_context(skip_parameter_validation=True):
                weights = caruana(
                    oofs,
                    lambda p: metric.reward(metric(y, p)),
                    iterations=self.ensemble_size,
                    deadline=started + ENSEMBLE_SHARE * limit,
                )
        else:
            weights = self._stack(oofs, y, n_classes, metric)
        members = []
        for t, w in zip(pool, weights, strict=True):
            if w > 0:  # only the chosen pipelines are read into memory
                with open(trial_file(workdir, t.id), "rb") as fh:
                    pipes = pickle.load(fh)  # our own file, written by this search
                score = float(t.metrics["score"])
                members.append(Member(t.id, float(w), t.arch, pipes, score, n_classes))
        if self.stacker_ is None:
            self.oof_score_ = metric(y, blend(oofs, weights))
        self.ensemble_ = members
        weight = {m.trial: m.weight for m in members}
        rows = [
            {
                "trial": None,
                "model": "ensemble",
                "pipeline": f"{self.ensemble} of {len(members)}",
                metric.name: self.oof_score_,
                "fidelity": 1.0,
                "time_s": sum(t.cost_s for t in trials),
                "status": "ok",
                "weight": 1.0,
                "error": "",
            }
        ]
        order = sorted(trials, key=lambda t: (t.status != "ok", -(t.reward or 0.0), t.id))
        for t in order:
            rows.append(
                {
                    "trial": t.id,
                    "model": t.arch["model"],
                    "pipeline": ("baseline: " if t.id == BASELINE_ID else "")
                    + self.space_.describe(t.arch),
                    metric.name: t.metrics.get("score", np.nan),
                    "fidelity": (t.budget or MAX_BUDGET) / MAX_BUDGET,
                    "time_s": round(t.cost_s, 3),
                    "status": t.status,
                    "weight": weight.get(t.id, 0.0),
                    "error": (t.error or "").splitlines()[0] if t.error else "",
                }
            )
        self.leaderboard_ = rows

    def _stack(
        self, oofs: list[np.ndarray], y: np.ndarray, n_classes: int, metric: Metric
    ) -> np.ndarray:
        from sklearn.model_selection import cross_val_predict

        feats = stack_features(oofs)
        meta = stacker("classification" if n_classes else "regression", self.random_state)
        method = "predict_proba" if n_classes else "predict"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = cross_val_predict(meta, feats, y, cv=min(5, len(y) // 2 or 2), method=method)
            self.stacker_ = meta.fit(feats, y)
        if n_classes:
            from nasbeyond.tabular.metrics import align_proba

            pred = align_proba(pred, np.unique(y), n_classes)
        self.oof_score_ = metric(y, pred)
        return np.full(len(oofs), 1.0 / len(oofs))

    # ----- importances -----------------------------------------------------------------------
    def _importances(self, typed: Any, y: np.ndarray, n_classes: int) -> None:
        names = [str(c) for c in self.preprocessor_.feature_names_in_]
        source = {c.name: c.source for c in self.preprocessor_.columns_}
        total = np.zeros(len(names))
        index = {n: i for i, n in enumerate(names)}
        for m in self.ensemble_:
            for pipe in m.pipelines:
                imp = _native_importance(pipe)
                if imp is None:
                    continue
                sources = output_sources(pipe.named_steps["features"])
                full = np.zeros(len(sources))
                if "select" in pipe.named_steps:
                    full[pipe.named_steps["select"].get_support()] = imp
                else:
                    full[: len(imp)] = imp
                per = np.zeros(len(names))
                for col, value in zip(sources, full, strict=True):
                    per[index[source[col]]] += value
                if per.sum() > 0:
                    total += m.weight * per / per.sum() / len(m.pipelines)
        if total.sum() <= 0:
            total = self._permutation_importance(typed, y, names)
        self.feature_importances_ = total / total.sum() if total.sum() > 0 else total

    def _permutation_importance(self, typed: Any, y: np.ndarray, names: list[str]) -> np.ndarray:
        """Drop of the score when one input column is shuffled (Breiman 2001), on at most 200
        training rows, of the heaviest member's first fold pipeline (one prediction per
        column keeps it cheap) — for ensembles of models without their own importances (k-NN,
        MLP)."""
        from nasbeyond.tabular._search import predict_pipeline

        metric = get_metric(self.metric_, self.task_)
        member = max(self.ensemble_, key=lambda m: m.weight)
        n_classes = member.n_classes

        def predict(frame: Any) -> np.ndarray:
            return predict_pipeline(member.pipelines[0], frame, n_classes)

        rng = np.random.default_rng(self.random_state)
        rows = rng.permutation(len(y))[:200]
        base_frame = typed.iloc[rows].reset_index(drop=True)
        base = metric.reward(metric(y[rows], predict(base_frame)))
        out = np.zeros(len(names))
        for i, name in enumerate(names):
            frame = base_frame.copy()
            for c in self.preprocessor_.columns_:
                if c.source == name:
                    frame[c.name] = frame[c.name].to_numpy()[rng.permutation(len(rows))]
            with contextlib.suppress(ValueError):
                out[i] = max(0.0, base - metric.reward(metric(y[rows], predict(frame))))
        return out

    # ----- prediction ------------------------------------------------------------------------
    def _blend(self, typed: Any) -> np.ndarray:
        preds = [m.predict(typed) for m in self.ensemble_]
        if self.stacker_ is not None:
            feats = stack_features(preds)
            if self._classify:
                from nasbeyond.tabular.metrics import align_proba

                p = self.stacker_.predict_proba(feats)
                return align_proba(p, self.stacker_.classes_, len(self.classes_))
            out: np.ndarray = self.stacker_.predict(feats)
            return out
        return blend(preds, np.array([m.weight for m in self.ensemble_]))

    def _predict_raw(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "ensemble_")
        from threadpoolctl import threadpool_limits

        frame = self._frame(X, reset=False)
        # The members were fitted with one thread each; idle BLAS threads would only spin.
        with warnings.catch_warnings(), threadpool_limits(limits=1):
            warnings.simplefilter("ignore")
            return self._blend(self.preprocessor_.transform(frame))

    def leaderboard(self) -> Any:
        """Every tried pipeline, best first (the ensemble on top): trial, model, pipeline,
        the metric's out-of-fold value, fidelity (share of rounds / trees / epochs / rows),
        time_s (wall seconds of its cross-validation), status (ok, failed; a cut trial
        failed with Timeout), weight in the ensemble, error. A pandas DataFrame."""
        import pandas as pd

        check_is_fitted(self, "leaderboard_")
        return pd.DataFrame(self.leaderboard_)


class AutoClassifier(ClassifierMixin, _AutoBase):
    """Tabular AutoML classifier (see the module docstring and ``_AutoBase`` for arguments).

    ``predict_proba(X)``: (n_rows, n_classes) float64, columns in ``classes_`` order;
    ``predict(X)``: labels of ``classes_``; ``score(X, y)``: accuracy (scikit-learn's).
    """

    _classify = True

    def _target(self, y: Any, n_rows: int) -> tuple[np.ndarray, int]:
        from sklearn.preprocessing import LabelEncoder
        from sklearn.utils import check_consistent_length, column_or_1d
        from sklearn.utils.multiclass import check_classification_targets

        y = column_or_1d(y, warn=True)
        check_consistent_length(np.zeros(n_rows), y)
        _check_missing_target(y)
        check_classification_targets(y)
        classes = np.unique(y)
        if len(classes) < 2:
            raise TabularInputError(
                f"target: one class only ({classes[0]!r}); a classifier needs at least 2 classes"
            )
        enc = LabelEncoder().fit(y)
        self.classes_ = enc.classes_
        self.task_ = "binary" if len(classes) == 2 else "multiclass"
        return enc.transform(y), len(classes)

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "ensemble_")
        p = self._predict_raw(X)
        out: np.ndarray = p / p.sum(axis=1, keepdims=True)
        return out

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "ensemble_")
        out: np.ndarray = self.classes_[self.predict_proba(X).argmax(axis=1)]
        return out


class AutoRegressor(RegressorMixin, _AutoBase):
    """Tabular AutoML regressor (see the module docstring and ``_AutoBase`` for arguments).

    ``predict(X)``: (n_rows,) float64; ``score(X, y)``: R^2 (scikit-learn's).
    """

    def _target(self, y: Any, n_rows: int) -> tuple[np.ndarray, int]:
        from sklearn.utils import check_consistent_length, column_or_1d

        y = column_or_1d(y, warn=True)
        check_consistent_length(np.zeros(n_rows), y)
        _check_missing_target(y)
        try:
            values = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            raise TabularInputError(
                "target: text where numbers were expected; a regressor needs numbers"
            ) from None
        if not np.isfinite(values).all():
            raise TabularInputError("target: infinite values; a regressor needs finite numbers")
        self.task_ = "regression"
        return values, 0

    def predict(self, X: Any) -> np.ndarray:
        return self._predict_raw(X)


def _too_short(limit: float, spent: float, per_fold: float, folds: int) -> str:
    """The message of a fit whose limit leaves no room even for the baseline."""
    need = spent + per_fold * folds
    enough = max(10, math.ceil(need / ENSEMBLE_SHARE * 2))
    return (
        f"time_limit: {limit:g} s is too short for even the baseline pipeline (about "
        f"{need:.1f} s with the data's preparation); raise time_limit to at least {enough} s"
    )


def _check_missing_target(y: np.ndarray) -> None:
    import pandas as pd

    missing = np.asarray(pd.isna(y))
    if missing.any():
        rows = np.flatnonzero(missing)
        raise TabularInputError(
            f"target: {len(rows)} missing value(s) (first in row {int(rows[0])}); "
            "drop those rows or fill them"
        )


def _native_importance(pipe: Any) -> np.ndarray | None:
    est = pipe.named_steps["model"]
    est = getattr(est, "estimator_", est)
    imp = getattr(est, "feature_importances_", None)
    if imp is not None:
        return np.asarray(imp, dtype=float)
    coef = getattr(est, "coef_", None)
    if coef is not None:
        c = np.abs(np.asarray(coef, dtype=float))
        return c.reshape(-1, c.shape[-1]).mean(axis=0)
    return None


def _data_key(typed: Any, y: np.ndarray, models: list[str], metric: str) -> str:
    import pandas as pd

    h = hashlib.sha1()
    h.update(pd.util.hash_pandas_object(typed, index=False).to_numpy().tobytes())
    h.update(np.asarray(y).tobytes())
    h.update(",".join([*models, metric]).encode())
    return h.hexdigest()[:16]
