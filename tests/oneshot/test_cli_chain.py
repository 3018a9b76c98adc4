"""``nasbeyond search --strategy enas|spos`` on a real dataset (scikit-learn's 8x8 digits, quick
to load): the search is killed in its second supernet epoch, ``nasbeyond resume`` continues
from the first epoch's checkpoint, and the derived arch is trained standalone as trial 1."""

from __future__ import annotations

import pytest

from nasbeyond.cli import main
from nasbeyond.oneshot.enas import ENAS
from nasbeyond.oneshot.spos import SPOS
from nasbeyond.run.experiment import RunRecord

ARGS = {
    "enas": ["controller_steps=2", "final_samples=2", "recalibrate=1"],
    "spos": ["trials=3", "population_size=2", "sample_size=2", "recalibrate=1"],
}


@pytest.mark.parametrize("method, cls", [("enas", ENAS), ("spos", SPOS)])
def test_search_killed_in_epoch_two_resumes_from_the_cli(tmp_path, monkeypatch, method, cls):
    run_dir = str(tmp_path / "run")
    trained: list[int] = []
    hook = "train_weights" if method == "enas" else "train_epoch"
    original = getattr(cls, hook)
    kill = {"armed": True}

    def counted(self, *args):
        epoch = args[-1]
        trained.append(epoch)
        if epoch == 2 and kill["armed"]:
            kill["armed"] = False
            raise KeyboardInterrupt  # the run dies before epoch 2's checkpoint
        return original(self, *args)

    monkeypatch.setattr(cls, hook, counted)
    argv = ["search", "--space", "macro-cnn", "--space-arg", "max_layers=2"]
    argv += ["--dataset", "digits", "--strategy", method, "--epochs", "0.1"]
    argv += ["--final-epochs", "0.1", "--run-dir", run_dir, "--seed", "0", "--executor", "inline"]
    argv += ["--strategy-arg", "epochs=2", "--strategy-arg", "steps_per_epoch=2"]
    for a in ARGS[method]:
        argv += ["--strategy-arg", a]
    assert main(argv) == 130
    assert (tmp_path / "run" / "oneshot" / "method.pt").exists()
    assert main(["resume", run_dir]) == 0
    assert trained == [1, 2, 2]  # epoch 1 was not trained again
    record = RunRecord.open(run_dir)
    oneshot = record.store.get("oneshot")
    assert oneshot["method"] == method
    assert [e["epoch"] for e in oneshot["epochs"]] == [1, 2]
    assert oneshot["candidates"]  # scored with inherited weights
    best = record.trial()
    assert best.id == 1 and best.status == "ok"
    assert best.arch == record.space.validate(oneshot["arch"])
    record.store.close()
