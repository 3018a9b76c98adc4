"""Run trials as Ray tasks, on this machine or on a cluster (``pip install nasbeyond[ray]``).

Each trial is one task with ``cpus_per_trial`` / ``gpus_per_trial`` reserved; the evaluator is
put in Ray's object store once. A task whose worker dies is retried by Ray up to ``max_retries``
times, then recorded as failed; a trial past ``trial_timeout`` is cancelled (its worker killed)
and recorded as failed. Only the driver writes the store, so a restarted driver resumes as with
the local executor.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require
from nasbeyond.run.executor import Executor, Job, evaluate_safely
from nasbeyond.trial import Evaluator, Result


def _require_ray() -> Any:
    return require("ray", "ray", "executor", "'ray'")


def _warm_up() -> int:
    import torch  # the first import in a fresh worker takes seconds; not a trial's time

    return torch.get_num_threads()


def _run_job(evaluator: Evaluator, job: Job, threads: int) -> Result:
    import torch

    torch.set_num_threads(threads)
    return evaluate_safely(evaluator, job)


class RayExecutor(Executor):
    """Trials as Ray tasks.

    Args:
        address: ``None`` starts a private local Ray instance; ``"auto"`` or ``"HOST:PORT"``
            joins a running cluster.
        workers: trials in flight at once.
        cpus_per_trial, gpus_per_trial: resources each trial reserves.
        max_retries: times Ray reruns a trial whose worker process died.
        trial_timeout: seconds before a trial is cancelled and failed.
        num_cpus: CPUs of the private local instance (default: this machine's).
        temp_dir: Ray's session files for a private instance (default: Ray's own).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int = 1,
        cpus_per_trial: float = 1,
        gpus_per_trial: float = 0,
        max_retries: int = 1,
        trial_timeout: float | None = None,
        num_cpus: int | None = None,
        temp_dir: str | None = None,
    ) -> None:
        if workers < 1 or cpus_per_trial <= 0 or gpus_per_trial < 0 or max_retries < 0:
            raise ConfigError(
                "workers >= 1, cpus_per_trial > 0, gpus_per_trial >= 0 and "
                "max_retries >= 0 are required"
            )
        self.address, self.workers = address, workers
        self.cpus_per_trial, self.gpus_per_trial = cpus_per_trial, gpus_per_trial
        self.max_retries, self.trial_timeout = max_retries, trial_timeout
        self.num_cpus, self.temp_dir = num_cpus, temp_dir
        self.threads = max(1, int(cpus_per_trial))
        self._refs: dict[Any, tuple[int, float]] = {}  # ref -> (trial id, start)
        self._started_ray = False

    def start(self, evaluator: Evaluator) -> None:
        ray = _require_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "configure_logging": False,
            }
            if self.address is None:
                kwargs["num_cpus"] = self.num_cpus or os.cpu_count()
                if self.temp_dir:
                    Path(self.temp_dir).mkdir(parents=True, exist_ok=True)
                    kwargs["_temp_dir"] = str(Path(self.temp_dir).resolve())
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as e:
                raise ConfigError(
                    f"address: cannot reach a Ray cluster at {self.address!r} "
                    f"({str(e).splitlines()[0]})"
                ) from None
            self._started_ray = True
        self._task = ray.remote(_run_job).options(
            num_cpus=self.cpus_per_trial,
            num_gpus=self.gpus_per_trial,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        self._evaluator = ray.put(evaluator)
        warm = ray.remote(_warm_up).options(
            num_cpus=self.cpus_per_trial, num_gpus=self.gpus_per_trial
        )
        ray.get([warm.remote() for _ in range(self.workers)])

    def submit(self, job: Job) -> None:
        ref = self._task.remote(self._evaluator, job, self.threads)
        self._refs[ref] = (job[0], time.monotonic())

    def in_flight(self) -> int:
        return len(self._refs)

    def wait(self, timeout: float | None = None) -> list[tuple[int, Result]]:
        ray = _require_ray()
        if not self._refs:
            return []
        limit = timeout
        if self.trial_timeout is not None:
            first = min(start for _, start in self._refs.values())
            until = max(0.0, first + self.trial_timeout - time.monotonic())
            limit = until if limit is None else min(limit, until)
        ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=limit)
        done: list[tuple[int, Result]] = []
        now = time.monotonic()
        for ref in ready:
            tid, start = self._refs.pop(ref)
            try:
                done.append((tid, ray.get(ref)))
            except ray.exceptions.WorkerCrashedError:
                done.append(
                    (
                        tid,
                        Result.failed(
                            f"WorkerDied: worker process died (retried {self.max_retries} times)",
                            now - start,
                        ),
                    )
                )
            except ray.exceptions.RayError as e:
                done.append(
                    (tid, Result.failed(f"RayError: {str(e).splitlines()[0]}", now - start))
                )
        if self.trial_timeout is not None:
            for ref, (tid, start) in list(self._refs.items()):
                if now - start >= self.trial_timeout:
                    ray.cancel(ref, force=True)
                    del self._refs[ref]
                    done.append(
                        (
                            tid,
                            Result.failed(
                                f"Timeout: trial ran past trial_timeout={self.trial_timeout:g}s",
                                now - start,
                            ),
                        )
                    )
        return done

    def shutdown(self) -> None:
        ray = _require_ray()
        for ref in list(self._refs):
            ray.cancel(ref, force=True)
        self._refs = {}
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
            self._started_ray = False
