"""AutoAugment, RandAugment and TrivialAugment as transforms for any PyTorch pipeline: call one on
a PIL image (the original algorithm, one image at a time) or on a tensor (C, H, W) or batch
(B, C, H, W), uint8 or float in 0..1, on any device; in a batch every sample draws its own
sub-policy / ops / magnitudes.

- ``AutoAugment(policy)``: one of the policy's sub-policies uniformly per image; each of its
  ``[operation, probability, magnitude_bin]`` entries applied with its probability, at level
  bin / 9 (Cubuk et al. 2019). ``policy`` is ``"cifar10"``, ``"svhn"``, ``"imagenet"`` (the
  published policies, shipped), a JSON file, or the list itself.
- ``RandAugment(n, m)``: ``n`` ops uniformly from 14 (identity and the 13 of the paper), all at
  magnitude ``m`` on a 0..10 scale (level m / 10, as the paper's reference code; torchvision's
  31-bin scale is m * 3) (Cubuk et al. 2020).
- ``TrivialAugment()``: one op uniformly from the same 14 at a level drawn uniformly from 31
  bins (Müller & Hutter 2021).

Ops are looked up by name in ``nasbeyond.augment.ops.OPS``: a policy may name any registered op,
and ``RandAugment`` and ``TrivialAugment`` take their op list as ``ops=``. Levels are float64 on
both paths, so a bin means the same value to a batch as to a PIL image.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from nasbeyond._paths import is_file
from nasbeyond.augment.ops import OP_NAMES, OPS, apply_batch, apply_pil
from nasbeyond.exceptions import ConfigError

Policy = list[list[list[Any]]]  # sub-policies of [operation, probability, magnitude_bin]
MAGNITUDE_BINS = 10  # AutoAugment: levels bin / 9
RAND_OPS = (
    "Identity",
    "AutoContrast",
    "Equalize",
    "Rotate",
    "Solarize",
    "Color",
    "Posterize",
    "Contrast",
    "Brightness",
    "Sharpness",
    "ShearX",
    "ShearY",
    "TranslateX",
    "TranslateY",
)
PUBLISHED = ("cifar10", "svhn", "imagenet")


@cache
def _published() -> dict[str, Any]:
    text = resources.files("nasbeyond.augment").joinpath("policies/published.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def published_policy(name: str) -> Policy:
    """A published policy: ``cifar10``, ``svhn``, ``imagenet`` (AutoAugment), or a detection
    policy ``detection_v0`` .. ``detection_v3`` (Zoph et al. 2019; levels 0..10)."""
    key = (
        f"autoaugment_{name}"
        if name in PUBLISHED
        else name.replace("detection_", "detection_policy_")
    )
    data = _published()
    if key not in data or key.startswith("_"):
        allowed = [*PUBLISHED, *(f"detection_v{i}" for i in range(4))]
        raise ConfigError(
            f"policy: unknown published policy {name!r}; allowed: {', '.join(allowed)}"
        )
    policy: Policy = data[key]
    return policy


def validate_policy(
    policy: object, where: str = "policy", max_bin: int = MAGNITUDE_BINS - 1
) -> Policy:
    """``policy`` if it is a list of sub-policies of ``[op, probability, magnitude_bin]``;
    otherwise a ConfigError naming the entry."""
    if not isinstance(policy, list) or not policy:
        raise ConfigError(f"{where}: expected a non-empty list of sub-policies")
    for i, sub in enumerate(policy):
        if not isinstance(sub, list) or not sub:
            raise ConfigError(
                f"{where}: sub-policy {i} must be a non-empty list of [op, probability, magnitude]"
            )
        for j, entry in enumerate(sub):
            at = f"{where}: sub-policy {i} entry {j}"
            if not isinstance(entry, list | tuple) or len(entry) != 3:
                raise ConfigError(f"{at} must be [operation, probability, magnitude_bin]")
            op, p, mag = entry
            if op not in OPS:
                raise ConfigError(f"{at}: unknown operation {op!r}; allowed: {', '.join(OPS)}")
            if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
                raise ConfigError(f"{at}: probability {p!r}; allowed: a number in 0..1")
            if mag is not None and (
                isinstance(mag, bool) or not isinstance(mag, int | float) or not 0 <= mag <= max_bin
            ):
                raise ConfigError(f"{at}: magnitude {mag!r}; allowed: 0..{max_bin} (or null)")
    return policy


def load_policy(spec: str | Path | Policy) -> Policy:
    """A published policy name, a JSON file (a policy, or ``{"policy": ...}`` as
    ``nasbeyond augment export`` writes), or a policy list."""
    if isinstance(spec, list):
        return validate_policy(spec)
    text = str(spec)
    if text in PUBLISHED or text.startswith("detection_"):
        return published_policy(text)
    path = Path(text)
    if not is_file(path):
        raise ConfigError(
            f"policy: {text!r} is neither a published policy ({', '.join(PUBLISHED)}) "
            "nor a JSON file"
        )
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"policy: cannot read {path}: {e}") from None
    if isinstance(data, dict) and "policy" in data:
        data = data["policy"]
    return validate_policy(data, f"policy {path}")


class TransformModule(torch.nn.Module):
    """Shared plumbing: PIL images one by one, tensors as batches; seeded when asked. A module,
    so it composes with ``nn.Sequential`` and is what augmentation spaces build."""

    def __init__(self, seed: int | None = None) -> None:
        super().__init__()
        self.rng = random.Random()
        self.gen = torch.Generator()
        self.reseed(seed if seed is not None else random.randrange(2**62))
        self._last: Image.Image | None = None  # SamplePairing's partner on the PIL path

    def reseed(self, seed: int) -> None:
        """Restart both random streams (PIL path and tensor path) from ``seed``."""
        self.rng.seed(seed)
        self.gen.manual_seed(seed)

    def forward(self, img: Any) -> Any:
        if isinstance(img, Image.Image):
            out = self._pil(img)
            self._last = img
            return out
        if isinstance(img, torch.Tensor) and img.dim() in (3, 4):
            if img.dim() == 3:
                return self._batch(img.unsqueeze(0))[0]
            return self._batch(img)
        raise ConfigError(
            "augment: expected a PIL image or a (C, H, W) / (B, C, H, W) tensor, got "
            f"{type(img).__name__}"
        )

    def _sign(self) -> float:
        return self.rng.choice((-1.0, 1.0))

    def _signs(self, n: int) -> torch.Tensor:
        return torch.randint(0, 2, (n,), generator=self.gen).float() * 2 - 1

    def _pil(self, img: Image.Image) -> Image.Image:
        raise NotImplementedError

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class AutoAugment(TransformModule):
    """Apply a learned policy (see the module docstring)."""

    def __init__(self, policy: str | Path | Policy = "cifar10", seed: int | None = None) -> None:
        super().__init__(seed)
        self.policy = load_policy(policy)
        width = max(len(s) for s in self.policy)
        # the 16 in a fixed order (seeded batches repeat), then any registered op the policy names
        used = dict.fromkeys(e[0] for s in self.policy for e in s if e[0] not in OP_NAMES)
        names = ("Identity", *OP_NAMES, *(n for n in used if n != "Identity"))
        self.names = names
        rows = [list(s) + [["Identity", 0.0, 0]] * (width - len(s)) for s in self.policy]
        self._ops = torch.tensor([[names.index(e[0]) for e in r] for r in rows])
        self._p = torch.tensor([[float(e[1]) for e in r] for r in rows])
        self._lv = torch.tensor(
            [[float(e[2] or 0) / (MAGNITUDE_BINS - 1) for e in r] for r in rows],
            dtype=torch.float64,
        )

    def _pil(self, img: Image.Image) -> Image.Image:
        for op, p, mag in self.rng.choice(self.policy):
            if self.rng.random() < p:
                img = apply_pil(
                    img, op, (mag or 0) / (MAGNITUDE_BINS - 1), self._sign(), self.rng, self._last
                )
        return img

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        b = len(x)
        sub = torch.randint(0, len(self.policy), (b,), generator=self.gen)
        ops, p, lv = self._ops[sub], self._p[sub], self._lv[sub]  # (B, slots) each
        for slot in range(self._ops.shape[1]):
            apply = torch.rand(b, generator=self.gen) < p[:, slot]
            x = apply_batch(
                x,
                ops[:, slot],
                lv[:, slot],
                self._signs(b),
                apply,
                self.names,
                self.gen,
                out=x if slot else None,  # the first slot's result is ours: the rest in place
            )
        return x


def check_op_names(ops: Sequence[str] | None, where: str) -> tuple[str, ...]:
    """``ops`` as a tuple of registered op names (``RAND_OPS`` when None).

    Raises:
        ConfigError: ``ops`` is empty or names an op that is not registered.
    """
    if ops is None:
        return RAND_OPS
    names = (ops,) if isinstance(ops, str) else tuple(ops)
    bad = [n for n in names if not isinstance(n, str) or n not in OPS]
    if not names or bad:
        raise ConfigError(
            f"{where}: ops is {list(names)!r}; allowed: a non-empty list of {', '.join(OPS)}"
        )
    return names


class RandAugment(TransformModule):
    """``n`` random ops at magnitude ``m`` (0..10).

    Args:
        n: ops per image, an integer >= 0.
        m: magnitude on the 0..10 scale (level m / 10).
        seed: seeds both random streams; random when None.
        ops: the names to draw from, uniformly (default ``RAND_OPS``: Identity and the 13 of
            the paper); any registered op.

    Raises:
        ConfigError: ``n``, ``m`` or ``ops`` out of range.
    """

    def __init__(
        self,
        n: int = 2,
        m: float = 9,
        seed: int | None = None,
        *,
        ops: Sequence[str] | None = None,
    ) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ConfigError(f"randaugment: n is {n!r}; allowed: an integer >= 0")
        if isinstance(m, bool) or not isinstance(m, int | float) or not 0 <= m <= 10:
            raise ConfigError(f"randaugment: m is {m!r}; allowed: 0..10")
        names = check_op_names(ops, "randaugment")
        super().__init__(seed)
        self.n, self.m, self.ops = n, m, names

    def _pil(self, img: Image.Image) -> Image.Image:
        for _ in range(self.n):
            op = self.rng.choice(self.ops)
            if op != "Identity":
                img = apply_pil(img, op, self.m / 10, self._sign(), self.rng)
        return img

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        b = len(x)
        level = torch.full((b,), self.m / 10, dtype=torch.float64)
        every = torch.ones(b, dtype=torch.bool)
        for i in range(self.n):
            ops = torch.randint(0, len(self.ops), (b,), generator=self.gen)
            # the first op's result is ours: the later ops change it in place
            x = apply_batch(
                x, ops, level, self._signs(b), every, self.ops, self.gen, out=x if i else None
            )
        return x


class TrivialAugment(TransformModule):
    """One random op at a random level (31 bins).

    Args:
        seed: seeds both random streams; random when None.
        ops: the names to draw from, uniformly (default ``RAND_OPS``); any registered op.

    Raises:
        ConfigError: ``ops`` names an op that is not registered.
    """

    def __init__(self, seed: int | None = None, *, ops: Sequence[str] | None = None) -> None:
        names = check_op_names(ops, "trivialaugment")
        super().__init__(seed)
        self.ops = names

    def _pil(self, img: Image.Image) -> Image.Image:
        op = self.rng.choice(self.ops)
        level = self.rng.randrange(31) / 30
        return img if op == "Identity" else apply_pil(img, op, level, self._sign(), self.rng)

    def _batch(self, x: torch.Tensor) -> torch.Tensor:
        b = len(x)
        ops = torch.randint(0, len(self.ops), (b,), generator=self.gen)
        levels = torch.randint(0, 31, (b,), generator=self.gen).double() / 30
        return apply_batch(
            x, ops, levels, self._signs(b), torch.ones(b, dtype=torch.bool), self.ops, self.gen
        )
