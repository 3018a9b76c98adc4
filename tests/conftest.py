"""Shared fixtures: tiny task shapes and a fast config."""

from __future__ import annotations

import pytest

from nasbeyond.config import RunConfig
from nasbeyond.space import TaskShape

SMALL_TASKS = {
    "macro-cnn": TaskShape((1, 12, 12), 3),
    "evolution-cnn": TaskShape((1, 12, 12), 3),
    "mlp": TaskShape((1, 8, 8), 4),
    "nb201": TaskShape((3, 8, 8), 3),
}


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
