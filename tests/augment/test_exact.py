"""The tensor path equals the PIL path exactly on uint8: a differential property test over every
registered op, level and sign on random images (1 and 3 channels, 1x1 up to 33x17 either way,
constant channels, two-level images, full range), every op on large images (the CPU's chunked
and per-plane paths), the affine sampler against PIL's on random matrices (all three of PIL's
engines), and the faults found before, as named inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from nasbeyond.augment.ops import (
    FIXED,
    FLOAT,
    OPS,
    SCALE,
    apply_batch,
    apply_pil,
    cutout_centres,
    pil_to_tensor,
    sampling_engine,
    warp,
)

# every level a policy can produce (AutoAugment bins / 9, RandAugment M / 10, TrivialAugment's
# 31 bins), and any float
BIN_LEVELS = sorted(
    {k / 9 for k in range(10)} | {k / 10 for k in range(11)} | {k / 30 for k in range(31)}
)
LEVELS = st.one_of(st.sampled_from(BIN_LEVELS), st.floats(0, 1))
SIGNS = st.sampled_from([1.0, -1.0])
KINDS = ("full", "two-level", "constant", "one-constant-channel", "ramp")


def make_image(kind: str, channels: int, w: int, h: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    if kind == "two-level":
        a = rng.choice(rng.integers(0, 256, 2), (h, w, channels))
    elif kind == "constant":  # every channel constant, not necessarily the same
        a = np.broadcast_to(rng.integers(0, 256, channels), (h, w, channels))
    elif kind == "ramp":  # the full range 0..255 in every channel
        a = np.linspace(0, 255, h * w * channels).round().reshape(h, w, channels)
        a = rng.permuted(a, axis=1)
    else:
        a = rng.integers(0, 256, (h, w, channels))
        if kind == "one-constant-channel":
            a[..., rng.integers(channels)] = rng.integers(0, 256)
    a = np.ascontiguousarray(a, dtype=np.uint8)
    return Image.fromarray(a[..., 0] if channels == 1 else a)


@st.composite
def images(draw):
    w, h = draw(st.integers(1, 33)), draw(st.integers(1, 17))
    if draw(st.booleans()):
        w, h = h, w
    channels = draw(st.sampled_from([1, 3]))
    kind, seed = draw(st.sampled_from(KINDS)), draw(st.integers(0, 2**32 - 1))
    partner = make_image("full", channels, w, h, seed + 1)  # SamplePairing's other image
    return make_image(kind, channels, w, h, seed), partner


class Replay:
    """A stand-in for ``random`` handing the PIL path the draws the tensor path made."""

    def __init__(self, draws: list[int]) -> None:
        self.draws = draws

    def randrange(self, n: int) -> int:
        return self.draws.pop(0)


def tensor_path(img, partner, name, level, sign, seed):
    """``name`` on the first of the batch [img, partner] (the second keeps still)."""
    x = torch.stack([pil_to_tensor(img), pil_to_tensor(partner)])
    y = apply_batch(
        x,
        torch.zeros(2, dtype=torch.long),
        torch.full((2,), level, dtype=torch.float64),
        torch.full((2,), sign),
        torch.tensor([True, False]),
        names=(name,),
        gen=torch.Generator().manual_seed(seed),
    )
    assert torch.equal(y[1], x[1])
    return y[0]


def pil_path(img, partner, name, level, sign, seed):
    """The same op through PIL, given the tensor path's random draws (Cutout's centre,
    SamplePairing's partner) by replaying its generator."""
    replay = torch.Generator().manual_seed(seed)
    rng, pair = None, None
    if OPS[name].pairs:
        pair = (img, partner)[int(torch.randperm(2, generator=replay)[0])]
    if name == "Cutout":
        cy, cx = cutout_centres(1, img.size[1], img.size[0], replay)
        rng = Replay([int(cx[0]), int(cy[0])])  # PIL draws the column first
    return pil_to_tensor(apply_pil(img, name, level, sign, rng, pair))


# half the profile's examples per op: 18 ops make it 9x the profile in all
@pytest.mark.parametrize("name", sorted(OPS))
@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(images(), LEVELS, SIGNS, st.integers(0, 2**16))
def test_tensor_path_is_pil_exactly(name, pair_of_images, level, sign, seed):
    img, partner = pair_of_images
    expected = pil_path(img, partner, name, level, sign, seed)
    got = tensor_path(img, partner, name, level, sign, seed)
    assert torch.equal(got, expected), f"{name} on {img.mode} {img.size}"


# -- PIL's three affine engines, on random matrices -------------------------------------------


