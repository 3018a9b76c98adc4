"""Search spaces: the Space contract and the built-in spaces."""

from nasbeyond.space._base import Decision, Space, TaskShape
from nasbeyond.space.macro_cnn import MacroCNNSpace
from nasbeyond.space.mlp import MLPSpace

__all__ = ["Decision", "MLPSpace", "MacroCNNSpace", "Space", "TaskShape"]
