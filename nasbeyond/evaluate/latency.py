"""Latency prediction (ProxylessNAS / FBNet style): a lookup table of the latency of every call a
network makes, profiled once on this machine, summed, then corrected by a linear model fitted on
whole networks measured end to end. Predictions cost microseconds where measurements cost a
forward pass per run (Cai et al., *ProxylessNAS*, ICLR 2019; Wu et al., *FBNet*, CVPR 2019).

A network's calls are of two kinds, both recorded by running it once on a batch-1 input:

- **units**: its top-level child modules (module lists and dicts opened), keyed by their exact
  configuration and the shapes of everything they are called with;
- **ops**: every tensor operation its own ``forward`` runs outside the units (the skip-connection
  ``cat``, the average pooling of a skip to its target's size, the global mean before the
  classifier, residual adds, the transformer's masking), keyed by the operation and its
  arguments' shapes. Leaving these out made the macro-cnn predictor miss by 10-25% on archs with
  many skips.

Units and ops the table has never seen are profiled when first met (and written back to the
predictor's file when it was loaded from one). Timings are interleaved in rounds over every call
being profiled, so a burst of load from other processes spreads over many entries instead of
inflating one.

**Calibration probe.** On a shared machine the speed of one core is not constant: on the
2-vCPU VM this was built on, the same network's batch-1 CPU time (thread CPU time, so time
other processes hold the core is already left out) rose 1.3-1.9x for seconds at a time while
other processes ran (a sibling thread on the core, the shared cache and memory bandwidth taken),
and a table profiled minutes before a measurement predicted a different machine than the one
measured. So every profiling window also times a fixed probe network (``_Probe``: 4.5 MB of
weights, about 0.8 ms on one core here) in the same interleaved rounds, and the window's entries
and fitted measurements are multiplied by ``reference_ms`` (the probe's time in the predictor's
first profiling) over the probe's time in that window: every entry is in ms at one reference
speed, whenever it was profiled. ``predict`` returns the latency at that speed (stable: what a
search should rank by); ``predict(..., calibrate=True)`` times the probe first (20 runs, about
16 ms, whatever the network) and multiplies by ``speed()``, the probe's time now over
``reference_ms``: the latency the machine would measure now. A small probe (11 KB of
weights, 0.07 ms) missed slowdowns of networks that leave the core's 2 MB L2 cache; this one
tracks them. ``bench/latency_predictor.py`` reports both.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import hashlib
import json
import os
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from nasbeyond.evaluate.measure import cuda_timings_ms, require_cuda
from nasbeyond.exceptions import ConfigError, SpaceError, StoreError
from nasbeyond.space import Space
from nasbeyond.trial import TaskShape

PREDICTOR_BACKENDS = ("torch", "cuda")  # PyTorch eager on the CPU / on the CUDA GPU
FEATURES = ("table_ms", "calls", "constant")
_VERSION = 3  # 3: entries at the calibration probe's reference speed (``reference_ms``)


def _task(task: TaskShape | tuple[int, ...]) -> TaskShape:
    return task if isinstance(task, TaskShape) else TaskShape(tuple(task), 10)


def _device(backend: str) -> torch.device:
    if backend not in PREDICTOR_BACKENDS:
        raise ConfigError(f"backend: {backend!r}; allowed: {', '.join(PREDICTOR_BACKENDS)}")
    return require_cuda("backend") if backend == "cuda" else torch.device("cpu")


def example_input(task: TaskShape | tuple[int, ...], device: torch.device | str = "cpu") -> Any:
    """One batch-1 input for ``task``: float32 ``(1, *input_shape)``, standard normal, or token
    ids 1..vocab_size-1 carried as floats when ``task.vocab_size > 0``."""
    t = _task(task)
    if t.vocab_size > 0:
        return torch.randint(1, max(t.vocab_size, 2), (1, *t.input_shape), device=device).float()
    return torch.randn(1, *t.input_shape, device=device)


def _samples(
    fns: Sequence[Callable[[], object]], backend: str, runs: int, warmup: int, rounds: int
) -> list[list[float]]:
    """Timings (ms) of every ``fns[i]``, taken in ``rounds`` interleaved rounds of
    ``runs // rounds`` calls each (at least one), after ``warmup`` untimed calls per fn."""
    timer = cuda_timings_ms if backend == "cuda" else _cpu_timings_ms
    rounds = max(1, min(rounds, runs))
    per = max(1, runs // rounds)
    out: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        for i, fn in enumerate(fns):
            out[i] += timer(fn, per, warmup if r == 0 else 1)
    return out


def _clock() -> Callable[[], float]:
    """Seconds on the clock CPU latencies are read from: the calling thread's CPU time when
    PyTorch runs on one thread (``time.thread_time``: time other processes take from this core
    is not counted, so a loaded machine reads as an idle one), else wall time."""
    return time.thread_time if torch.get_num_threads() == 1 else time.perf_counter


def _cpu_timings_ms(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    clock, times = _clock(), []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = clock()
            fn()
            if i >= warmup:
                times.append((clock() - start) * 1000)
    return times


def _chain_samples(
    chains: Sequence[Sequence[Callable[[], object]]],
    backend: str,
    runs: int,
    warmup: int,
    rounds: int,
) -> list[list[list[float]]]:
    """Per chain, per call: the time (ms) of each call while the chain's calls run back to back
    (``runs`` times per chain, in ``rounds`` interleaved over the chains). A call timed this
    way pays what it pays inside a network (caches shared with its neighbours); the same call
    repeated alone runs 10-35% faster (measured on macro-cnn archs), a bias no per-network
    correction removes because it varies with the arch."""
    rounds = max(1, min(rounds, runs))
    per = max(1, runs // rounds)
    out: list[list[list[float]]] = [[[] for _ in fns] for fns in chains]
    with torch.inference_mode():
        for r in range(rounds):
            for fns, times in zip(chains, out, strict=True):
                for _ in range(warmup if r == 0 else 1):
                    for f in fns:
                        f()
                for _ in range(per):
                    for i, t in enumerate(_time_chain(fns, backend)):
                        times[i].append(t)
    return out


class _Probe(nn.Module):
    """The calibration probe: a fixed network made of the ops NAS networks are made of, small
    enough to time in well under a millisecond and large enough to leave the core's own
    caches (4.5 MB of weights, mostly one 1024x1024 linear layer streamed from memory), so that
    it slows down as networks do both when another thread shares the core and when another
    process takes the shared cache and memory bandwidth: a 3x3 convolution, batch norm and
    ReLU on a fixed (1, 32, 32, 32) input, a concatenation, 2x2 average pooling, a global mean
    and three linear layers (64 -> 1024 -> 1024 -> 10); weights from a fixed seed."""

    def __init__(self) -> None:
        super().__init__()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            self.conv = nn.Conv2d(32, 32, 3, padding=1, bias=False)
            self.bn = nn.BatchNorm2d(32)
            self.fc = nn.Sequential(nn.Linear(64, 1024), nn.Linear(1024, 1024), nn.Linear(1024, 10))
            self.x = torch.randn(1, 32, 32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat([torch.relu(self.bn(self.conv(x))), x], dim=1)
        return self.fc(nn.functional.avg_pool2d(y, 2).mean(dim=(2, 3)))


def _probe_fn(device: torch.device) -> Callable[[], object]:
    probe = _Probe().eval().to(device)
    return functools.partial(probe, probe.x.to(device))


def _time_chain(fns: Sequence[Callable[[], object]], backend: str) -> list[float]:
    if backend == "cuda":
        events = [torch.cuda.Event(enable_timing=True) for _ in range(len(fns) + 1)]
        torch.cuda.synchronize()
        events[0].record()
        for f, e in zip(fns, events[1:], strict=True):
            f()
            e.record()
        events[-1].synchronize()
        return [float(a.elapsed_time(b)) for a, b in zip(events, events[1:], strict=False)]
    clock = _clock()
    stamps = [clock()]
    for f in fns:
        f()
        stamps.append(clock())
    return [(b - a) * 1000 for a, b in zip(stamps, stamps[1:], strict=False)]


def _stat(times: list[float], backend: str) -> float:
    """CPU: the 10th percentile (on a shared machine the low tail is the repeatable part of a
    latency; the median drifts with other load). CUDA: the median of N, CUDA events."""
    return float(np.percentile(times, 50 if backend == "cuda" else 10))


# -- recording a network's calls -----------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """A tensor argument, by shape and dtype (values do not change the time of these ops)."""

    shape: tuple[int, ...]
    dtype: torch.dtype


def _template(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return _Spec(tuple(v.shape), v.dtype)
    if isinstance(v, list | tuple):
        return type(v)(_template(x) for x in v)
    if isinstance(v, dict):
        return {k: _template(x) for k, x in v.items()}
    return v


def _signature(v: Any) -> str:
    if isinstance(v, _Spec):
        return f"T{list(v.shape)}{str(v.dtype).removeprefix('torch.')}"
    if isinstance(v, list | tuple):
        inner = ",".join(_signature(x) for x in v)
        return f"[{inner}]" if isinstance(v, list) else f"({inner})"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}={_signature(x)}" for k, x in sorted(v.items())) + "}"
    return repr(v)


def _materialize(v: Any, device: torch.device) -> Any:
    if isinstance(v, _Spec):
        if v.dtype.is_floating_point:
            return torch.randn(v.shape, dtype=v.dtype, device=device)
        return torch.zeros(v.shape, dtype=v.dtype, device=device)  # ids: 0 is always valid
    if isinstance(v, list | tuple):
        return type(v)(_materialize(x, device) for x in v)
    if isinstance(v, dict):
        return {k: _materialize(x, device) for k, x in v.items()}
    return v


def _plain(v: Any) -> bool:
    if isinstance(v, list | tuple):
        return all(_plain(x) for x in v)
    return v is None or isinstance(v, bool | int | float | str)


def _module_digest(m: nn.Module) -> str:
    """Its structure (``repr``) and the plain attributes of every submodule (a branch's input
    index, a block's combiner) that ``repr`` leaves out."""
    parts = [repr(m)]
    for name, sub in m.named_modules():
        attrs = {
            k: v
            for k, v in vars(sub).items()
            if not k.startswith("_") and k != "training" and _plain(v)
        }
        parts.append(f"{name}:{sorted(attrs.items())}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Call:
    """One call a network makes: ``kind`` is ``unit`` (a top-level child module) or ``op`` (a
    tensor operation of the network's own ``forward``); ``key`` is its table key."""

    key: str
    kind: str
    target: Any  # the module (a unit) or the function (an op)
    args: tuple[Any, ...]  # templates: tensors as _Spec
    kwargs: dict[str, Any]

    def runnable(self, device: torch.device) -> Callable[[], object]:
        """A zero-argument function that runs this call alone on fresh inputs on ``device``."""
        args, kwargs = _materialize(self.args, device), _materialize(self.kwargs, device)
        if self.kind == "unit":
            unit = self.target  # in eval mode while profiled (``_evaluating``)
            if any(t.device != device for t in [*unit.parameters(), *unit.buffers()]):
                unit = copy.deepcopy(unit).to(device).eval()
            return functools.partial(unit, *args, **kwargs)
        return functools.partial(self.target, *args, **kwargs)


@contextlib.contextmanager
def _evaluating(models: Sequence[nn.Module]) -> Iterator[None]:
    """Every module of ``models`` in eval mode inside the block, as it was after."""
    modes = [(m, m.training) for net in models for m in net.modules()]
    for net in models:
        net.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


def units(model: nn.Module) -> list[nn.Module]:
    """The network's units: its top-level children, with module lists and dicts opened."""
    out: list[nn.Module] = []
    for child in model.children():
        if isinstance(child, nn.ModuleList | nn.ModuleDict):
            out.extend(child.children())
        else:
            out.append(child)
    return out


def _has_tensor(v: Any) -> bool:
    if isinstance(v, torch.Tensor):
        return True
    return isinstance(v, list | tuple) and any(_has_tensor(x) for x in v)


class _Recorder(TorchFunctionMode):
    """Records the tensor operations run while no unit is running (``depth == 0``)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.calls: list[Call] = []

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.depth == 0 and _has_tensor(out):
            a, k = _template(args), _template(kwargs)
            name = getattr(func, "__qualname__", None) or repr(func)
            key = f"op|{name}|{_signature(a)}|{_signature(k)}"
            self.calls.append(Call(key, "op", func, a, k))
        return out


_DIGESTS: weakref.WeakKeyDictionary[nn.Module, str] = weakref.WeakKeyDictionary()


def record(model: nn.Module, task: TaskShape | tuple[int, ...]) -> list[Call]:
    """Every unit call and every op ``model``'s own forward runs, in order, on one example input
    (``example_input(task)``, on the model's device), in eval mode (the model's mode is
    kept)."""
    x = example_input(task, next(model.parameters(), torch.empty(0)).device)
    recorder = _Recorder()

    def pre(m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if recorder.depth == 0:
            a, k = _template(args), _template(kwargs)
            digest = _DIGESTS.get(m) or _DIGESTS.setdefault(m, _module_digest(m))
            key = f"unit|{type(m).__name__}|{digest}|{_signature(a)}|{_signature(k)}"
            recorder.calls.append(Call(key, "unit", m, a, k))
        recorder.depth += 1

    def post(*_: Any) -> None:
        recorder.depth -= 1

    handles = []
    for u in units(model):
        handles.append(u.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(u.register_forward_hook(post, always_call=True))
    try:
        with _evaluating([model]), torch.inference_mode(), recorder:
            model(x)
    finally:
        for h in handles:
            h.remove()
    return recorder.calls


# -- the predictor ---------------------------------------------------------------------------


class LatencyPredictor:
    """Lookup table plus a linear correction of batch-1 latency (ms)::

        a * table_ms + b * calls + c

    ``table_ms`` is the table's sum over the network's units and ops, each timed inside a
    chain of calls as a network runs them (timed alone, a call keeps its weights and inputs in
    cache and runs 10-35% faster); ``calls`` their number (the network's own Python between
    calls); ``c`` the cost of entering the network. Entries, ``b`` and ``c`` are in ms at the
    reference speed of the calibration probe (module docstring); ``predict(calibrate=True)``
    multiplies by ``speed()``.

    Args:
        table: key -> ms at the reference speed, as ``record`` keys the calls.
        coef: the three coefficients above.
        backend: ``torch`` (CPU, PyTorch eager) or ``cuda`` (the CUDA GPU, CUDA events).
        runs: timed runs of each call profiled on demand (by ``features`` and ``predict``).
        reference_ms: the probe's time (ms) at the reference speed; None: set by the first
            profiling (it must come with a table: entries without it have no speed).
    """

    def __init__(
        self,
        table: dict[str, float] | None = None,
        coef: list[float] | None = None,
        backend: str = "torch",
        runs: int = 40,
        reference_ms: float | None = None,
    ) -> None:
        if backend not in PREDICTOR_BACKENDS:
            raise ConfigError(f"backend: {backend!r}; allowed: {', '.join(PREDICTOR_BACKENDS)}")
        if reference_ms is not None and not reference_ms > 0:
            raise ConfigError(f"reference_ms: {reference_ms!r}; must be a positive time (ms)")
        if table and reference_ms is None:
            raise ConfigError("reference_ms: a table needs the probe time it was profiled at")
        self.table = dict(table or {})
        self.coef = list(coef or [1.0, 0.0, 0.0])
        self.backend = backend
        self.runs = runs
        self.reference_ms = reference_ms
        self.path: Path | None = None  # set by load(): new entries are written back there

    def profile(
        self,
        models: nn.Module | Sequence[nn.Module],
        task: TaskShape | tuple[int, ...],
        runs: int = 40,
        warmup: int = 3,
        rounds: int = 5,
    ) -> int:
        """Time every call of ``models`` not yet in the table; returns how many entries were
        new. Each network's calls run back to back as the network runs them (``runs`` times,
        in ``rounds`` interleaved over the networks and the calibration probe, so a burst of
        load from another process spreads over many entries); every time is divided by its
        round's probe speed, and an entry is the 10th percentile of its call's times (CPU) or
        their median (CUDA), pooled over every network that makes the call.

        Raises:
            ConfigError: the ``cuda`` backend without a CUDA GPU.
        """
        nets = [models] if isinstance(models, nn.Module) else list(models)
        return self._profile(nets, task, runs, warmup, rounds, whole=False)[0]

    def _profile(
        self,
        models: Sequence[nn.Module],
        task: TaskShape | tuple[int, ...],
        runs: int,
        warmup: int,
        rounds: int,
        whole: bool,
    ) -> tuple[int, list[float]]:
        """``profile``; with ``whole``, every network also runs end to end in the same rounds,
        right after its calls, and its end-to-end latencies (ms) are returned."""
        chains, nets = [], []  # the calls of every network profiled
        for m in models:
            calls = record(m, task)
            if whole or any(c.key not in self.table for c in calls):
                chains.append(calls)
                nets.append(m)
        new = {c.key for calls in chains for c in calls if c.key not in self.table}
        if not new and not whole:
            return 0, []
        device = _device(self.backend)
        with _evaluating(nets):
            fns = [[c.runnable(device) for c in calls] for calls in chains]
            if whole:
                for chain, m in zip(fns, nets, strict=True):
                    on = any(t.device != device for t in m.parameters())
                    net = copy.deepcopy(m).eval().to(device) if on else m
                    chain.append(functools.partial(net, example_input(task, device)))
            *samples, (probe,) = _chain_samples(
                [*fns, [_probe_fn(device)]], self.backend, runs, warmup, rounds
            )
        probe_ms = _stat(probe, self.backend)  # the probe, timed in the same rounds
        if self.reference_ms is None:  # the first profiling sets the reference speed
            self.reference_ms = probe_ms
        scale = self.reference_ms / probe_ms  # ms now -> ms at the reference speed
        pooled: dict[str, list[float]] = {c.key: [] for calls in chains for c in calls}
        measured = []
        for calls, times in zip(chains, samples, strict=True):
            for c, t in zip(calls, times, strict=False):  # with whole, one more: the net
                pooled[c.key] += t
            if whole:
                measured.append(_stat(times[-1], self.backend) * scale)
        for key in new:
            self.table[key] = _stat(pooled[key], self.backend) * scale
        return len(new), measured

    def features(self, model: nn.Module, task: TaskShape | tuple[int, ...]) -> list[float]:
        """The correction's features of ``model`` (``FEATURES``); profiles what is new."""
        calls = record(model, task)
        if any(c.key not in self.table for c in calls):
            self.profile(model, task, runs=self.runs)
            self._write_back()
        return [sum(self.table[c.key] for c in calls), float(len(calls)), 1.0]

    def fit(
        self,
        models: Sequence[nn.Module],
        task: TaskShape | tuple[int, ...],
        measured_ms: Sequence[float] | None = None,
        runs: int = 30,
    ) -> list[float]:
        """Least-squares correction from whole networks measured end to end, weighted to
        minimise relative error (a 10% miss on a 0.3 ms net counts as much as on a 10 ms one).
        Without ``measured_ms`` each network is measured (``runs`` runs) in the same rounds as
        its calls are profiled, so table and measurements see the same machine load.

        Returns:
            The measurements fitted (ms).

        Raises:
            ConfigError: fewer networks than coefficients, or a non-positive measurement.
        """
        if measured_ms is None:
            measured_ms = self._profile(models, task, runs, 3, 5, whole=True)[1]
        else:
            self.profile(models, task)
        y = np.asarray(measured_ms, dtype=float)
        if len(models) != len(y) or len(y) < len(FEATURES) or not np.all(y > 0):
            raise ConfigError(
                f"fit: need >= {len(FEATURES)} models with one positive measurement each, "
                f"got {len(models)} models and {len(y)} measurements"
            )
        x = np.array([self.features(m, task) for m in models])
        self.coef = np.linalg.lstsq(x / y[:, None], np.ones_like(y), rcond=None)[0].tolist()
        return y.tolist()

    def predict(
        self, model: nn.Module, task: TaskShape | tuple[int, ...], calibrate: bool = False
    ) -> float:
        """Predicted batch-1 latency of ``model`` (ms) on this predictor's backend: at the
        reference speed, or with ``calibrate`` at the speed the probe measures now (the
        prediction times ``speed()``; costs 20 runs of the probe, about 16 ms here)."""
        speed = self.speed() if calibrate else 1.0  # before any profiling the calls need
        return speed * float(np.dot(self.coef, self.features(model, task)))

    def speed(self, runs: int = 20) -> float:
        """How slow the machine runs now against the reference: the calibration probe's time
        now (10th percentile (CPU) or median (CUDA) of ``runs`` runs back to back, as
        profiling times it) over ``reference_ms``; 1.0 before any profiling.

        Raises:
            ConfigError: the ``cuda`` backend without a CUDA GPU.
        """
        if self.reference_ms is None:
            return 1.0
        ((probe,),) = _chain_samples([[_probe_fn(_device(self.backend))]], self.backend, runs, 3, 5)
        return _stat(probe, self.backend) / self.reference_ms

    def save(self, path: str | Path) -> Path:
        """Write the predictor as JSON (atomically); returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "version": _VERSION,
            "backend": self.backend,
            "coef": self.coef,
            "reference_ms": self.reference_ms,
        }
        _atomic_write(p, json.dumps({**data, "table": self.table}))
        return p

    def _write_back(self) -> None:
        """Merge this table into the file it was loaded from (other processes may have added
        entries since; a file lock keeps their writes and ours whole)."""
        if self.path is None:
            return
        with _locked(self.path):
            try:
                on_disk = json.loads(self.path.read_text()).get("table", {})
            except (OSError, ValueError):
                on_disk = {}
            self.table = {**on_disk, **self.table}
            self.save(self.path)

    @classmethod
    def load(cls, path: str | Path) -> LatencyPredictor:
        """Read a predictor written by ``save``; entries it profiles later are written back.

        Raises:
            StoreError: the file is missing, unreadable, or from an older nasbeyond.
        """
        try:
            d = json.loads(Path(path).read_text())
            if d.get("version") != _VERSION or len(d["coef"]) != len(FEATURES):
                raise ValueError(
                    "made by an older nasbeyond (no calibration probe); profile again with "
                    "`nasbeyond latency profile`"
                )
            ref = d["reference_ms"]
            lp = cls(d["table"], d["coef"], d.get("backend", "torch"), reference_ms=ref)
        except (OSError, ValueError, KeyError, TypeError, AttributeError, ConfigError) as e:
            raise StoreError(f"latency_predictor: cannot read {path} ({e})") from None
        lp.path = Path(path)
        return lp


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


# -- end-to-end measurement and fitting --------------------------------------------------------


def measure_ms(
    model: nn.Module,
    task: TaskShape | tuple[int, ...],
    runs: int = 30,
    warmup: int = 5,
    backend: str = "torch",
) -> float:
    """End-to-end batch-1 latency (ms) in PyTorch eager: on the CPU (``torch``, the 10th
    percentile of ``runs``, the calling thread count; with one thread, its CPU time, which on a
    shared machine leaves out the time other processes hold the core) or on the CUDA GPU
    (``cuda``, the median of ``runs`` timed with CUDA events).

    Raises:
        ConfigError: an unknown backend, or ``cuda`` without a CUDA GPU.
    """
    return measure_many([model], task, runs, warmup, 1, backend)[0]


def measure_many(
    models: Sequence[nn.Module],
    task: TaskShape | tuple[int, ...],
    runs: int = 30,
    warmup: int = 5,
    rounds: int = 3,
    backend: str = "torch",
) -> list[float]:
    """``measure_ms`` of every model, the runs interleaved over the models in ``rounds`` so
    that each faces the same machine load."""
    device = _device(backend)
    fns = []
    for m in models:
        net = copy.deepcopy(m).eval().to(device)
        fns.append(functools.partial(net, example_input(task, device)))
    return [_stat(t, backend) for t in _samples(fns, backend, runs, warmup, rounds)]


def profile_space(
    space: Space,
    task: TaskShape | tuple[int, ...],
    archs: int = 60,
    seed: int = 0,
    backend: str = "torch",
    runs: int = 30,
) -> tuple[LatencyPredictor, float]:
    """Fit this machine's predictor for ``space``: ``archs`` random archs built for ``task``
    (or a bare input shape of one sample, e.g. (3, 32, 32)), each measured end to end (one
    thread on the CPU), every unit and op profiled.

    Returns:
        The fitted predictor and the in-sample share of archs predicted within 10%.

    Raises:
        ConfigError: fewer than 3 archs or 1 run, a non-positive input dimension, a space
            that cannot build for this input (e.g. the transformer without a vocabulary), an
            unknown backend or ``cuda`` without a CUDA GPU.
    """
    t = _task(task)
    if archs < len(FEATURES):
        raise ConfigError(f"archs is {archs}; allowed: >= {len(FEATURES)} (the fit's terms)")
    if runs < 1:
        raise ConfigError(f"runs is {runs}; allowed: >= 1")
    if any(v < 1 for v in t.input_shape):
        raise ConfigError(f"input_shape is {t.input_shape}; allowed: positive dimensions")
    _device(backend)
    if backend == "torch":
        torch.set_num_threads(1)
    rng = np.random.default_rng(seed)
    try:
        models = [space.build(space.sample(rng), t) for _ in range(archs)]
    except SpaceError as e:
        hint = " (token inputs: e.g. --input-shape 64 --vocab-size 16)" if "vocab" in str(e) else ""
        raise ConfigError(f"input_shape: {e}{hint}") from None
    predictor = LatencyPredictor(backend=backend, runs=runs)
    measured = np.array(predictor.fit(models, t, runs=runs))
    pred = np.array([predictor.predict(m, t) for m in models])
    return predictor, float(np.mean(np.abs(pred - measured) / measured <= 0.1))
