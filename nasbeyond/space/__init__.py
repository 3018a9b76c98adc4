"""Search spaces: the Space contract and the built-in spaces."""

from nasbeyond.space._base import Decision, Space, TaskShape
from nasbeyond.space.cells import DARTSSpace, NASNetSpace
from nasbeyond.space.evolution_cnn import EvolutionCNNSpace
from nasbeyond.space.macro_cnn import MacroCNNSpace
from nasbeyond.space.mlp import MLPSpace
from nasbeyond.space.mnasnet import MnasNetSpace
from nasbeyond.space.nb201 import NB201Space
from nasbeyond.space.transformer import TransformerSpace
from nasbeyond.space.user import Choices, FunctionSpace

__all__ = [
    "Choices",
    "DARTSSpace",
    "Decision",
    "EvolutionCNNSpace",
    "FunctionSpace",
    "MLPSpace",
    "MnasNetSpace",
    "MacroCNNSpace",
    "NASNetSpace",
    "NB201Space",
    "Space",
    "TaskShape",
    "TransformerSpace",
]
