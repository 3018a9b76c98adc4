"""A new user's first hour (issue 13): runs started from Python open in the CLI, Ctrl-C is one
line, every run gets its own directory, the GPU flag fails fast without a GPU, --help explains
every flag, argument types are checked, and `show` survives pipes and interrupted runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import fields

import numpy as np
import pytest
import torch

from nasbeyond.cli import build_parser, main
from nasbeyond.config import FIELD_HELP, RunConfig, fresh_run_dir
from nasbeyond.evaluate import NB201TableEvaluator
from nasbeyond.run import InlineExecutor, SQLiteStore, run
from nasbeyond.space import FunctionSpace, MLPSpace, NB201Space
from nasbeyond.strategy import AgingEvolution
from nasbeyond.testing import ToyEvaluator
from nasbeyond.train import Trainer
from nasbeyond.trial import Result

FAST = ["--space", "mlp", "--dataset", "digits", "--epochs", "1", "--strategy", "random"]


def cli(*args: str, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nasbeyond", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
    )


def test_a_run_started_from_python_opens_in_the_cli(tmp_path, capsys):
    space = MLPSpace(max_layers=2)
    run_dir = tmp_path / "py"
    run(
        space,
        AgingEvolution(space, seed=3, population_size=2, sample_size=2),
        Trainer(space, dataset="digits", epochs=1),
        store=SQLiteStore(run_dir),
        trials=2,
        executor=InlineExecutor(),
        progress=True,
    )
    assert "2/2 best val" in capsys.readouterr().err  # the CLI's progress line
    saved = SQLiteStore(run_dir).get("config")
    assert saved["space"] == "mlp" and saved["space_args"] == {"max_layers": 2}
    assert saved["strategy_args"] == {"seed": 3, "population_size": 2, "sample_size": 2}
    assert saved["seed"] == 0 and saved["executor"] == "inline"  # run()'s trial seed
    for argv in (["show"], ["draw"], ["export"], ["resume", "--trials", "3"]):
        assert main([argv[0], str(run_dir), *argv[1:]]) == 0, argv
    assert SQLiteStore(run_dir).count_finished() == 3


def test_a_user_space_function_is_saved_by_its_file(tmp_path):
    from examples.user_space import build

    space = FunctionSpace(build)
    trainer = Trainer(space, dataset="digits")
    cfg = RunConfig.of(space, AgingEvolution(space), trainer, run_dir=str(tmp_path))
    assert cfg.space.endswith("examples/user_space.py:build")


def test_unregistered_components_still_run_and_say_why_the_cli_cannot_open_them(tmp_path, capsys):
    class Mine(AgingEvolution):
        pass

    space = MLPSpace()
    run(space, Mine(space), ToyEvaluator(), store=SQLiteStore(tmp_path), trials=2)
    assert main(["show", str(tmp_path)]) == 2
    assert "Mine is not registered" in capsys.readouterr().err


@pytest.mark.serial  # signals and timing: alone
def test_ctrl_c_is_one_line_naming_the_run(tmp_path):
    run_dir = tmp_path / "r"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nasbeyond", "search", *FAST, "--trials", "50", "--workers", "2"]
        + ["--epochs", "3", "--run-dir", str(run_dir)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (run_dir / "nasbeyond.db").exists():
        time.sleep(0.2)
    time.sleep(3)  # workers are up and training
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the whole group
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert f"nasbeyond resume {run_dir}" in err


def test_every_run_gets_a_fresh_directory(tmp_path):
    a = fresh_run_dir("mlp", "random", root=str(tmp_path))
    os.makedirs(a)
    b = fresh_run_dir("mlp", "random", root=str(tmp_path))
    assert a != b and os.path.basename(a).startswith("mlp-random-")
    assert os.path.basename(fresh_run_dir("/x/y/space.py:build", "tpe")).startswith("build-tpe-")
    r = cli("search", *FAST, "--trials", "1", "--executor", "inline", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    made = [p for p in (tmp_path / "runs").iterdir()]
    assert len(made) == 1 and f"run_dir=runs/{made[0].name}" in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_one_line(capsys):
    assert main(["search", *FAST, "--device", "cuda", "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "device: 'cuda'" in err and "--device cpu" in err


def test_help_gives_every_flag_its_meaning_and_true_default():
    search = build_parser()._subparsers._group_actions[0].choices["search"]  # type: ignore[union-attr]
    text = search.format_help()
    for f in fields(RunConfig):
        first_words = " ".join(FIELD_HELP[f.name].split()[:3])
        assert first_words in " ".join(text.split()), f.name
    assert "default: None" not in text
    assert "20, or no limit" in " ".join(text.split())  # --trials' real default


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--space-arg", "max_layers=abc"],
            "space_args: mlp: max_layers='abc'; expected an integer",
        ),
        (["--strategy-arg", "seed=0.5"], "strategy_args: random: seed=0.5; expected"),
        (["--evaluator-arg", "val_fraction=x"], "val_fraction='x'; expected a number"),
    ],
)
def test_argument_types_are_one_line(argv, message, capsys):
    assert main(["search", *FAST, *argv, "--check"]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and err.count("\n") == 0


def _table_run(tmp_path, trials=30):
    space = NB201Space()
    ev = NB201TableEvaluator()
    run(space, AgingEvolution(space), ev, store=SQLiteStore(tmp_path), trials=trials)


def test_show_into_a_closed_pipe_is_quiet(tmp_path):
    _table_run(tmp_path)
    r = subprocess.run(
        f"{sys.executable} -m nasbeyond show {tmp_path} --top 30 | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.stdout.startswith("30 finished trials") and "Traceback" not in r.stderr, r.stderr


def test_show_lists_the_trials_an_interrupted_run_left_running(tmp_path, capsys):
    _table_run(tmp_path, trials=2)
    store = SQLiteStore(tmp_path)
    rng = np.random.default_rng(0)
    store.start_trial(NB201Space().sample(rng), None, dict)
    tid = store.start_trial(NB201Space().sample(rng), None, dict)
    store.finish_trial(tid, Result.failed("boom"), dict)
    assert main(["show", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "3 finished trials (1 failed)" in out and "1 was running when it stopped" in out
    assert f"rerun first by `nasbeyond resume {tmp_path}`" in out


def test_a_search_that_fails_its_check_leaves_no_run_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["search", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "none")]
    assert main(argv) == 2
    assert "data_dir:" in capsys.readouterr().err
    assert not any((tmp_path / "runs").glob("*"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "1", "--steps", "3"], "steps: give epochs or steps per trial, not both"),
        (
            ["--evaluator-arg", "latency_predictor=/no/such.json"],
            "latency_predictor: /no/such.json",
        ),
    ],
)
def test_settings_that_would_fail_every_trial_fail_at_once(argv, message, capsys):
    assert main(["search", *FAST, *argv, "--check"]) == 2
    assert message in capsys.readouterr().err


def test_a_shaped_reward_is_not_called_validation_accuracy(tmp_path, capsys):
    run_dir = tmp_path / "m"
    argv = ["--trials", "2", "--reward", "mnasnet", "--target-latency", "5ms"]
    argv += ["--executor", "inline"]
    assert main(["search", *FAST, *argv, "--run-dir", str(run_dir)]) == 0
    out, err = capsys.readouterr()
    best = SQLiteStore(run_dir).best(1)[0]
    assert f"mnasnet reward: {best.reward:.4f}" in out
    assert f"validation accuracy: {best.metrics['val_acc']:.4f}" in out
    assert "best mnasnet reward" in err


def test_augment_help_shows_the_augment_defaults():
    augment = build_parser()._subparsers._group_actions[0].choices["augment"]  # type: ignore[union-attr]
    search = augment._subparsers._group_actions[0].choices["search"]
    text = " ".join(search.format_help().split())
    assert "(default: augment-policy)" in text and "(default: reinforce)" in text
