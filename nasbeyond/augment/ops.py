"""The 16 AutoAugment operations (Cubuk et al., "AutoAugment: Learning Augmentation Policies from
Data", CVPR 2019), twice: on PIL images (as the original code) and on tensor batches, where every
sample gets its own op and magnitude (CPU or CUDA, uint8 in 0..255 or float in 0..1).

Magnitudes are a ``level`` in [0, 1] (AutoAugment's bin / 9; RandAugment's M / 10; TrivialAugment
draws it), mapped over the paper's ranges so that level 0 changes nothing wherever the op has a
magnitude and a higher level always changes more (the paper's meaning; some reference code runs
Posterize and Solarize the other way):

    ShearX/Y        shear 0..0.3, random sign           TranslateX/Y  0..0.45 of the size, sign
    Rotate          0..30 degrees, random sign          Solarize      threshold 256 -> 0
    Posterize       8 -> 4 bits                         Cutout        square side 0..0.2 of size
    Contrast, Color, Brightness, Sharpness   factor 1 -> 1 +- 0.9 (so 0.1..1.9), random sign
    SamplePairing   blend 0..0.4 with another image     AutoContrast, Invert, Equalize: no level

Geometric ops fill with grey 128 and sample nearest, both paths mapping output pixel centres
through the same affine matrix, shears and translations about the top-left corner (as the
original), rotation about the centre.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageEnhance, ImageOps

from nasbeyond.exceptions import ConfigError

FILL = 128


@dataclass(frozen=True)
class OpSpec:
    name: str
    low: float  # the value at level 0
    high: float  # the value at level 1
    signed: bool  # a random sign flips the change (value - low)
    kind: str  # "affine", "pixel" or "pairing"


OPS: dict[str, OpSpec] = {
    s.name: s
    for s in (
        OpSpec("ShearX", 0.0, 0.3, True, "affine"),
        OpSpec("ShearY", 0.0, 0.3, True, "affine"),
        OpSpec("TranslateX", 0.0, 0.45, True, "affine"),
        OpSpec("TranslateY", 0.0, 0.45, True, "affine"),
        OpSpec("Rotate", 0.0, 30.0, True, "affine"),
        OpSpec("AutoContrast", 0.0, 0.0, False, "pixel"),
        OpSpec("Invert", 0.0, 0.0, False, "pixel"),
        OpSpec("Equalize", 0.0, 0.0, False, "pixel"),
        OpSpec("Solarize", 256.0, 0.0, False, "pixel"),
        OpSpec("Posterize", 8.0, 4.0, False, "pixel"),
        OpSpec("Contrast", 1.0, 1.9, True, "pixel"),
        OpSpec("Color", 1.0, 1.9, True, "pixel"),
        OpSpec("Brightness", 1.0, 1.9, True, "pixel"),
        OpSpec("Sharpness", 1.0, 1.9, True, "pixel"),
        OpSpec("Cutout", 0.0, 0.2, False, "pixel"),
        OpSpec("SamplePairing", 0.0, 0.4, False, "pairing"),
    )
}
OP_NAMES = tuple(OPS)
MAGNITUDE_FREE = frozenset({"AutoContrast", "Invert", "Equalize"})


def op_value(name: str, level: float, sign: float = 1.0) -> float:
    """The op's argument at ``level`` in [0, 1] (``sign`` -1 flips signed ops)."""
    one = torch.tensor([float(level)], dtype=torch.float64)
    return float(op_values(name, one, torch.tensor([float(sign)], dtype=torch.float64))[0])


def op_values(name: str, levels: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """The op's arguments for a batch of levels and signs: Posterize in whole bits 8 -> 4,
    Solarize a whole threshold 256 -> 0."""
    s = OPS[name]
    v = s.low + (s.high - s.low) * levels
    if s.signed:
        v = s.low + (v - s.low) * signs
    if name == "Posterize":
        v = 8 - torch.round(4 * levels)
    elif name == "Solarize":
        v = torch.trunc(v)
    return v


# -- affine matrices (output pixel centre -> input position), shared by both paths ----------


def affine_matrix(name: str, value: float, width: int, height: int) -> tuple[float, ...]:
    """The output -> input map of one geometric op, as PIL's six affine coefficients."""
    v = torch.tensor([float(value)], dtype=torch.float64)
    return tuple(_affine_matrices(name, v, width, height)[0].tolist())


# -- PIL -------------------------------------------------------------------------------------


def fill_of(img: Image.Image) -> int | tuple[int, ...]:
    return FILL if len(img.getbands()) == 1 else (FILL,) * len(img.getbands())


def apply_pil(
    img: Image.Image,
    name: str,
    level: float,
    sign: float = 1.0,
    rng: random.Random | None = None,
    pair: Image.Image | None = None,
) -> Image.Image:
    """One op on a PIL image (modes L or RGB). ``pair`` is SamplePairing's other image."""
    v = op_value(name, level, sign)
    if OPS[name].kind == "affine":
        m = affine_matrix(name, v, *img.size)
        return img.transform(
            img.size, Image.Transform.AFFINE, m, Image.Resampling.NEAREST, fillcolor=fill_of(img)
        )
    if name == "AutoContrast":
        return ImageOps.autocontrast(img)
    if name == "Invert":
        return ImageOps.invert(img)
    if name == "Equalize":
        return ImageOps.equalize(img)
    if name == "Solarize":
        return ImageOps.solarize(img, int(v))
    if name == "Posterize":
        return ImageOps.posterize(img, int(v))
    if name in ("Contrast", "Color", "Brightness", "Sharpness"):
        return getattr(ImageEnhance, name)(img).enhance(v)
    if name == "Cutout":
        side = int(round(v * min(img.size)))
        if side <= 0:
            return img
        r = rng or random
        cx, cy = r.randrange(img.size[0]), r.randrange(img.size[1])
        out = img.copy()
        x0, y0 = cx - side // 2, cy - side // 2
        box = (max(0, x0), max(0, y0), min(img.size[0], x0 + side), min(img.size[1], y0 + side))
        out.paste(fill_of(img), box)
        return out
    if pair is None or pair.size != img.size or pair.mode != img.mode:
        return img  # SamplePairing without a partner of the same size leaves the image
    return Image.blend(img, pair, v)


# -- tensors ---------------------------------------------------------------------------------


def _gray(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of a (B, C, H, W) batch on the 0..255 scale, as PIL's L mode (rounded)."""
    if x.shape[1] == 1:
        return x
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return torch.floor((r * 19595 + g * 38470 + b * 7471 + 0x8000) / 65536)


def _blend(a: torch.Tensor, b: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's Image.blend(b, a, factor): b + factor * (a - b), clipped and truncated."""
    return torch.floor((b + factor.view(-1, 1, 1, 1) * (a - b)).clamp(0, 255))


def _affine_matrices(name: str, v: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """(B, 6) output -> input maps: shears and translations about the top-left corner, Rotate
    counter-clockwise by ``v`` degrees about the centre (PIL's Image.rotate)."""
    one, zero = torch.ones_like(v), torch.zeros_like(v)
    if name == "ShearX":
        cols = [one, v, zero, zero, one, zero]
    elif name == "ShearY":
        cols = [one, zero, zero, v, one, zero]
    elif name == "TranslateX":
        cols = [one, zero, v * width, zero, one, zero]
    elif name == "TranslateY":
        cols = [one, zero, zero, zero, one, v * height]
    else:
        a = -torch.deg2rad(v.double())
        cos, sin = torch.cos(a), torch.sin(a)
        cx, cy = width / 2.0, height / 2.0
        cols = [cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy]
    return torch.stack([c.double() for c in cols], dim=1)


def _affine(x: torch.Tensor, mats: torch.Tensor, fill: float = FILL) -> torch.Tensor:
    """Nearest sampling of ``x`` at each sample's affine map of the output pixel centres (the
    positions in float64 as PIL computes them, built as outer sums to keep temporaries few)."""
    b, c, h, w = x.shape
    m = mats.to(device=x.device, dtype=torch.float64).view(b, 6, 1, 1).unbind(1)
    xs = torch.arange(w, device=x.device, dtype=torch.float64).view(1, 1, w) + 0.5
    ys = torch.arange(h, device=x.device, dtype=torch.float64).view(1, h, 1) + 0.5
    ix = (m[0] * xs + (m[1] * ys + m[2])).floor_().long()  # PIL: floor of the position
    iy = (m[3] * xs + (m[4] * ys + m[5])).floor_().long()
    outside = (ix < 0) | (ix >= w) | (iy < 0) | (iy >= h)
    flat = iy.clamp_(0, h - 1).mul_(w).add_(ix.clamp_(0, w - 1)).view(b, 1, h * w)
    out = x.reshape(b, c, h * w).gather(2, flat.expand(-1, c, -1)).view_as(x)
    return out.masked_fill_(outside.unsqueeze(1), fill)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """PIL's ImageOps.equalize per sample and channel, vectorised."""
    b, c, h, w = x.shape
    v = x.round().long().clamp(0, 255).view(b * c, h * w)
    hist = torch.zeros(b * c, 256, dtype=torch.long, device=x.device).scatter_add_(
        1, v, torch.ones_like(v)
    )
    last = 255 - torch.argmax((hist.flip(1) > 0).long(), dim=1)  # highest used level
    step = (h * w - hist.gather(1, last.unsqueeze(1)).squeeze(1)) // 255
    csum = torch.cumsum(hist, 1) - hist  # counts below each level
    safe = step.clamp(min=1).unsqueeze(1)
    lut = ((step.unsqueeze(1) // 2 + csum) // safe).clamp(max=255)
    out = lut.gather(1, v)
    keep = (step == 0).unsqueeze(1)
    return torch.where(keep, v, out).view(b, c, h, w).to(x.dtype)


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    scale = 255.0 / (hi - lo).clamp(min=1)
    out = torch.floor(x * scale - lo * scale).clamp_(0, 255)  # PIL: int(i * scale + offset)
    return torch.where(hi > lo, out, x)


def _sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """Blend with PIL's SMOOTH filter ([[1,1,1],[1,5,1],[1,1,1]] / 13, border kept)."""
    box = F.avg_pool2d(x, 3, 1) * 9  # the 3x3 sums of the interior
    smooth = ((box + 4 * x[:, :, 1:-1, 1:-1]) / 13).round_()
    degenerate = x.clone()
    degenerate[:, :, 1:-1, 1:-1] = smooth
    return _blend(x, degenerate, factor)


def _cutout(x: torch.Tensor, frac: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    b, _, h, w = x.shape
    side = torch.round(frac * min(h, w)).view(b, 1, 1)
    cy = torch.randint(0, h, (b, 1, 1), generator=gen, device="cpu").to(x.device)
    cx = torch.randint(0, w, (b, 1, 1), generator=gen, device="cpu").to(x.device)
    y0, x0 = (
        cy - torch.div(side, 2, rounding_mode="floor"),
        cx - torch.div(side, 2, rounding_mode="floor"),
    )
    ys = torch.arange(h, device=x.device).view(1, h, 1)
    xs = torch.arange(w, device=x.device).view(1, 1, w)
    hole = (ys >= y0) & (ys < y0 + side) & (xs >= x0) & (xs < x0 + side)
    return torch.where(hole.unsqueeze(1), torch.full_like(x, FILL), x)


def _apply_group(
    x: torch.Tensor,
    name: str,
    values: torch.Tensor,
    gen: torch.Generator | None,
    pair: torch.Tensor | None,
) -> torch.Tensor:
    """One op on every sample of ``x`` (0..255 float scale), sample i with ``values[i]``."""
    if OPS[name].kind == "affine":
        return _affine(x, _affine_matrices(name, values, x.shape[3], x.shape[2]))
    if name == "AutoContrast":
        return _autocontrast(x)
    if name == "Invert":
        return 255.0 - x
    if name == "Equalize":
        return _equalize(x)
    if name == "Solarize":
        thr = values.view(-1, 1, 1, 1)
        return torch.where(x >= thr, 255.0 - x, x)
    if name == "Posterize":
        shift = (8 - values).long().view(-1, 1, 1, 1)
        levels = x.round().long()
        return ((levels >> shift) << shift).to(x.dtype)
    if name == "Brightness":
        return _blend(x, torch.zeros_like(x), values)
    if name == "Color":
        return _blend(x, _gray(x.round()).expand_as(x), values)
    if name == "Contrast":
        mean = torch.floor(_gray(x.round()).mean(dim=(1, 2, 3), keepdim=True) + 0.5)
        return _blend(x, mean.expand_as(x), values)
    if name == "Sharpness":
        return _sharpness(x.round(), values)
    if name == "Cutout":
        return _cutout(x, values, gen)
    assert pair is not None
    return _blend(pair, x, values)


def to_255(x: torch.Tensor) -> torch.Tensor:
    if x.dtype == torch.uint8:
        return x.float()
    if not x.is_floating_point():
        raise ConfigError(f"augment: images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    return x * 255.0


def from_255(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if like.dtype == torch.uint8:
        return y.round_().clamp_(0, 255).to(torch.uint8)
    return (y / 255.0).to(like.dtype)


def apply_batch(
    x: torch.Tensor,
    ops: torch.Tensor,
    levels: torch.Tensor,
    signs: torch.Tensor,
    apply: torch.Tensor,
    names: tuple[str, ...] = OP_NAMES,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """Sample i of ``x`` (B, C, H, W) gets op ``names[ops[i]]`` at ``levels[i]`` with sign
    ``signs[i]`` when ``apply[i]``; same dtype and device out. ``names`` may include
    ``Identity``. Samples are grouped by op (one sort), so each op runs once per batch on its
    samples only; uint8 batches are converted to float one group at a time."""
    if x.dtype != torch.uint8 and not x.is_floating_point():
        raise ConfigError(f"augment: images must be uint8 (0..255) or float (0..1), got {x.dtype}")
    active = torch.nonzero(apply).squeeze(1)
    keys = ops[active]
    order = torch.argsort(keys, stable=True)
    active, keys = active[order], keys[order]
    counts = torch.bincount(keys, minlength=len(names)).tolist()
    groups = torch.split(active, counts)
    perm = None
    out = x.clone()
    for k, idx in enumerate(groups):
        name = names[k]
        if len(idx) == 0 or name == "Identity":
            continue
        vals = op_values(name, levels[idx].double(), signs[idx].double())
        idx_d = idx.to(x.device)
        if OPS[name].kind == "affine":  # moves pixels, in the batch's own dtype
            mats = _affine_matrices(name, vals, x.shape[3], x.shape[2])
            fill = FILL if x.dtype == torch.uint8 else FILL / 255
            out[idx_d] = _affine(x[idx_d], mats, fill)
            continue
        sub = to_255(x[idx_d])
        pair = None
        if name == "SamplePairing":  # partners: a shuffle of the whole batch
            if perm is None:
                perm = torch.randperm(len(x), generator=gen).to(x.device)
            pair = to_255(x[perm[idx_d]])
        res = _apply_group(sub, name, vals.to(sub.dtype).to(x.device), gen, pair)
        out[idx_d] = from_255(res, x)
    return out


def pil_to_tensor(img: Image.Image) -> torch.Tensor:
    """(C, H, W) uint8."""
    a = np.asarray(img)
    return (
        torch.from_numpy(a.copy()).unsqueeze(0)
        if a.ndim == 2
        else torch.from_numpy(a.copy()).permute(2, 0, 1)
    )
