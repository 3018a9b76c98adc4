"""Augmentation inside the search loop: transforms named by text (``--augment``), applied to
training batches of a standardised dataset. The ``augment-train`` evaluator that scores a
policy with them lives with the other evaluators, in ``nasbeyond.train.augment_trainer``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from nasbeyond.augment.transforms import AutoAugment, RandAugment, TrivialAugment
from nasbeyond.data import Dataset
from nasbeyond.exceptions import ConfigError

Transform = Callable[[torch.Tensor], torch.Tensor]
TRANSFORM_HELP = (
    "none, crop-flip, autoaugment:cifar10|svhn|imagenet|FILE.json, randaugment:N,M, trivialaugment"
)


class CropFlip:
    """The standard augmentation: pad 4 (or 1/8 of the size) and crop back at random, flip
    horizontally with probability 1/2; per sample, batched."""

    def __init__(self, seed: int | None = None, flip: bool = True) -> None:
        self.gen = torch.Generator().manual_seed(seed or 0)
        self.flip = flip

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        pad = max(1, min(h, w) // 8)
        padded = torch.nn.functional.pad(x.float(), (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (b,), generator=self.gen).to(x.device)
        dx = torch.randint(0, 2 * pad + 1, (b,), generator=self.gen).to(x.device)
        rows = (dy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
        cols = (dx.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
        if self.flip:
            flip = (torch.rand(b, generator=self.gen) < 0.5).to(x.device).view(b, 1, 1, 1)
            cols = torch.where(flip, cols.flip(-1), cols)
        c = x.shape[1]
        idx = rows.expand(b, c, h, w) * (w + 2 * pad) + cols.expand(b, c, h, w)
        out = padded.flatten(2).gather(2, idx.flatten(2)).view(b, c, h, w)
        return out.to(x.dtype)


def parse_transform(spec: str, seed: int | None = None) -> Transform | None:
    """``none``, ``crop-flip``, ``autoaugment:POLICY``, ``randaugment:N,M``,
    ``trivialaugment``."""
    kind, _, arg = spec.partition(":")
    if kind == "none":
        return None
    if kind == "crop-flip":
        return CropFlip(seed)
    if kind == "autoaugment":
        return AutoAugment(arg or "cifar10", seed=seed)
    if kind == "trivialaugment":
        return TrivialAugment(seed=seed)
    if kind == "randaugment":
        try:
            n, m = (arg or "2,9").split(",")
            return RandAugment(int(n), float(m), seed=seed)
        except ValueError:
            raise ConfigError(
                f"augment: {spec!r}; expected randaugment:N,M like randaugment:2,9"
            ) from None
    raise ConfigError(f"augment: {spec!r}; allowed: {TRANSFORM_HELP}")


def batch_augmenter(transform: Transform | None, data: Dataset) -> Transform | None:
    """``transform`` on standardised batches: undo the standardisation (pixels back in 0..1),
    transform, standardise again."""
    if transform is None:
        return None
    if not data.pixel_mean:
        raise ConfigError(
            f"augment: dataset {data.name!r} is not images; augmentation needs images"
        )
    mean = torch.tensor(data.pixel_mean).view(1, -1, 1, 1)
    std = torch.tensor(data.pixel_std).view(1, -1, 1, 1)
    on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def apply(x: torch.Tensor) -> torch.Tensor:
        # Copied to a device once, not every step (a host-to-device copy synchronises on CUDA).
        if x.device not in on_device:
            on_device[x.device] = (mean.to(x.device), std.to(x.device))
        m, s = on_device[x.device]
        pixels = (x * s + m).clamp(0, 1)
        return (transform(pixels) - m) / s

    return apply
