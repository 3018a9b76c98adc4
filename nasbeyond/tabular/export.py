"""A fitted tabular model on disk, loaded back without unpickling arbitrary code, and its
distilled students as ONNX.

A model directory holds ``model.skops`` (the estimators, written by skops, which stores
objects as a tree of typed nodes instead of a pickle), ``meta.json`` (columns, task, classes,
reports) and ``manifest.json`` (the SHA-256 of every file). ``load_model`` refuses a file
whose digest changed, and refuses any type in ``model.skops`` that is not a class from a
trusted package (``TRUSTED_PACKAGES``) or one of the pipeline space's own transform functions
(``TRUSTED_FUNCTIONS``): a function such as ``os.system`` or a class of another package never
gets loaded. ``write_model_dir`` writes into a temporary sibling
directory and renames it at the end, so an interrupted save leaves nothing half-written.

``export_tree_onnx`` (skl2onnx) and ``export_mlp_onnx`` (torch.onnx) write the students'
networks on *encoded* rows (``StudentEncoder``'s output (n, d); float32 for the tree, whose leaf
values are float32, float64 for the MLP) and check, with
ONNX Runtime, that the outputs match the Python models within ``ONNX_TOLERANCE``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nasbeyond.exceptions import ConfigError, DataError
from nasbeyond.extras import require

TRUSTED_PACKAGES = ("nasbeyond.tabular", "sklearn", "lightgbm", "numpy", "scipy.sparse")
TRUSTED_TYPES = ("collections.OrderedDict", "builtins.slice")
# The only functions a model may hold: the pipeline space's own transforms (FunctionTransformer).
TRUSTED_FUNCTIONS = (
    "nasbeyond.tabular.space._signed_log",
    "nasbeyond.tabular.space._sincos_names",
)
ONNX_TOLERANCE = 1e-5
MODEL_FILE = "model.skops"
META_FILE = "meta.json"
MANIFEST_FILE = "manifest.json"
MODELS = ("ensemble", "tree", "mlp")  # what a model directory serves


class UntrustedModelError(DataError):
    """A model file changed since it was saved, or holds a type that is not trusted."""


def _skops() -> Any:
    return require("skops.io", "tabular", "model", "saving and loading a tabular model")


def _is_trusted(name: str) -> bool:
    """A dotted name is trusted when listed in ``TRUSTED_TYPES`` or ``TRUSTED_FUNCTIONS``, or
    when it is a *class* defined in one of ``TRUSTED_PACKAGES`` (any other function is code,
    never trusted)."""
    if name in TRUSTED_TYPES or name in TRUSTED_FUNCTIONS:
        return True
    if not any(name == p or name.startswith(p + ".") for p in TRUSTED_PACKAGES):
        return False
    module_name, _, attr = name.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError):
        return False
    return isinstance(obj, type)


class TorchWeights:
    """A PyTorch module's state (parameters and buffers) as numpy arrays, in the place of the
    module while a model is on disk: skops stores arrays, never torch's pickled tensors.

    Attributes:
        state: name -> array, in ``state_dict`` order.
    """

    def __init__(self, state: dict[str, np.ndarray]):
        self.state = state


def _walk(obj: Any, visit: Any, seen: set[int]) -> None:
    """Call ``visit(value)`` on every value reachable from ``obj`` through dicts, lists,
    tuples and object attributes; a non-None return replaces the value (where it is held by
    a dict, a list or an attribute)."""
    if id(obj) in seen or isinstance(obj, str | bytes | int | float | np.ndarray | type):
        return
    seen.add(id(obj))
    if type(obj).__module__.split(".")[0] in ("pandas", "torch"):
        return
    if isinstance(obj, dict):
        items: list[tuple[Any, Any]] = list(obj.items())
    elif isinstance(obj, list):
        items = list(enumerate(obj))
    elif isinstance(obj, tuple):
        items = [(None, v) for v in obj]
    elif hasattr(obj, "__dict__"):
        items = list(vars(obj).items())
    else:
        return
    for key, value in items:
        new = visit(value)
        if new is None:
            _walk(value, visit, seen)
        elif isinstance(obj, dict | list):
            obj[key] = new
        elif key is not None and not isinstance(obj, tuple):
            setattr(obj, key, new)


def _without_torch(objects: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``objects`` with every torch module replaced by ``TorchWeights``."""
    import copy
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        return objects
    out = copy.deepcopy(objects)

    def visit(v: Any) -> Any:
        if isinstance(v, torch.nn.Module):
            return TorchWeights({k: t.detach().cpu().numpy() for k, t in v.state_dict().items()})
        return None

    _walk(out, visit, set())
    return out


