"""Torch state dicts as JSON (floats round-trip exactly), so learned controllers checkpoint
into the run's store like every other strategy."""

from __future__ import annotations

from typing import Any

import torch


def to_json(obj: Any) -> Any:
    """Replace tensors, recursively, by ``{"__tensor__": values, "dtype": .., "shape": ..}``."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        return {
            "__tensor__": t.flatten().tolist(),
            "dtype": str(t.dtype).removeprefix("torch."),
            "shape": list(t.shape),
        }
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_json(v) for v in obj]
    return obj


def from_json(obj: Any) -> Any:
    """Inverse of ``to_json``. Integer-looking keys (optimizer state) become ints again."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            dtype = getattr(torch, obj["dtype"])
            return torch.tensor(obj["__tensor__"], dtype=dtype).reshape(obj["shape"])
        return {(int(k) if k.isdigit() else k): from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj
