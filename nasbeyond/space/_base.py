"""The Space contract: where candidates come from and how they become models."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nasbeyond.arch import Arch
from nasbeyond.trial import TaskShape


@dataclass(frozen=True)
class Decision:
    """One categorical choice, in the order a controller makes them."""

    name: str
    choices: tuple[Any, ...]


def other_choice(values: Sequence[Any], current: Any, rng: np.random.Generator) -> Any:
    """A value of ``values`` other than ``current``, uniformly (the step of every mutation)."""
    rest = [v for v in values if v != current]
    return rest[int(rng.integers(len(rest)))]


# A drawing of an arch: panels (title, nodes); a node is (label, incoming edges), an edge is
# (index of the source node in the same panel, edge label). Cells are graphs, chains stacks.
Node = tuple[str, list[tuple[int, str]]]
Panel = tuple[str, list[Node]]


class Space(ABC):
    """A search space. Subclasses store their settings in __init__ and nothing else."""

    name: str = "space"
    builds: str = "model"  # "model": build gives a network; "transform": an augmentation

    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """A random member of the space."""

    @abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A new arch one mutation away from ``arch`` (drawn from this space's mutation set)."""

    @abstractmethod
    def decisions(self) -> list[Decision]:
        """The categorical choices a controller makes, in order."""

    @abstractmethod
    def from_choices(self, choices: Sequence[int]) -> Arch:
        """The arch given one index per decision (indices into ``Decision.choices``)."""

    @abstractmethod
    def validate(self, arch: Arch) -> Arch:
        """Return ``arch`` if it belongs to the space; raise SpaceError naming the bad field."""

    @abstractmethod
    def build(self, arch: Arch, task: TaskShape) -> torch.nn.Module:
        """A freshly initialised model for ``arch`` that fits ``task``."""

    def describe(self, arch: Arch) -> str:
        """A readable one-line summary of an arch."""
        return str(arch)

    def after_training(self, arch: Arch, metrics: dict[str, Any]) -> Arch:
        """The arch a trained candidate passes on to its children, given its trial's metrics:
        ``arch`` itself unless the space learns structure while training (Lamarckian
        inheritance; the ``assemblenet`` space prunes connections whose learned weight is
        small). Evolution breeds from what this returns."""
        return arch

    def graph(self, arch: Arch) -> list[Panel]:
        """The arch as a graph for drawing; by default a stack of its fields."""
        nodes: list[Node] = [("input", [])]
        nodes += [(f"{k}={v}", [(i, "")]) for i, (k, v) in enumerate(arch.items())]
        return [(self.name, nodes)]

    def sample_by_choices(self, rng: np.random.Generator) -> Arch:
        """Uniform over decisions; the default ``sample`` of decision-based spaces."""
        return self.from_choices([int(rng.integers(len(d.choices))) for d in self.decisions()])
