"""A run directory read for reporting: what kind of run it is, its trials with their wall-clock
times, the Pareto fronts of reward against each cost metric, and per-decision importance.

``load_run`` opens any directory the CLI produces — a search (``nasbeyond search``), an
augmentation search (``nasbeyond augment``), a weight-sharing search (DARTS, ENAS, SPOS), a
tabular store (``AutoClassifier(store=DIR)``) or a tabular model directory
(``nasbeyond tabular fit --out DIR``) — and returns a ``RunInfo``. Nothing is trained, no data
is loaded and the store is only read. The pure functions below (``flatten_arch``,
``decision_importance``, ``reward_fronts``, ``best_so_far_series``) work on plain lists of
``Trial`` too, so a live view can call them on what it has read.

Example:
    >>> info = load_run("runs/demo")
    >>> info.kind, len(info.trials), info.importance.names[:3]
"""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError, NasbeyondError
from nasbeyond.trial import Trial

RunKind = Literal["search", "augment", "oneshot", "tabular-store", "tabular-model"]
DB_NAME = "nasbeyond.db"  # the same name as nasbeyond.run.store.DB_NAME
TABULAR_META = "meta.json"  # a tabular model directory's description (tabular.export.META_FILE)
# Metrics a trial's reward is plotted against when trials report them; every one is minimised.
COST_METRICS = ("cost_s", "params", "macs", "latency_ms", "latency_predicted_ms")
ABSENT = "(absent)"  # a flattened decision the arch does not have (e.g. a layer it lacks)
# Loads a tabular model directory: (objects, meta), as nasbeyond.tabular.export.load_model does.
# The report layer cannot import nasbeyond.tabular (same layer), so the CLI hands it in.
TabularLoader = Callable[[Path], tuple[dict[str, Any], dict[str, Any]]]


@dataclass(frozen=True)
class Front:
    """The Pareto front of reward (max) against one metric (min).

    Attributes:
        objectives: as ``nasbeyond.evaluate.pareto`` writes them, e.g. ``["reward:max",
            "params:min"]``.
        trials: ids of the non-dominated trials, best reward first.
        scored: trials with a finite value of every objective.
        hypervolume: of the front with each objective scaled to the range seen (reference: the
            worst value of each), in [0, 1]; None for more than two objectives.
    """

    objectives: list[str]
    trials: list[int]
    scored: int
    hypervolume: float | None


@dataclass(frozen=True)
class Importance:
    """How much each flattened decision explains the reward.

    Attributes:
        names: decision paths (``flatten_arch`` keys), most important first.
        values: importances (mean decrease in impurity, summing to 1), same order.
        method: one sentence naming the estimator and the data it was fitted on.
        trials: ok trials the forest was fitted on.
    """

    names: list[str]
    values: list[float]
    method: str
    trials: int


