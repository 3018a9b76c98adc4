"""Search strategies (controllers): each proposes archs with ``ask`` and learns with ``tell``."""

from nasbeyond.strategy._base import Strategy
from nasbeyond.strategy._evolution import AgingEvolution
from nasbeyond.strategy._random import RandomSearch

__all__ = ["AgingEvolution", "RandomSearch", "Strategy"]
