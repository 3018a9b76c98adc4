"""Export a model for serving (TorchScript, or ONNX checked with ONNX Runtime), and the best
model of a run with its trained weights. Every export is checked against PyTorch's outputs and
its CPU latency measured with the runtime that will serve it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nasbeyond.evaluate.measure import measure_latency
from nasbeyond.exceptions import ConfigError, StoreError
from nasbeyond.extras import require

FORMATS = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
TOLERANCE = 1e-5


@dataclass(frozen=True)
class Exported:
    path: Path
    max_abs_diff: float  # exported vs PyTorch outputs on a random batch
    latency_ms: float  # median batch-1 CPU latency: ONNX Runtime for onnx, else PyTorch eager


def _onnxruntime() -> Any:
    return require("onnxruntime", "onnx", "format", "'onnx'")


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """The model as ONNX (opset 17, dynamic batch), via PyTorch's TorchScript-based exporter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
        )


def export_model(
    model: nn.Module, input_shape: tuple[int, ...], fmt: str, path: str | Path
) -> Exported:
    """Write ``model`` in ``fmt`` to ``path``; raise if the export disagrees with PyTorch by more
    than 1e-5."""
    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r}; allowed: {', '.join(FORMATS)}")
    model = model.cpu().eval()
    example = torch.randn(2, *input_shape)
    path = Path(path)
    with torch.no_grad():
        want = model(example).numpy()
    if fmt == "onnx":
        ort = _onnxruntime()
        export_onnx(model, example, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = session.run(None, {"x": example.numpy()})[0]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            torch.jit.trace(model, example).save(str(path))
            loaded = torch.jit.load(str(path))
        with torch.no_grad():
            got = loaded(example).numpy()
    diff = float(np.abs(got - want).max())
    if diff > TOLERANCE:
        raise RuntimeError(f"exported {fmt} model differs from PyTorch by {diff:.2g}")
    backend = "onnxruntime" if fmt == "onnx" else "torch"
    return Exported(path, diff, measure_latency(model, input_shape, backend=backend)[0])


def export_best(
    run_dir: str | Path, fmt: str = "torchscript", output: str | Path | None = None
) -> Exported:
    """Export the run's best model (final retrained weights if any, else the trial's own)."""
    from nasbeyond.run import Experiment

    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r}; allowed: {', '.join(FORMATS)}")
    exp = Experiment.resume(run_dir)
    report = exp.final_report()
    if report is None or report.weights is None:
        raise StoreError(f"run_dir: {run_dir} has no finished trial with saved weights to export")
    load_model = getattr(exp.evaluator, "load_model", None)
    task = getattr(exp.evaluator, "task", None)
    if load_model is None or task is None:
        raise ConfigError(f"evaluator: {exp.config.evaluator!r} trains no weights to export")
    out = Path(output) if output else Path(run_dir) / f"best{FORMATS[fmt]}"
    return export_model(load_model(report.arch, report.weights), task().input_shape, fmt, out)
