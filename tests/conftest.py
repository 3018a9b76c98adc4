"""Shared fixtures: tiny task shapes and a fast config."""

from __future__ import annotations

import os
import sqlite3

import pytest
from hypothesis import settings

from nasbeyond.config import RunConfig

# Re-exported for test modules that import them from here; they live in nasbeyond.testing.
from nasbeyond.testing import EXAMPLE_SPACE, SMALL_TASKS, make_space  # noqa: F401

# Hypothesis profiles (issue 22). "ci", the default, runs more examples than Hypothesis's 100
# and derandomizes (each test's seed comes from its name, and no example database), so CI and
# every machine try the same cases and a border case found once is found every run; pin such a
# case with @example. "dev" is quick, and random. HYPOTHESIS_PROFILE=dev picks it.
settings.register_profile(
    "ci", max_examples=200, derandomize=True, database=None, deadline=None, print_blob=True
)
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# The longest tests, started first: pytest-xdist hands tests out in collection order, and one of
# these started last would leave the other workers idle while it runs alone.
LONGEST_FIRST = ("tests/test_readme.py::test_every_readme_command_runs_in_order",)


def pytest_collection_modifyitems(config, items):
    """The longest tests first; tests marked ``cuda`` skip where torch sees no CUDA GPU (CI,
    this project's machines)."""
    import torch

    items.sort(key=lambda item: item.nodeid not in LONGEST_FIRST)  # stable: the rest in order
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if item.get_closest_marker("cuda") is not None:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One torch thread in the test process: the suite's models are tiny and pytest-xdist
    already runs one process per core, so more threads only spin against each other (a
    TorchScript export took 9x the CPU-seconds with two threads on a busy 2-core machine).
    Worker processes a test starts set their own thread count, as in production."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fast_config(tmp_path):
    """A real search that finishes in seconds: MLPs on sklearn digits, one epoch."""
    return RunConfig(
        space="mlp",
        strategy="evolution",
        dataset="digits",
        trials=4,
        epochs=1,
        workers=1,
        run_dir=str(tmp_path / "run"),
        strategy_args={"population_size": 2, "sample_size": 2},
    )


def finished_trials(db_path) -> dict[int, float]:
    """{trial id: finished timestamp} of the finished trials in a run's database (read-only,
    tolerant of a database another process is writing or has not created yet)."""
    if not db_path.exists():
        return {}
    db = sqlite3.connect(db_path, timeout=30)
    try:
        return dict(db.execute("SELECT id, finished FROM trials WHERE status != 'running'"))
    except sqlite3.OperationalError:
        return {}
    finally:
        db.close()
