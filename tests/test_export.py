"""Export to TorchScript and ONNX for every registered space: outputs equal PyTorch's within
1e-5 (ONNX checked by ONNX Runtime), latency reported; and the CLI export of a run's best."""

import numpy as np
import pytest
import torch

from nasbeyond.cli import main
from nasbeyond.export import FORMATS, export_model
from nasbeyond.registry import names
from nasbeyond.testing import SMALL_TASKS, make_space

pytest.importorskip("onnxruntime")


MODEL_SPACES = [n for n in names("space") if make_space(n).builds == "model"]


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("space_name", [*MODEL_SPACES, "user"])
def test_every_space_exports(tmp_path, space_name, fmt):
    space = make_space(space_name)
    task = SMALL_TASKS[space_name]
    for seed in range(2):
        model = space.build(space.sample(np.random.default_rng(seed)), task)
        with torch.no_grad():  # give BatchNorm non-trivial statistics first
            model.train()(torch.randn(8, *task.input_shape))
        done = export_model(model, task.input_shape, fmt, tmp_path / f"m{seed}{FORMATS[fmt]}")
        assert done.path.exists() and done.max_abs_diff <= 1e-5 and done.latency_ms > 0


def test_cli_exports_the_best_model_as_onnx(tmp_path, capsys):
    import onnxruntime as ort

    run_dir = str(tmp_path / "run")
    assert (
        main(
            [
                "search",
                "--space",
                "mlp",
                "--dataset",
                "digits",
                "--epochs",
                "1",
                "--trials",
                "2",
                "--executor",
                "inline",
                "--run-dir",
                run_dir,
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["export", run_dir, "--format", "onnx"]) == 0
    out, err = capsys.readouterr()
    assert "matches PyTorch within" in err and "latency" in err
    session = ort.InferenceSession(out.strip(), providers=["CPUExecutionProvider"])
    assert session.run(None, {"x": np.zeros((3, 1, 8, 8), np.float32)})[0].shape == (3, 10)
    assert main(["export", run_dir, "--format", "tflite"]) == 2
