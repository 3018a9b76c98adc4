"""A tabular model directory served over HTTP with FastAPI (``pip install nasbeyond[serve]``).

Routes:
    GET  /health   -> {"status": "ok", "task", "model", "columns", "classes"}
    POST /predict  body {"rows": [{"COLUMN": value, ...}, ...]}
                   -> {"predictions": [...], "probabilities": [[...], ...] (classifiers),
                       "classes": [...]}

Every bad request gets a status and one message in ``detail``: 413 for a body over
``max_body_bytes`` (checked while reading, before parsing), 422 for a body that is not JSON,
no ``rows`` list, a row that is not an object, a missing column, or a value of the wrong type
(``rows[3].age: 'abc' is not a number``). ``nasbeyond serve`` binds to 127.0.0.1 unless
``--host`` says otherwise.
"""

# No ``from __future__ import annotations``: FastAPI reads the route's annotations at runtime,
# and ``Request`` is imported inside ``make_app`` (FastAPI is an extra).
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nasbeyond.exceptions import NasbeyondError
from nasbeyond.extras import require

MAX_ROWS = 10_000


class RequestError(Exception):
    """A request the model cannot answer: HTTP ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def rows_frame(body: Any, meta: dict[str, Any]) -> Any:
    """The request's rows as a DataFrame with the model's columns, types checked.

    Raises:
        RequestError: 422 naming the row and column that is wrong.
    """
    import pandas as pd

    if not isinstance(body, dict) or not isinstance(body.get("rows"), list):
        raise RequestError(422, 'body: expected a JSON object {"rows": [{column: value}, ...]}')
    rows = body["rows"]
    if not rows:
        raise RequestError(422, "rows: empty; send at least one row")
    if len(rows) > MAX_ROWS:
        raise RequestError(422, f"rows: {len(rows)}; allowed at most {MAX_ROWS} per request")
    kinds = meta["kinds"]
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RequestError(422, f"rows[{i}]: expected an object of column: value")
        for col in meta["columns"]:
            if col not in row:
                raise RequestError(
                    422,
                    f"rows[{i}]: column {col!r} missing; required: {', '.join(meta['columns'])}",
                )
            v = row[col]
            kind = kinds.get(col, "categorical")
            if v is None:
                continue
            if kind in ("numeric", "periodic"):
                if isinstance(v, bool) or not isinstance(v, int | float):
                    raise RequestError(
                        422, f"rows[{i}].{col}: {v!r} is not a number (column {col!r} is {kind})"
                    )
                if not math.isfinite(v):
                    raise RequestError(422, f"rows[{i}].{col}: {v!r}; numbers must be finite")
            elif kind == "datetime" and not isinstance(v, str):
                raise RequestError(
                    422, f"rows[{i}].{col}: {v!r} is not a date string (ISO 8601, 2024-05-31)"
                )
            elif not isinstance(v, str | int | float | bool):
                raise RequestError(
                    422, f"rows[{i}].{col}: {v!r} is not a value (text, number or null)"
                )
    frame = pd.DataFrame([{c: row[c] for c in meta["columns"]} for row in rows])
    for col in meta["columns"]:
        if kinds.get(col) in ("numeric", "periodic"):
            frame[col] = frame[col].astype(float)
    return frame


def predict_rows(estimator: Any, meta: dict[str, Any], frame: Any) -> dict[str, Any]:
    """The response body for checked rows."""
    try:
        if meta["task"] == "regression":
            pred = np.asarray(estimator.predict(frame), dtype=float)
            return {"predictions": [float(v) for v in pred]}
        proba = np.asarray(estimator.predict_proba(frame), dtype=float)
    except (NasbeyondError, ValueError, TypeError) as e:
        raise RequestError(422, str(e).strip().splitlines()[0]) from None
    classes = meta["classes"]
    return {
        "predictions": [classes[i] for i in proba.argmax(1)],
        "probabilities": [[float(p) for p in r] for r in proba],
        "classes": classes,
    }


def make_app(
    model_dir: str | Path, model: str = "ensemble", max_body_bytes: int = 1_000_000
) -> Any:
    """A FastAPI app serving ``model`` (ensemble, tree or mlp) of ``model_dir``; the model is
    loaded (and its files verified) once, here."""
    fastapi = require("fastapi", "serve", "serve", "serving over HTTP")
    from fastapi import Request
    from fastapi.responses import JSONResponse

    from nasbeyond.tabular.export import load_predictor

    estimator, meta = load_predictor(model_dir, model)
    app = fastapi.FastAPI(title="nasbeyond tabular model", version="1")

    def error(status: int, message: str) -> Any:
        return JSONResponse(status_code=status, content={"detail": message})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "task": meta["task"],
            "model": model,
            "target": meta["target"],
            "columns": meta["columns"],
            "classes": meta["classes"],
        }

    @app.post("/predict")
    async def predict(request: Request) -> Any:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
            return error(413, f"body: {declared} bytes; allowed at most {max_body_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                return error(413, f"body: over {max_body_bytes} bytes; allowed at most that")
            chunks.append(chunk)
        try:
            body = json.loads(b"".join(chunks) or b"null")
        except (ValueError, UnicodeDecodeError) as e:
            return error(422, f"body: not JSON ({e})")
        try:
            frame = rows_frame(body, meta)
            return predict_rows(estimator, meta, frame)
        except RequestError as e:
            return error(e.status, e.message)

    return app
