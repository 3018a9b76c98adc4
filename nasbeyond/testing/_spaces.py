"""Small task shapes for every built-in space, and the spaces the contract suites run on."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from nasbeyond.trial import TaskShape

if TYPE_CHECKING:
    from nasbeyond.space import Space

# Shapes small enough that building and stepping every space's models takes milliseconds.
SMALL_TASKS: dict[str, TaskShape] = {
    "macro-cnn": TaskShape((1, 12, 12), 3),
    "evolution-cnn": TaskShape((1, 12, 12), 3),
    "mlp": TaskShape((1, 8, 8), 4),
    "mnasnet": TaskShape((3, 16, 16), 5),
    "nb201": TaskShape((3, 8, 8), 3),
    "nasnet": TaskShape((1, 12, 12), 3),
    "darts": TaskShape((3, 12, 12), 3),
    "nas-fpn": TaskShape((1, 32, 32), 3),
    "user": TaskShape((1, 12, 12), 3),
    "transformer": TaskShape((16,), 3, vocab_size=16),
    "augment-policy": TaskShape((3, 12, 12), 3),
    "randaugment": TaskShape((3, 12, 12), 3),
    "tabular-pipeline": TaskShape((5,), 3, categories=(4,)),
    "assemblenet": TaskShape((2, 4, 8, 8), 3),
}

# The README's user-defined space; it exists in a source checkout, beside the package.
EXAMPLE_SPACE = str(Path(__file__).resolve().parents[2] / "examples" / "user_space.py") + ":build"


def make_space(name: str) -> Space:
    """A registered space by name, or ``"user"``: the README's user-defined example space
    (``examples/user_space.py:build``, named ``user``)."""
    from nasbeyond.space import FunctionSpace
    from nasbeyond.space import make_space as make

    if name == "user":
        return FunctionSpace(reference=EXAMPLE_SPACE)
    return make(name)
