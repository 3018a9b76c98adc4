"""Static measurements of a built model: parameter count and multiply-accumulates."""

from __future__ import annotations

import copy
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from nasbeyond.exceptions import ConfigError


def count_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Multiply-accumulates of one forward pass on one sample, over Conv, Linear and attention
    projections. This is what NAS papers (MnasNet, ProxylessNAS) call FLOPs. Every output
    element a layer computes counts (not only the first batch item's): a network that folds
    time or pixels into the batch, as a (2+1)D video block does, is counted whole."""
    total = 0

    def conv_hook(m: nn.Module, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        assert isinstance(m, nn.Conv1d | nn.Conv2d)
        k = int(torch.tensor(m.kernel_size).prod())
        total += out.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m: nn.Module, inp: tuple[torch.Tensor, ...], _out: object) -> None:
        nonlocal total
        assert isinstance(m, nn.Linear)
        total += inp[0].numel() // m.in_features * m.in_features * m.out_features

    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv1d | nn.Conv2d):
            hooks.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return total


LATENCY_BACKENDS = ("torch", "onnxruntime", "cuda")


def require_cuda(field: str) -> torch.device:
    """The CUDA device, or ConfigError naming ``field`` when PyTorch sees no CUDA GPU."""
    if not torch.cuda.is_available():
        raise ConfigError(
            f"{field}: 'cuda' needs an NVIDIA GPU and a CUDA build of PyTorch; this machine has "
            f"none (torch {torch.__version__}); use 'torch' (the CPU)"
        )
    return torch.device("cuda")


def cuda_timings_ms(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """GPU time (ms) of ``runs`` calls of ``fn`` after ``warmup`` untimed ones, each between two
    CUDA events and synchronised before the next (latency, not pipelined throughput)."""
    times = []
    with torch.inference_mode():
        for _ in range(warmup):
            fn()
        torch.cuda.synchronize()
        for _ in range(runs):
            start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(float(start.elapsed_time(end)))
    return times


def timings_ms(fn: Callable[[], object], runs: int, warmup: int) -> list[float]:
    """Wall time (ms) of ``runs`` calls of ``fn`` after ``warmup`` untimed ones, no autograd."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + runs):
            start = time.perf_counter()
            fn()
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return times


def measure_latency(
    model: nn.Module,
    input_shape: tuple[int, ...],
    runs: int = 30,
    warmup: int = 5,
    backend: str = "torch",
) -> tuple[float, float]:
    """Median and interquartile range (ms) of a batch-1 forward pass after warm-up: on the CPU
    in PyTorch eager mode (``torch``, the calling thread count) or ONNX Runtime
    (``onnxruntime``, the model exported to ONNX first), or on the CUDA GPU in PyTorch eager
    mode (``cuda``, each run timed with CUDA events).

    Raises:
        ConfigError: an unknown backend, or ``cuda`` without a CUDA GPU.
    """
    if backend not in LATENCY_BACKENDS:
        raise ConfigError(f"latency_backend: {backend!r}; allowed: {', '.join(LATENCY_BACKENDS)}")
    if backend == "cuda":
        device = require_cuda("latency_backend")
        m, x = copy.deepcopy(model).to(device).eval(), torch.randn(1, *input_shape, device=device)
        t = torch.tensor(cuda_timings_ms(lambda: m(x), runs, warmup))
        q1, med, q3 = (float(v) for v in t.quantile(torch.tensor([0.25, 0.5, 0.75])))
        return med, q3 - q1
    m = copy.deepcopy(model).cpu().eval()
    x = torch.randn(1, *input_shape)
    forward: Callable[[], object] = lambda: m(x)  # noqa: E731
    if backend == "onnxruntime":
        from nasbeyond.evaluate.onnx import export_onnx, onnxruntime

        ort = onnxruntime()
        with tempfile.TemporaryDirectory() as d:
            export_onnx(m, x, Path(d) / "m.onnx")
            session = ort.InferenceSession(
                str(Path(d) / "m.onnx"), providers=["CPUExecutionProvider"]
            )
        forward = lambda: session.run(None, {"x": x.numpy()})  # noqa: E731
    times = torch.tensor(timings_ms(forward, runs, warmup))
    q1, med, q3 = (float(v) for v in times.quantile(torch.tensor([0.25, 0.5, 0.75])))
    return med, q3 - q1
