"""The one-shot room's interface and its place on the one loop: registry and CLI names, the
inherited-weight evaluator, checkpoints, and a DARTS search from the CLI that is SIGKILLed and
resumed, with its supernet epochs, candidates and standalone training in the one store."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import torch

from nasbeyond.config import RunConfig
from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot import (
    InheritedWeights,
    OneShotData,
    load_checkpoint,
    make_supernet,
    recalibrate_bn,
    save_checkpoint,
)
from nasbeyond.oneshot.darts import DARTS
from nasbeyond.registry import names
from nasbeyond.run.experiment import components
from nasbeyond.space import make_space
from nasbeyond.trial import Budget, Context, TaskShape

TASK = TaskShape((1, 8, 8), 3)


def test_darts_is_a_strategy_name_for_the_cli_and_the_api(tmp_path):
    assert "darts" in names("oneshot")
    config = RunConfig(space="nb201", strategy="darts", run_dir=str(tmp_path / "r"))
    config = config.replace(strategy_args={"epochs": 3, "guard": "none"})
    _, method, _ = components(config)
    assert isinstance(method, DARTS) and method.weight_sharing
    assert (method.epochs, method.guard) == (3, "none")
    with pytest.raises(ConfigError, match="unknown strategy 'nope'; allowed: .*darts"):
        RunConfig(strategy="nope", run_dir=str(tmp_path / "s")).validated()


def test_a_space_without_a_supernet_is_refused_before_anything_runs(tmp_path):
    config = RunConfig(space="mlp", strategy="darts", dataset="digits", run_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="space: 'mlp' has no supernet"):
        components(config)


def test_inherited_weights_scores_a_path_after_recalibrating_batch_norm():
    torch.manual_seed(0)
    net = make_supernet(make_space("nb201", {"channels": 2, "cells": 1}), TASK)
    x, y = torch.randn(64, *TASK.input_shape) + 3.0, torch.randint(0, 3, (64,))
    data = OneShotData(x[:32], y[:32], x[32:], y[32:], TASK)
    arch = {"edges": ["nor_conv_3x3"] * 6}
    stem_bn = net.body[1]
    recalibrate_bn(net, arch, data.x_train, batch_size=16, steps=2)
    assert stem_bn.running_mean.abs().sum() > 0  # re-estimated on the (shifted) inputs
    result = InheritedWeights(net, data, recalibrate=2)(arch, Budget(), Context(1, 0))
    assert result.status == "ok" and 0.0 <= result.reward <= 1.0
    assert result.metrics["inherited"] is True


def test_checkpoints_round_trip_and_none_keeps_nothing(tmp_path):
    assert load_checkpoint(tmp_path) is None
    save_checkpoint(tmp_path, {"epoch": 2, "w": torch.ones(3), "history": [{"edges": ["none"]}]})
    state = load_checkpoint(tmp_path)
    assert state is not None and state["epoch"] == 2 and torch.equal(state["w"], torch.ones(3))
    save_checkpoint(None, {"epoch": 3})
    assert load_checkpoint(None) is None


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "nasbeyond.cli", *args], capture_output=True, text=True
    )


@pytest.mark.serial  # kills a process
def test_cli_darts_search_resumes_after_sigkill_and_records_everything(tmp_path):
    run_dir = tmp_path / "run"
    args = [
        sys.executable, "-m", "nasbeyond.cli", "search", "--space", "nb201",
        "--space-arg", "channels=2", "--space-arg", "cells=1", "--strategy", "darts",
        "--strategy-arg", "epochs=4", "--strategy-arg", "steps_per_epoch=2",
        "--strategy-arg", "batch_size=8", "--dataset", "mnist5k", "--epochs", "0.02",
        "--run-dir", str(run_dir),
    ]  # fmt: skip
    proc = subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    checkpoint = run_dir / "oneshot" / "method.pt"
    deadline = time.time() + 300
    while not checkpoint.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = torch.load(checkpoint, weights_only=True)["epoch"] if checkpoint.exists() else 0
    r = _cli("resume", str(run_dir))
    assert r.returncode == 0, r.stderr
    assert "best trial 1:" in r.stdout
    db = sqlite3.connect(run_dir / "nasbeyond.db")
    rows = db.execute("SELECT id, status, cost_s FROM trials").fetchall()
    assert [(i, s) for i, s, _ in rows] == [(1, "ok")]  # the derived arch, trained standalone
    assert rows[0][2] > 0
    import json

    record = json.loads(db.execute("SELECT value FROM meta WHERE key='oneshot'").fetchone()[0])
    assert [e["epoch"] for e in record["epochs"]] == [1, 2, 3, 4]  # each once
    assert all(e["cost_s"] > 0 and e["cpu_s"] >= 0 for e in record["epochs"])
    assert record["arch"] is not None and record["candidates"]
    assert killed_at < 4, "the kill came after the search had finished; nothing was resumed"
    shown = _cli("show", str(run_dir))
    assert shown.returncode == 0, shown.stderr
    assert "weight sharing: darts" in shown.stdout and "supernet epochs 4 of 4" in shown.stdout


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("darts", {"epochs": 0}, "strategy_args: darts: epochs is 0; allowed: > 0"),
        ("darts", {"beta0": -1.0}, "strategy_args: darts: beta0 is -1.0; allowed: >= 0"),
        ("enas", {"controller_lr": 0.0}, "strategy_args: enas: controller_lr is 0.0; allowed: > 0"),
        ("enas", {"recalibrate": -2}, "strategy_args: enas: recalibrate is -2; allowed: >= 0"),
        (
            "spos",
            {"steps_per_epoch": 0},
            "strategy_args: spos: steps_per_epoch is 0; allowed: >= 1",
        ),
        ("spos", {"trials": -1}, "strategy_args: spos: trials is -1; allowed: > 0"),
    ],
)
def test_every_method_names_a_bad_argument_the_same_way(name, kwargs, message):
    from nasbeyond.registry import lookup

    with pytest.raises(ConfigError) as e:
        lookup("oneshot", name)(**kwargs)
    assert str(e.value).startswith(message)
