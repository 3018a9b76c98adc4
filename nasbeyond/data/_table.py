"""Reading a CSV file as a classification table with every guess stated: which row is the header,
which columns are numbers or categories, which column is the target and why it reads as classes.
A guess that cannot be made safely is refused in one line naming the dataset argument that
settles it (``header``, ``target``, ``task``); what was understood goes to ``summary``.

The rules:

- **Header** (``header=auto``): the first row names the columns when it holds text over a column
  whose other cells are all numbers (a name over numbers is text). Otherwise it is data when one
  of its text cells appears again below it (a value, not a name) or when it has no text at all,
  and names the columns when it is all text and none of it appears again. A first row of numbers
  over the numeric columns and never-repeated text over the others is refused (pass ``header``).
  A header-less file's columns are numbered 1..N (``target=N`` picks one).
- **Features**: a column whose present cells all parse as numbers is numeric (standardised);
  any other is categorical (coded 0..k-1 by its sorted values). A column that is numbers except
  for a few text cells is refused rather than read as categories. Missing cells (empty, NA, N/A,
  NaN, null, none, ?) become the column's training mean, or a category of their own.
- **Task** (``task=auto``): a target holding text is classes, unless nearly every row has its own
  value (an identifier). A numeric target is classes only when every value is an integer and
  there are at most ``MAX_CLASSES`` distinct values, or they are ids 0..k-1 / 1..k with
  ``MIN_ROWS_PER_CLASS`` rows per class on average. Anything else (fractions, or many distinct
  integers such as a count or a price) looks continuous and is refused: nasbeyond searches
  classifiers, and ``task=classification`` makes each distinct value a class.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nasbeyond.exceptions import ConfigError, DataError

MISSING = frozenset({"", "na", "n/a", "nan", "null", "none", "?"})  # compared lower-cased
MAX_CLASSES = 20  # an integer target with more distinct values must look like class ids
MIN_ROWS_PER_CLASS = 5  # on average, for a target of more than MAX_CLASSES ids 0..k-1 or 1..k
MOSTLY_NUMERIC = 0.9  # a column this much numbers, but not all, is a data error, not categories
TASKS = ("auto", "classification")
HEADERS = ("auto", "yes", "no")
MISSING_CLASS = "(missing)"


@dataclass(frozen=True)
class Table:
    """A CSV file read as features and class labels.

    Attributes:
        x: (N, F) float64 features, the categorical columns' codes first; NaN marks a missing
            numeric value.
        y: (N,) int64 class indices into ``classes``.
        classes: the class names (the target's values), by index.
        categories: number of values of each leading categorical column.
        about: (topic, text) pairs saying how the file was read, for ``summary``.
    """

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    categories: tuple[int, ...]
    about: tuple[tuple[str, str], ...]


def header_option(header: Any) -> str:
    """``header`` as one of HEADERS (YAML reads ``yes`` / ``no`` as booleans, so they count).

    Raises:
        ConfigError: any other value.
    """
    if header is None or header is True or header is False:
        return {None: "auto", True: "yes", False: "no"}[header]
    if isinstance(header, str) and header.strip().lower() in HEADERS + ("true", "false"):
        h = header.strip().lower()
        return {"true": "yes", "false": "no"}.get(h, h)
    raise ConfigError(f"dataset_args: header={header!r} is not allowed; allowed: auto, yes, no")


def task_option(task: Any) -> str:
    """``task`` as one of TASKS.

    Raises:
        ConfigError: ``regression`` (not supported: the search optimises accuracy) or any other
            value.
    """
    t = task.strip().lower() if isinstance(task, str) else task
    if t in TASKS:
        return str(t)
    if t == "regression":
        raise ConfigError(
            "dataset_args: task=regression is not supported (nasbeyond searches classifiers "
            "and rewards accuracy); allowed: auto, classification"
        )
    raise ConfigError(f"dataset_args: task={task!r} is not allowed; allowed: auto, classification")


def _missing(cell: str) -> bool:
    return cell.lower() in MISSING


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _numeric(cells: list[str]) -> bool:
    """Whether every present cell is a number (an all-missing column counts as numeric)."""
    return all(_number(c) is not None for c in cells if not _missing(c))


def _has_header(rows: list[list[str]], path: Path) -> tuple[bool, str]:
    """The header rule (see the module's docstring) and the reason it gives.

    Raises:
        DataError: the first row's numbers say data but its text says names.
    """
    first, body = rows[0], rows[1:]
    numbers: list[bool] = []  # per numeric column: is the first row a number there
    repeats: list[str] = []  # the first row's text cells that appear again in their column
    texts = 0
    for i, cell in enumerate(first):
        if _missing(cell):
            continue
        column = [r[i] for r in body]
        if _numeric(column):
            numbers.append(_number(cell) is not None)
        else:
            texts += 1
            repeats += [cell] if cell in column else []
    if not all(numbers):
        return True, "the first row has names over numeric columns"
    if repeats:
        return False, f"the first row's {repeats[0]!r} appears again below it, so it is data"
    if numbers and texts:
        raise DataError(
            f"data_dir: cannot tell whether the first row of {path} names the columns: it has "
            "numbers over the numeric columns, but none of its text appears again below; pass "
            "--dataset-arg header=yes or header=no"
        )
    if numbers:
        return False, "every numeric column has a number in the first row, so it is data"
    return True, "no first-row value appears again below it"


def _read_rows(path: Path) -> list[list[str]]:
    if path.is_dir():
        raise DataError(f"data_dir: {path} is a folder; dataset 'csv' needs the CSV file itself")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [[c.strip() for c in r] for r in csv.reader(f)]
    except (UnicodeDecodeError, csv.Error) as e:
        raise DataError(f"data_dir: {path} is not a UTF-8 comma-separated file ({e})") from None
    rows = [r for r in rows if any(r)]  # blank lines
    if len(rows) < 2 or len(rows[0]) < 2:
        raise DataError(
            f"data_dir: {path} needs 2+ comma-separated columns and 2+ rows "
            f"(found {len(rows[0]) if rows else 0} columns, {len(rows)} rows)"
        )
    for n, r in enumerate(rows[1:], start=2):
        if len(r) != len(rows[0]):
            raise DataError(
                f"data_dir: {path} row {n} has {len(r)} cells; the first row has {len(rows[0])}"
            )
    return rows


def _classes(name: str, cells: list[str], task: str) -> tuple[np.ndarray, list[str], str]:
    """Class indices, class names and the reason the target reads as classes.

    Raises:
        DataError: with ``task="auto"``, a target that looks continuous or like an identifier.
    """
    n = len(cells)
    numbers = [_number(c) for c in cells]
    if any(v is None for v in numbers):  # text labels
        names = sorted(set(cells))
        k = len(names)
        if task == "auto" and k > MAX_CLASSES and k > n / 2:
            raise DataError(
                f"target: column {name!r} has {k} distinct values in {n} rows, which looks "
                "like an identifier or free text, not classes; pick the class column with "
                "--dataset-arg target=NAME (or pass --dataset-arg task=classification)"
            )
        index = {v: i for i, v in enumerate(names)}
        why = "the target holds text" if task == "auto" else "task=classification was given"
        return np.array([index[c] for c in cells], dtype=np.int64), names, why
    values = np.array(numbers, dtype=np.float64)
    if not np.isfinite(values).all():
        raise DataError(f"target: column {name!r} holds an infinite value")
    distinct = np.unique(values)
    k = len(distinct)
    integers = bool(np.all(distinct == np.round(distinct)))
    ids = integers and distinct[0] in (0, 1) and distinct[-1] - distinct[0] == k - 1
    if task == "classification":
        why = "task=classification was given"
    elif integers and k <= MAX_CLASSES:
        why = f"an integer target with {k} distinct values (up to {MAX_CLASSES} read as classes)"
    elif ids and n / k >= MIN_ROWS_PER_CLASS:
        why = f"integer class ids {distinct[0]:g}..{distinct[-1]:g}, {n / k:.0f} rows per class"
    else:
        kind = "integer" if integers else "float"
        raise DataError(
            f"target: column {name!r} looks continuous ({k} distinct {kind} values, "
            f"{distinct[0]:g} to {distinct[-1]:g}); nasbeyond searches classifiers: bin it, or "
            "pass --dataset-arg task=classification to treat each value as a class"
        )
    names = [str(int(v)) if integers else f"{v:.10g}" for v in distinct]
    return np.searchsorted(distinct, values), names, why


def read_csv(path: Path, target: Any = None, header: Any = "auto", task: Any = "auto") -> Table:
    """Read a CSV file by the rules of this module.

    Args:
        path: the file (UTF-8, comma-separated; a byte-order mark is ignored).
        target: the class column's name (a header-less file's columns are named 1..N); None: the
            last column.
        header: ``auto`` (the rule above), ``yes`` / True or ``no`` / False.
        task: ``auto`` (the rule above) or ``classification`` (each distinct value is a class).

    Returns:
        The table; ``about`` names the file, the header decision, the features, the target, the
        task rule applied and the missing values.

    Raises:
        ConfigError: ``header`` or ``task`` is not one of the allowed values.
        DataError: the file cannot be read as a table, the target is not a column or has missing
            cells, a column is numbers but for a few text cells, or (``task=auto``) the target
            looks continuous or like an identifier.
    """
    how, task = header_option(header), task_option(task)
    rows = _read_rows(path)
    if how == "auto":
        has_header, reason = _has_header(rows, path)
    else:
        has_header, reason = how == "yes", f"header={how} given"
    width = len(rows[0])
    if has_header:
        names = [c or f"({i + 1})" for i, c in enumerate(rows[0])]
        body, first_line = rows[1:], 2
        header_note = f"yes: {reason}"
    else:
        names = [str(i + 1) for i in range(width)]
        body, first_line = rows, 1
        header_note = f"no: {reason}; columns are numbered 1..{width}"
    if len(body) < 2:
        raise DataError(f"data_dir: {path} needs 2+ data rows (found {len(body)})")
    if target is not None and str(target) not in names:
        raise DataError(
            f"target: column {target!r} not in {path}; columns: {', '.join(names)}"
            + ("" if has_header else " (no header row: columns are numbered)")
        )
    if target is not None and names.count(str(target)) > 1:
        raise DataError(f"target: {path} has {names.count(str(target))} columns named {target!r}")
    col = names.index(str(target)) if target is not None else width - 1
    target_note = f"column {names[col]!r} " + (
        f"(target={target} given)" if target is not None else "(the last column)"
    )
    labels = [r[col] for r in body]
    gaps = [first_line + n for n, c in enumerate(labels) if _missing(c)]
    if gaps:
        raise DataError(
            f"target: column {names[col]!r} is empty on {len(gaps)} rows (row "
            f"{', '.join(map(str, gaps[:3]))}{', ...' if len(gaps) > 3 else ''}); fill or "
            "remove those rows"
        )
    y, classes, why = _classes(names[col], labels, task)

    numeric: list[np.ndarray] = []
    categorical: list[list[int]] = []
    cards: list[int] = []
    card_notes: list[str] = []
    dropped: list[str] = []
    missing: dict[str, int] = {}
    for i in (i for i in range(width) if i != col):
        cells = [r[i] for r in body]
        absent = [_missing(c) for c in cells]
        if all(absent):
            dropped.append(names[i])
            continue
        if sum(absent):
            missing[names[i]] = sum(absent)
        numbers = [None if a else _number(c) for c, a in zip(cells, absent, strict=True)]
        text = [
            n for n, (v, a) in enumerate(zip(numbers, absent, strict=True)) if v is None and not a
        ]
        if not text:
            column = np.array([np.nan if v is None else v for v in numbers], dtype=np.float64)
            bad = np.flatnonzero(np.isinf(column))
            if len(bad):
                raise DataError(
                    f"data_dir: {path} column {names[i]!r} row {first_line + bad[0]} holds "
                    f"{cells[bad[0]]!r}, an infinite number"
                )
            numeric.append(column)
            continue
        present = len(cells) - sum(absent)
        if len(text) < present and (present - len(text)) / present >= MOSTLY_NUMERIC:
            fix = (
                "if row 1 names the columns, pass --dataset-arg header=yes"
                if first_line + text[0] == 1
                else "leave a missing value empty or write NA"
            )
            raise DataError(
                f"data_dir: {path} column {names[i]!r} is numbers but for {len(text)} text "
                f"cell(s) such as {cells[text[0]]!r} (row {first_line + text[0]}); {fix}"
            )
        values = sorted({c for c, a in zip(cells, absent, strict=True) if not a})
        if any(absent):
            values.append(MISSING_CLASS)
        index = {v: k for k, v in enumerate(values)}
        categorical.append(
            [index[MISSING_CLASS if a else c] for c, a in zip(cells, absent, strict=True)]
        )
        cards.append(len(values))
        card_notes.append(f"{names[i]!r} has {len(values)}")
    if not numeric and not categorical:
        raise DataError(f"data_dir: {path} has no feature column with any value")
    x = np.column_stack([np.array(c, dtype=np.float64) for c in categorical] + numeric)
    features = f"{x.shape[1]} features: {len(numeric)} numeric"
    features += " (standardised)" if numeric else ""
    if categorical:
        features += f", {len(categorical)} categorical (values: {', '.join(card_notes)})"
    if dropped:
        features += f"; dropped as empty: {', '.join(dropped)}"
    if missing:
        total = sum(missing.values())
        per_column = ", ".join(f"{k} {v}" for k, v in missing.items())
        gaps_note = (
            f"{total} cells in {len(missing)} column(s) ({per_column}); a missing number is the "
            f"column's training mean, a missing category the value {MISSING_CLASS!r}"
        )
    else:
        gaps_note = "none"
    about = (
        ("file", str(path)),
        ("header", header_note),
        ("input", features),
        ("target", target_note),
        ("task", why),
        ("missing values", gaps_note),
    )
    return Table(x, y, tuple(classes), tuple(cards), about)
