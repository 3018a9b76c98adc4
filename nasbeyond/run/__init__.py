"""Running searches: the loop, its executors and its stores."""

from nasbeyond.run.executor import Executor, InlineExecutor, LocalExecutor
from nasbeyond.run.experiment import Experiment, FinalReport
from nasbeyond.run.loop import run
from nasbeyond.run.progress import ProgressBar
from nasbeyond.run.store import MemoryStore, SQLiteStore, Store

__all__ = [
    "Executor",
    "Experiment",
    "FinalReport",
    "InlineExecutor",
    "LocalExecutor",
    "MemoryStore",
    "ProgressBar",
    "SQLiteStore",
    "Store",
    "run",
]
