"""Tabular AutoML at equal time limits: nasbeyond's AutoClassifier / AutoRegressor beside FLAML,
AutoGluon-Tabular and a default LightGBM, on real offline datasets of all three task types
(scikit-learn, ISLP, vega_datasets, statsmodels), scored with the AutoML Benchmark's metrics
(ROC AUC binary, log loss multiclass, RMSE regression) on held-out rows of stratified splits.

    python bench/tabular.py            # 10 datasets, 60 s per system and split
    python bench/tabular.py --quick    # 3 datasets (one per task), 30 s
    python bench/tabular.py --splits 3 # repeated splits (mean score)

Each (dataset, system, split) runs in its own process; its wall time (fit + predict) is
measured from outside and compared with the limit. Needs the ``bench`` and ``tabular``
extras plus ``flaml`` and ``autogluon.tabular`` (a system that does not import is reported as
missing, not scored). Writes bench/results/tabular.json (tabular_quick.json for --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import save, table  # noqa: E402

SYSTEMS = ("ours", "flaml", "autogluon", "lightgbm")
QUICK = ("breast_cancer", "wine", "diabetes")


def _islp(name: str, target: str, drop: tuple[str, ...] = ()) -> tuple[Any, Any]:
    from ISLP import load_data

    df = load_data(name)
    return df.drop(columns=[target, *drop]), df[target]


def _vega(name: str, target: str, drop: tuple[str, ...] = ()) -> tuple[Any, Any]:
    from vega_datasets import data

    df = getattr(data, name.replace("-", "_"))()
    return df.drop(columns=[target, *drop]), df[target]


def _sklearn(loader: str) -> tuple[Any, Any]:
    import sklearn.datasets as ds

    return getattr(ds, loader)(return_X_y=True, as_frame=True)


def _fair() -> tuple[Any, Any]:
    import statsmodels.api as sm

    df = sm.datasets.fair.load_pandas().data
    return df.drop(columns=["affairs"]), df["affairs"]


# name -> (task, source, loader). Leaky columns are dropped (Bikeshare's casual / registered
# add up to the target; Wage's logwage is the target's log).
DATASETS: dict[str, tuple[str, str, Any]] = {
    "breast_cancer": ("binary", "scikit-learn", lambda: _sklearn("load_breast_cancer")),
    "default": ("binary", "ISLP", lambda: _islp("Default", "default")),
    "oj": ("binary", "ISLP", lambda: _islp("OJ", "Purchase")),
    "caravan": ("binary", "ISLP", lambda: _islp("Caravan", "Purchase")),
    "wine": ("multiclass", "scikit-learn", lambda: _sklearn("load_wine")),
    "cars_origin": ("multiclass", "vega_datasets", lambda: _vega("cars", "Origin", ("Name",))),
    "seattle_weather": ("multiclass", "vega_datasets", lambda: _vega("seattle-weather", "weather")),
    "diabetes": ("regression", "scikit-learn", lambda: _sklearn("load_diabetes")),
    "bikeshare": (
        "regression",
        "ISLP",
        lambda: _islp("Bikeshare", "bikers", ("casual", "registered")),
    ),
    "wage": ("regression", "ISLP", lambda: _islp("Wage", "wage", ("logwage",))),
    "fair": ("regression", "statsmodels", _fair),
}
FULL = tuple(k for k in DATASETS if k != "fair")  # 10; fair with --datasets


def load(name: str) -> tuple[Any, Any, str]:
    import pandas as pd

    task, _, loader = DATASETS[name]
    X, y = loader()
    X = pd.DataFrame(X).reset_index(drop=True)
    y = pd.Series(y).reset_index(drop=True)
    keep = y.notna().to_numpy()
    return X[keep].reset_index(drop=True), y[keep].reset_index(drop=True), task


def split(X: Any, y: Any, task: str, seed: int) -> tuple[Any, Any, Any, Any]:
    from sklearn.model_selection import train_test_split

    strat = y if task != "regression" else None
    return train_test_split(X, y, test_size=0.2, random_state=seed, stratify=strat)


def score(task: str, y: Any, out: np.ndarray, classes: Any) -> float:
    from sklearn.metrics import log_loss, mean_squared_error, roc_auc_score

    y = np.asarray(y)
    if task == "regression":
        return float(np.sqrt(mean_squared_error(y.astype(float), out)))
    p = np.clip(np.asarray(out, dtype=float), 1e-15, 1.0)
    p = p / p.sum(1, keepdims=True)
    if task == "binary":
        return float(roc_auc_score(y == classes[1], p[:, 1]))
    return float(log_loss(y, p, labels=list(classes)))


def _categoricals(X: Any) -> Any:
    """Text columns as pandas categories (LightGBM and FLAML take them so)."""
    X = X.copy()
    for c in X.columns:
        if X[c].dtype == object or str(X[c].dtype) in ("string", "str"):
            X[c] = X[c].astype("category")
        elif str(X[c].dtype).startswith("datetime"):
            X[c] = X[c].astype("int64") // 86_400_000_000_000
    return X


def fit_predict(system: str, task: str, Xtr: Any, ytr: Any, Xte: Any, limit: float) -> Any:
    """(output on Xte, classes): probabilities (n, C) in ``classes`` order or predictions."""
    classes = np.unique(ytr) if task != "regression" else None
    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    if system == "ours":
        from nasbeyond.tabular import AutoClassifier, AutoRegressor

        if task == "regression":
            return AutoRegressor(time_limit=limit).fit(Xtr, ytr).predict(Xte), classes
        m = AutoClassifier(time_limit=limit).fit(Xtr, ytr)
        return m.predict_proba(Xte), m.classes_
    if system == "lightgbm":
        import lightgbm

        Xtr, Xte = _categoricals(Xtr), _categoricals(Xte)
        if task == "regression":
            return lightgbm.LGBMRegressor(verbose=-1).fit(Xtr, ytr).predict(Xte), classes
        m = lightgbm.LGBMClassifier(verbose=-1).fit(Xtr, ytr)
        return m.predict_proba(Xte), m.classes_
    if system == "flaml":
        from flaml import AutoML

        Xtr, Xte = _categoricals(Xtr), _categoricals(Xte)
        automl = AutoML()
        kind = "regression" if task == "regression" else "classification"
        automl.fit(
            Xtr, ytr, task=kind, time_budget=limit, metric=metric, verbose=0, n_jobs=2, seed=0
        )
        if task == "regression":
            return automl.predict(Xte), classes
        return automl.predict_proba(Xte), automl.classes_
    if system == "autogluon":
        import pandas as pd
        from autogluon.tabular import TabularPredictor

        ag_metric = {
            "roc_auc": "roc_auc",
            "log_loss": "log_loss",
            "rmse": "root_mean_squared_error",
        }
        train = pd.concat(
            [Xtr.reset_index(drop=True), ytr.rename("__y__").reset_index(drop=True)], axis=1
        )
        with tempfile.TemporaryDirectory() as d:
            pred = TabularPredictor(
                label="__y__",
                problem_type=task,
                eval_metric=ag_metric[metric],
                path=d,
                verbosity=0,
            ).fit(train, time_limit=limit)
            if task == "regression":
                return pred.predict(Xte).to_numpy(), classes
            proba = pred.predict_proba(Xte)
            return proba.to_numpy(), np.asarray(proba.columns)
    raise ValueError(system)


def one(name: str, system: str, limit: float, seed: int) -> dict[str, Any]:
    """Run one system on one split (in this process)."""
    warnings.filterwarnings("ignore")
    X, y, task = load(name)
    Xtr, Xte, ytr, yte = split(X, y, task, seed)
    t0 = time.monotonic()
    out, classes = fit_predict(system, task, Xtr, ytr, Xte, limit)
    wall = time.monotonic() - t0
    return {
        "score": score(
            task, yte, np.asarray(out), np.asarray(classes) if classes is not None else None
        ),
        "wall_s": wall,
    }


def run_one(name: str, system: str, limit: float, seed: int) -> dict[str, Any]:
    """``one`` in a fresh process: wall time measured from outside; a crash is a result."""
    t0 = time.monotonic()
    cmd = [
        sys.executable,
        __file__,
        "--one",
        name,
        system,
        "--limit",
        str(limit),
        "--seed",
        str(seed),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit * 5 + 120)
    except subprocess.TimeoutExpired:
        return {"score": None, "wall_s": time.monotonic() - t0, "error": "killed at 5x limit"}
    wall = time.monotonic() - t0
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode != 0 or not lines:
        err = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"score": None, "wall_s": wall, "error": err[:300]}
    res = json.loads(lines[-1])
    res["process_wall_s"] = wall
    return res


def ranks(values: dict[str, float | None], greater: bool) -> dict[str, float]:
    """Average ranks (1 = best); a missing score ranks last."""
    from scipy.stats import rankdata

    names = list(values)
    worst = -np.inf if greater else np.inf
    v = np.array([worst if values[n] is None else values[n] for n in names], dtype=float)
    r = rankdata(-v if greater else v, method="average")
    return dict(zip(names, (float(x) for x in r), strict=True))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="3 datasets, 30 s")
    p.add_argument(
        "--limit", type=float, help="seconds per system and split (default 60; 30 quick)"
    )
    p.add_argument("--splits", type=int, default=1, help="repeated 80/20 splits per dataset")
    p.add_argument("--datasets", help="comma-separated names (default: 10 datasets)")
    p.add_argument("--systems", default=",".join(SYSTEMS))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--one", nargs=2, metavar=("DATASET", "SYSTEM"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    limit = args.limit or (30.0 if args.quick else 60.0)
    if args.one:
        print(json.dumps(one(args.one[0], args.one[1], limit, args.seed)), flush=True)
        return 0
    names = args.datasets.split(",") if args.datasets else list(QUICK if args.quick else FULL)
    systems = args.systems.split(",")
    results: dict[str, Any] = {}
    rank_sum = {s: 0.0 for s in systems}
    out_name = "tabular_quick" if args.quick else "tabular"
    started = time.monotonic()
    for name in names:
        task = DATASETS[name][0]
        metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
        entry: dict[str, Any] = {"task": task, "metric": metric, "source": DATASETS[name][1]}
        walls: dict[str, list[float]] = {s: [] for s in systems}
        errors: dict[str, str] = {}
        for system in systems:
            scores = []
            for k in range(args.splits):
                res = run_one(name, system, limit, args.seed + k)
                walls[system].append(round(res.get("wall_s", 0.0), 1))
                if res["score"] is None:
                    errors[system] = res.get("error", "")
                    break
                scores.append(res["score"])
            ok = len(scores) == args.splits
            entry[system] = float(np.mean(scores)) if ok else None
            print(
                f"{name:16s} {system:10s} {entry[system]!s:22s} wall {walls[system]}"
                + (f"  ERROR {errors[system]}" if system in errors else ""),
                flush=True,
            )
        entry["wall_s"] = {s: max(w) if w else None for s, w in walls.items()}
        entry["limit_s"] = limit
        if errors:
            entry["errors"] = errors
        entry["rank"] = ranks({s: entry[s] for s in systems}, metric == "roc_auc")
        for s in systems:
            rank_sum[s] += entry["rank"][s]
        results[name] = entry
        save(out_name, {**results, "mean_rank": {s: rank_sum[s] / len(results) for s in systems}})
    mean_rank = {s: rank_sum[s] / len(names) for s in systems}
    results["mean_rank"] = mean_rank
    over = {s: max((results[n]["wall_s"][s] or 0.0) / limit for n in names) for s in systems}
    results["max_wall_over_limit"] = over
    results["splits"] = args.splits
    results["total_s"] = time.monotonic() - started
    path = save(out_name, results)
    head = ["dataset", "task", "metric", *systems, *[f"{s} s" for s in systems]]
    rows = []
    for n in names:
        e = results[n]
        rows.append(
            [
                n,
                e["task"],
                e["metric"],
                *[e[s] if e[s] is not None else "failed" for s in systems],
                *[e["wall_s"][s] for s in systems],
            ]
        )
    print(table(head, rows))
    print("mean rank (1 = best): " + ", ".join(f"{s} {mean_rank[s]:.2f}" for s in systems))
    print("largest wall / limit: " + ", ".join(f"{s} {over[s]:.2f}" for s in systems))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    sys.exit(main())
