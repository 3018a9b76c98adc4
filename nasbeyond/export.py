"""Export the best model of a run, with its trained weights, for serving."""

from __future__ import annotations

import warnings
from pathlib import Path

import torch

from nasbeyond.exceptions import ConfigError, StoreError
from nasbeyond.run import Experiment

FORMATS = ("torchscript",)


def export_best(
    run_dir: str | Path, fmt: str = "torchscript", output: str | Path | None = None
) -> Path:
    """Write the run's best model (final retrained weights if any, else the trial's own) and
    check that the exported model reproduces PyTorch's outputs. Returns the file written."""
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
    model = load_model(report.arch, report.weights)
    example = torch.randn(2, *task().input_shape)
    out = Path(output) if output else Path(run_dir) / "best.torchscript.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        traced = torch.jit.trace(model, example)
        traced.save(str(out))
        loaded = torch.jit.load(str(out))
    with torch.no_grad():
        if not torch.allclose(loaded(example), model(example), atol=1e-5):
            raise RuntimeError("exported model disagrees with the PyTorch model")
    return out