@st.composite
def matrices(draw):
    """Coefficients that land in each of PIL's engines: zero shear (its scale engine), small
    maps (16.16 fixed point) and maps reaching past +-32768 (its float64 engine)."""
    kind = draw(st.sampled_from(["scale", "fixed", "float"]))
    coef = st.floats(-2, 2)
    a0, a1, a3, a4 = draw(coef), draw(coef), draw(coef), draw(coef)
    a2, a5 = draw(st.floats(-40, 40)), draw(st.floats(-40, 40))
    if kind == "scale":
        a1 = a3 = 0.0
    elif kind == "float":  # rows start 40000 away and sweep back across the image near column k
        k = draw(st.integers(1, 33))
        a3, a5 = -4e4 / k + draw(st.floats(-0.5, 0.5)), 4e4 + draw(st.floats(-2, 2))
    return (a0, a1, a2, a3, a4, a5)


@given(matrices(), images())
@example((1.0, 0.0, -1.5, 0.0, 1.0, 0.0), (make_image("ramp", 1, 10, 13, 0),) * 2)
def test_warp_is_pils_transform(matrix, pair_of_images):
    img, _ = pair_of_images
    w, h = img.size
    fill = 128 if img.mode == "L" else (128, 128, 128)
    expected = pil_to_tensor(
        img.transform(
            (w, h), Image.Transform.AFFINE, matrix, Image.Resampling.NEAREST, fill=1, fillcolor=fill
        )
    )
    got = warp(pil_to_tensor(img)[None], torch.tensor([matrix], dtype=torch.float64), 128)[0]
    assert torch.equal(got, expected)


def test_the_matrices_reach_every_engine():
    mats = torch.tensor(
        [
            (1.0, 0.0, 3.5, 0.0, 1.0, -2.0),
            (1.0, 0.3, 0.0, 0.0, 1.0, 0.0),
            (1.0, 0.0, 0.0, -1000.0, 1.0, 4e4),
        ],
        dtype=torch.float64,
    )
    assert sampling_engine(mats, 20, 10).tolist() == [SCALE, FIXED, FLOAT]


# -- the faults found before (issue 12, fault 3), with their right values ----------------------


def run(img, name, level, sign=1.0):
    return tensor_path(img, img, name, level, sign, 0)


def test_autocontrast_on_rgb_is_pils_lookup_table():
    # a grey ramp 0..210 in all three channels: the float32 tensor path was one level off on
    # half its pixels; PIL's table is int(i * 255 / 210) in float64
    ramp = np.linspace(0, 210, 16).round().astype(np.uint8).reshape(4, 4)
    img = Image.fromarray(np.stack([ramp] * 3, axis=-1))
    scale = 255.0 / 210
    right = np.array([[int(v * scale) for v in row] for row in ramp.tolist()], dtype=np.uint8)
    assert np.array_equal(np.asarray(ImageOps.autocontrast(img))[..., 0], right)
    assert torch.equal(run(img, "AutoContrast", 0.0), torch.from_numpy(right).expand(3, 4, 4))


@pytest.mark.parametrize("size", [(1, 1), (2, 5), (7, 2), (1, 30)])
def test_sharpness_on_images_under_3_pixels_a_side_is_the_identity(size):
    # PIL's 3x3 filter copies an image that small, so any factor leaves it as it is; the tensor
    # path raised a RuntimeError
    img = make_image("full", 3, *size, seed=1)
    for level in (0.5, 1.0):
        assert np.array_equal(np.asarray(apply_pil(img, "Sharpness", level)), np.asarray(img))
        assert torch.equal(run(img, "Sharpness", level), pil_to_tensor(img))


def test_rotate_at_full_magnitude_on_a_one_pixel_high_image():
    # 30 degrees on a 7x1 ramp: the float positions picked pixels that PIL's 16.16 fixed point
    # does not (up to 128 grey levels apart); PIL keeps two pixels and fills the rest
    img = Image.fromarray(np.array([[0, 42, 84, 126, 168, 210, 252]], dtype=np.uint8))
    right = [128, 128, 84, 126, 128, 128, 128]
    assert np.asarray(apply_pil(img, "Rotate", 1.0, 1.0))[0].tolist() == right
    assert run(img, "Rotate", 1.0, 1.0)[0, 0].tolist() == right


@pytest.mark.parametrize("name", sorted(OPS))
def test_large_images_are_pils_too(name):
    # above 128x128 the CPU looks tables up plane by plane and works one sample a chunk: the
    # paths the small Hypothesis images above do not reach
    for channels, kind in ((3, "full"), (1, "ramp"), (3, "two-level")):
        img = make_image(kind, channels, 136, 121, seed=channels)
        partner = make_image("full", channels, 136, 121, seed=9)
        for level, sign in ((1.0, 1.0), (0.6, -1.0)):
            expected = pil_path(img, partner, name, level, sign, 3)
            assert torch.equal(tensor_path(img, partner, name, level, sign, 3), expected), name
