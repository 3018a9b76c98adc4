"""ListOps (Nangia & Bowman, 2018; the sequence task of the Long Range Arena), generated here with
a fixed seed so it runs offline: nested prefix expressions over the digits 0-9 such as
``[MAX 2 9 [MIN 4 7 ] 0 ]``, whose value (0-9) is the label. Solving it needs the tree structure
of the sequence, not bag-of-tokens statistics: the task that sets attention, convolution and
gating apart in the Transformer space.

Operators: MAX, MIN, MED (median, rounded down), SM (sum modulo 10).
Tokens: 0 padding, 1-10 the digits 0-9, 11-14 the operators, 15 the closing bracket.
"""

from __future__ import annotations

import numpy as np
import torch

from nasbeyond.data._base import Dataset
from nasbeyond.exceptions import DataError
from nasbeyond.registry import register

OPS = ("MAX", "MIN", "MED", "SM")
CLOSE = 15
VOCAB = 16


def _apply(op: str, values: list[int]) -> int:
    if op == "MAX":
        return max(values)
    if op == "MIN":
        return min(values)
    if op == "MED":
        return int(np.floor(np.median(values)))
    return sum(values) % 10


def expression(
    rng: np.random.Generator, max_depth: int, max_args: int, depth: int = 0
) -> tuple[list[int], int]:
    """Tokens and value of one random expression (the root is always an operator)."""
    if depth > 0 and (depth >= max_depth or rng.random() < 0.3):
        d = int(rng.integers(10))
        return [d + 1], d
    k = int(rng.integers(len(OPS)))
    tokens, values = [11 + k], []
    for _ in range(int(rng.integers(2, max_args + 1))):
        t, v = expression(rng, max_depth, max_args, depth + 1)
        tokens += t
        values.append(v)
    return tokens + [CLOSE], _apply(OPS[k], values)


def decode(tokens: list[int] | np.ndarray) -> str:
    """Readable text of a token sequence (padding dropped)."""
    names = {CLOSE: "]", **{11 + i: f"[{op}" for i, op in enumerate(OPS)}}
    return " ".join(names.get(int(t), str(int(t) - 1)) for t in tokens if int(t) != 0)


def generate(
    n: int, max_len: int, max_depth: int, max_args: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, max_len), dtype=np.float32)
    y = np.zeros(n, dtype=np.int64)
    i = 0
    while i < n:
        tokens, value = expression(rng, max_depth, max_args)
        if len(tokens) > max_len:
            continue
        x[i, : len(tokens)] = tokens
        y[i] = value
        i += 1
    return x, y


@register("dataset", "listops")
def listops(
    data_dir: str | None = None,
    train: int = 10000,
    test: int = 2000,
    max_len: int = 64,
    max_depth: int = 3,
    max_args: int = 4,
    seed: int = 0,
) -> Dataset:
    """ListOps, generated offline: ``train`` + ``test`` expressions of at most ``max_len``
    tokens, nesting up to ``max_depth``, 2..``max_args`` arguments per operator."""
    if train < 10 or test < 1 or max_len < 4 or max_depth < 1 or max_args < 2:
        raise DataError(
            "dataset_args: listops needs train >= 10, test >= 1, max_len >= 4, max_depth >= 1, "
            "max_args >= 2"
        )
    x, y = generate(train + test, max_len, max_depth, max_args, seed)
    return Dataset(
        "listops",
        torch.from_numpy(x[:train]),
        torch.from_numpy(y[:train]),
        torch.from_numpy(x[train:]),
        torch.from_numpy(y[train:]),
        num_classes=10,
        vocab_size=VOCAB,
    )
