import math

import pytest
import torch
from torch import nn

from nasbeyond.exceptions import ConfigError, TrialError
from nasbeyond.space import MLPSpace
from nasbeyond.train import Trainer, weights_path
from nasbeyond.trial import Budget, Context

ARCH = {"widths": [64], "activation": "relu", "dropout": 0.0}


def test_trains_digits_to_high_validation_accuracy(tmp_path):
    t = Trainer(MLPSpace(), dataset="digits", epochs=5)
    r = t(ARCH, Budget(), Context(1, 0, str(tmp_path)))
    assert r.status == "ok" and r.reward is not None and r.reward > 0.9
    m = r.metrics
    assert m["params"] == 64 * 64 + 64 + 64 * 10 + 10
    assert m["macs"] == 64 * 64 + 64 * 10
    assert m["train_loss"] < 0.5 and m["train_s"] > 0
    assert weights_path(tmp_path, 1).exists()
    assert t.test(ARCH, weights_path(tmp_path, 1)) > 0.85


def test_same_seed_same_result_different_seed_differs():
    t = Trainer(MLPSpace(), dataset="digits", epochs=1)
    a, b, c = (t(ARCH, Budget(), Context(1, s)) for s in (0, 0, 1))
    assert a.metrics["train_loss"] == b.metrics["train_loss"]
    assert a.metrics["train_loss"] != c.metrics["train_loss"]


def test_validation_split_is_fixed_and_disjoint_from_training():
    t = Trainer(MLPSpace(), dataset="digits", val_fraction=0.25)
    s1, s2 = t.splits(), t.splits()
    assert torch.equal(s1.x_val, s2.x_val)
    n = len(t.data().x_train)
    assert len(s1.x_train) + len(s1.x_val) == n
    assert abs(len(s1.x_val) / n - 0.25) < 0.02


def test_step_budget_counts_steps():
    t = Trainer(MLPSpace(), dataset="digits", batch_size=16)
    model = MLPSpace().build(ARCH, t.task())
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    s = t.splits()
    t.fit(model, s.x_train, s.y_train, Budget(steps=7), seed=0)
    assert len(calls) == 7


def test_fractional_epoch_budget():
    t = Trainer(MLPSpace(), dataset="digits", batch_size=100)
    model = MLPSpace().build(ARCH, t.task())
    calls = []
    model.register_forward_hook(lambda *_: calls.append(1))
    s = t.splits()
    t.fit(model, s.x_train, s.y_train, Budget(epochs=0.5), seed=0)
    assert len(calls) == round(0.5 * math.ceil(len(s.x_train) / 100))


class _Exploding(MLPSpace):
    def build(self, arch, task):
        return nn.Sequential(nn.Flatten(), nn.Linear(64, 10), _Nan())


class _Nan(nn.Module):
    def forward(self, x):
        return x * float("nan")


