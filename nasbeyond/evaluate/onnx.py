"""ONNX export and ONNX Runtime, shared by latency measurement and model export
(``pip install nasbeyond[onnx]``)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nasbeyond.extras import require


def onnxruntime() -> Any:
    """The ``onnxruntime`` module; ConfigError naming the ``onnx`` extra when it is missing."""
    return require("onnxruntime", "onnx", "format", "'onnx'")


def export_onnx(model: nn.Module, example: torch.Tensor, path: Path) -> None:
    """The model as ONNX (opset 17, dynamic batch), via PyTorch's TorchScript-based exporter.
    Input ``x``; output ``logits``, or ``output0``, ``output1``, ... for a model returning a
    tuple of tensors (a detector's per-level outputs)."""
    with torch.no_grad():
        out = model.eval()(example)
    names = [f"output{i}" for i in range(len(out))] if isinstance(out, tuple) else ["logits"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model.eval(),
            (example,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=names,
            dynamic_axes={"x": {0: "batch"}, **{n: {0: "batch"} for n in names}},
        )
