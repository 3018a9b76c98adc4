"""Search strategies (controllers): each proposes archs with ``ask`` and learns with ``tell``."""

from nasbeyond.strategy._bananas import BANANAS
from nasbeyond.strategy._base import Strategy
from nasbeyond.strategy._evolution import AgingEvolution
from nasbeyond.strategy._grid import GridSearch
from nasbeyond.strategy._halving import ASHA, Hyperband
from nasbeyond.strategy._large_scale import LargeScaleEvolution
from nasbeyond.strategy._local_search import GuidedLocalSearch, LocalSearch
from nasbeyond.strategy._nsga2 import NSGA2
from nasbeyond.strategy._random import RandomSearch
from nasbeyond.strategy._reinforce import Reinforce
from nasbeyond.strategy._tpe import TPE

__all__ = [
    "ASHA",
    "BANANAS",
    "NSGA2",
    "TPE",
    "AgingEvolution",
    "GridSearch",
    "GuidedLocalSearch",
    "Hyperband",
    "LargeScaleEvolution",
    "LocalSearch",
    "RandomSearch",
    "Reinforce",
    "Strategy",
]
