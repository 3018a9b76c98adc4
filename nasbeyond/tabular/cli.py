"""What `nasbeyond tabular fit | predict | explain` and `nasbeyond serve` do: a CSV in, a model
directory out (the ensemble, its distilled tree and MLP, ONNX files, rules, a report),
predictions and explanations from it, and an HTTP endpoint serving it. Their flags are in
``nasbeyond.cli_tabular``, which the core CLI imports without the extras.

Bad input (a missing target column, one class only, an all-missing column, text where numbers
were, an empty file, columns missing at predict) raises a ``NasbeyondError`` with one line
naming the column; ``nasbeyond.cli`` prints it and exits with status 2. Nothing is
half-written: the model directory appears whole, or not at all.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from nasbeyond.exceptions import ConfigError, DataError, NasbeyondError
from nasbeyond.extras import require
from nasbeyond.tabular.export import MODELS, load_predictor

TASKS = ("auto", "classification", "regression")
TEACHER_SHARE = 0.8  # of --time-limit for the AutoML search; the rest distils and exports


class TabularCLIError(DataError):
    """Bad rows, columns or model directory given to a tabular command."""


# ----- reading ---------------------------------------------------------------------------------
def read_csv(path: str | Path, field: str = "data") -> Any:
    """A CSV file as a pandas DataFrame (header row required).

    Raises:
        DataError: no such file, an empty file, no data rows, or unparseable text.
    """
    pd = require("pandas", "tabular", field, "reading a CSV")
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{field}: {p} is not a file")
    try:
        frame = pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise DataError(f"{field}: {p} is empty; expected a header row and data rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{field}: {p} is not a readable CSV ({msg})") from None
    if len(frame) == 0:
        raise DataError(f"{field}: {p} has a header but no data rows")
    header = pd.read_csv(p, nrows=1, header=None).iloc[0]
    names = [str(c).strip() for c in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise DataError(
            f"{field}: {p} names column {dupes[0]!r} more than once; column names must be unique"
        )
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def infer_task(y: Any, task: str) -> str:
    """``classification`` or ``regression`` for a target column (``task`` = auto decides)."""
    import pandas as pd

    if task not in TASKS:
        raise ConfigError(f"task: {task!r}; allowed: {', '.join(TASKS)}")
    if task != "auto":
        return task
    if not pd.api.types.is_numeric_dtype(y) or pd.api.types.is_bool_dtype(y):
        return "classification"
    values = y.dropna().astype(float)
    integer = bool((values == values.round()).all())
    return "classification" if integer and values.nunique() <= 20 else "regression"


def check_target(frame: Any, target: str, task: str) -> Any:
    """The rows with a target value, and the target; errors name the column."""
    if target not in frame.columns:
        cols = ", ".join(frame.columns[:20]) + (" ..." if len(frame.columns) > 20 else "")
        raise TabularCLIError(f"target: column {target!r} not in the data; columns: {cols}")
    y = frame[target]
    if y.isna().all():
        raise TabularCLIError(f"target: column {target!r} has no values")
    if frame.shape[1] < 2:
        raise TabularCLIError(f"data: only the target column {target!r}; no feature columns")
    keep = y.notna().to_numpy()
    if task == "classification":
        levels = y[keep].unique()
        if len(levels) < 2:
            raise TabularCLIError(
                f"target: column {target!r} has one class only ({levels[0]!r}); "
                "classification needs at least two"
            )
    return frame[keep].drop(columns=[target]).reset_index(drop=True), y[keep].reset_index(drop=True)


def check_columns(frame: Any, columns: list[str], field: str = "data") -> Any:
    """``frame`` restricted to ``columns`` (extra columns ignored).

    Raises:
        TabularCLIError: a fitted column is missing (the message names it).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        more = f" ({len(missing)} missing in all)" if len(missing) > 1 else ""
        raise TabularCLIError(
            f"{field}: column {missing[0]!r} missing; the model was fitted with "
            f"{', '.join(columns)}{more}"
        )
    return frame[columns]


