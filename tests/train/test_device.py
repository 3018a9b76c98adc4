"""The trainer on any device (issue 14): no host read of the loss per step (a NaN still fails the
trial, naming the steps), bf16 autocast and channels-last, and, on a CUDA GPU (``cuda`` marker,
skipped without one), training, search and resume, export and weight inheritance across devices.
"""

from __future__ import annotations

import json
import re

import pytest
import torch
from torch import nn

from nasbeyond.config import RunConfig
from nasbeyond.exceptions import ConfigError, TrialError
from nasbeyond.space import MLPSpace
from nasbeyond.train import Trainer, weights_path
from nasbeyond.train.trainer import FINITE_CHECK_EVERY, inherit, save_weights
from nasbeyond.trial import Budget, Context

ARCH = {"widths": [32], "activation": "relu", "dropout": 0.0}


class _NanAfter(nn.Module):
    """Digits logits that turn NaN from the ``at``-th training forward pass on."""

    def __init__(self, at: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
        self.at, self.calls = at, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.training:
            self.calls += 1
            if self.calls > self.at:
                out = out * float("nan")
        return out


def test_nan_mid_epoch_names_the_steps_between_two_checks():
    t = Trainer(MLPSpace(), dataset="digits", batch_size=16)
    s = t.splits()
    per_epoch = -(-len(s.x_train) // 16)
    assert per_epoch > FINITE_CHECK_EVERY + 5  # the NaN falls after the first check
    model = _NanAfter(FINITE_CHECK_EVERY + 3)
    with pytest.raises(TrialError) as e:
        t.fit(model, s.x_train, s.y_train, Budget(epochs=2), seed=0)
    msg = str(e.value)
    assert re.search(rf"nan between steps {FINITE_CHECK_EVERY} and {per_epoch - 1}\b", msg), msg
    assert model.calls == per_epoch  # found at the end of the first epoch, not later


def test_nan_in_a_short_budget_is_found_at_its_end():
    t = Trainer(MLPSpace(), dataset="digits", batch_size=16)
    s = t.splits()
    with pytest.raises(TrialError, match=r"nan between steps 0 and 6\b"):
        t.fit(_NanAfter(2), s.x_train, s.y_train, Budget(steps=7), seed=0)


def test_loss_is_the_mean_of_the_last_epoch():
    """The loss summed on the device gives what per-step reads gave: the mean of the last
    epoch's losses (recomputed here with hooks reading each loss)."""
    t = Trainer(MLPSpace(), dataset="digits", batch_size=64)
    s = t.splits()
    torch.manual_seed(0)
    model = MLPSpace().build(ARCH, t.task())
    seen: list[float] = []
    original = nn.CrossEntropyLoss.forward
    per_epoch = -(-len(s.x_train) // 64)

    def spy(self, a, b):
        out = original(self, a, b)
        seen.append(float(out))
        return out

    nn.CrossEntropyLoss.forward = spy  # type: ignore[method-assign]
    try:
        loss, steps = t.fit(model, s.x_train, s.y_train, Budget(epochs=1.5), seed=0)
    finally:
        nn.CrossEntropyLoss.forward = original  # type: ignore[method-assign]
    assert steps == len(seen) == round(1.5 * per_epoch)
    last = seen[per_epoch:]
    assert loss == pytest.approx(sum(last) / len(last), rel=1e-5)


def test_bf16_autocast_on_cpu_keeps_float32_weights():
    t = Trainer(MLPSpace(), dataset="digits", precision="bf16", device="cpu")
    model = MLPSpace().build(ARCH, t.task())
    dtypes: set[torch.dtype] = set()
    for m in model.modules():
        if isinstance(m, nn.Linear):
            m.register_forward_hook(lambda _m, _i, out: dtypes.add(out.dtype))
    s = t.splits()
    loss, _ = t.fit(model, s.x_train, s.y_train, Budget(steps=20), seed=0)
    assert dtypes == {torch.bfloat16}  # autocast ran the layers in bfloat16
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert 0 < loss < 3


def test_channels_last_trains_an_image_model():
    class Conv(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 8, 3, padding=1)
            self.head = nn.Linear(8, 10)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(x).relu().mean((2, 3)))

    t = Trainer(MLPSpace(), dataset="digits", channels_last=True, device="cpu")
    s = t.splits()
    model = Conv()
    seen: list[bool] = []
    model.conv.register_forward_pre_hook(
        lambda _m, args: seen.append(args[0].is_contiguous(memory_format=torch.channels_last))
    )
    t.fit(model, s.x_train, s.y_train, Budget(steps=3), seed=0)
    assert seen == [True] * 3
    assert model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert 0 <= t.accuracy(model, s.x_val, s.y_val) <= 1


@pytest.mark.parametrize(
    ("kw", "field"),
    [({"precision": "fp16"}, "precision"), ({"channels_last": "yes"}, "channels_last")],
)
def test_bad_precision_or_memory_format_is_one_line(kw, field, tmp_path):
    with pytest.raises(ConfigError, match=field):
        Trainer(MLPSpace(), dataset="digits", **kw)
    with pytest.raises(ConfigError, match=field) as e:
        RunConfig(space="mlp", run_dir=str(tmp_path), **kw).validated()
    assert "\n" not in str(e.value)


def test_cli_flags_are_stored_with_the_run(tmp_path, capsys):
    from nasbeyond.cli import main
    from nasbeyond.run.experiment import RunRecord

    bad = ["search", "--space", "mlp", "--dataset", "digits", "--precision", "half"]
    assert main([*bad, "--check"]) == 2
    assert "precision: 'half'; allowed: fp32, bf16" in capsys.readouterr().err
    run_dir = str(tmp_path / "run")
    argv = ["search", "--space", "mlp", "--dataset", "digits", "--trials", "1", "--steps", "2"]
    argv += ["--precision", "bf16", "--channels-last", "--executor", "inline", "--run-dir", run_dir]
    assert main(argv) == 0
    cfg = RunRecord.open(run_dir).config
    assert (cfg.precision, cfg.channels_last) == ("bf16", True)


# -- on a CUDA GPU ------------------------------------------------------------------------------


@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_trainer_on_cuda(tmp_path, precision):
    t = Trainer(MLPSpace(), dataset="digits", epochs=3, device="cuda", precision=precision)
    r = t(ARCH, Budget(), Context(1, 0, str(tmp_path)))
    assert r.status == "ok" and r.reward > 0.85
    assert t.test(ARCH, weights_path(tmp_path, 1)) > 0.8
    s = t.splits()
    assert s.x_train.device.type == "cuda"
    model = MLPSpace().build(ARCH, t.task()).cuda()  # the caller's model on the GPU ...
    x_cpu, y_cpu = s.x_train.cpu(), s.y_train.cpu()  # ... and data on the CPU: the model follows
    t.fit(model, x_cpu, y_cpu, Budget(steps=3), seed=0)
    assert next(model.parameters()).device.type == "cpu"
    assert 0 <= Trainer.accuracy(model, s.x_val, s.y_val.cpu()) <= 1  # back to the GPU
    assert next(model.parameters()).device.type == "cuda"


@pytest.mark.cuda
def test_weight_inheritance_across_devices(tmp_path):
    task = Trainer(MLPSpace(), dataset="digits").task()
    torch.manual_seed(0)
    on_gpu = MLPSpace().build(ARCH, task).cuda()
    path = save_weights(on_gpu, tmp_path / "gpu.pt")
    on_cpu = MLPSpace().build(ARCH, task)
    assert inherit(on_cpu, path) == (len(on_cpu.state_dict()), True)
    for k, v in on_cpu.state_dict().items():
        assert v.device.type == "cpu" and torch.equal(v, on_gpu.state_dict()[k].cpu())
    back = MLPSpace().build(ARCH, task).cuda()
    save_weights(on_cpu, tmp_path / "cpu.pt")
    inherit(back, tmp_path / "cpu.pt")
    assert all(v.device.type == "cuda" for v in back.state_dict().values())
    for k, v in back.state_dict().items():
        assert torch.equal(v, on_gpu.state_dict()[k])


@pytest.mark.cuda
def test_search_resume_and_export_on_cuda(tmp_path):
    from nasbeyond.cli import main
    from nasbeyond.export import export_best
    from nasbeyond.run.experiment import RunRecord

    run_dir = str(tmp_path / "run")
    argv = ["search", "--space", "mlp", "--dataset", "digits", "--strategy", "evolution"]
    argv += ["--trials", "2", "--epochs", "1", "--device", "cuda", "--workers", "2"]
    argv += ["--final-epochs", "1", "--run-dir", run_dir]
    assert main(argv) == 0
    assert main(["resume", run_dir, "--trials", "4"]) == 0
    record = RunRecord.open(run_dir)
    trials = record.store.trials()
    assert len(trials) == 4 and all(t.status == "ok" for t in trials)
    assert record.config.device == "cuda"
    out = export_best(run_dir, "torchscript", tmp_path / "best.pt")  # trained on the GPU
    assert out.path.exists() and out.max_abs_diff < 1e-5
    assert out.latency_ms > 0


@pytest.mark.parametrize("device", [pytest.param("cuda", marks=pytest.mark.cuda), "cpu"])
def test_evaluate_command_on_a_device(device, capsys):
    from nasbeyond.cli import main

    argv = ["evaluate", "--arch", json.dumps(ARCH), "--space", "mlp", "--dataset", "digits"]
    argv += ["--steps", "3", "--device", device, "--precision", "bf16", "--channels-last"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert ": ok reward" in out and "steps: 3" in out
