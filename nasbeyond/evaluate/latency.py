"""Latency prediction (ProxylessNAS / FBNet style): a lookup table of the latency of each unit of
a network (a layer or block, keyed by its exact configuration and input shape), profiled once on
this machine, summed, then corrected by a linear model fitted on whole networks measured end to
end. Predictions cost microseconds where measurements cost a forward pass per run."""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasbeyond.evaluate.measure import timings_ms
from nasbeyond.exceptions import ConfigError, StoreError
from nasbeyond.space import Space
from nasbeyond.trial import TaskShape


def _low_ms(fn: Callable[[], object], runs: int, warmup: int) -> float:
    """The 10th percentile of ``runs`` timings: on a shared machine the low tail is the
    repeatable part of a latency; the median drifts with other load."""
    return float(np.percentile(timings_ms(fn, runs, warmup), 10))


def units(model: nn.Module) -> list[nn.Module]:
    """The network's units: its top-level children, with module lists and dicts opened."""
    out: list[nn.Module] = []
    for child in model.children():
        if isinstance(child, nn.ModuleList | nn.ModuleDict):
            out.extend(child.children())
        else:
            out.append(child)
    return out


def _unit_inputs(
    model: nn.Module, input_shape: tuple[int, ...]
) -> list[tuple[nn.Module, str, tuple[int, ...]]]:
    seen: list[tuple[nn.Module, str, tuple[int, ...]]] = []

    def hook(m: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        shape = tuple(args[0].shape)
        seen.append((m, f"{type(m).__name__}|{m!r}|{shape}", shape))

    handles = [u.register_forward_pre_hook(hook) for u in units(model)]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return seen


class LatencyPredictor:
    """Per-unit lookup table plus a linear correction
    ``a * table_sum + b * units + c * params + d``: units profiled alone keep their weights in
    cache, so a whole network with more parameters runs slower than its table sum (the ``c``
    term); ``b`` is the per-call overhead between units."""

    def __init__(
        self, table: dict[str, float] | None = None, coef: list[float] | None = None
    ) -> None:
        self.table = dict(table or {})
        self.coef = list(coef or [1.0, 0.0, 0.0, 0.0])

    def profile(
        self, model: nn.Module, input_shape: tuple[int, ...], runs: int = 40, warmup: int = 5
    ) -> int:
        """Measure every unit of ``model`` not yet in the table; returns how many were new."""
        new = 0
        for unit, key, shape in _unit_inputs(model, input_shape):
            if key in self.table:
                continue
            self.table[key] = _low_ms(
                functools.partial(copy.deepcopy(unit).eval(), torch.randn(*shape)), runs, warmup
            )
            new += 1
        return new

    def features(self, model: nn.Module, input_shape: tuple[int, ...]) -> list[float]:
        keyed = _unit_inputs(model, input_shape)
        missing = [k for _, k, _ in keyed if k not in self.table]
        if missing:
            self.profile(model, input_shape)
        params = sum(p.numel() for p in model.parameters()) / 1e5
        return [sum(self.table[k] for _, k, _ in keyed), float(len(keyed)), params, 1.0]

    def fit(
        self, models: list[nn.Module], input_shape: tuple[int, ...], measured_ms: list[float]
    ) -> None:
        """Least-squares correction from whole networks measured end to end, weighted to
        minimise relative error (a 10% miss on a 0.3 ms net counts as much as on a 10 ms one)."""
        x = np.array([self.features(m, input_shape) for m in models])
        y = np.array(measured_ms)
        self.coef = np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)[0].tolist()

    def predict(self, model: nn.Module, input_shape: tuple[int, ...]) -> float:
        return float(np.dot(self.coef, self.features(model, input_shape)))

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"coef": self.coef, "table": self.table}))
        return p

    @classmethod
    def load(cls, path: str | Path) -> LatencyPredictor:
        try:
            d = json.loads(Path(path).read_text())
            if len(d["coef"]) != len(cls().coef):
                raise ValueError("made by an older nasbeyond; run `nasbeyond latency profile`")
            return cls(d["table"], d["coef"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise StoreError(f"latency_predictor: cannot read {path} ({e})") from None


def measure_ms(
    model: nn.Module, input_shape: tuple[int, ...], runs: int = 30, warmup: int = 5
) -> float:
    """End-to-end batch-1 latency (ms, 10th percentile of ``runs``) on the CPU, PyTorch eager."""
    m, x = copy.deepcopy(model).cpu().eval(), torch.randn(1, *input_shape)
    return _low_ms(lambda: m(x), runs, warmup)


def profile_space(
    space: Space, input_shape: tuple[int, ...], archs: int = 60, seed: int = 0
) -> tuple[LatencyPredictor, float]:
    """Fit this machine's predictor for ``space``: ``archs`` random archs built for inputs of
    ``input_shape`` (one sample, e.g. (3, 32, 32)), each measured end to end on one thread.

    Returns:
        The fitted predictor and the in-sample share of archs predicted within 10%.

    Raises:
        ConfigError: fewer than 3 archs, or a non-positive input dimension.
    """
    if archs < 3 or any(v < 1 for v in input_shape):
        raise ConfigError("archs >= 3 and positive input_shape dimensions are required")
    torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    models = [space.build(space.sample(rng), TaskShape(input_shape, 10)) for _ in range(archs)]
    measured = np.array([measure_ms(m, input_shape) for m in models])
    predictor = LatencyPredictor()
    predictor.fit(models, input_shape, measured.tolist())
    pred = np.array([predictor.predict(m, input_shape) for m in models])
    return predictor, float(np.mean(np.abs(pred - measured) / measured <= 0.1))