def test_nan_loss_fails_the_trial():
    t = Trainer(_Exploding(), dataset="digits")
    with pytest.raises(TrialError, match="nan"):
        t(ARCH, Budget(), Context(1, 0))


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_both_optimizers_learn(optimizer):
    t = Trainer(MLPSpace(), dataset="digits", epochs=3, optimizer=optimizer)
    assert t(ARCH, Budget(), Context(1, 0)).reward > 0.85


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"optimizer": "rmsprop"}, "optimizer"),
        ({"epochs": 0}, "epochs"),
        ({"val_fraction": 1.5}, "val_fraction"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_settings_name_the_field(kw, field):
    with pytest.raises(ConfigError, match=field):
        Trainer(MLPSpace(), dataset="digits", **kw)


def test_retrain_on_whole_training_split(tmp_path):
    t = Trainer(MLPSpace(), dataset="digits")
    path = t.retrain(ARCH, 3, 0, tmp_path)
    assert path.exists() and t.test(ARCH, path) > 0.85


def test_promoted_trial_continues_from_its_parent(tmp_path):
    from nasbeyond.run import SQLiteStore, run
    from nasbeyond.strategy import ASHA

    space = MLPSpace()
    store = SQLiteStore(tmp_path)
    trainer = Trainer(space, dataset="digits")
    run(
        space,
        ASHA(space, seed=0, min_budget=1, max_budget=3, eta=3),
        trainer,
        store=store,
        trials=5,
    )
    trials = store.trials()
    promoted = [t for t in trials if t.parent is not None]
    assert promoted, "3 results at rung 1 must promote one"
    p = promoted[0]
    parent = store.trial(p.parent)
    assert (parent.budget, p.budget) == (1, 3) and p.arch == parent.arch
    assert p.metrics["epochs"] == pytest.approx(2, abs=0.01)  # only the remaining epochs
    assert p.status == "ok" and p.reward >= parent.reward - 0.05


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_weights_never_unpickle_code(tmp_path):
    import pickle

    from nasbeyond.exceptions import StoreError
    from nasbeyond.train.trainer import load_weights

    bad = tmp_path / "evil.pt"
    with open(bad, "wb") as f:
        pickle.dump({"w": _Evil()}, f)
    with pytest.raises(StoreError, match="refusing to load"):
        load_weights(bad)
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.pt")
    assert torch.equal(load_weights(tmp_path / "ok.pt")["w"], torch.ones(2))


def test_device_setting():
    assert Trainer(MLPSpace(), dataset="digits", device="cpu").torch_device().type == "cpu"
    auto = Trainer(MLPSpace(), dataset="digits").torch_device().type
    assert auto == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="device is 'tpu'"):
        Trainer(MLPSpace(), dataset="digits", device="tpu")


class _MoveLog(nn.Sequential):
    """Records every device it is moved to."""

    def __init__(self, *modules):
        super().__init__(*modules)
        self.moves = []

    def to(self, *args, **kwargs):
        self.moves.append(torch.device(args[0] if args else kwargs["device"]))
        return super().to(*args, **kwargs)


def test_fit_moves_the_model_to_the_data():
    # The trainer's device setting is not where the data is: fit must follow the data (on a
    # machine without CUDA, following the setting would fail outright).
    t = Trainer(MLPSpace(), dataset="digits", device="cuda:1", batch_size=16)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 64, generator=gen), torch.randint(0, 10, (48,), generator=gen)
    model = _MoveLog(nn.Linear(64, 10))
    t.fit(model, x, y, Budget(steps=3), seed=0)
    assert model.moves and set(model.moves) == {x.device}
    assert {p.device for p in model.parameters()} == {x.device}
    assert 0 <= t.accuracy(model, x, y) <= 1 and set(model.moves) == {x.device}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize(("model_on", "data_on"), [("cpu", "cuda"), ("cuda", "cpu")])
def test_fit_and_accuracy_whatever_the_devices(model_on, data_on):
    t = Trainer(MLPSpace(), dataset="digits", batch_size=16)
    s = t.splits()
    model = MLPSpace().build(ARCH, t.task()).to(model_on)
    x, y = s.x_train.to(data_on), s.y_train.to(data_on)
    t.fit(model, x, y, Budget(steps=5), seed=0)
    assert {p.device.type for p in model.parameters()} == {data_on}
    assert 0 <= t.accuracy(model, s.x_val.to(data_on), s.y_val.to(data_on)) <= 1


def _half_written_save(obj, f):
    from pathlib import Path

    Path(f).write_bytes(b"half a state dict")
    raise OSError("disk full")


def test_trials_and_retrain_never_leave_half_a_weights_file(tmp_path, monkeypatch):
    # One atomic save for both: a write that dies midway leaves nothing under the real name,
    # so a resumed run or a child trial never reads a torn file.
    t = Trainer(MLPSpace(), dataset="digits", epochs=0.1)
    monkeypatch.setattr(torch, "save", _half_written_save)
    with pytest.raises(OSError, match="disk full"):
        t(ARCH, Budget(), Context(3, 0, str(tmp_path)))
    assert not weights_path(tmp_path, 3).exists()
    with pytest.raises(OSError, match="disk full"):
        t.retrain(ARCH, 0.1, 0, tmp_path / "final")
    assert not (tmp_path / "final" / "final.pt").exists()
