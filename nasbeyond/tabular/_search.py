"""The pieces that put a tabular search on the one loop: the k-fold evaluator, a strategy
wrapper that tries the models' defaults first and stops proposing at the deadline, and an
executor that cuts trials still running at the deadline (their workers are killed)."""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import time
import warnings
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from nasbeyond.arch import Arch
from nasbeyond.run import LocalExecutor
from nasbeyond.run.executor import _exit_with_parent, _sigint_ignored, _Worker, serve_jobs
from nasbeyond.strategy import Strategy
from nasbeyond.tabular.metrics import Metric, align_proba
from nasbeyond.tabular.space import TabularPipelineSpace
from nasbeyond.trial import Budget, Context, Proposal, Result, Trial

MAX_BUDGET = 9.0  # successive halving's rungs: 1, 3, 9 (fidelity 1/9, 1/3, 1)


def predict_pipeline(pipe: Any, frame: Any, n_classes: int) -> np.ndarray:
    """Probabilities (n_rows, n_classes) or values (n_rows,) of one fitted pipeline."""
    if n_classes:
        return align_proba(pipe.predict_proba(frame), pipe.classes_, n_classes)
    return np.asarray(pipe.predict(frame), dtype=float)


def trial_file(workdir: str | Path, trial_id: int) -> Path:
    """Where a finished trial leaves its fitted fold pipelines (a pickle list)."""
    return Path(workdir) / "tabular" / f"trial_{trial_id}.pkl"


def oof_file(workdir: str | Path, trial_id: int) -> Path:
    """Where a finished trial leaves its out-of-fold predictions (``.npy``)."""
    return Path(workdir) / "tabular" / f"trial_{trial_id}.oof.npy"


def _atomic_write(path: Path, write: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        write(fh)
    os.replace(tmp, path)  # a file is whole or absent


class CrossValidate:
    """Evaluator: k-fold cross-validation of one pipeline arch.

    Returns the metric (as a reward, losses negated) of the out-of-fold predictions and writes
    the fitted fold pipelines to ``trial_file(workdir, trial id)`` and the out-of-fold
    predictions to ``oof_file(workdir, trial id)``.
    ``budget.epochs`` out of ``MAX_BUDGET`` is the fidelity (see ``TabularPipelineSpace``).
    """

    def __init__(
        self,
        space: TabularPipelineSpace,
        frame: Any,
        y: np.ndarray,
        folds: list[tuple[np.ndarray, np.ndarray]],
        metric: Metric,
        n_classes: int,
        workdir: str,
    ) -> None:
        self.space, self.frame, self.y, self.folds = space, frame, y, folds
        self.metric, self.n_classes, self.workdir = metric, n_classes, workdir

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        start = time.perf_counter()
        fidelity = min(1.0, (budget.epochs or MAX_BUDGET) / MAX_BUDGET)
        shape = (len(self.y), self.n_classes) if self.n_classes else (len(self.y),)
        oof = np.zeros(shape)
        fitted = []
        from threadpoolctl import threadpool_limits

        # BLAS / OpenMP get the worker's threads too (spinning extra threads cost much CPU).
        with warnings.catch_warnings(), threadpool_limits(limits=ctx.threads):
            warnings.simplefilter("ignore")
            for train, val in self.folds:
                pipe = self.space.pipeline(
                    arch,
                    fidelity=fidelity,
                    n_rows=len(train),
                    seed=ctx.seed % (2**31 - 1),
                    threads=ctx.threads,
                )
                pipe.fit(self.frame.iloc[train], self.y[train])
                oof[val] = predict_pipeline(pipe, self.frame.iloc[val], self.n_classes)
                fitted.append(pipe)
        value = self.metric(self.y, oof)
        if not np.isfinite(value):
            return Result.failed(f"{self.metric.name} is {value}", time.perf_counter() - start)
        # Pipelines first: a trial whose predictions exist has its pipelines too.
        _atomic_write(
            trial_file(self.workdir, ctx.trial_id),
            lambda fh: pickle.dump(fitted, fh, protocol=pickle.HIGHEST_PROTOCOL),
        )
        _atomic_write(oof_file(self.workdir, ctx.trial_id), lambda fh: np.save(fh, oof))
        metrics = {"score": value, "metric": self.metric.name, "fidelity": fidelity}
        return Result("ok", self.metric.reward(value), metrics, time.perf_counter() - start)


class Portfolio(Strategy):
    """Proposes ``first`` (the models' defaults, at full fidelity) and then what ``base``
    proposes, until ``deadline`` (``time.monotonic()`` seconds; None: no deadline)."""

    def __init__(
        self,
        space: TabularPipelineSpace,
        base: Strategy,
        first: list[Arch],
        deadline: float | None = None,
        seed: int | None = None,
    ) -> None:
        super().__init__(space, seed)
        self.base, self.first, self.deadline = base, first, deadline
        self._next = 0

    def propose(self) -> Proposal | None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return None
        if self._next < len(self.first):
            self._next += 1
            return Proposal(self.first[self._next - 1], MAX_BUDGET)
        return self.base.propose()

    def ask(self) -> Arch | None:
        p = self.propose()
        return None if p is None else p.arch

    def tell(self, trial: Trial) -> None:
        self.base.tell(trial)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "base": self.base.state_dict(), "next": self._next}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.base.load_state_dict(state["base"])
        self._next = int(state["next"])


def _worker_main(conn: Connection, payload_file: str, threads: int, parent: int) -> None:
    """``run.executor``'s worker, reading the evaluator (which holds the data) from a file: a
    spawned process's arguments go through a pipe the parent blocks on until the child has
    imported everything, which under load serialises worker start-up."""
    _exit_with_parent(parent)  # a killed driver's workers do not run on
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C
    with open(payload_file, "rb") as fh:
        serve_jobs(conn, pickle.load(fh))  # our own bytes, written by the driver


class DeadlineExecutor(LocalExecutor):
    """``LocalExecutor`` whose trials still running at ``deadline`` (``time.monotonic()``
    seconds) are cut: their workers are killed and the trials fail with ``Timeout``."""

    def __init__(
        self, deadline: float, workdir: str, workers: int = 1, threads: int | None = None
    ) -> None:
        super().__init__(workers=workers, threads=threads)
        self.deadline = deadline
        self.payload_file = str(Path(workdir) / "tabular" / "evaluator.pkl")

    def start(self, evaluator: Any) -> None:
        Path(self.payload_file).parent.mkdir(parents=True, exist_ok=True)
        with open(self.payload_file, "wb") as fh:
            pickle.dump(evaluator, fh, protocol=pickle.HIGHEST_PROTOCOL)
        self._pool = [self._spawn() for _ in range(self.workers)]

    def _spawn(self) -> _Worker:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker_main,
            args=(child, self.payload_file, self.threads, os.getpid()),
            daemon=True,
        )
        with _sigint_ignored():
            proc.start()
        child.close()
        return _Worker(proc, parent)

    def wait(self, timeout: float | None = None) -> list[tuple[int, Result]]:
        left = self.deadline - time.monotonic()
        if left > 0:
            return super().wait(left if timeout is None else min(timeout, left))
        done: list[tuple[int, Result]] = []
        now = time.monotonic()
        for w in self._pool:
            if w.job is not None:
                msg = "Timeout: still running at the time limit; cut"
                done.append((w.job[0], Result.failed(msg, now - w.started)))
                w.proc.kill()
                w.proc.join(timeout=5)
                w.job = None
        return done
