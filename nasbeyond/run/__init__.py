"""Running searches: the loop, its executors and its store."""

from nasbeyond.run.executor import Executor, InlineExecutor, LocalExecutor
from nasbeyond.run.experiment import Experiment, FinalReport, run
from nasbeyond.run.store import Store

__all__ = [
    "Executor",
    "Experiment",
    "FinalReport",
    "InlineExecutor",
    "LocalExecutor",
    "Store",
    "run",
]
