"""The cell op table: every op the cell spaces name is a row, every row keeps the cell's shape
contract, and a new op is one registration away from a buildable space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nasbeyond.exceptions import ConfigError, SpaceError
from nasbeyond.space.cell_ops import CELL_OPS, cell_op, register_cell_op
from nasbeyond.space.cells import DARTS_OPS, NASNET_OPS, DARTSSpace
from nasbeyond.space.nb201 import OPS as NB201_OPS
from nasbeyond.trial import TaskShape


def test_every_op_of_the_cell_spaces_is_a_row():
    assert (len(NASNET_OPS), len(DARTS_OPS), len(NB201_OPS)) == (13, 8, 5)
    assert set(NASNET_OPS) | set(DARTS_OPS) | set(NB201_OPS) == set(CELL_OPS)


@pytest.mark.parametrize("name", sorted(CELL_OPS))
@pytest.mark.parametrize("stride", [1, 2])
def test_op_keeps_channels_and_strides(name, stride):
    # 7 x 7: an odd size, where a wrong padding would be off by one.
    x = torch.randn(2, 6, 7, 7)
    y = cell_op(name, 6, stride)(x)
    side = 7 if stride == 1 else 4
    assert y.shape == (2, 6, side, side) and y.dtype == x.dtype


def test_unknown_op_is_a_space_error_listing_the_table():
    with pytest.raises(SpaceError, match="unknown op 'conv_9x9'; allowed: .*sep_conv_3x3"):
        cell_op("conv_9x9", 4)


def test_a_name_is_never_registered_twice():
    before = CELL_OPS["sep_conv_3x3"]
    with pytest.raises(ConfigError, match="'sep_conv_3x3' is already in CELL_OPS"):
        register_cell_op("sep_conv_3x3")(lambda c, stride: nn.Identity())
    assert CELL_OPS["sep_conv_3x3"] is before
    with pytest.raises(ConfigError, match="cell op name"):
        register_cell_op("")


class _Blur5(nn.AvgPool2d):
    """An op the library does not have: a 5 x 5 mean."""

    def __init__(self, stride: int) -> None:
        super().__init__(5, stride, 2, count_include_pad=False)


@pytest.fixture
def blur_op():
    name = "test_blur_5x5"
    register_cell_op(name)(lambda c, stride: _Blur5(stride))
    yield name
    del CELL_OPS[name]  # the table is global: leave it as the other tests expect it


def test_a_registered_op_builds_in_a_cell_space(blur_op):
    class BlurDARTS(DARTSSpace):
        ops = (*DARTS_OPS, blur_op)

    space = BlurDARTS(channels=4, cells=1)
    normal = [{"inputs": [0, 1], "ops": [blur_op, "skip_connect"]} for _ in range(4)]
    reduce = [{"inputs": [0, 1], "ops": [blur_op, blur_op]} for _ in range(4)]
    model = space.build({"normal": normal, "reduce": reduce}, TaskShape((3, 8, 8), 10))
    blurs = [m for m in model.modules() if isinstance(m, _Blur5)]
    # 3N + 2 = 5 cells (N, R, N, R, N) of 4 nodes: one blur per normal node, two per reduce node.
    assert len(blurs) == 3 * 4 + 2 * 8
    assert sorted({m.stride for m in blurs}) == [1, 2]  # the reduction cell's edges stride
    assert model(torch.randn(2, 3, 8, 8)).shape == (2, 10)
    # Sampling and mutation reach the new op too: it is just another choice.
    rng = np.random.default_rng(0)
    seen = {op for _ in range(20) for n in space.sample(rng)["normal"] for op in n["ops"]}
    assert blur_op in seen
