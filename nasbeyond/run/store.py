"""Where the loop keeps trials, the run's settings and the strategy's checkpoint.

``Store`` is the interface ``run`` writes through. ``SQLiteStore`` is a run directory's file
(RUN_DIR/nasbeyond.db): only the driver process writes; WAL keeps readers (``nasbeyond show``)
unblocked; every state change is one transaction (a trial's start row together with the
strategy state after the ask that produced it, a trial's end row together with the state after
the tell), so a run killed at any instant resumes from a consistent pair. ``MemoryStore`` keeps
the same records in memory and no checkpoint: benchmark mode (hundreds of searches over a lookup
table) is ``run`` with a MemoryStore.
"""

from __future__ import annotations

import json
import sqlite3
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nasbeyond.arch import Arch, arch_key, canonical_json
from nasbeyond.exceptions import StoreError
from nasbeyond.trial import Result, Trial, finite_json

DB_NAME = "nasbeyond.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    id INTEGER PRIMARY KEY,
    arch_key TEXT NOT NULL,
    arch TEXT NOT NULL,
    status TEXT NOT NULL,
    reward REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    cost_s REAL NOT NULL DEFAULT 0,
    error TEXT,
    budget REAL,
    parent INTEGER,
    started REAL NOT NULL,
    finished REAL
);
CREATE INDEX IF NOT EXISTS trials_status ON trials(status);
"""


StateFn = Callable[[], dict[str, Any]]  # the strategy's state_dict, called only if it is kept


class Store(ABC):
    """Trials and run metadata. ``run_dir`` is None for a store without a directory."""

    run_dir: Path | None = None

    @abstractmethod
    def get(self, key: str, default: Any = None) -> Any:
        """A JSON-able metadata value (``config``, ``strategy_state``, ``final``, ...)."""

    @abstractmethod
    def put(self, key: str, value: Any) -> None:
        """Set a JSON-able metadata value."""

    @abstractmethod
    def start_trial(
        self,
        arch: Arch,
        budget: float | None,
        strategy_state: StateFn,
        trial_id: int | None = None,
        parent: int | None = None,
    ) -> int:
        """Record a trial as running (a new row, ids 1, 2, ..., or a restart of ``trial_id``)
        together with the strategy's state. Returns the trial id."""

    @abstractmethod
    def finish_trial(self, trial_id: int, result: Result, strategy_state: StateFn) -> Trial:
        """Record a trial's result together with the strategy's state after telling it.
        Metrics are kept as strict JSON: a NaN or infinite value in them comes back as None
        (``nasbeyond.trial.finite_json``)."""

    @abstractmethod
    def trial(self, trial_id: int) -> Trial:
        """One trial; StoreError if there is none with that id."""

    @abstractmethod
    def trials(self, status: str | None = None) -> list[Trial]:
        """Every trial (or those with ``status``) in id order."""

    def count_finished(self) -> int:
        return sum(t.status != "running" for t in self.trials())

    def total_cost(self) -> float:
        return float(sum(t.cost_s for t in self.trials() if t.status != "running"))

    def best(self, k: int = 1) -> list[Trial]:
        """The ``k`` ok trials of highest reward; equal rewards in id order."""
        ok = self.trials("ok")
        return sorted(ok, key=lambda t: (-(t.reward or 0.0), t.id))[:k]

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Release the store's resources."""


class MemoryStore(Store):
    """A store in memory: no directory, no checkpoint (``strategy_state`` is never called), so
    benchmark-mode searches pay nothing for persistence."""

    def __init__(self) -> None:
        self._meta: dict[str, Any] = {}
        self._trials: dict[int, Trial] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    def put(self, key: str, value: Any) -> None:
        self._meta[key] = value

    def start_trial(
        self,
        arch: Arch,
        budget: float | None,
        strategy_state: StateFn,
        trial_id: int | None = None,
        parent: int | None = None,
    ) -> int:
        if trial_id is None:
            trial_id = len(self._trials) + 1
            self._trials[trial_id] = Trial(trial_id, arch, "running", budget=budget, parent=parent)
        return trial_id

    def finish_trial(self, trial_id: int, result: Result, strategy_state: StateFn) -> Trial:
        t = self.trial(trial_id)
        done = Trial(
            t.id,
            t.arch,
            result.status,
            result.reward,
            finite_json(result.metrics),  # as SQLiteStore reads them back
            result.cost_s,
            result.error,
            t.budget,
            t.parent,
        )
        self._trials[trial_id] = done
        return done

    def trial(self, trial_id: int) -> Trial:
        try:
            return self._trials[trial_id]
        except KeyError:
            raise StoreError(f"trial: no trial {trial_id} in this store") from None

    def trials(self, status: str | None = None) -> list[Trial]:
        return [t for t in self._trials.values() if status is None or t.status == status]


