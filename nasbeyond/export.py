"""Export a model for serving (TorchScript, or ONNX checked with ONNX Runtime), and the best
model of a run with its trained weights. Every export is checked against PyTorch's outputs and
its CPU latency measured with the runtime that will serve it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nasbeyond.evaluate.measure import measure_latency
from nasbeyond.evaluate.onnx import export_onnx, onnxruntime
from nasbeyond.exceptions import ConfigError, StoreError

FORMATS = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
TOLERANCE = 1e-5


def _arrays(out: object) -> list[np.ndarray]:
    """A model's output (a tensor, or a detector's tuple of tensors) as numpy arrays."""
    tensors = out if isinstance(out, tuple | list) else (out,)
    return [np.asarray(t.numpy() if isinstance(t, torch.Tensor) else t) for t in tensors]


@dataclass(frozen=True)
class Exported:
    path: Path
    max_abs_diff: float  # exported vs PyTorch outputs on a random batch
    latency_ms: float  # median batch-1 CPU latency: ONNX Runtime for onnx, else PyTorch eager


def export_model(
    model: nn.Module, input_shape: tuple[int, ...], fmt: str, path: str | Path
) -> Exported:
    """Write ``model`` in ``fmt`` to ``path``; raise if the export disagrees with PyTorch by more
    than 1e-5 (times the largest output's magnitude where that exceeds 1). A model may return
    one tensor or a tuple of them (a detector's per-level outputs); every output is compared."""
    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r}; allowed: {', '.join(FORMATS)}")
    model = model.cpu().eval()
    example = torch.randn(2, *input_shape)
    path = Path(path)
    with torch.no_grad():
        want = _arrays(model(example))
    if fmt == "onnx":
        ort = onnxruntime()
        export_onnx(model, example, path)
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        got = _arrays(session.run(None, {"x": example.numpy()}))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # TorchScript's deprecation notice
            # check_trace re-traces and reruns the model (3-4x the trace's cost); the loaded
            # module's outputs are compared with PyTorch's below instead
            torch.jit.trace(model, example, check_trace=False).save(str(path))
            loaded = torch.jit.load(str(path))
        with torch.no_grad():
            got = _arrays(loaded(example))
    diff = max(float(np.abs(g - w).max()) for g, w in zip(got, want, strict=True))
    # float32 rounding grows with the outputs' size: a detector's box outputs (tens of pixels)
    # differ by a few units in the last place, ~1e-5, however exact the export
    scale = max([1.0, *(float(np.abs(w).max(initial=0.0)) for w in want)])
    if diff > TOLERANCE * scale:
        raise RuntimeError(f"exported {fmt} model differs from PyTorch by {diff:.2g}")
    backend = "onnxruntime" if fmt == "onnx" else "torch"
    return Exported(path, diff, measure_latency(model, input_shape, backend=backend)[0])


def export_best(
    run_dir: str | Path, fmt: str = "torchscript", output: str | Path | None = None
) -> Exported:
    """Export the run's best model with its trained weights: the final retrained weights if
    the search wrote them, else the best trial's own. Reads the run; never trains.

    Raises:
        ConfigError: an unknown ``fmt``, or a run whose candidates are not networks.
        StoreError: no finished trial with saved weights, or no recorded task shape.
    """
    from nasbeyond.run.experiment import RunRecord
    from nasbeyond.train.trainer import load_weights, weights_path

    if fmt not in FORMATS:
        raise ConfigError(f"format: {fmt!r}; allowed: {', '.join(FORMATS)}")
    record = RunRecord.open(run_dir)
    if record.space.builds not in ("model", "detector"):
        raise ConfigError(
            f"run_dir: {run_dir} searched {record.space.builds}s, not networks; "
            "use `nasbeyond augment export`"
        )
    best, task = record.store.best(1), record.task()
    final = record.store.get("final")
    if not best or task is None:
        raise StoreError(f"run_dir: {run_dir} has no finished trial with saved weights to export")
    arch, weights = best[0].arch, weights_path(run_dir, best[0].id)
    if final and final["trial_id"] == best[0].id and final.get("weights"):
        weights = Path(final["weights"])
    if not weights.exists():
        raise StoreError(f"run_dir: {run_dir} has no finished trial with saved weights to export")
    model = record.space.build(arch, task)
    model.load_state_dict(load_weights(weights))
    out = Path(output) if output else Path(run_dir) / f"best{FORMATS[fmt]}"
    return export_model(model, task.input_shape, fmt, out)
