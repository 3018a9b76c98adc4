"""The dashboard's view of run directories: read-only SQL over each run's store.

Every read opens its own read-only connection (``mode=ro``), runs a few short statements and
closes it. Under WAL a reader never blocks the writer and the writer never blocks a reader, so
the dashboard can watch a search while it runs; no statement here writes, and a read-only
connection could not. Everything a page shows of a large run is computed in SQL and cut to a
bounded size here (a page of rows, at most ``points`` plotted points), so a run of 10,000
trials costs the browser what a run of 500 does.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nasbeyond.exceptions import ConfigError, NasbeyondError

DB_NAME = "nasbeyond.db"  # nasbeyond.run.store.DB_NAME; importing nasbeyond.run loads torch
SORTS = ("id", "reward", "cost_s", "params", "macs", "status")  # the trials table's sort keys
SCATTER_X = ("cost_s", "params", "macs", "latency_ms")  # reward against one of these
STATUSES = ("ok", "failed", "pruned", "running")
PARALLEL_LINES = 2000  # parallel coordinates: the best this many ok trials by reward
PARALLEL_AXES = 30  # parallel coordinates: at most this many decision axes
_SORT_SQL = {
    "id": "id",
    "reward": "reward",
    "cost_s": "cost_s",
    "params": "CASE WHEN json_valid(metrics) THEN json_extract(metrics, '$.params') END",
    "macs": "CASE WHEN json_valid(metrics) THEN json_extract(metrics, '$.macs') END",
    "status": "status",
}


@dataclass
class RunSource:
    """One run directory the dashboard was started with.

    Args:
        index: the run's id in URLs (its position on the command line); requests name runs
            only by this number, never by a path.
        name: the label shown (the directory's name, made unique).
        path: the run directory.
    """

    index: int
    name: str
    path: Path
    _space: Any = field(default=None, repr=False)
    _space_error: str | None = field(default=None, repr=False)
    _importance: tuple[str, float, dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def db(self) -> Path:
        return self.path / DB_NAME

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A read-only connection in autocommit mode (each statement its own snapshot, none
        held between requests), closed on exit; ``sqlite3.OperationalError`` if the file is
        gone or unreadable."""
        con = sqlite3.connect(
            f"{self.db.resolve().as_uri()}?mode=ro", uri=True, timeout=5, isolation_level=None
        )
        try:
            yield con
        finally:
            con.close()

    # -- the run's settings and space ----------------------------------------------------
    def config(self) -> dict[str, Any]:
        """The run's saved settings (``{}`` before the search saved them)."""
        with self.connect() as con:
            row = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        return json.loads(row[0]) if row else {}

    def space(self) -> Any:
        """The run's Space (to describe and draw archs), or None when it cannot be built here
        (a user-defined space whose file is gone, say); built once."""
        if self._space is None and self._space_error is None:
            from nasbeyond.config import RunConfig
            from nasbeyond.space import make_space

            saved = self.config()
            if not saved:
                return None  # settings not saved yet: try again on the next request
            try:
                c = RunConfig.from_dict(saved).replace(run_dir=str(self.path))
                self._space = make_space(c.space, c.space_args)
            except (NasbeyondError, ImportError, OSError) as e:
                self._space_error = str(e).splitlines()[0] if str(e) else type(e).__name__
        return self._space

    def describe(self, arch: dict[str, Any]) -> str:
        space = self.space()
        if space is not None:
            try:
                return str(space.describe(arch))
            except Exception:  # an arch the space no longer reads: show its JSON instead
                pass
        text = json.dumps(arch, sort_keys=True)
        return text if len(text) <= 120 else text[:117] + "..."

    # -- what pages show ------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """Counts, the best trial, the final retrain's test accuracy (None before it) and
        ``version``, a string that changes whenever a trial starts or finishes or the final
        result is written (the page polls it and refetches only on a change)."""
        with self.connect() as con:
            n, ok, failed, running, last_start, last_finish, cost = con.execute(
                "SELECT COUNT(*), COALESCE(SUM(status = 'ok'), 0), "
                "COALESCE(SUM(status = 'failed'), 0), COALESCE(SUM(status = 'running'), 0), "
                "MAX(started), MAX(finished), COALESCE(SUM(cost_s), 0) FROM trials"
            ).fetchone()
            best = con.execute(
                "SELECT id, reward FROM trials WHERE status = 'ok' AND reward IS NOT NULL "
                "ORDER BY reward DESC, id LIMIT 1"
            ).fetchone()
            meta = dict(con.execute("SELECT key, value FROM meta WHERE key IN ('config', 'final')"))
        cfg = json.loads(meta.get("config", "{}"))
        final = json.loads(meta.get("final", "null")) or {}
        return {
            "id": self.index,
            "name": self.name,
            "space": cfg.get("space"),
            "strategy": cfg.get("strategy"),
            "evaluator": cfg.get("evaluator"),
            "dataset": cfg.get("dataset"),
            "reward_name": cfg.get("reward", "accuracy"),
            "planned": cfg.get("trials"),
            "trials": n,
            "ok": ok,
            "failed": failed,
            "running": running,
            "other": n - ok - failed - running,
            "total_cost_s": cost,
            "best": {"id": best[0], "reward": best[1]} if best else None,
            "final": (
                {"id": final.get("trial_id"), "test_acc": final["test_acc"]}
                if isinstance(final, dict) and final.get("test_acc") is not None
                else None
            ),
            "version": f"{n}:{ok + failed}:{last_start}:{last_finish}:{int(bool(final))}",
        }

    def curve(self, points: int) -> dict[str, Any]:
        """Best-so-far reward of finished ok trials, in trial order.

        Returns ``trial`` (trial ids), ``wall_s`` (seconds since the first trial started),
        ``cost_s`` (cumulative charged cost: training seconds, or a benchmark's simulated
        seconds) and ``best``: one point per improvement plus the last trial, which draws the
        step curve exactly; ``reward``: every trial's reward, reduced to at most ``points`` by
        keeping the lowest and highest of each run of consecutive trials.
        """
        with self.connect() as con:
            rows = con.execute(
                "SELECT id, status, reward, cost_s, finished, started FROM trials "
                "WHERE status != 'running' ORDER BY id"
            ).fetchall()
            t0 = con.execute("SELECT MIN(started) FROM trials").fetchone()[0] or 0.0
        steps: dict[str, list[Any]] = {"trial": [], "wall_s": [], "cost_s": [], "best": []}
        best, cost = None, 0.0
        ok_rows: list[tuple[int, float]] = []
        for i, (tid, status, reward, cost_s, finished, started) in enumerate(rows):
            cost += cost_s or 0.0
            improved = status == "ok" and reward is not None and (best is None or reward > best)
            if status == "ok" and reward is not None:
                ok_rows.append((tid, reward))
            if improved:
                best = reward
            if best is not None and (improved or i == len(rows) - 1):
                steps["trial"].append(tid)
                steps["wall_s"].append(round((finished or started) - t0, 3))
                steps["cost_s"].append(round(cost, 3))
                steps["best"].append(best)
        ids, rewards = _minmax_decimate(ok_rows, points)
        return {**steps, "points": {"trial": ids, "reward": rewards}, "finished": len(rows)}

    def trials_page(
        self, offset: int, limit: int, sort: str, order: str, status: str | None
    ) -> dict[str, Any]:
        """One page of the trials table; ``sort`` in SORTS, ``order`` asc or desc, ``status``
        one of STATUSES or None for all. Trials without the sort value come last."""
        key = _SORT_SQL[sort]
        direction = "DESC" if order == "desc" else "ASC"
        where, args = ("WHERE status = ?", [status]) if status else ("", [])
        with self.connect() as con:
            total = con.execute(f"SELECT COUNT(*) FROM trials {where}", args).fetchone()[0]
            rows = con.execute(
                f"SELECT id, arch, status, reward, metrics, cost_s, error, budget, parent "
                f"FROM trials {where} ORDER BY ({key}) IS NULL, {key} {direction}, id "
                "LIMIT ? OFFSET ?",
                [*args, limit, offset],
            ).fetchall()
        return {
            "total": total,
            "offset": offset,
            "limit": limit,
            "rows": [self._row(r, full=False) for r in rows],
        }

    def trial(self, trial_id: int) -> dict[str, Any] | None:
        """Everything stored about one trial, or None if the run has no such trial."""
        if not 0 <= trial_id < 2**63:  # beyond SQLite's integers: no such trial
            return None
        with self.connect() as con:
            row = con.execute(
                "SELECT id, arch, status, reward, metrics, cost_s, error, budget, parent, "
                "started, finished FROM trials WHERE id = ?",
                (trial_id,),
            ).fetchone()
        return None if row is None else self._row(row, full=True)

    def arch_svg(self, trial_id: int) -> str | None:
        """The trial's arch drawn by ``nasbeyond.report.draw`` (None: no such trial, or a
        space that cannot be built here)."""
        from nasbeyond.report.draw import to_svg

        if not 0 <= trial_id < 2**63:
            return None
        with self.connect() as con:
            row = con.execute("SELECT arch FROM trials WHERE id = ?", (trial_id,)).fetchone()
        space = self.space()
        if row is None or space is None:
            return None
        arch = json.loads(row[0])
        if self.undrawable(arch):
            return None
        return to_svg(space.graph(arch), f"{self.name}: trial {trial_id}")

    def undrawable(self, arch: dict[str, Any]) -> str | None:
        """Why ``arch`` cannot be drawn here (one line), or None when it can."""
        space = self.space()
        if space is None:
            return f"this run's space cannot be built here ({self._space_error or 'no settings'})"
        try:
            space.validate(arch)
            space.graph(arch)
        except Exception as e:  # an arch this space does not accept: say so, draw nothing
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            return f"the run's space does not accept this arch ({first})"
        return None

    def scatter(self, x: str, points: int) -> dict[str, Any]:
        """Reward of ok trials against ``x`` (one of SCATTER_X, minimised), at most ``points``
        of them: the Pareto front (``nasbeyond.evaluate.pareto.front_summary``: reward max,
        ``x`` min; with its hypervolume in the ranges seen) always, the rest evenly spaced in
        trial order."""
        from nasbeyond.evaluate.pareto import front_summary

        # json_valid: stores written before metrics were strict JSON may hold Infinity/NaN
        col = (
            "cost_s"
            if x == "cost_s"
            else f"CASE WHEN json_valid(metrics) THEN json_extract(metrics, '$.{x}') END"
        )
        with self.connect() as con:
            rows = con.execute(
                f"SELECT id, {col}, reward FROM trials WHERE status = 'ok' "
                f"AND reward IS NOT NULL AND {col} IS NOT NULL ORDER BY id"
            ).fetchall()
        summary = front_summary(
            [(r[0], {"reward": r[2], x: r[1]}) for r in rows], ["reward:max", f"{x}:min"]
        )
        by_id = {r[0]: r for r in rows}
        front = sorted((by_id[i] for i in summary["trials"]), key=lambda r: (r[1], r[2]))
        keep = set(summary["trials"])
        room = max(points - len(keep), 0)
        rest = [r for r in rows if r[0] not in keep]
        if len(rest) > room:
            step = len(rest) / room if room else float("inf")
            rest = [rest[int(i * step)] for i in range(room)]
        shown = sorted([*front, *rest])
        return {
            "x": x,
            "total": len(rows),
            "hypervolume": summary["hypervolume"],
            "trial": [r[0] for r in shown],
            "xs": [r[1] for r in shown],
            "reward": [r[2] for r in shown],
            "front": {"trial": [r[0] for r in front], "xs": [r[1] for r in front],
                      "reward": [r[2] for r in front]},
        }  # fmt: skip

    def importance(self, max_trials: int = 500, every_s: float = 30.0) -> dict[str, Any]:
        """Per-decision importance for the reward (``nasbeyond.report.runinfo``'s random
        forest, 50 trees) on at most ``max_trials`` ok trials (evenly spaced in id order when
        there are more). Recomputed when trials were added, but at most once every ``every_s``
        seconds while a search runs (``stale`` then says the figures lag the table)."""
        from nasbeyond.report.runinfo import decision_importance
        from nasbeyond.trial import Trial

        version = self.summary()["version"]
        cached = self._importance
        now = time.monotonic()
        if cached and (cached[0] == version or now - cached[1] < every_s):
            return {**cached[2], "stale": cached[0] != version}
        with self.connect() as con:
            rows = con.execute(
                "SELECT id, arch, reward FROM trials WHERE status = 'ok' AND reward IS NOT NULL "
                "ORDER BY id"
            ).fetchall()
        if len(rows) > max_trials:
            step = len(rows) / max_trials
            rows = [rows[int(i * step)] for i in range(max_trials)]
        trials = [Trial(r[0], json.loads(r[1]), "ok", r[2]) for r in rows]
        imp = decision_importance(trials, seed=0, n_estimators=50)
        out: dict[str, Any] = (
            {"names": [], "values": [], "trials": len(trials), "method": None}
            if imp is None
            else {"names": imp.names, "values": imp.values, "trials": imp.trials,
                  "method": imp.method}
        )  # fmt: skip
        self._importance = (version, now, out)
        return {**out, "stale": False}

    def parallel(self, lines: int = PARALLEL_LINES) -> dict[str, Any]:
        """The run's decisions against reward, for a parallel-coordinates chart (as
        optuna-dashboard and NNI draw hyperparameters).

        The ``lines`` ok trials of highest reward (cut in SQL: a 10,000-trial run sends at most
        ``lines`` rows), in ascending reward order so the best are drawn last, on top. Archs
        are flattened as the report does (``nasbeyond.report.runinfo.decision_table``:
        ``"edges.0"``, ``"layers.2.kernel"``, ``"(absent)"`` where an arch lacks a decision);
        one axis per decision whose value varies among those trials, in the arch's order, or
        the ``PARALLEL_AXES`` most important (``importance``) when more vary; then one axis per
        ``--objectives`` metric other than reward that every shown trial reports; reward last.

        Returns:
            ``dimensions``: list of {``label``, ``kind`` (decision, objective or reward),
            ``values`` (floats, one per trial), ``labels``}; a decision with a non-numeric
            value has ``values`` as codes 0..k-1 into ``labels``, its k distinct values as
            text sorted (``runinfo.encode_column``); ``labels`` is None for numbers.
            ``trial``: the trials' ids, in line order. ``total``: ok trials in the run;
            ``shown``: trials drawn; ``lines``: the cap; ``varying``: decisions that vary;
            ``notes``: sentences on what was left out.
        """
        from nasbeyond.report.runinfo import decision_table, encode_column, trial_metrics
        from nasbeyond.trial import Trial

        with self.connect() as con:
            total = con.execute(
                "SELECT COUNT(*) FROM trials WHERE status = 'ok' AND reward IS NOT NULL"
            ).fetchone()[0]
            rows = con.execute(
                "SELECT id, arch, reward, metrics, cost_s FROM trials "
                "WHERE status = 'ok' AND reward IS NOT NULL ORDER BY reward DESC, id LIMIT ?",
                (lines,),
            ).fetchall()
            saved = con.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        rows.reverse()
        trials = [
            Trial(r[0], json.loads(r[1]), "ok", r[2], json.loads(r[3] or "{}"), r[4] or 0.0)
            for r in rows
        ]
        names, table = decision_table(trials)
        encoded = [encode_column([row[j] for row in table]) for j in range(len(names))]
        varying = [j for j, (vals, _) in enumerate(encoded) if len(set(vals)) > 1]
        notes: list[str] = []
        shown = varying
        if len(varying) > PARALLEL_AXES:
            rank = {n: i for i, n in enumerate(self.importance()["names"])}
            shown = sorted(varying, key=lambda j: (rank.get(names[j], len(rank)), j))
            shown = shown[:PARALLEL_AXES]
            notes.append(
                f"{PARALLEL_AXES} of the {len(varying)} decisions that vary are drawn: the most "
                "important for the reward (random forest)"
            )
        dims: list[dict[str, Any]] = [
            {"label": names[j], "kind": "decision", "values": encoded[j][0],
             "labels": encoded[j][1]}
            for j in shown
        ]  # fmt: skip
        cfg = json.loads(saved[0]) if saved else {}
        for metric, direction in _objectives(cfg.get("objectives")):
            values = [trial_metrics(t).get(metric) for t in trials]
            if all(_finite(v) for v in values):
                floats = [float(v) for v in values if v is not None]
                dims.append(
                    {"label": f"{metric} ({direction})", "kind": "objective", "values": floats,
                     "labels": None}
                )  # fmt: skip
            else:
                notes.append(f"objective {metric}: not reported by every trial drawn, no axis")
        if dims:  # nothing to draw against the reward when no decision varies
            rewards = [float(t.reward or 0.0) for t in trials]
            dims.append({"label": "reward", "kind": "reward", "values": rewards, "labels": None})
        return {
            "dimensions": dims,
            "trial": [t.id for t in trials],
            "total": total,
            "shown": len(trials),
            "lines": lines,
            "varying": len(varying),
            "notes": notes,
        }

    def _row(self, r: Sequence[Any], full: bool) -> dict[str, Any]:
        arch, metrics = json.loads(r[1]), json.loads(r[4])
        out = {
            "id": r[0],
            "status": r[2],
            "reward": r[3],
            "cost_s": r[5],
            "params": metrics.get("params"),
            "macs": metrics.get("macs"),
            "summary": self.describe(arch),
            "error": (r[6] or "").strip().splitlines()[-1] if r[6] else None,
        }
        if full:
            logs = metrics.get("log")  # a trial's log lines, if its evaluator stored any
            out.update(
                arch=arch,
                metrics={k: v for k, v in metrics.items() if k != "log"},
                error=r[6],
                budget=r[7],
                parent=r[8],
                started=r[9],
                finished=r[10],
                log=[str(line) for line in logs] if isinstance(logs, list) else [],
                undrawable=self.undrawable(arch),
            )
        return out


def _minmax_decimate(rows: list[tuple[int, float]], points: int) -> tuple[list[int], list[float]]:
    """At most ``points`` of ``rows`` (id, value) in id order: all of them if they fit, else
    the lowest and highest value of each of ``points // 2`` runs of consecutive rows, so peaks
    and dips stay visible."""
    if len(rows) <= points:
        return [r[0] for r in rows], [r[1] for r in rows]
    buckets = max(points // 2, 1)
    size = len(rows) / buckets
    kept: list[tuple[int, float]] = []
    for b in range(buckets):
        chunk = rows[int(b * size) : int((b + 1) * size)]
        if not chunk:
            continue
        lo, hi = min(chunk, key=lambda r: r[1]), max(chunk, key=lambda r: r[1])
        kept.extend(sorted({lo, hi}))
    return [r[0] for r in kept], [r[1] for r in kept]


def _objectives(spec: Any) -> list[tuple[str, str]]:
    """(metric, "max" or "min") of a saved ``--objectives`` other than the reward itself;
    [] when unset or unreadable (the run was validated when saved)."""
    from nasbeyond.evaluate.pareto import parse_objectives

    if not spec:
        return []
    try:
        objs = parse_objectives(spec)
    except (ConfigError, TypeError, AttributeError):
        return []
    return [(o.metric, "max" if o.maximize else "min") for o in objs if o.metric != "reward"]


def _finite(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def open_runs(paths: Sequence[str | Path]) -> list[RunSource]:
    """The runs to serve, numbered in the order given.

    Raises:
        ConfigError: no path, a path that is not a run directory (no nasbeyond.db), a
            database SQLite cannot read, or one directory given twice.
    """
    if not paths:
        raise ConfigError("run_dir: give at least one run directory")
    runs: list[RunSource] = []
    seen: dict[Path, str] = {}
    names: set[str] = set()
    for i, p in enumerate(paths):
        path = Path(p)
        if not path.exists():
            raise ConfigError(f"run_dir: {p} does not exist")
        if not (path / DB_NAME).is_file():
            raise ConfigError(f"run_dir: {p} has no {DB_NAME}; is it a run directory?")
        real = path.resolve()
        if real in seen:
            raise ConfigError(f"run_dir: {p} is given twice (as {seen[real]})")
        seen[real] = str(p)
        name, k = real.name or str(real), 2
        while name in names:
            name, k = f"{real.name}-{k}", k + 1
        names.add(name)
        run = RunSource(i, name, path)
        try:
            run.summary()
        except sqlite3.DatabaseError as e:
            raise ConfigError(f"run_dir: {p}: not a readable nasbeyond database ({e})") from None
        runs.append(run)
    return runs
