"""Raw rows to a typed frame: each column is understood once, at fit, as numeric, categorical,
periodic (month, weekday, hour: a number on a circle) or datetime (expanded into elapsed days,
month, day, weekday and hour), and every later frame is checked against that understanding.

``TabularFrame`` is a scikit-learn transformer; its output is a pandas DataFrame whose columns
``columns_`` describes (name, kind, period, source column). The pipelines of the
``tabular-pipeline`` space take that frame. Bad input raises ``TabularInputError`` (a
``ValueError``) naming the column.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from nasbeyond.exceptions import DataError

# Column names read as periodic when their values fit the period (name -> (period, low, high)).
PERIODIC_NAMES = {
    "month": (12.0, 1, 12),
    "hour": (24.0, 0, 23),
    "hr": (24.0, 0, 23),
    "weekday": (7.0, 0, 6),
    "dayofweek": (7.0, 0, 6),
    "day_of_week": (7.0, 0, 6),
    "minute": (60.0, 0, 59),
    "mnth": (12.0, 1, 12),
}
MISSING = "__missing__"


class TabularInputError(DataError, ValueError):
    """Rows that cannot be used as they are; the message names the column."""


@dataclass(frozen=True)
class Column:
    """One column of the typed frame.

    Attributes:
        name: the column's name in the frame (a datetime column ``d`` gives ``d.month``, ...).
        kind: ``numeric`` (float64, NaN = missing), ``categorical`` (object: text, NaN =
            missing) or ``periodic`` (float64 on a circle of length ``period``).
        source: the input column it comes from.
        period: the circle's length for periodic columns, else 0.
    """

    name: str
    kind: str
    source: str
    period: float = 0.0


def _is_text(v: Any) -> bool:
    return isinstance(v, str | bytes)


class TabularFrame(TransformerMixin, BaseEstimator):
    """Understands a pandas DataFrame's columns at fit and turns later frames into the typed
    frame ``columns_`` describes.

    Rules (in order, per input column): all values missing -> error; pandas ``category``
    dtype (ordered or not) -> categorical (its values as text; the order is not kept); bool or
    numeric dtype, nullable ones (``Int64``, ``Float64``, ``boolean``) included, ->
    numeric (periodic if its name is a month / weekday / hour name and its values fit);
    datetime dtype -> datetime; text that all parses as numbers -> numeric; text that all
    parses as ISO dates -> datetime; anything else -> categorical (values as text).
    Infinities count as missing; so do ``None``, NaN, NaT and ``pd.NA``. Extension dtypes
    (category, nullable, ``string``) are read as plain NumPy columns first (``_plain``).

    Attributes:
        kinds_: input column -> ``numeric | periodic | datetime | categorical``.
        columns_: the output columns, in order (list of ``Column``).
        feature_names_in_: the input columns, as fitted.
    """

    def fit(self, X: Any, y: Any = None) -> TabularFrame:
        import pandas as pd

        frame = _as_frame(X)
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        self.kinds_: dict[str, str] = {}
        self.columns_: list[Column] = []
        hour: dict[str, bool] = {}
        for name in frame.columns:
            raw = frame[name]
            if raw.isna().all():
                raise TabularInputError(
                    f"column {name!r}: every value is missing; drop the column or fill it"
                )
            if isinstance(raw.dtype, pd.CategoricalDtype):
                kind, period = "categorical", 0.0
            else:
                kind, period = _infer(str(name), _plain(raw))
            col = _plain(raw)
            self.kinds_[name] = kind
            if kind == "datetime":
                stamps = _to_datetime(col)
                hour[name] = bool((stamps.dt.hour.fillna(0) != 0).any())
                self.columns_ += _date_columns(str(name), hour[name])
            else:
                self.columns_.append(Column(str(name), kind, str(name), period))
        return self

    def transform(self, X: Any) -> Any:
        """The typed frame (pandas DataFrame) of ``X``'s rows.

        Raises:
            TabularInputError: a fitted column is missing, or a numeric / datetime column
                holds text that is not a number / date (the message names it and a value).
        """
        import pandas as pd

        check_is_fitted(self, "columns_")
        frame = _as_frame(X)
        missing = [c for c in self.feature_names_in_ if c not in frame.columns]
        if missing:
            raise TabularInputError(
                f"column {missing[0]!r}: missing (the model was fitted with it; "
                f"{len(missing)} fitted column(s) missing in all)"
            )
        out: dict[str, Any] = {}
        for name in self.feature_names_in_:
            kind, col = self.kinds_[name], _plain(frame[name])
            if kind in ("numeric", "periodic"):
                out[str(name)] = _numbers(str(name), col)
            elif kind == "categorical":
                out[str(name)] = col.map(lambda v: np.nan if _missing(v) else str(v)).astype(object)
            else:
                stamps = _to_datetime(col, name=str(name))
                hour = any(c.name == f"{name}.hour" for c in self.columns_)
                for c, values in zip(
                    _date_columns(str(name), hour), _date_values(stamps, hour), strict=True
                ):
                    out[c.name] = values
        return pd.DataFrame(out, index=range(len(frame)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "columns_")
        return np.asarray([c.name for c in self.columns_], dtype=object)


def _missing(v: Any) -> bool:
    """None, NaN, NaT and pd.NA are missing; containers (a dict in a cell) are values."""
    import pandas as pd

    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _plain(col: Any) -> Any:
    """``col`` with a NumPy dtype: category and ``string`` -> object (missing as NaN),
    nullable integers / floats / booleans -> float64 (missing as NaN); others as they are."""
    import pandas as pd

    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return col.astype(object).where(col.notna(), np.nan)
    if not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return col
    if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype):
        return col.astype("float64")  # pd.NA -> NaN
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return col  # tz-aware datetimes are read as dates
    return col.astype(object).where(col.notna(), np.nan)


def _as_frame(X: Any) -> Any:
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X.reset_index(drop=True)
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise TabularInputError(f"X: expected 2D rows x columns, got {arr.ndim}D")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def _infer(name: str, col: Any) -> tuple[str, float]:
    import pandas as pd

    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        return _numeric_or_periodic(name, col.astype(float))
    if pd.api.types.is_datetime64_any_dtype(col):
        return "datetime", 0.0
    values = col[~col.map(_missing)]
    if values.map(lambda v: isinstance(v, int | float | np.number) or _numeric_text(v)).all():
        return _numeric_or_periodic(name, pd.to_numeric(values.astype(str), errors="coerce"))
    if values.map(_is_text).all():
        try:
            pd.to_datetime(values.astype(str), format="ISO8601")
            return "datetime", 0.0
        except (ValueError, TypeError, OverflowError):
            pass
    return "categorical", 0.0


def _numeric_text(v: Any) -> bool:
    if not _is_text(v):
        return False
    try:
        float(v)
        return True
    except ValueError:
        return False


def _numeric_or_periodic(name: str, values: Any) -> tuple[str, float]:
    spec = PERIODIC_NAMES.get(name.lower().replace(" ", "_"))
    if spec is not None:
        period, lo, hi = spec
        v = values[np.isfinite(values)]
        if len(v) and (v == np.round(v)).all() and v.min() >= lo and v.max() <= hi:
            return "periodic", period
    return "numeric", 0.0


def _numbers(name: str, col: Any) -> Any:
    import pandas as pd

    if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        out = col.astype(float)
    else:
        out = pd.to_numeric(col.map(lambda v: np.nan if _missing(v) else v), errors="coerce")
        bad = out.isna() & ~col.map(_missing)
        if bad.any():
            value = col[bad].iloc[0]
            raise TabularInputError(
                f"column {name!r}: text where numbers were at fit (e.g. {value!r} in row "
                f"{int(np.flatnonzero(bad.to_numpy())[0])})"
            )
        out = out.astype(float)
    return out.replace([np.inf, -np.inf], np.nan)


def _to_datetime(col: Any, name: str | None = None) -> Any:
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(col):
        return col
    clean = col.map(lambda v: None if _missing(v) else str(v))
    try:
        return pd.to_datetime(clean, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        if name is None:
            raise
        raise TabularInputError(
            f"column {name!r}: not dates as at fit (ISO 8601 such as 2024-05-31 expected)"
        ) from None


def _date_columns(name: str, hour: bool) -> list[Column]:
    cols = [
        Column(f"{name}.days", "numeric", name),
        Column(f"{name}.month", "periodic", name, 12.0),
        Column(f"{name}.day", "periodic", name, 31.0),
        Column(f"{name}.weekday", "periodic", name, 7.0),
    ]
    return cols + ([Column(f"{name}.hour", "periodic", name, 24.0)] if hour else [])


def _date_values(stamps: Any, hour: bool) -> list[Any]:
    import pandas as pd

    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    days = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
    out = [days, stamps.dt.month, stamps.dt.day, stamps.dt.weekday]
    out += [stamps.dt.hour] if hour else []
    return [v.astype(float) for v in out]
