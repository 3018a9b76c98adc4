"""Executors run evaluations. ``LocalExecutor`` keeps N spawned worker processes busy and turns
every way a trial can go wrong (an exception, a timeout, a dead worker) into a failed Result;
``InlineExecutor`` runs in the driver, for tests and overhead measurements."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
import traceback
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.trial import Budget, Context, Evaluator, Result

Job = tuple[int, Arch, Budget, Context]


def evaluate_safely(evaluator: Evaluator, job: Job) -> Result:
    """Run one evaluation; any exception becomes a failed Result carrying its text."""
    trial_id, arch, budget, ctx = job
    start = time.perf_counter()
    try:
        result = evaluator(arch, budget, ctx)
        if not isinstance(result, Result):
            return Result.failed(
                f"evaluator returned {type(result).__name__}, not a Result",
                time.perf_counter() - start,
            )
        return result.checked()
    except Exception as e:  # the loop must survive any evaluator error
        tb = traceback.format_exc(limit=-3)
        return Result.failed(f"{type(e).__name__}: {e}\n{tb}", time.perf_counter() - start)


class Executor(ABC):
    """Runs jobs somewhere; ``wait`` hands back finished ones as (trial_id, Result)."""

    workers: int = 1

    @abstractmethod
    def start(self, evaluator: Evaluator) -> None: ...

    @abstractmethod
    def submit(self, job: Job) -> None: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[tuple[int, Result]]: ...

    @abstractmethod
    def in_flight(self) -> int: ...

    def shutdown(self) -> None:  # noqa: B027 - optional hook, nothing to stop by default
        """Stop workers; jobs still running are abandoned (they stay 'running' in the store)."""

    def free(self) -> int:
        return self.workers - self.in_flight()


class InlineExecutor(Executor):
    """Evaluates in the calling process, one job at a time. No timeouts, no isolation."""

    def __init__(self) -> None:
        self.workers = 1
        self._evaluator: Evaluator | None = None
        self._done: list[tuple[int, Result]] = []

    def start(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator

    def submit(self, job: Job) -> None:
        assert self._evaluator is not None, "start() first"
        self._done.append((job[0], evaluate_safely(self._evaluator, job)))

    def wait(self, timeout: float | None = None) -> list[tuple[int, Result]]:
        done, self._done = self._done, []
        return done

    def in_flight(self) -> int:
        return len(self._done)


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored while a worker starts, so the worker is born ignoring it (an ignored
    signal stays ignored across exec and Python then installs no KeyboardInterrupt handler):
    Ctrl-C, sent to the whole process group by the terminal, reaches only the driver, which
    stops the workers itself. Signal handlers can change only in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _exit_with_parent(parent: int, poll_s: float = 1.0) -> None:
    """Start a daemon thread that ends this process within ``poll_s`` seconds of the death of
    ``parent`` (the driver's pid, passed in: a driver killed while this worker was still
    starting would otherwise already be gone when the worker first asks). A driver killed
    outright (SIGKILL, the OOM killer) cannot stop its workers; without this a worker would
    finish its trial first (minutes) and only then notice the closed pipe. Re-parenting is how
    a process sees its parent die on Linux and macOS alike."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(1)  # nothing to save: the trial stays 'running' and reruns on resume

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_main(conn: Connection, payload: bytes, threads: int, parent: int) -> None:
    _exit_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the driver handles Ctrl-C (see above)
    import torch

    torch.set_num_threads(threads)
    serve_jobs(conn, pickle.loads(payload))  # our own bytes, sent by the driver


def serve_jobs(conn: Connection, evaluator: Evaluator) -> None:
    """A worker's loop: evaluate each job received on ``conn`` and send back ``(id, result)``,
    until ``None`` or a closed pipe."""
    while True:
        try:
            job = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if job is None:
            return
        conn.send((job[0], evaluate_safely(evaluator, job)))


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    job: Job | None = None
    started: float = field(default=0.0)


