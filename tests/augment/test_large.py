"""The tensor path's routes for large uint8 images on the CPU (at least 2**14 pixels a plane):
samples written straight into the output, batches changed in place (``out=x``, what the
transforms do after their first op), translations and horizontal shears as rectangle copies,
other maps by one lookup per plane. Each must give PIL's pixels exactly, as the small-image
routes do (``test_exact.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nasbeyond.augment import ops
from nasbeyond.augment.ops import OPS, apply_batch, apply_pil, pil_to_tensor
from nasbeyond.augment.transforms import AutoAugment, RandAugment

NAMES = tuple(n for n in OPS if n != "Cutout")  # Cutout's centres: test_exact replays them


def _batch(channels: int, seed: int, b: int = 8, h: int = 130, w: int = 128):
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 256, (b, h, w, channels), dtype=np.uint8)
    pils = [Image.fromarray(a[..., 0] if channels == 1 else a) for a in arr]
    return torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous(), pils


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("names", [NAMES, tuple(n for n in NAMES if n != "SamplePairing")])
def test_large_batches_equal_pil(channels, in_place, names):
    b = len(names) + 1
    x, pils = _batch(channels, seed=channels + 2 * in_place + len(names), b=b)
    gen = torch.Generator().manual_seed(7)
    ops_ = torch.arange(b) % len(names)  # every op in every batch
    levels = torch.rand(b, generator=gen, dtype=torch.float64)
    signs = torch.randint(0, 2, (b,), generator=gen).double() * 2 - 1
    apply = torch.ones(b, dtype=torch.bool)
    apply[-1] = False  # one sample stays
    work = x.clone()
    y = apply_batch(
        work, ops_, levels, signs, apply, names, torch.Generator().manual_seed(3),
        out=work if in_place else None,
    )  # fmt: skip
    assert (y.data_ptr() == work.data_ptr()) == in_place
    perm = torch.randperm(b, generator=torch.Generator().manual_seed(3))  # the partners
    for i in range(b):
        want = pils[i]
        if apply[i]:
            name = names[int(ops_[i])]
            pair = pils[int(perm[i])] if name == "SamplePairing" else None
            want = apply_pil(want, name, float(levels[i]), float(signs[i]), pair=pair)
        assert torch.equal(y[i], pil_to_tensor(want)), (names[int(ops_[i])], i)


def test_rectangle_plans():
    def plan(name, value, size=224):
        mats = ops._affine_matrices(
            OPS[name], torch.tensor([value], dtype=torch.float64), size, size
        )
        return ops._map_plans(mats, size, size)[0]

    for name in ("TranslateX", "TranslateY"):
        for v in (0.405, -0.405, 0.1):
            assert isinstance(plan(name, v), list) and len(plan(name, v)) == 1
    shear = plan("ShearX", 0.27)
    assert isinstance(shear, list) and 1 < len(shear) <= ops.MAX_RECTANGLES
    for name, v in (("Rotate", 27.0), ("ShearY", 0.27)):  # one lookup per plane
        got = plan(name, v)
        assert isinstance(got, torch.Tensor) and got.dtype == torch.int32
        assert got.shape == (224 * 224,) and int(got.max()) <= 224 * 224


def test_transforms_leave_the_input_alone():
    x, _ = _batch(3, seed=11, b=6)
    before = x.clone()
    for t in (RandAugment(3, 9, seed=1), AutoAugment("cifar10", seed=1)):
        y = t(x)
        assert torch.equal(x, before)
        assert y.shape == x.shape and y.dtype == torch.uint8 and y.data_ptr() != x.data_ptr()