def check_types(frame: Any, kinds: dict[str, str], field: str = "data") -> Any:
    """``frame`` with numeric columns as float; text where numbers (or dates) were at fit is
    refused with the column, the value and its row.

    Raises:
        TabularCLIError: the first bad value found.
    """
    import pandas as pd

    frame = frame.copy()
    for col, kind in kinds.items():
        if col not in frame.columns:
            continue
        values = frame[col]
        present = values.notna().to_numpy()
        if kind in ("numeric", "periodic"):
            numbers = pd.to_numeric(values, errors="coerce")
            bad = present & numbers.isna().to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise TabularCLIError(
                    f"{field}: column {col!r}: text where numbers were at fit "
                    f"({values.iloc[row]!r} on line {row + 2} of the file)"
                )
            frame[col] = numbers.astype(float)
        elif kind == "datetime":
            stamps = pd.to_datetime(values.astype(str).where(present), errors="coerce")
            bad = present & stamps.isna().to_numpy()
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                raise TabularCLIError(
                    f"{field}: column {col!r}: {values.iloc[row]!r} on line {row + 2} is not a "
                    "date (ISO 8601 such as 2024-05-31 expected)"
                )
    return frame


# ----- fit -------------------------------------------------------------------------------------
def default_teacher(task: str, seed: int, workers: int = 1) -> Any:
    """The estimator ``tabular fit`` searches with: AutoClassifier or AutoRegressor."""
    from nasbeyond.tabular import AutoClassifier, AutoRegressor

    cls = AutoClassifier if task == "classification" else AutoRegressor
    return cls(random_state=seed, workers=workers)


