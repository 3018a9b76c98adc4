"""Search spaces: the Space contract, the built-in spaces and ``make_space``."""

from __future__ import annotations

from typing import Any

from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import create
from nasbeyond.space._base import Decision, Space
from nasbeyond.space.cells import DARTSSpace, NASNetSpace
from nasbeyond.space.evolution_cnn import EvolutionCNNSpace
from nasbeyond.space.macro_cnn import MacroCNNSpace
from nasbeyond.space.mlp import MLPSpace
from nasbeyond.space.mnasnet import MnasNetSpace
from nasbeyond.space.nas_fpn import NasFPNSpace, fpn_arch
from nasbeyond.space.nb201 import NB201Space
from nasbeyond.space.transformer import TransformerSpace
from nasbeyond.space.user import Choices, FunctionSpace, load_function
from nasbeyond.trial import TaskShape

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
    "NasFPNSpace",
    "NB201Space",
    "Space",
    "TaskShape",
    "TransformerSpace",
    "fpn_arch",
    "make_space",
]


def make_space(name: str, args: dict[str, Any] | None = None) -> Space:
    """A registered space (``create("space", name, **args)``), or a user-defined one named
    ``FILE.py:FUNCTION`` or ``MODULE:FUNCTION`` (args: ``discover`` only).

    Raises:
        ConfigError: an unknown name or argument, or a reference that does not load.
    """
    args = dict(args or {})
    if ":" not in name:
        space: Space = create("space", name, **args)
        return space
    load_function(name)  # a bad reference fails here, as a ConfigError
    unknown = sorted(set(args) - {"discover"})
    if unknown:
        raise ConfigError(f"space_args: unknown {unknown[0]!r}; allowed: discover")
    return FunctionSpace(name=name, reference=name, **args)
