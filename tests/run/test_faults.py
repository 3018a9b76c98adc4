"""Fault injection under every executor: a trial that raises, returns NaN, hangs past the
timeout, kills its own process or asks for far too much memory is recorded as failed with its
error, and the search still finishes the requested number of trials."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from nasbeyond.run import LocalExecutor, SQLiteStore, run
from nasbeyond.space import MLPSpace
from nasbeyond.strategy import RandomSearch
from nasbeyond.testing import ToyEvaluator

# Alone (`serial`): the hang (trial timeouts count a fresh worker's start-up, so load must not
# fake a hang) and Ray (a cluster of its own processes, started once for this module's tests).
SERIAL = pytest.mark.serial
FAULTS = [
    ("raise", "RuntimeError: injected failure"),
    ("nan", "non-finite reward"),
    ("die", "WorkerDied"),
    pytest.param("hang", "Timeout", marks=SERIAL),
    ("memory", "MemoryError"),
]


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    # Short path: Ray's unix sockets live under the temp dir and paths are length-limited.
    temp = tempfile.mkdtemp(prefix="nbray", dir="/tmp")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        _temp_dir=temp,
        configure_logging=False,
    )
    yield ray
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def make_executor(kind, timeout):
    if kind == "local":
        return LocalExecutor(workers=2, trial_timeout=timeout, max_retries=1)
    from nasbeyond.run.ray_executor import RayExecutor

    return RayExecutor(workers=2, trial_timeout=timeout, max_retries=1)


def hang_timeout(kind, run_dir):
    """A trial timeout (s) that a healthy trial meets on a fresh executor of ``kind`` on this
    machine now: three times one such trial's wall time (a worker's start-up, mostly), and at
    least 6 s. A fixed 6 s failed healthy trials on a loaded machine."""
    space = MLPSpace()
    started = time.monotonic()
    executor = make_executor(kind, timeout=None)
    run(space, RandomSearch(space, seed=0), ToyEvaluator(), store=SQLiteStore(run_dir), trials=1,
        executor=executor)  # fmt: skip
    return max(6.0, 3 * (time.monotonic() - started))


@pytest.mark.parametrize("kind", ["local", pytest.param("ray", marks=SERIAL)])
@pytest.mark.parametrize(("fault", "message"), FAULTS)
def test_faults_fail_trials_not_the_search(tmp_path, request, kind, fault, message):
    if kind == "ray":
        request.getfixturevalue("ray_session")
    space = MLPSpace()
    store = SQLiteStore(tmp_path / "run")
    timeout = hang_timeout(kind, tmp_path / "warm-up") if fault == "hang" else None
    executor = make_executor(kind, timeout=timeout)
    best = run(
        space,
        RandomSearch(space, seed=0),
        ToyEvaluator(fault=fault, every=2, hang_s=60),
        store=store,
        trials=6,
        executor=executor,
    )
    trials = store.trials()
    assert len(trials) == 6 and store.count_finished() == 6
    failed = [t for t in trials if t.status == "failed"]
    assert {t.id for t in failed} == {2, 4, 6}
    assert all(message in (t.error or "") for t in failed), [t.error for t in failed]
    assert best is not None and best.status == "ok"
    if fault == "die":  # retried once on a fresh worker before being given up
        assert all(("ran 2 times" in t.error) or ("retried 1" in t.error) for t in failed)


def test_a_dead_worker_is_retried_and_can_succeed(tmp_path):
    space = MLPSpace()
    store = SQLiteStore(tmp_path)
    flaky = ToyEvaluator(fault="die", every=1, die_once_dir=str(tmp_path / "marks"))
    run(
        space,
        RandomSearch(space, seed=0),
        flaky,
        store=store,
        trials=3,
        executor=LocalExecutor(workers=1, max_retries=1),
    )
    assert [t.status for t in store.trials()] == ["ok", "ok", "ok"]


@SERIAL
def test_restarted_driver_resumes_on_ray(tmp_path, ray_session):
    from nasbeyond.run.ray_executor import RayExecutor
    from nasbeyond.strategy import AgingEvolution

    space = MLPSpace()
    for trials in (3, 7):  # a second driver process picks the run up from the store
        run(
            space,
            AgingEvolution(space, seed=1, population_size=3),
            ToyEvaluator(),
            store=SQLiteStore(tmp_path),
            trials=trials,
            executor=RayExecutor(workers=2),
        )
    trials = SQLiteStore(tmp_path).trials()
    assert [t.id for t in trials] == list(range(1, 8)) and all(t.status == "ok" for t in trials)


KILLED_DRIVER = """
import sys, time
from nasbeyond.run import LocalExecutor
from nasbeyond.testing import ToyEvaluator
from nasbeyond.trial import Context
ex = LocalExecutor(workers=1)
ex.start(ToyEvaluator(fault="hang", every=1, hang_s=600))
ex.submit((1, {"x": 1}, None, Context(trial_id=1, seed=0)))
assert ex.wait(timeout=float(sys.argv[1])) == []  # no failure came back
print(ex._pool[0].proc.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("settle_s", [0, 3], ids=["while-starting", "in-trial"])
def test_workers_end_when_their_driver_is_killed(settle_s):
    """A SIGKILLed driver cannot stop its workers; they notice and exit instead of finishing
    their trial (here a 600 s hang), whether the driver dies while the worker is still
    starting (it once looked for its parent only after importing torch, and by then the
    parent was gone) or once it is in its trial. The bound below is a deadline, not a timing
    assertion."""
    import os
    import signal
    import subprocess
    import sys

    driver = subprocess.Popen(
        [sys.executable, "-c", KILLED_DRIVER, str(settle_s)], stdout=subprocess.PIPE, text=True
    )
    try:
        worker = int(driver.stdout.readline())
    finally:
        driver.kill()
        driver.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)
            if Path(f"/proc/{worker}/stat").read_text().split()[2] == "Z":
                return  # exited; a zombie until init reaps it
        except (ProcessLookupError, FileNotFoundError):
            return  # gone (reaped by init)
        time.sleep(0.5)
    os.kill(worker, signal.SIGKILL)
    pytest.fail(f"worker {worker} still ran 60 s after its driver was killed")