@dataclass(frozen=True)
class TabularInfo:
    """What a tabular run holds.

    Attributes:
        source: ``model-dir`` (``nasbeyond tabular fit --out``) or ``store`` (a search's
            SQLite store).
        metric: the score's name (an AMLB metric, e.g. ``auc``, ``rmse``).
        leaderboard: rows with keys trial, model, pipeline, score, fidelity, time_s, status,
            weight, error (the ensemble first when known).
        ensemble: (trial id, weight) of the ensemble's members; empty when not known (see
            ``notes``).
        rules: the distilled decision tree as text (``sklearn.tree.export_text``), or None.
        report: model -> {score, fidelity, latency_ms} of the ensemble and its students.
        importances: column -> the ensemble's feature importance.
        notes: sentences saying what is missing and why.
    """

    source: str
    metric: str
    leaderboard: list[dict[str, Any]] = field(default_factory=list)
    ensemble: list[tuple[int, float]] = field(default_factory=list)
    rules: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    importances: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunInfo:
    """A run directory, read.

    Attributes:
        run_dir: the directory.
        kind: search, augment (its space builds transforms), oneshot (the store has a
            weight-sharing record), tabular-store or tabular-model.
        config: the saved settings (``RunConfig.to_dict()``), {} for tabular runs.
        trials: every trial in id order (none for a tabular model directory).
        times: trial id -> (started, finished) in Unix seconds; finished is None while running.
        objectives: the run's configured objectives (``--objectives``), or [].
        fronts: reward against each cost metric the trials report (``COST_METRICS``), plus
            the configured objectives' front when set.
        importance: None with fewer than 4 ok trials or no decision that varies.
        oneshot: the store's weight-sharing record (``nasbeyond.run.oneshot.KEY``) or None.
        final: the final retrain-and-test record (``final``) or None.
        tabular: a tabular run's leaderboard, ensemble and rules; None for other runs.
        space: the run's Space (``describe``, ``graph``), None for tabular runs.
    """

    run_dir: Path
    kind: RunKind
    config: dict[str, Any]
    trials: list[Trial]
    times: dict[int, tuple[float, float | None]]
    objectives: list[str]
    fronts: list[Front]
    importance: Importance | None
    oneshot: dict[str, Any] | None = None
    final: dict[str, Any] | None = None
    tabular: TabularInfo | None = None
    space: Any = None

    @property
    def ok(self) -> list[Trial]:
        """The trials with status ok and a reward, in id order."""
        return [t for t in self.trials if t.status == "ok" and t.reward is not None]

    @property
    def failed(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "failed"]

    def best(self, k: int = 10) -> list[Trial]:
        """The ``k`` ok trials of highest reward, equal rewards in id order."""
        return sorted(self.ok, key=lambda t: (-(t.reward or 0.0), t.id))[:k]

    def describe(self, arch: Arch) -> str:
        """The space's one-line summary of ``arch`` (compact JSON without a space)."""
        if self.space is not None:
            try:
                return str(self.space.describe(arch))
            except Exception:  # an arch the space no longer reads: show it as data
                pass
        return json.dumps(arch, sort_keys=True, separators=(",", ":"))


# ----- pure functions on trials -----------------------------------------------------------------
def flatten_arch(arch: Any, prefix: str = "") -> dict[str, Any]:
    """An arch as {path: scalar}: dict keys and list positions joined with dots
    (``{"layers": [{"kh": 3}]}`` -> ``{"layers.0.kh": 3}``); an empty list is the value "[]".
    """
    if isinstance(arch, dict):
        out: dict[str, Any] = {}
        for k in sorted(arch, key=str):
            out.update(flatten_arch(arch[k], f"{prefix}.{k}" if prefix else str(k)))
        return out
    if isinstance(arch, list | tuple):
        if not arch:
            return {prefix: "[]"}
        out = {}
        for i, v in enumerate(arch):
            out.update(flatten_arch(v, f"{prefix}.{i}" if prefix else str(i)))
        return out
    return {prefix: arch}


def decision_table(trials: Sequence[Trial]) -> tuple[list[str], list[list[Any]]]:
    """(decision names, one row of values per trial): the union of ``flatten_arch`` paths in
    first-seen order, ``ABSENT`` where an arch lacks one. Decisions with one value are kept."""
    flat = [flatten_arch(t.arch) for t in trials]
    names: dict[str, None] = {}
    for f in flat:
        names.update(dict.fromkeys(f))
    cols = list(names)
    return cols, [[f.get(c, ABSENT) for c in cols] for f in flat]


def encode_column(values: Sequence[Any]) -> tuple[list[float], list[str] | None]:
    """Numbers as themselves when every value is a number (not bool); otherwise codes 0..k-1 of
    the sorted distinct values (as text) and those texts as labels."""
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values], None
    labels = sorted({_label(v) for v in values})
    index = {s: i for i, s in enumerate(labels)}
    return [float(index[_label(v)]) for v in values], labels


