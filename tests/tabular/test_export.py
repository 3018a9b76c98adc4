"""Model directories: saved without pickle (skops, trusted types only), tampering refused,
nothing half-written; the distilled tree and MLP as ONNX matching Python within 1e-5."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.preprocessing import FunctionTransformer

from nasbeyond.exceptions import DataError
from nasbeyond.tabular.distill import distill
from nasbeyond.tabular.export import (
    MANIFEST_FILE,
    MODEL_FILE,
    ONNX_TOLERANCE,
    UntrustedModelError,
    _sha256,
    export_mlp_onnx,
    export_tree_onnx,
    load_model,
    onnx_run,
    write_model_dir,
)
from tests.tabular._fixtures import table, teacher


@pytest.fixture(scope="module", params=["classification", "regression"])
def distilled(request):
    frame = table(task=request.param)
    X, y = frame.drop(columns="y"), frame["y"]
    t = teacher(request.param).fit(X[:180], y[:180])
    d = distill(t, X[:180], X[180:], y[180:], max_depth=4, generated=200, mlp_time_limit=3)
    return t, d, X[180:].reset_index(drop=True)


def test_onnx_outputs_match_python(distilled, tmp_path):
    _, d, Xh = distilled
    Z = d.tree.encoder_.transform(Xh)
    assert export_tree_onnx(d.tree, tmp_path / "tree.onnx", Z) <= ONNX_TOLERANCE
    assert export_mlp_onnx(d.mlp, tmp_path / "mlp.onnx", Z) <= ONNX_TOLERANCE
    for name, model in (("tree", d.tree), ("mlp", d.mlp)):
        got = onnx_run(tmp_path / f"{name}.onnx", Z).reshape(len(Z), -1)
        want = model.raw(Z).reshape(len(Z), -1)
        assert np.abs(got - want).max() <= 1e-5


def test_saved_and_loaded_predicts_the_same(distilled, tmp_path):
    t, d, Xh = distilled
    out = write_model_dir(tmp_path / "m", {"teacher": t, "tree": d.tree, "mlp": d.mlp}, {"k": 1})
    objects, meta = load_model(out)
    assert meta == {"k": 1}
    for name in ("teacher", "tree", "mlp"):
        want = d.tree if name == "tree" else d.mlp if name == "mlp" else t
        np.testing.assert_array_equal(objects[name].predict(Xh), want.predict(Xh))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary left


def test_a_changed_byte_is_refused(distilled, tmp_path):
    t, _, _ = distilled
    out = write_model_dir(tmp_path / "m", {"teacher": t}, {})
    data = bytearray((out / MODEL_FILE).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(UntrustedModelError, match="changed since it was saved"):
        load_model(out)


def test_code_smuggled_in_is_refused_even_with_a_matching_manifest(distilled, tmp_path):
    t, _, _ = distilled
    evil = write_model_dir(tmp_path / "evil", {"x": FunctionTransformer(func=os.system)}, {})
    out = write_model_dir(tmp_path / "m", {"teacher": t}, {})
    # the attacker swaps the skops file's schema for one calling os.system, then re-hashes
    with zipfile.ZipFile(evil / MODEL_FILE) as z:
        schema = z.read("schema.json")
    assert b"system" in schema
    (out / MODEL_FILE).write_bytes((evil / MODEL_FILE).read_bytes())
    manifest = json.loads((out / MANIFEST_FILE).read_text())
    manifest["sha256"][MODEL_FILE] = _sha256(out / MODEL_FILE)
    (out / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(UntrustedModelError, match=r"untrusted type '(posix|os|nt)\.system'"):
        load_model(out)


def test_a_failed_save_leaves_nothing(distilled, tmp_path):
    t, _, _ = distilled

    def broken(path: Path) -> None:
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_model_dir(tmp_path / "m", {"teacher": t}, {}, {"x.onnx": broken})
    assert list(tmp_path.iterdir()) == []


def test_a_directory_that_is_not_a_model_is_not_overwritten(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    with pytest.raises(DataError, match="not a model directory"):
        write_model_dir(tmp_path / "notes", {}, {})
    assert (tmp_path / "notes" / "a.txt").read_text() == "mine"
    with pytest.raises(DataError, match="not a model directory"):
        load_model(tmp_path / "notes")


def test_the_pipeline_spaces_own_transforms_load(tmp_path):
    from nasbeyond.tabular.space import _signed_log, _SinCos, _sincos_names

    steps = [
        FunctionTransformer(_signed_log, feature_names_out="one-to-one"),
        FunctionTransformer(_SinCos(12.0), feature_names_out=_sincos_names),
    ]
    out = write_model_dir(tmp_path / "m", {"steps": steps}, {})
    objects, _ = load_model(out)
    x = np.array([[-3.0], [0.0], [5.0]])
    for saved, loaded in zip(steps, objects["steps"], strict=True):
        np.testing.assert_array_equal(saved.fit(x).transform(x), loaded.fit(x).transform(x))