def _with_torch(objects: dict[str, Any]) -> None:
    """Rebuild the torch modules ``_without_torch`` replaced (in place). Only the owners
    nasbeyond knows how to rebuild are accepted (the tabular MLPs)."""
    owners: list[tuple[Any, str, TorchWeights]] = []

    def visit(v: Any) -> Any:
        if hasattr(v, "__dict__") and not isinstance(v, type):
            owners.extend((v, k, w) for k, w in vars(v).items() if isinstance(w, TorchWeights))
        return None

    _walk(objects, visit, set())
    for owner, key, weights in owners:
        setattr(owner, key, _rebuild_module(owner, weights))


def _rebuild_module(owner: Any, weights: TorchWeights) -> Any:
    import torch

    from nasbeyond.space.mlp import MLPSpace
    from nasbeyond.tabular.models import TorchMLP
    from nasbeyond.trial import TaskShape

    if not isinstance(owner, TorchMLP):
        raise UntrustedModelError(
            f"model: torch weights held by {type(owner).__name__}, which cannot be rebuilt"
        )
    # as TorchMLP.fit builds it
    arch = owner.arch or {"widths": [64, 64], "activation": "relu", "dropout": 0.0}
    outputs = len(owner.classes_) if hasattr(owner, "classes_") else 1
    task = TaskShape((owner.n_features_in_,), outputs, categories=owner.cardinalities_)
    module = MLPSpace(max_layers=max(1, len(arch["widths"]))).build(arch, task)
    module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in weights.state.items()})
    return module.eval()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_model_dir(
    out: str | os.PathLike[str],
    objects: dict[str, Any],
    meta: dict[str, Any],
    extra_files: dict[str, Any] | None = None,
) -> Path:
    """Write ``objects`` (skops), ``meta`` (JSON) and ``extra_files`` (name -> callable that
    writes the file at the path it is given) into ``out`` atomically: everything goes into a
    temporary directory beside it, which is renamed to ``out`` only when complete. An existing
    ``out`` is replaced only after the new one is complete.

    Raises:
        DataError: ``out`` exists and is not a model directory (nothing is overwritten).
    """
    out = Path(out)
    if out.exists() and not (out / MANIFEST_FILE).is_file():
        raise DataError(f"out: {out} exists and is not a model directory; choose another path")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        _skops().dump(_without_torch(objects), tmp / MODEL_FILE)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, default=_json_default) + "\n")
        for name, write in (extra_files or {}).items():
            write(tmp / name)
        digests = {p.name: _sha256(p) for p in sorted(tmp.iterdir()) if p.is_file()}
        (tmp / MANIFEST_FILE).write_text(json.dumps({"sha256": digests}, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _json_default(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    raise TypeError(f"not JSON: {type(v).__name__}")


def verify_model_dir(model_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """``meta.json`` of a model directory whose files all match ``manifest.json``.

    Raises:
        DataError: not a model directory (no manifest).
        UntrustedModelError: a file is missing, added or changed since it was saved.
    """
    d = Path(model_dir)
    if not (d / MANIFEST_FILE).is_file():
        raise DataError(
            f"model_dir: {d} is not a model directory (no {MANIFEST_FILE}); "
            "make one with `nasbeyond tabular fit`"
        )
    try:
        digests = json.loads((d / MANIFEST_FILE).read_text())["sha256"]
    except (ValueError, KeyError, TypeError):
        raise UntrustedModelError(f"{d / MANIFEST_FILE}: unreadable; refusing to load") from None
    for name, digest in digests.items():
        path = d / name
        if not path.is_file() or _sha256(path) != digest:
            raise UntrustedModelError(
                f"{path}: changed since it was saved (SHA-256 differs); refusing to load"
            )
    return dict(json.loads((d / META_FILE).read_text()))


def load_model(model_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(objects, meta) of a model directory written by ``write_model_dir``.

    Raises:
        UntrustedModelError: a changed file, or a type in ``model.skops`` that is not trusted
            (the message names it); nothing of the file is constructed in that case.
    """
    sio = _skops()
    meta = verify_model_dir(model_dir)
    path = Path(model_dir) / MODEL_FILE
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # a corrupt archive: skops raises zipfile / JSON / key errors
        raise UntrustedModelError(f"{path}: not a readable skops file ({e}); refusing") from None
    bad = [t for t in untrusted if not _is_trusted(t)]
    if bad:
        raise UntrustedModelError(
            f"{path}: holds untrusted type {bad[0]!r} ({len(bad)} in all); refusing to load"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        objects = dict(sio.load(path, trusted=untrusted))
    _with_torch(objects)
    return objects, meta


def load_predictor(model_dir: str | Path, model: str = "ensemble") -> tuple[Any, dict[str, Any]]:
    """(estimator, meta) from a model directory: the ensemble, the tree or the MLP."""
    if model not in MODELS:
        raise ConfigError(f"model: {model!r}; allowed: {', '.join(MODELS)}")
    objects, meta = load_model(model_dir)
    key = "teacher" if model == "ensemble" else model
    return objects[key], meta


def _ort() -> Any:
    return require("onnxruntime", "tabular", "format", "ONNX export")


def onnx_session(path: Path) -> Any:
    """An ONNX Runtime CPU session for ``path`` (warnings not logged)."""
    ort = _ort()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_run(path: Path | Any, Z: np.ndarray) -> np.ndarray:
    """ONNX Runtime's first output for encoded rows ``Z`` ((n, d); cast to the model's input
    type: float32 for the tree, float64 for the MLP). ``path``: a file or a session."""
    sess = onnx_session(Path(path)) if isinstance(path, str | Path) else path
    inp = sess.get_inputs()[0]
    dtype = np.float64 if "double" in inp.type else np.float32
    return np.asarray(sess.run(None, {inp.name: np.asarray(Z, dtype=dtype)})[0])


def export_tree_onnx(tree: Any, path: Path, Z: np.ndarray) -> float:
    """The distilled tree (``DistilledTree``) as ONNX on encoded rows: input ``x`` float32
    (n, d), output (n, C) probabilities or (n, 1) predictions. Returns the largest absolute
    difference from the Python tree on ``Z``.

    Raises:
        DataError: the difference exceeds ``ONNX_TOLERANCE``.
    """
    require("skl2onnx", "tabular", "format", "ONNX export of the tree")
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    d = Z.shape[1]
    model = convert_sklearn(
        tree.tree_, initial_types=[("x", FloatTensorType([None, d]))], target_opset=17
    )
    path.write_bytes(model.SerializeToString())
    return _check(path, Z, tree.raw(Z), "tree")


def export_mlp_onnx(mlp: Any, path: Path, Z: np.ndarray) -> float:
    """The distilled MLP (``DistilledMLP``) as ONNX on encoded rows (standardization inside):
    input ``x`` float64 (n, d), output (n, C) probabilities or (n, 1) predictions. Returns the
    largest absolute difference from the Python MLP on ``Z``.

    Raises:
        DataError: the difference exceeds ``ONNX_TOLERANCE``.
    """
    import torch

    module = mlp.module().eval()
    example = torch.from_numpy(np.asarray(Z[:2], dtype=np.float64))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["x"],
            output_names=["y"],
            dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
        )
    return _check(path, Z, mlp.raw(Z), "mlp")


def _check(path: Path, Z: np.ndarray, want: np.ndarray, what: str) -> float:
    got = onnx_run(path, Z).reshape(len(Z), -1)
    diff = float(np.abs(got - want.reshape(len(Z), -1)).max()) if len(Z) else 0.0
    if not diff <= ONNX_TOLERANCE:
        raise DataError(
            f"{what}: ONNX output differs from the Python model by {diff:.2e} "
            f"(allowed {ONNX_TOLERANCE:.0e})"
        )
    return diff