def fit_model_dir(
    frame: Any,
    target: str,
    out: str | Path,
    *,
    time_limit: float = 60.0,
    task: str = "auto",
    holdout: float = 0.2,
    max_depth: int = 5,
    seed: int = 0,
    workers: int = 1,
    teacher: Any = None,
    log: Any = None,
) -> dict[str, Any]:
    """Fit the AutoML ensemble on a frame, distil it, export it; returns meta.json's content.

    ``teacher``: an unfitted scikit-learn estimator to use instead of ``default_teacher``'s
    AutoClassifier / AutoRegressor; it gets ``time_limit`` when it has that parameter. The
    split: ``holdout`` of the rows (stratified) is kept out of fitting and distillation; the
    report's scores and fidelity are measured on it.

    Raises:
        TabularCLIError / ConfigError: bad settings or rows (one line naming the field).
    """
    from sklearn.base import clone
    from sklearn.model_selection import train_test_split

    from nasbeyond.tabular.distill import distill
    from nasbeyond.tabular.export import export_mlp_onnx, export_tree_onnx, write_model_dir

    started = time.monotonic()
    say = log or (lambda s: None)
    if not time_limit > 0:
        raise ConfigError(f"time_limit: {time_limit}; allowed: > 0 seconds")
    if not 0 < holdout <= 0.5:
        raise ConfigError(f"holdout: {holdout}; allowed: 0 < holdout <= 0.5")
    if max_depth < 1:
        raise ConfigError(f"max_depth: {max_depth}; allowed: >= 1")
    task = infer_task(frame[target], task) if target in frame.columns else task
    X, y = check_target(frame, target, task)
    if len(y) < len(frame):
        say(f"target: {len(frame) - len(y)} row(s) with no {target!r} value left out of the fit")
    for c in X.columns:
        if X[c].isna().all():
            raise TabularCLIError(
                f"data: column {c!r} has no values; drop it or fill it (every value is missing)"
            )
    classify = task == "classification"
    n_test = max(int(round(holdout * len(X))), len(np.unique(y)) if classify else 1)
    if len(X) - n_test < 10:
        raise TabularCLIError(f"data: {len(X)} rows; at least {n_test + 10} are needed")
    try:
        Xtr, Xte, ytr, yte = train_test_split(
            X, y, test_size=n_test, random_state=seed, stratify=y if classify else None
        )
    except ValueError:  # a class with a single row cannot be stratified
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=n_test, random_state=seed)
    Xtr, Xte = Xtr.reset_index(drop=True), Xte.reset_index(drop=True)
    ytr, yte = ytr.reset_index(drop=True), yte.reset_index(drop=True)
    if teacher is None:
        if workers < 0:
            raise ConfigError(f"workers: {workers}; allowed: >= 0")
        teacher = default_teacher(task, seed, workers)
    teacher = clone(teacher)
    fit_kw: dict[str, Any] = {}
    if "time_limit" in teacher.get_params():
        fit_kw["time_limit"] = TEACHER_SHARE * time_limit
    say(f"searching for {TEACHER_SHARE * time_limit:.0f} s on {len(Xtr)} rows ({task})")
    try:
        teacher.fit(Xtr, ytr, **fit_kw)
    except NasbeyondError:
        raise
    except (ValueError, TypeError) as e:  # the estimator's errors name the column
        raise TabularCLIError(str(e).strip().splitlines()[0]) from None
    except TimeoutError as e:  # no pipeline finished: the message says to allow more time
        raise TabularCLIError(f"{str(e).strip().splitlines()[0]} (--time-limit)") from None
    searched = time.monotonic()
    say(f"searched in {searched - started:.0f} s; distilling into a tree and an MLP")
    left = max(1.0, time_limit - (time.monotonic() - started))
    d = distill(teacher, Xtr, Xte, yte, max_depth=max_depth, mlp_time_limit=0.5 * left, seed=seed)
    say(f"distilled in {time.monotonic() - searched:.0f} s; exporting")
    Z = d.tree.encoder_.transform(Xte)
    onnx: dict[str, float] = {}
    rules = d.tree.rules()

    def tree_onnx(p: Path) -> None:
        onnx["tree"] = export_tree_onnx(d.tree, p, Z)

    def mlp_onnx(p: Path) -> None:
        onnx["mlp"] = export_mlp_onnx(d.mlp, p, Z)

    importances = _importances(teacher, list(X.columns))
    meta: dict[str, Any] = {
        "format": "nasbeyond-tabular/1",
        "target": target,
        "task": d.task,
        "metric": d.metric,
        "columns": list(X.columns),
        "kinds": {str(k): v for k, v in d.tree.encoder_.frame_.kinds_.items()},
        "classes": [_json_value(c) for c in getattr(teacher, "classes_", [])] if classify else None,
        "encoded_features": list(d.tree.encoder_.feature_names_out_),
        "rows": {"fit": len(Xtr), "holdout": len(Xte), **d.rows},
        "report": d.report,
        "importances": importances,
        "max_depth": max_depth,
        "time_limit": time_limit,
    }

    def write_meta_later(p: Path) -> None:  # onnx differences are known only after export
        import json

        p.write_text(json.dumps({"onnx_max_abs_diff": onnx}, indent=2) + "\n")

    write_model_dir(
        out,
        {"teacher": teacher, "tree": d.tree, "mlp": d.mlp},
        meta,
        {
            "tree.onnx": tree_onnx,
            "mlp.onnx": mlp_onnx,
            "rules.txt": lambda p: p.write_text(rules),
            "onnx.json": write_meta_later,
        },
    )
    meta["onnx_max_abs_diff"] = onnx
    meta["wall_s"] = time.monotonic() - started
    return meta


