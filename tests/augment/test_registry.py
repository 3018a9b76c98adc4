"""Ops are rows of a table: a new op registered here, in the test, works through apply_pil,
apply_batch and the transforms without touching any other code; a taken name is refused with
both ops named; malformed rows and unknown names are ConfigErrors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from nasbeyond.augment.detection import DetectionOp, register_detection_op
from nasbeyond.augment.ops import OPS, Op, apply_batch, apply_pil, pil_to_tensor, register_op
from nasbeyond.augment.transforms import AutoAugment, RandAugment, TrivialAugment
from nasbeyond.exceptions import ConfigError


@pytest.fixture
def table():
    """The op table, restored after the test (registering is global)."""
    saved = dict(OPS)
    yield OPS
    OPS.clear()
    OPS.update(saved)


def darken_pil(img, v, rng, pair):
    return img.point(lambda i: int(i * v))  # PIL's table: int() of a float64


def darken_batch(x, values, gen, pair):
    return torch.floor(x * values.view(-1, 1, 1, 1))  # float64 too: the same numbers


def mirror_matrix(v, width, height):
    return (-1.0, 0.0, float(width), 0.0, 1.0, 0.0)  # output x reads input W - 1 - x


def picture(channels=3, size=(9, 6)):
    a = np.random.default_rng(channels).integers(0, 256, (size[1], size[0], channels))
    a = a.astype(np.uint8)
    return Image.fromarray(a[..., 0] if channels == 1 else a)


def batch_of(name, img, level, n=4):
    x = pil_to_tensor(img).unsqueeze(0).repeat(n, 1, 1, 1)
    return apply_batch(
        x,
        torch.zeros(n, dtype=torch.long),
        torch.full((n,), level, dtype=torch.float64),
        torch.ones(n),
        torch.ones(n, dtype=torch.bool),
        names=(name,),
    )


def test_a_pixel_op_registered_here_runs_everywhere(table):
    register_op(Op("Darken", 1.0, 0.5, pil=darken_pil, batch=darken_batch))
    img = picture()
    out = apply_pil(img, "Darken", 1.0)  # factor 0.5
    assert np.array_equal(np.asarray(out), np.asarray(img) // 2)
    assert (batch_of("Darken", img, 1.0) == pil_to_tensor(out)).all()
    assert np.array_equal(np.asarray(apply_pil(img, "Darken", 0.0)), np.asarray(img))

    # transforms take it by name: RandAugment / TrivialAugment from an op list, AutoAugment
    # from a policy; both paths, same pixels
    x = pil_to_tensor(img).unsqueeze(0).repeat(3, 1, 1, 1)
    rand = RandAugment(1, 10, seed=0, ops=["Darken"])
    assert np.array_equal(np.asarray(rand(img)), np.asarray(out))
    assert (rand(x) == pil_to_tensor(out)).all()
    auto = AutoAugment([[["Darken", 1.0, 9], ["Rotate", 0.0, 3]]], seed=0)
    assert np.array_equal(np.asarray(auto(img)), np.asarray(out))
    assert (auto(x) == pil_to_tensor(out)).all()
    trivial = TrivialAugment(seed=0, ops=["Darken"])
    y = trivial(x)
    assert (y <= x).all() and trivial(img).size == img.size


def test_a_geometric_op_needs_only_its_matrix(table):
    register_op(Op("Mirror", matrix=mirror_matrix))
    for channels in (1, 3):
        img = picture(channels)
        assert np.array_equal(
            np.asarray(apply_pil(img, "Mirror", 0.5)), np.asarray(ImageOps.mirror(img))
        )
        assert (batch_of("Mirror", img, 0.5) == pil_to_tensor(ImageOps.mirror(img))).all()
        floats = pil_to_tensor(img).unsqueeze(0).float() / 255
        y = apply_batch(
            floats,
            torch.zeros(1, dtype=torch.long),
            torch.ones(1, dtype=torch.float64),
            torch.ones(1),
            torch.ones(1, dtype=torch.bool),
            names=("Mirror",),
        )
        assert torch.equal(y[0], floats[0].flip(-1))  # moved in the batch's own dtype


def test_a_taken_name_is_refused_naming_both(table):
    with pytest.raises(ConfigError) as err:
        register_op(Op("Rotate", matrix=mirror_matrix))
    msg = str(err.value)
    assert "'Rotate'" in msg and "test_registry.mirror_matrix" in msg and "ops._rotate" in msg
    assert OPS["Rotate"].matrix is not mirror_matrix  # the first registration stays
    with pytest.raises(ConfigError, match="the name is taken by 'BBox_Cutout'"):
        register_detection_op(DetectionOp("BBox_Cutout", image=lambda *a: a[0]))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (lambda: Op("Blur"), "allowed: two functions"),
        (lambda: Op("Blur", pil=darken_pil), "allowed: two functions"),
        (
            lambda: Op("Tilt", pil=darken_pil, batch=darken_batch, matrix=mirror_matrix),
            "matrix only",
        ),
        (lambda: Op("", matrix=mirror_matrix), "name is ''"),
        (lambda: Op("Blur", float("nan"), pil=darken_pil, batch=darken_batch), "low is nan"),
        (lambda: register_op("Blur"), "allowed: an augment.ops.Op"),
        (lambda: DetectionOp("Blur_BBox"), "exactly one of geometry, in_box, image"),
    ],
)
def test_malformed_rows_are_config_errors(row, message):
    with pytest.raises(ConfigError, match=message):
        row()


def test_unknown_names_are_config_errors():
    img = picture()
    with pytest.raises(ConfigError, match="unknown operation 'Blur'; allowed: Identity, ShearX"):
        apply_pil(img, "Blur", 0.5)
    with pytest.raises(ConfigError, match="unknown operation 'Blur'"):
        batch_of("Blur", img, 0.5)
    with pytest.raises(ConfigError, match=r"randaugment: ops is \['Blur'\]; allowed: a non-empty"):
        RandAugment(ops=["Blur"])
    with pytest.raises(ConfigError, match="trivialaugment: ops is"):
        TrivialAugment(ops=[])
