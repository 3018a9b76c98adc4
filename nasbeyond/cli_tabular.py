"""The flags of `nasbeyond tabular fit | predict | explain` and `nasbeyond serve`; what they do is
in ``nasbeyond.tabular.cli``, imported only when one of them runs, so that the core CLI starts
without the ``tabular`` and ``serve`` extras (pandas, LightGBM, skops, FastAPI)."""

from __future__ import annotations

import argparse
from typing import Any


def add_parsers(sub: Any) -> None:
    """Add ``tabular`` (fit, predict, explain) and ``serve`` to the top-level subparsers."""
    t = sub.add_parser("tabular", help="tabular AutoML: fit a CSV, predict, explain")
    tsub = t.add_subparsers(dest="tabular_command", required=True, parser_class=type(t))
    f = tsub.add_parser("fit", help="search, ensemble, distil and save a model for a CSV")
    f.add_argument("data", help="a CSV file with a header row")
    f.add_argument("--target", required=True, help="the column to predict")
    f.add_argument("--out", required=True, help="the model directory to write (MODEL_DIR)")
    f.add_argument(
        "--time-limit",
        type=float,
        default=60.0,
        help="seconds for the whole command, > 0; the search gets 80%% (default: 60)",
    )
    f.add_argument(
        "--task",
        default="auto",
        help="auto, classification or regression (default: auto: a numeric target with more "
        "than 20 distinct values, or any non-integer, is regression)",
    )
    f.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        help="share of rows held out for the report (scores, fidelity), in (0, 0.5] (default: 0.2)",
    )
    f.add_argument("--max-depth", type=int, default=5, help="depth of the distilled tree (5)")
    f.add_argument("--seed", type=int, default=0, help="fixes splits, search and students (0)")
    f.add_argument(
        "--workers",
        type=int,
        default=1,
        help="worker processes for trials, cut at the time limit; 0: trials run in this "
        "process and are not cut (default: 1)",
    )
    p = tsub.add_parser("predict", help="predictions for a CSV, as CSV on stdout")
    p.add_argument("model_dir")
    p.add_argument("data", help="a CSV file with the columns the model was fitted on")
    p.add_argument("--model", default="ensemble", help="ensemble, tree or mlp (ensemble)")
    p.add_argument("--output", help="write the CSV here instead of stdout")
    e = tsub.add_parser("explain", help="the report, importances and the tree's rules")
    e.add_argument("model_dir")
    e.add_argument("--top", type=int, default=15, help="importances listed, >= 1 (default: 15)")
    s = sub.add_parser("serve", help="serve a tabular model over HTTP (JSON)")
    s.add_argument("model_dir")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    s.add_argument("--model", default="ensemble", help="ensemble, tree or mlp (ensemble)")
    s.add_argument(
        "--max-body-bytes",
        type=int,
        default=1_000_000,
        help="larger request bodies get 413 (default: 1000000)",
    )
    s.add_argument(
        "--check",
        action="store_true",
        help="verify and load the model, build the app, print its routes, and exit",
    )


def dispatch(args: argparse.Namespace) -> int:
    """Run ``nasbeyond tabular ...`` or ``nasbeyond serve``."""
    from nasbeyond.extras import require

    require("pandas", "tabular", args.command, "tabular models")
    from nasbeyond.tabular import cli

    if args.command == "serve":
        return cli.serve(args)
    return {"fit": cli.fit, "predict": cli.predict, "explain": cli.explain}[args.tabular_command](
        args
    )