class LocalExecutor(Executor):
    """``workers`` spawned processes on this machine, torch threads split between them.

    Args:
        workers: processes kept busy at once.
        trial_timeout: seconds after which a trial's worker is killed and the trial failed
            (counted from submission, so a fresh worker's start-up is included).
        threads: torch threads per worker (default: CPU count // workers, at least 1).
        max_retries: times a trial whose worker process died is run again on a new worker.
    """

    def __init__(
        self,
        workers: int = 1,
        trial_timeout: float | None = None,
        threads: int | None = None,
        max_retries: int = 0,
    ) -> None:
        if workers < 1:
            raise ConfigError(f"workers is {workers}; allowed: >= 1")
        if trial_timeout is not None and trial_timeout <= 0:
            raise ConfigError(f"trial_timeout is {trial_timeout}; allowed: a positive number")
        self.workers = workers
        self.trial_timeout = trial_timeout
        self.threads = threads or max(1, (os.cpu_count() or 1) // workers)
        self.max_retries = max_retries
        self._retries: dict[int, int] = {}
        self._pool: list[_Worker] = []
        self._payload = b""

    def start(self, evaluator: Evaluator) -> None:
        try:
            self._payload = pickle.dumps(evaluator)
        except Exception as e:
            raise ConfigError(
                f"evaluator: cannot be sent to worker processes ({e}); "
                "define it at module level so it pickles"
            ) from None
        self._pool = [self._spawn() for _ in range(self.workers)]

    def _spawn(self) -> _Worker:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(
            target=_worker_main,
            args=(child, self._payload, self.threads, os.getpid()),
            daemon=True,
        )
        with _sigint_ignored():  # inherited through exec: Ctrl-C is the driver's alone
            proc.start()
        child.close()
        return _Worker(proc, parent)

    def _replace(self, w: _Worker) -> _Worker:
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(timeout=5)
        w.conn.close()
        new = self._spawn()
        self._pool[self._pool.index(w)] = new
        return new

    def submit(self, job: Job) -> None:
        self._send(next(w for w in self._pool if w.job is None), job)

    def _send(self, w: _Worker, job: Job) -> None:
        w.job, w.started = job, time.monotonic()
        # If the worker is dead, wait() sees its sentinel and fails the trial.
        with contextlib.suppress(BrokenPipeError, OSError):
            w.conn.send(job)

    def in_flight(self) -> int:
        return sum(w.job is not None for w in self._pool)

    def wait(self, timeout: float | None = None) -> list[tuple[int, Result]]:
        busy = [w for w in self._pool if w.job is not None]
        if not busy:
            return []
        limit = timeout
        if self.trial_timeout is not None:
            until = min(w.started + self.trial_timeout for w in busy) - time.monotonic()
            limit = max(0.0, until) if limit is None else max(0.0, min(limit, until))
        ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], limit))
        done: list[tuple[int, Result]] = []
        now = time.monotonic()
        for w in busy:
            assert w.job is not None
            tid, elapsed = w.job[0], now - w.started
            if w.conn in ready:
                try:
                    rid, result = w.conn.recv()
                    w.job = None
                    done.append((rid, result))
                    continue
                except (EOFError, OSError):
                    pass
            if w.conn in ready or w.proc.sentinel in ready:
                w.proc.join(timeout=5)
                code = w.proc.exitcode
                tries = self._retries.get(tid, 0)
                job = w.job
                assert job is not None
                new = self._replace(w)
                if tries < self.max_retries:
                    self._retries[tid] = tries + 1
                    self._send(new, job)
                    continue
                done.append(
                    (
                        tid,
                        Result.failed(
                            f"WorkerDied: worker process died (exit code {code}; ran "
                            f"{tries + 1} times)",
                            elapsed,
                        ),
                    )
                )
            elif self.trial_timeout is not None and elapsed >= self.trial_timeout:
                done.append(
                    (
                        tid,
                        Result.failed(
                            f"Timeout: trial ran past trial_timeout={self.trial_timeout:g}s",
                            elapsed,
                        ),
                    )
                )
                self._replace(w)
        return done

    def shutdown(self) -> None:
        for w in self._pool:
            if w.job is None:
                with contextlib.suppress(BrokenPipeError, OSError):
                    w.conn.send(None)
        for w in self._pool:
            w.proc.join(timeout=0.5 if w.job is None else 0)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(timeout=5)
            w.conn.close()
        self._pool = []