class SQLiteStore(Store):
    """Trials and run metadata in one SQLite file.

    Args:
        path: the run directory, or the database file itself.
        create: make the directory and database if they do not exist.
    """

    def __init__(self, path: str | Path, create: bool = True) -> None:
        p = Path(path)
        self.path = p if p.suffix == ".db" else p / DB_NAME
        self.run_dir = self.path.parent
        if not self.path.exists() and not create:
            raise StoreError(
                f"run_dir: {self.path.parent} does not exist"
                if not self.path.parent.exists()
                else f"run_dir: {self.path.parent} has no {DB_NAME}; is it a run directory?"
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"run_dir: {self.path} is not a nasbeyond database ({e})") from None

    def close(self) -> None:
        self._db.close()

    # -- metadata --------------------------------------------------------------------------
    def get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def put(self, key: str, value: Any) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    # -- trials ----------------------------------------------------------------------------
    def start_trial(
        self,
        arch: Arch,
        budget: float | None,
        strategy_state: StateFn,
        trial_id: int | None = None,
        parent: int | None = None,
    ) -> int:
        with self._tx():
            if trial_id is None:
                cur = self._db.execute(
                    "INSERT INTO trials (arch_key, arch, status, budget, parent, started) "
                    "VALUES (?, ?, 'running', ?, ?, ?)",
                    (arch_key(arch), canonical_json(arch), budget, parent, time.time()),
                )
                trial_id = int(cur.lastrowid or 0)
            else:
                self._db.execute(
                    "UPDATE trials SET started = ? WHERE id = ?", (time.time(), trial_id)
                )
            self._put_state(strategy_state())
        return trial_id

    def finish_trial(self, trial_id: int, result: Result, strategy_state: StateFn) -> Trial:
        with self._tx():
            self._db.execute(
                "UPDATE trials SET status = ?, reward = ?, metrics = ?, cost_s = ?, error = ?, "
                "finished = ? WHERE id = ?",
                (
                    result.status,
                    result.reward,
                    json.dumps(finite_json(result.metrics), allow_nan=False),
                    result.cost_s,
                    result.error,
                    time.time(),
                    trial_id,
                ),
            )
            self._put_state(strategy_state())
        return self.trial(trial_id)

    def _put_state(self, state: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO meta VALUES ('strategy_state', ?)", (json.dumps(state),)
        )

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    @staticmethod
    def _row(row: tuple[Any, ...]) -> Trial:
        return Trial(
            id=row[0],
            arch=json.loads(row[1]),
            status=row[2],
            reward=row[3],
            metrics=json.loads(row[4]),
            cost_s=row[5],
            error=row[6],
            budget=row[7],
            parent=row[8],
        )

    _COLS = "id, arch, status, reward, metrics, cost_s, error, budget, parent"

    def trial(self, trial_id: int) -> Trial:
        row = self._db.execute(
            f"SELECT {self._COLS} FROM trials WHERE id = ?", (trial_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"trial: no trial {trial_id} in {self.path}")
        return self._row(row)

    def trials(self, status: str | None = None) -> list[Trial]:
        q = f"SELECT {self._COLS} FROM trials"
        rows = (
            self._db.execute(q + " WHERE status = ? ORDER BY id", (status,))
            if status
            else self._db.execute(q + " ORDER BY id")
        )
        return [self._row(r) for r in rows]

    def count_finished(self) -> int:  # in SQL: show reads runs of thousands of trials
        return int(
            self._db.execute("SELECT COUNT(*) FROM trials WHERE status != 'running'").fetchone()[0]
        )

    def total_cost(self) -> float:
        return float(
            self._db.execute(
                "SELECT COALESCE(SUM(cost_s), 0) FROM trials WHERE status != 'running'"
            ).fetchone()[0]
        )

    def best(self, k: int = 1) -> list[Trial]:
        rows = self._db.execute(
            f"SELECT {self._COLS} FROM trials WHERE status = 'ok' ORDER BY reward DESC, id LIMIT ?",
            (k,),
        )
        return [self._row(r) for r in rows]


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
