"""Contract tests over every registered augmentation op: shape, dtype and range kept; level 0 is
the identity where the op has a magnitude; the float path is the uint8 path within rounding;
stronger levels change more; seeded transforms repeat exactly; a batch draws per sample. (That
the tensor path equals the PIL path exactly on uint8 is test_exact.py's.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from nasbeyond.augment.ops import OPS, apply_batch, apply_pil, pil_to_tensor
from nasbeyond.augment.transforms import AutoAugment, RandAugment, TrivialAugment

REGISTRY = sorted(OPS)  # parametrizing over the table itself: a new row is tested on arrival


def images(channels: int, n: int = 6, size: int = 24) -> list[Image.Image]:
    rng = np.random.default_rng(channels)
    out = []
    for _ in range(n):
        small = rng.integers(0, 256, (size // 4, size // 4, channels)).astype(np.uint8)
        img = Image.fromarray(small[..., 0] if channels == 1 else small)
        out.append(img.resize((size, size), Image.Resampling.BILINEAR))
    return out


def run(x, name, level, sign=1.0, gen=None):
    n = len(x)
    return apply_batch(
        x,
        torch.zeros(n, dtype=torch.long),
        torch.full((n,), float(level), dtype=torch.float64),
        torch.full((n,), float(sign)),
        torch.ones(n, dtype=torch.bool),
        names=(name,),
        gen=gen,
    )


@pytest.mark.parametrize("name", REGISTRY)
@pytest.mark.parametrize("channels", [1, 3])
def test_shape_dtype_range_and_identity(name, channels):
    x = torch.stack([pil_to_tensor(i) for i in images(channels)])
    for dtype_x in (x, x.float() / 255):
        for level in (0.0, 0.5, 1.0):
            y = run(dtype_x, name, level, gen=torch.Generator().manual_seed(0))
            assert y.shape == dtype_x.shape and y.dtype == dtype_x.dtype
            if y.dtype == torch.uint8:
                assert y.min() >= 0 and y.max() <= 255
            else:
                assert y.min() >= 0 and y.max() <= 1
        if not OPS[name].magnitude_free:
            assert torch.equal(run(x, name, 0.0), x), f"{name} at level 0 must be the identity"
            img = images(channels)[0]
            assert np.array_equal(np.asarray(apply_pil(img, name, 0.0, pair=img)), np.asarray(img))


@pytest.mark.parametrize("name", [n for n in REGISTRY if n not in ("Cutout", "SamplePairing")])
@pytest.mark.parametrize("channels", [1, 3])
def test_float_path_is_the_uint8_path_within_rounding(name, channels):
    x = torch.stack([pil_to_tensor(i) for i in images(channels)])
    for level in (0.3, 1.0):
        for sign in (1.0, -1.0):
            y8 = run(x, name, level, sign)
            yf = run(x.float() / 255, name, level, sign)
            assert ((yf * 255).round().int() - y8.int()).abs().max() <= 1


def test_cutout_and_sample_pairing():
    x = torch.stack([pil_to_tensor(i) for i in images(3, n=8, size=30)])
    y = run(x, "Cutout", 1.0, gen=torch.Generator().manual_seed(1))
    for a, b in zip(x, y, strict=True):
        changed = (a != b).any(0)
        assert changed.sum() <= 6 * 6  # a square of side 0.2 * 30, maybe clipped at a border
        assert (b[:, changed] == 128).all()
    pil = apply_pil(images(3, size=30)[0], "Cutout", 1.0, rng=__import__("random").Random(0))
    assert (np.asarray(pil) == 128).all(-1).sum() <= 36
    y = run(x, "SamplePairing", 1.0, gen=torch.Generator().manual_seed(2))
    # each output is 0.6 * itself + 0.4 * another image of the batch
    for i in range(len(x)):
        expect = [torch.floor(x[i].float() + 0.4 * (x[j].float() - x[i].float())) for j in range(8)]
        assert any((y[i].float() - e).abs().max() <= 1 for e in expect)


@pytest.mark.parametrize("name", ["Posterize", "Solarize", "Rotate", "Contrast", "Cutout"])
def test_stronger_levels_change_more(name):
    x = torch.stack([pil_to_tensor(i) for i in images(3)])
    change = [
        (run(x, name, lv, gen=torch.Generator().manual_seed(0)).float() - x.float()).abs().mean()
        for lv in (0.0, 0.3, 0.6, 1.0)
    ]
    assert change == sorted(change) and change[-1] > change[0]


def test_seeded_transforms_repeat_and_draw_per_sample():
    x = torch.stack([pil_to_tensor(i) for i in images(3, n=64)])
    for make in (
        lambda: AutoAugment("cifar10", seed=3),
        lambda: RandAugment(2, 9, seed=3),
        lambda: TrivialAugment(seed=3),
    ):
        a, b = make(), make()
        assert torch.equal(a(x), b(x))
        assert torch.equal(a(x), b(x))  # the streams advance together
        img = images(3)[0]
        assert np.array_equal(np.asarray(a(img)), np.asarray(b(img)))
    # RandAugment N=1 at M=10: one op per sample, so different samples change differently
    y = RandAugment(1, 10, seed=0)(x)
    signatures = {
        tuple((y[i] != x[i]).float().mean(dim=(1, 2)).round(decimals=2).tolist()) for i in range(64)
    }
    assert len(signatures) > 8


def test_chunking_and_caching_change_no_pixel(monkeypatch):
    # large images run chunk by chunk on the CPU; one sample a chunk must give what the whole
    # batch gives, for every route (tables, warps, blends, Cutout's draws); and with no map
    # indices kept between batches, the warps must give what the cached ones give
    from nasbeyond.augment import ops

    x = torch.stack([pil_to_tensor(i) for i in images(3, n=40, size=20)])
    for make in (
        lambda: RandAugment(2, 9, seed=4),
        lambda: AutoAugment("cifar10", seed=4),
        lambda: TrivialAugment(seed=4, ops=sorted(OPS)),
    ):
        whole = make()(x)
        monkeypatch.setattr(ops, "CPU_CHUNK_BYTES", 1)
        assert torch.equal(make()(x), whole)
        monkeypatch.undo()
        monkeypatch.setattr(ops, "MAP_CACHE_BYTES", 0)
        assert torch.equal(make()(x), whole)
        monkeypatch.undo()