def _json_value(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _importances(model: Any, columns: list[str]) -> dict[str, float]:
    imp = getattr(model, "feature_importances_", None)
    if imp is None or len(imp) != len(columns):
        return {}
    pairs = sorted(zip(columns, (float(v) for v in imp), strict=True), key=lambda kv: -kv[1])
    return dict(pairs)


def fit(args: argparse.Namespace) -> int:
    frame = read_csv(args.data)
    meta = fit_model_dir(
        frame,
        args.target,
        args.out,
        time_limit=args.time_limit,
        task=args.task,
        holdout=args.holdout,
        max_depth=args.max_depth,
        seed=args.seed,
        workers=args.workers,
        log=lambda s: print(f"nasbeyond: {s}", file=sys.stderr, flush=True),
    )
    print(
        f"wrote {args.out} ({meta['task']}, {len(meta['columns'])} columns) in "
        f"{meta['wall_s']:.0f} s"
    )
    print(report_table(meta))
    return 0


def report_table(meta: dict[str, Any]) -> str:
    """The report as a small table: model, score (metric), fidelity, ms per prediction."""
    metric = meta["metric"]
    lines = [f"{'model':8s} {metric:>10s} {'fidelity':>9s} {'ms/row':>8s}"]
    for name, r in meta["report"].items():
        score = f"{r['score']:.4f}" if "score" in r else "-"
        lines.append(f"{name:8s} {score:>10s} {r['fidelity']:9.3f} {r['latency_ms']:8.2f}")
    return "\n".join(lines)


# ----- predict, explain, serve -----------------------------------------------------------------
def predict_frame(estimator: Any, meta: dict[str, Any], frame: Any, field: str = "data") -> Any:
    """Predictions as a DataFrame: ``prediction`` and, for classifiers, ``p_CLASS`` columns.

    Raises:
        TabularCLIError: missing columns, or values the model cannot read (text where
            numbers were): the message names the column.
    """
    import pandas as pd

    X = check_types(check_columns(frame, meta["columns"], field), meta["kinds"], field)
    try:
        if meta["task"] == "regression":
            return pd.DataFrame({"prediction": np.asarray(estimator.predict(X), dtype=float)})
        proba = np.asarray(estimator.predict_proba(X), dtype=float)
    except NasbeyondError:
        raise
    except (ValueError, TypeError) as e:
        raise TabularCLIError(f"{field}: {str(e).strip().splitlines()[0]}") from None
    classes = meta["classes"]
    out = pd.DataFrame({"prediction": [classes[i] for i in proba.argmax(1)]})
    for i, c in enumerate(classes):
        out[f"p_{c}"] = proba[:, i]
    return out


def predict(args: argparse.Namespace) -> int:
    estimator, meta = load_predictor(args.model_dir, args.model)
    out = predict_frame(estimator, meta, read_csv(args.data))
    if args.output:
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} predictions to {args.output}", file=sys.stderr)
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


def explain(args: argparse.Namespace) -> int:
    from nasbeyond.tabular.export import verify_model_dir

    if args.top < 1:
        raise ConfigError(f"top: {args.top}; allowed: >= 1")
    meta = verify_model_dir(args.model_dir)
    rows = meta["rows"]
    print(
        f"{meta['task']} model of {meta['target']!r}: fitted on {rows['fit']} rows, students on "
        f"{rows['train']} + {rows['generated']} generated rows; held out: {rows['holdout']}"
    )
    print(report_table(meta))
    if meta["importances"]:
        print(f"\nfeature importances (the ensemble's, top {args.top}):")
        for name, v in list(meta["importances"].items())[: args.top]:
            print(f"  {name:30s} {v:.4f}")
    print(f"\nthe distilled tree (depth <= {meta['max_depth']}):")
    print((Path(args.model_dir) / "rules.txt").read_text().rstrip())
    return 0


def serve(args: argparse.Namespace) -> int:
    from nasbeyond.tabular.serve import make_app

    uvicorn = require("uvicorn", "serve", "serve", "serving over HTTP")
    if args.model not in MODELS:
        raise ConfigError(f"model: {args.model!r}; allowed: {', '.join(MODELS)}")
    if args.max_body_bytes < 1:
        raise ConfigError(f"max_body_bytes: {args.max_body_bytes}; allowed: >= 1")
    app = make_app(args.model_dir, model=args.model, max_body_bytes=args.max_body_bytes)
    if args.check:
        routes = [r for r in app.routes if getattr(r, "path", "").startswith(("/health", "/pre"))]
        for r in routes:
            print(f"{','.join(sorted(r.methods))} {r.path}")
        print(
            f"{args.model_dir} loads; `nasbeyond serve {args.model_dir}` serves it", file=sys.stderr
        )
        return 0
    print(
        f"serving {args.model_dir} ({args.model}) on http://{args.host}:{args.port}",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
