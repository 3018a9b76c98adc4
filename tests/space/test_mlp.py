"""The tabular MLP space: skip connectivity and categorical embeddings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasbeyond.cli import main
from nasbeyond.exceptions import SpaceError
from nasbeyond.space import MLPSpace, TaskShape

TASK = TaskShape((5,), 3, categories=(4, 12))  # two categorical columns, then 3 numbers


def batch(n: int = 6) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    codes = torch.stack([torch.randint(0, 4, (n,), generator=g), torch.randint(0, 12, (n,))], 1)
    return torch.cat([codes.float(), torch.randn(n, 3, generator=g)], dim=1)


@pytest.mark.parametrize("skip", ["none", "residual", "dense"])
def test_skip_variants_train(skip):
    arch = {"widths": [32, 64, 64], "activation": "gelu", "dropout": 0.1, "skip": skip}
    model = MLPSpace().build(arch, TASK)
    out = model(batch())
    assert out.shape == (6, 3)
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if skip == "dense":  # the last hidden layer reads the input and both earlier outputs
        assert model.layers[2][0].in_features == 2 + 6 + 3 + 32 + 64
    if skip == "residual":  # 32 != input width and 32 -> 64 get projections; 64 -> 64 does not
        assert sum(m.bias is None for m in linears) == 2


def test_categorical_columns_are_embedded():
    space = MLPSpace(embeddings=True)
    assert "embedding" in {d.name for d in space.decisions()}
    arch = {"widths": [32], "activation": "relu", "dropout": 0.0, "skip": "none", "embedding": 8}
    model = space.build(arch, TASK)
    assert [e.embedding_dim for e in model.embeds] == [8, 8]
    assert model.layers[0][0].in_features == 8 + 8 + 3
    auto = MLPSpace().build({"widths": [32], "activation": "relu", "dropout": 0.0}, TASK)
    assert [e.embedding_dim for e in auto.embeds] == [2, 6]  # min(50, (k + 1) // 2)
    # a code the training data never had cannot crash the model
    x = batch()
    x[0, 1] = 99
    assert torch.isfinite(model(x)).all()
    with pytest.raises(SpaceError, match="mlp: embedding is 3; allowed: auto, 2, 4, 8, 16"):
        space.validate({**arch, "embedding": 3})
    with pytest.raises(SpaceError, match="mlp: unknown field 'embedding'"):
        MLPSpace().validate(arch)
    rng = np.random.default_rng(0)
    assert {space.sample(rng)["embedding"] for _ in range(40)} == {"auto", 2, 4, 8, 16}


def test_search_a_csv_with_categorical_columns(tmp_path, capsys):
    rng = np.random.default_rng(0)
    cities = ["oslo", "lima", "pune", "kyiv", "baku"]
    rows = ["city,income,label"]
    for _ in range(300):  # the label depends on the city and the income
        c = int(rng.integers(5))
        income = float(rng.normal())
        rows.append(f"{cities[c]},{income:.3f},{int(c in (1, 3)) ^ int(income > 1)}")
    (tmp_path / "t.csv").write_text("\n".join(rows))
    argv = ["search", "--space", "mlp", "--space-arg", "embeddings=true", "--dataset", "csv"]
    argv += ["--data-dir", str(tmp_path / "t.csv"), "--trials", "4", "--epochs", "15"]
    argv += ["--executor", "inline", "--run-dir", str(tmp_path / "r"), "--optimizer", "adam"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "embedding=" in out
    acc = float(out.split("test accuracy: ")[1].split()[0])
    assert acc > 0.8  # a category-blind model cannot pass 0.7 here