def _label(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def decision_importance(
    trials: Sequence[Trial], seed: int = 0, n_estimators: int = 200
) -> Importance | None:
    """Per-decision importance for the reward of the ok trials: a scikit-learn
    RandomForestRegressor (``n_estimators`` trees, ``seed``) fitted to reward on the flattened
    decisions (``decision_table``; text values as ordinal codes), its mean decrease in impurity
    (Breiman 2001). Impurity importance favours decisions with many distinct values; with few
    trials it is a hint, not a measurement. None with fewer than 4 ok trials or when no
    decision varies."""
    ok = [t for t in trials if t.status == "ok" and t.reward is not None]
    if len(ok) < 4:
        return None
    names, rows = decision_table(ok)
    keep = [j for j in range(len(names)) if len({_label(r[j]) for r in rows}) > 1]
    if not keep:
        return None
    import numpy as np
    from sklearn.ensemble import RandomForestRegressor

    X = np.array([encode_column([r[j] for r in rows])[0] for j in keep], dtype=float).T
    y = np.array([float(t.reward or 0.0) for t in ok])
    if float(np.ptp(y)) == 0.0:
        return None
    forest = RandomForestRegressor(
        n_estimators=n_estimators, random_state=seed, min_samples_leaf=1, n_jobs=1
    ).fit(X, y)
    imp = forest.feature_importances_
    order = sorted(range(len(keep)), key=lambda i: (-float(imp[i]), i))
    return Importance(
        names=[names[keep[i]] for i in order],
        values=[float(imp[i]) for i in order],
        method=(
            f"mean decrease in impurity of a scikit-learn random forest ({n_estimators} trees, "
            f"seed {seed}) fitted to reward on the {len(ok)} ok trials' flattened decisions "
            "(text values as ordinal codes); it favours decisions with many values"
        ),
        trials=len(ok),
    )


def trial_metrics(t: Trial) -> dict[str, Any]:
    """The trial's metrics with ``reward`` and ``cost_s`` added (what fronts are taken of)."""
    return {**t.metrics, "reward": t.reward, "cost_s": t.cost_s}


def cost_metrics(trials: Sequence[Trial]) -> list[str]:
    """The ``COST_METRICS`` that at least two ok trials report as finite, distinct numbers."""
    ok = [trial_metrics(t) for t in trials if t.status == "ok" and t.reward is not None]
    out = []
    for m in COST_METRICS:
        vals = {float(x[m]) for x in ok if _finite(x.get(m))}
        if len(vals) >= 2:
            out.append(m)
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def reward_fronts(trials: Sequence[Trial], objectives: Sequence[str] = ()) -> list[Front]:
    """The front of reward (max) against each of ``cost_metrics(trials)`` (min), then, when
    ``objectives`` are given (``metric:max|min``, aliases as in ``nasbeyond.evaluate.pareto``),
    the front under those. Fronts and hypervolumes are ``pareto.front_summary``'s."""
    from nasbeyond.evaluate.pareto import front_summary

    ok = [(t.id, trial_metrics(t)) for t in trials if t.status == "ok" and t.reward is not None]
    specs: list[list[str]] = [["reward:max", f"{m}:min"] for m in cost_metrics(trials)]
    if objectives:
        specs.append(list(objectives))
    fronts = []
    for spec in specs:
        s = front_summary(ok, spec)
        if s["scored"]:
            fronts.append(Front(s["objectives"], s["trials"], s["scored"], s["hypervolume"]))
    return fronts


@dataclass(frozen=True)
class Series:
    """Best-so-far reward against three clocks, one point per finished trial in id order.

    Attributes:
        trial: trial ids.
        best: the best reward among ok trials so far (NaN before the first ok trial).
        reward: the trial's own reward (NaN when it failed).
        wall_s: seconds from the run's first trial start to this trial's finish (NaN when the
            store has no times, e.g. a MemoryStore); in id order, so not monotone with parallel
            workers: plot best-so-far against wall time with ``best_so_far_by_finish``.
        cost_s: cumulative trial cost in seconds: simulated (charged) time for a benchmark
            evaluator such as nb201-table, summed training seconds otherwise.
    """

    trial: list[int]
    best: list[float]
    reward: list[float]
    wall_s: list[float]
    cost_s: list[float]


def best_so_far_series(
    trials: Sequence[Trial], times: dict[int, tuple[float, float | None]] | None = None
) -> Series:
    """The best-so-far curve of the finished trials (see ``Series``)."""
    done = sorted((t for t in trials if t.status != "running"), key=lambda t: t.id)
    times = times or {}
    starts = [s for s, _ in times.values()]
    t0 = min(starts) if starts else math.nan
    best, cum = -math.inf, 0.0
    out: dict[str, list[Any]] = {k: [] for k in ("trial", "best", "reward", "wall_s", "cost_s")}
    for t in done:
        ok = t.status == "ok" and t.reward is not None
        if ok:
            best = max(best, float(t.reward or 0.0))
        cum += float(t.cost_s or 0.0)
        fin = times.get(t.id, (math.nan, None))[1]
        out["trial"].append(t.id)
        out["best"].append(best if best > -math.inf else math.nan)
        out["reward"].append(float(t.reward) if ok and t.reward is not None else math.nan)
        out["wall_s"].append(fin - t0 if fin is not None else math.nan)
        out["cost_s"].append(cum)
    return Series(**out)


def best_so_far_by_finish(
    trials: Sequence[Trial], times: dict[int, tuple[float, float | None]]
) -> tuple[list[float], list[float], list[float]]:
    """(seconds, best so far, own reward) of the finished trials in the order they finished:
    seconds from the run's first trial start to each finish (parallel workers finish out of id
    order, so the wall-clock curve needs this order to be a best-so-far). Trials without a
    finish time are left out; reward is NaN for a trial that did not finish ok."""
    starts = [s for s, _ in times.values()]
    if not starts:
        return [], [], []
    t0 = min(starts)
    done = [
        (fin, t)
        for t in trials
        if t.status != "running" and (fin := times.get(t.id, (0.0, None))[1]) is not None
    ]
    done.sort(key=lambda p: (p[0], p[1].id))
    secs, best_out, rewards = [], [], []
    best = -math.inf
    for fin, t in done:
        ok = t.status == "ok" and t.reward is not None
        if ok:
            best = max(best, float(t.reward or 0.0))
        secs.append(fin - t0)
        best_out.append(best if best > -math.inf else math.nan)
        rewards.append(float(t.reward or 0.0) if ok else math.nan)
    return secs, best_out, rewards


# ----- reading a directory ----------------------------------------------------------------------
def load_run(
    run_dir: str | Path, tabular_loader: TabularLoader | None = None, seed: int = 0
) -> RunInfo:
    """Read a run directory (see the module docstring).

    Args:
        run_dir: a directory holding ``nasbeyond.db`` or a tabular model's ``meta.json``.
        tabular_loader: reads a tabular model directory's objects, for its leaderboard and
            ensemble weights (``nasbeyond.tabular.export.load_model``; it refuses untrusted
            files). Without it only ``meta.json`` and ``rules.txt`` are read.
        seed: the importance forest's seed.

    Raises:
        ConfigError: the directory does not exist or is not a run directory (one line).
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ConfigError(f"run_dir: {path} is not a directory")
    if not (path / DB_NAME).is_file():
        if (path / TABULAR_META).is_file():
            return _tabular_model(path, tabular_loader)
        raise ConfigError(
            f"run_dir: {path} holds no {DB_NAME} (a search) or {TABULAR_META} (a tabular model); "
            "is it a nasbeyond run directory?"
        )
    from nasbeyond.run.experiment import RunRecord
    from nasbeyond.run.store import SQLiteStore

    store = SQLiteStore(path, create=False)
    try:
        if store.get("config") is None and store.get("tabular_data") is not None:
            return _tabular_store(path, store)
    finally:
        store.close()
    try:
        record = RunRecord.open(path)
    except NasbeyondError as e:
        raise ConfigError(str(e)) from None
    try:
        trials = record.store.trials()
        oneshot = record.store.get("oneshot")
        final = record.store.get("final")
    finally:
        record.store.close()
    config = record.config.to_dict()
    objectives = [o for o in (record.config.objectives or "").split(",") if o.strip()]
    kind: RunKind = (
        "oneshot"
        if oneshot is not None
        else "augment"
        if getattr(record.space, "builds", "") == "transform"
        else "search"
    )
    return RunInfo(
        run_dir=path,
        kind=kind,
        config=config,
        trials=trials,
        times=read_times(path),
        objectives=objectives,
        fronts=reward_fronts(trials, objectives),
        importance=decision_importance(trials, seed),
        oneshot=oneshot,
        final=final,
        space=record.space,
    )


def read_times(run_dir: str | Path) -> dict[int, tuple[float, float | None]]:
    """trial id -> (started, finished) Unix seconds, read through a read-only connection
    (``Trial`` does not carry them)."""
    db = Path(run_dir) / DB_NAME
    try:
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute("SELECT id, started, finished FROM trials").fetchall()
        finally:
            con.close()
    except sqlite3.Error:
        return {}
    return {int(i): (float(s), None if f is None else float(f)) for i, s, f in rows}


def _tabular_store(path: Path, store: Any) -> RunInfo:
    trials = store.trials()
    metric = next((str(t.metrics["metric"]) for t in trials if "metric" in t.metrics), "score")
    rows = [
        {
            "trial": t.id,
            "model": t.arch.get("model", "?") if isinstance(t.arch, dict) else "?",
            "pipeline": json.dumps(t.arch, sort_keys=True),
            "score": t.metrics.get("score"),
            "fidelity": t.metrics.get("fidelity"),
            "time_s": round(t.cost_s, 3),
            "status": t.status,
            "weight": None,
            "error": (t.error or "").splitlines()[0] if t.error else "",
        }
        for t in sorted(trials, key=lambda t: (t.status != "ok", -(t.reward or 0.0), t.id))
    ]
    info = TabularInfo(
        source="store",
        metric=metric,
        leaderboard=rows,
        notes=[
            "This is a tabular search's store: the ensemble's weights and the distilled tree "
            "live in the fitted estimator (or a `nasbeyond tabular fit --out` model directory), "
            "not in the store, so they are not shown."
        ],
    )
    return RunInfo(
        run_dir=path,
        kind="tabular-store",
        config={},
        trials=trials,
        times=read_times(path),
        objectives=[],
        fronts=reward_fronts(trials),
        importance=decision_importance(trials),
        tabular=info,
    )


def _tabular_model(path: Path, loader: TabularLoader | None) -> RunInfo:
    try:
        meta = json.loads((path / TABULAR_META).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"run_dir: {path / TABULAR_META} is not readable JSON ({e})") from None
    if not isinstance(meta, dict) or not str(meta.get("format", "")).startswith(
        "nasbeyond-tabular/"
    ):
        raise ConfigError(f"run_dir: {path / TABULAR_META} is not a nasbeyond tabular model")
    rules_file = path / "rules.txt"
    notes: list[str] = []
    board: list[dict[str, Any]] = []
    ensemble: list[tuple[int, float]] = []
    if loader is None:
        notes.append("The leaderboard and ensemble weights are in model.skops, not read here.")
    else:
        try:
            objects, _ = loader(path)
            teacher = objects.get("teacher")
            metric_name = str(meta.get("metric", "score"))
            for row in getattr(teacher, "leaderboard_", []):
                r = dict(row)
                r["score"] = r.pop(metric_name, r.get("score"))
                board.append(r)
            ensemble = [(int(m.trial), float(m.weight)) for m in getattr(teacher, "ensemble_", [])]
        except NasbeyondError as e:
            notes.append(f"model.skops was not read: {e}")
    return RunInfo(
        run_dir=path,
        kind="tabular-model",
        config={},
        trials=[],
        times={},
        objectives=[],
        fronts=[],
        importance=None,
        tabular=TabularInfo(
            source="model-dir",
            metric=str(meta.get("metric", "score")),
            leaderboard=board,
            ensemble=ensemble,
            rules=rules_file.read_text() if rules_file.is_file() else None,
            report=dict(meta.get("report") or {}),
            importances={str(k): float(v) for k, v in (meta.get("importances") or {}).items()},
            meta=meta,
            notes=notes,
        ),
    )
