"""The genome of Large-Scale Evolution (Real et al., ICML 2017) on the macro CNN skeleton:
conv layers that each may or may not have a nonlinearity, skip connections, and the learning
rate as part of the genome. Every layer carries a stable ``id`` so a child can inherit its
parent's trained weights layer by layer after layers are inserted or removed.

An arch is ``{"layers": [{"id": 0, "kh": 3, "kw": 3, "filters": 16, "stride": 1, "relu": true,
"skips": []}, ...], "hparams": {"lr": 0.1}, "next_id": 1}``; ``trivial()`` is the paper's
starting point: no convolution at all (a linear classifier on the pixels).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nasbeyond.arch import Arch, copy_arch
from nasbeyond.exceptions import SpaceError
from nasbeyond.registry import register
from nasbeyond.space._base import Decision, Panel
from nasbeyond.space.macro_cnn import KERNELS, STRIDES, MacroCNNSpace, layer_graph

FILTERS = (8, 16, 24, 32, 48, 64)
LR_GRID = (0.003, 0.01, 0.03, 0.1, 0.3)
LR_RANGE = (1e-4, 1.0)

# The paper's mutation names for the moves of the macro space, plus the learning rate.
MUTATIONS = {
    "insert": "insert convolution",
    "remove": "remove convolution",
    "alter_relu": "insert / remove nonlinearity",
    "add_skip": "add skip",
    "remove_skip": "remove skip",
    "alter_stride": "alter stride",
    "alter_filters": "alter number of channels",
    "alter_kw": "alter horizontal filter size",
    "alter_kh": "alter vertical filter size",
    "alter_lr": "alter learning rate",
}


@register("space", "evolution-cnn")
class EvolutionCNNSpace(MacroCNNSpace):
    """Large-Scale Evolution's genome: 0..max_layers conv layers plus the learning rate."""

    name = "evolution-cnn"
    fields = {
        "kh": KERNELS,
        "kw": KERNELS,
        "filters": FILTERS,
        "stride": STRIDES,
        "relu": (False, True),
    }
    layer_keys = frozenset({"skips", "id"})

    def __init__(self, max_layers: int = 8, min_layers: int = 0) -> None:
        super().__init__(max_layers=max_layers, min_layers=min_layers)

    def trivial(self) -> Arch:
        return {"layers": [], "hparams": {"lr": 0.1}, "next_id": 0}

    @staticmethod
    def _number(layers: list[dict[str, Any]], lr: float) -> Arch:
        for i, layer in enumerate(layers):
            layer["id"] = i
        return {"layers": layers, "hparams": {"lr": lr}, "next_id": len(layers)}

    def decisions(self) -> list[Decision]:
        return [*super().decisions(), Decision("lr", LR_GRID)]

    def _from_picked(self, picked: dict[str, Any]) -> Arch:
        return self._number(super()._from_picked(picked)["layers"], picked["lr"])

    def sample(self, rng: np.random.Generator) -> Arch:
        layers = super().sample(rng)["layers"]
        return self._number(layers, LR_GRID[int(rng.integers(len(LR_GRID)))])

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        child, _ = self.mutate_named(arch, rng)
        return child

    def mutate_named(self, arch: Arch, rng: np.random.Generator) -> tuple[Arch, str]:
        """One mutation and its name in the paper's list (``MUTATIONS``)."""
        child = copy_arch(self.validate(arch))
        if rng.random() < 1 / len(MUTATIONS):
            lr = child["hparams"]["lr"] * 2.0 ** rng.uniform(-1, 1)  # half to twice
            child["hparams"]["lr"] = float(np.clip(lr, *LR_RANGE))
            return self.validate(child), "alter_lr"
        move = self._mutate_layers(child["layers"], rng)
        for layer in child["layers"]:
            if "id" not in layer:  # an inserted layer gets a fresh id: it inherits nothing
                layer["id"] = child["next_id"]
                child["next_id"] += 1
        return self.validate(child), move

    def validate(self, arch: Arch) -> Arch:
        super().validate(arch)
        extra = set(arch) - {"layers", "hparams", "next_id"}
        if extra:
            raise SpaceError(
                f"{self.name}: unknown field {sorted(extra)[0]!r}; allowed: "
                "layers, hparams, next_id"
            )
        hp = arch.get("hparams")
        lr = hp.get("lr") if isinstance(hp, dict) else None
        if (
            not isinstance(hp, dict)
            or set(hp) != {"lr"}
            or isinstance(lr, bool)
            or not (isinstance(lr, int | float) and LR_RANGE[0] <= lr <= LR_RANGE[1])
        ):
            raise SpaceError(
                f'{self.name}: hparams must be {{"lr": x}} with '
                f"{LR_RANGE[0]:g} <= x <= {LR_RANGE[1]:g}; got {hp!r}"
            )
        ids = [layer.get("id") for layer in arch["layers"]]
        nxt = arch.get("next_id")
        if any(isinstance(i, bool) or not isinstance(i, int) or i < 0 for i in ids) or len(
            set(ids)
        ) != len(ids):
            raise SpaceError(f"{self.name}: layer ids {ids} must be distinct integers >= 0")
        if isinstance(nxt, bool) or not isinstance(nxt, int) or nxt <= max(ids, default=-1):
            raise SpaceError(
                f"{self.name}: next_id is {nxt!r}; allowed: an integer above every layer id"
            )
        return arch

    def graph(self, arch: Arch) -> list[Panel]:
        return [(f"{self.name} lr={arch['hparams']['lr']:.3g}", layer_graph(arch["layers"]))]

    def describe(self, arch: Arch) -> str:
        convs = []
        for layer in arch["layers"]:
            s = f"{layer['kh']}x{layer['kw']}x{layer['filters']}"
            s += ("/2" if layer["stride"] == 2 else "") + ("" if layer["relu"] else " linear")
            s += ("+" + ",".join(map(str, layer["skips"]))) if layer["skips"] else ""
            convs.append(s)
        body = " > ".join(convs) if convs else "linear classifier"
        return f"{body} | lr={arch['hparams']['lr']:.3g}"
