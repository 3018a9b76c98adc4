"""The tensor path's routes for large uint8 images on the CPU (at least 2**14 pixel values a
sample): samples written straight into the output, batches changed in place (``out=x``, what
the transforms do after their first op), translations and horizontal shears as rectangle
copies, other maps by one lookup per plane, and OpenCV's kernels (``use_opencv``) where
``cv2`` imports. Each must give PIL's pixels exactly, with OpenCV and without, as the
small-image routes do (``test_exact.py``)."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from nasbeyond.augment import ops
from nasbeyond.augment.ops import OPS, apply_batch, apply_pil, pil_to_tensor
from nasbeyond.augment.transforms import AutoAugment, RandAugment
from nasbeyond.exceptions import ConfigError

NAMES = tuple(n for n in OPS if n != "Cutout")  # Cutout's centres: test_exact replays them
HAS_CV2 = importlib.util.find_spec("cv2") is not None


@pytest.fixture(params=["opencv", "torch"], autouse=True)
def backend(request):
    """Every test here runs on both CPU routes: OpenCV's kernels and PyTorch / NumPy only."""
    if request.param == "opencv" and not HAS_CV2:
        pytest.skip("cv2 not installed (pip install nasbeyond[fast-cpu])")
    before = ops.use_opencv(request.param == "opencv")
    yield request.param
    ops.use_opencv(before)


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


def test_routes_agree_on_seeded_transforms():
    x, _ = _batch(3, seed=5, b=10)
    got = {}
    for cv in [True, False] if HAS_CV2 else [False]:
        ops.use_opencv(cv)
        got[cv] = [t(x) for t in (RandAugment(2, 9, seed=4), AutoAugment("cifar10", seed=4))]
    for a, b in zip(got[False], got.get(True, got[False]), strict=True):
        assert torch.equal(a, b)


def test_without_cv2(monkeypatch):
    """cv2 missing: the core runs on PyTorch alone, PIL-exact, and asking for OpenCV names the
    extra to install."""
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now fails
    monkeypatch.setattr(ops, "_OPENCV", {"wanted": True, "tried": False, "module": None})
    assert not ops.opencv_active()
    with pytest.raises(ConfigError, match=r"fast-cpu"):
        ops.use_opencv(True)
    assert not ops.opencv_active()
    names = ("AutoContrast", "Equalize", "Contrast", "Sharpness", "Color", "Brightness")
    x, pils = _batch(3, seed=9, b=len(names))
    levels = torch.full((len(names),), 0.7, dtype=torch.float64)
    signs = torch.tensor([1.0, -1.0] * 3, dtype=torch.float64)
    y = apply_batch(
        x, torch.arange(len(names)), levels, signs, torch.ones(len(names), dtype=torch.bool),
        names,
    )  # fmt: skip
    for i, name in enumerate(names):
        want = apply_pil(pils[i], name, 0.7, float(signs[i]))
        assert torch.equal(y[i], pil_to_tensor(want)), name


@pytest.mark.parametrize("kind", ["constant", "two-level", "narrow"])
def test_special_images_equal_pil(kind):
    """Planes where the tables degenerate (one level: AutoContrast and Equalize leave them;
    0/255 only: the blends' and SMOOTH's extremes; a narrow range)."""
    rng = np.random.default_rng(len(kind))
    b, h, w = len(NAMES), 130, 128
    if kind == "constant":
        arr = np.broadcast_to(rng.integers(0, 256, (b, 1, 1, 3), dtype=np.uint8), (b, h, w, 3))
    elif kind == "two-level":
        arr = rng.integers(0, 2, (b, h, w, 3), dtype=np.uint8) * np.uint8(255)
    else:
        arr = rng.integers(100, 104, (b, h, w, 3), dtype=np.uint8)
    arr = np.ascontiguousarray(arr)
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).contiguous()
    pils = [Image.fromarray(a) for a in arr]
    levels = torch.linspace(0.1, 1.0, b, dtype=torch.float64)
    signs = torch.tensor([(-1.0) ** i for i in range(b)], dtype=torch.float64)
    gen = torch.Generator().manual_seed(1)
    y = apply_batch(x, torch.arange(b), levels, signs, torch.ones(b, dtype=torch.bool), NAMES, gen)
    perm = torch.randperm(b, generator=torch.Generator().manual_seed(1))
    for i, name in enumerate(NAMES):
        pair = pils[int(perm[i])] if name == "SamplePairing" else None
        want = apply_pil(pils[i], name, float(levels[i]), float(signs[i]), pair=pair)
        assert torch.equal(y[i], pil_to_tensor(want)), (kind, name)
