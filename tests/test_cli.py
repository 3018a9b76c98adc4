"""The command line: a real search end to end, and one clear line with exit status 2 for every
kind of bad input."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import torch

from nasbeyond.cli import main
from nasbeyond.registry import names
from tests.conftest import finished_trials

FAST = ["--space", "mlp", "--dataset", "digits", "--epochs", "1", "--strategy", "random"]


def nasbeyond(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "nasbeyond.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_search_show_export_end_to_end(tmp_path):
    run_dir = str(tmp_path / "run")
    r = nasbeyond("search", *FAST, "--trials", "3", "--workers", "2", "--run-dir", run_dir)
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout and "3/3" in r.stderr
    r = nasbeyond("show", run_dir)
    assert r.returncode == 0 and "3 finished trials (0 failed)" in r.stdout
    r = nasbeyond("export", run_dir, "--format", "torchscript")
    assert r.returncode == 0, r.stderr
    model = torch.jit.load(r.stdout.strip())
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_config_file_equals_flags(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        "space: mlp\ndataset: digits\nepochs: 1\nstrategy: random\ntrials: 2\n"
        f"run_dir: {tmp_path / 'a'}\nspace_args: {{max_layers: 2}}\nexecutor: inline\n"
    )
    assert main(["search", "--config", str(cfg)]) == 0
    assert (
        main(
            [
                "search",
                *FAST,
                "--trials",
                "2",
                "--space-arg",
                "max_layers=2",
                "--executor",
                "inline",
                "--run-dir",
                str(tmp_path / "b"),
            ]
        )
        == 0
    )

    def settings(d):
        db = sqlite3.connect(tmp_path / d / "nasbeyond.db")
        cfg = json.loads(db.execute("SELECT value FROM meta WHERE key='config'").fetchone()[0])
        cfg.pop("run_dir")
        return cfg, [r[0] for r in db.execute("SELECT arch FROM trials ORDER BY id")]

    assert settings("a") == settings("b")


def test_flags_override_config(tmp_path, capsys):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("space: mlp\ndataset: digits\ntrials: 1\nepochs: 1\nexecutor: inline\n")
    assert (
        main(["search", "--config", str(cfg), "--trials", "2", "--run-dir", str(tmp_path / "r")])
        == 0
    )
    assert main(["show", str(tmp_path / "r")]) == 0
    assert "2 finished trials" in capsys.readouterr().out


def test_evaluate_one_arch(tmp_path, capsys):
    arch = json.dumps({"widths": [64], "activation": "relu", "dropout": 0.0})
    assert (
        main(["evaluate", "--arch", arch, "--space", "mlp", "--dataset", "digits", "--epochs", "2"])
        == 0
    )
    out = capsys.readouterr().out
    assert "val_acc" in out and "params: 4810" in out


def test_list_shows_every_registry():
    r = nasbeyond("list")
    assert r.returncode == 0
    for word in ("macro-cnn", "mlp", "evolution", "random", "mnist5k", "fashion-mnist", "train"):
        assert word in r.stdout
    assert "strategies " in r.stdout and "FILE.py:FUNCTION" in r.stdout


BAD = [
    (
        ["search", "--space", "nope"],
        f"space: unknown space 'nope'; allowed: {', '.join(names('space'))} or FILE.py:FUNCTION",
    ),
    (["search", "--strategy", "nope"], "strategy: unknown strategy 'nope'; allowed:"),
    (["search", "--dataset", "nope"], "dataset: unknown dataset 'nope'; allowed:"),
    (["search", "--trials", "0"], "trials: 0 is out of range; allowed: >= 1"),
    (["search", "--epochs", "-1"], "epochs: -1.0 is out of range"),
    (["search", "--workers", "zero"], "argument --workers: invalid int value"),
    (["search", "--optimizer", "rmsprop", *FAST], "optimizer is 'rmsprop'; allowed: adam, sgd"),
    (["search", "--space-arg", "max_layers=99", *FAST], "mlp: max_layers is 99; allowed 1..16"),
    (["search", "--strategy-arg", "popsize=3", "--space", "mlp"], "unknown argument 'popsize'"),
    (["search", "--space-arg", "nokey"], "expected KEY=VALUE"),
    (
        ["search", "--dataset", "fashion-mnist", "--data-dir", "/no/such/dir", "--space", "mlp"],
        "data_dir: /no/such/dir does not exist; install Debian's package dataset-fashion-mnist",
    ),
    (["search", "--dataset", "cifar10", "--space", "mlp"], "data_dir: dataset 'cifar10' needs"),
    (["search", "--frobnicate", "1"], "unrecognized arguments: --frobnicate"),
    (["evaluate", "--arch", "{not json", *FAST], "arch: not valid JSON"),
    (["evaluate", "--arch", '{"widths": [7]}', *FAST], "mlp: widths[0] is 7; allowed: 32"),
    (["evaluate", "--arch", "[1, 2]", *FAST], "arch: expected a JSON object"),
    (
        ["evaluate", "--arch", "no/such.json", *FAST],
        "arch: no/such.json is neither a file that exists nor JSON text",
    ),
    (
        ["search", *FAST[:-1], "evolution", "--strategy-arg", "population_size=0"],
        "strategy_args: evolution: population_size is 0; allowed: >= 1",
    ),
    (["show", "/no/such/run"], "run_dir: /no/such/run does not exist"),
    (["resume", "/no/such/run"], "run_dir: /no/such/run does not exist"),
    (["export", "/no/such/run"], "run_dir: /no/such/run does not exist"),
    (["show", "."], "run_dir: . has no nasbeyond.db; is it a run directory?"),
    (["bogus"], "invalid choice: 'bogus'"),
]


@pytest.mark.parametrize(("argv", "message"), BAD, ids=[" ".join(a[:3]) for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        sys.exit(main(argv))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nasbeyond: error: ")
    assert message in err[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("space: [unclosed", "is not valid YAML at line"),
        ("- just\n- a list\n", "expected a mapping of settings"),
        ("spcae: mlp\n", "unknown key 'spcae'; allowed:"),
        ("trials: many\n", "trials: expected a number, got 'many'"),
        ("space_args: 3\n", "space_args: expected a mapping"),
        ("executor: cloud\n", "executor: 'cloud'; allowed: local, inline"),
    ],
)
def test_bad_config_files(tmp_path, capsys, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    assert main(["search", "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_run_dir_of_another_search_is_refused(tmp_path, capsys):
    run_dir = str(tmp_path / "r")
    argv = ["search", *FAST, "--executor", "inline", "--trials", "1", "--run-dir", run_dir]
    assert main(argv) == 0
    assert main([*argv, "--seed", "5"]) == 2
    assert "holds a different search" in capsys.readouterr().err


@pytest.mark.serial  # signals and timing: alone
def test_sigkill_then_resume_finishes_each_trial_once(tmp_path):
    run_dir = tmp_path / "run"
    db = run_dir / "nasbeyond.db"
    args = [
        sys.executable,
        "-m",
        "nasbeyond.cli",
        "search",
        *FAST,
        "--trials",
        "10",
        "--workers",
        "2",
        "--run-dir",
        str(run_dir),
    ]
    before: dict[int, float] = {}
    for kill_after in (2, 5):  # kill twice, at different depths of the run
        proc = subprocess.Popen(
            args if not before else [*args[:3], "resume", str(run_dir)],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 120
        while len(finished_trials(db)) < kill_after and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        now = finished_trials(db)
        assert all(now[k] == v for k, v in before.items()), "a finished trial was rerun"
        before = now
    r = nasbeyond("resume", str(run_dir))
    assert r.returncode == 0, r.stderr
    after = finished_trials(db)
    assert len(after) == 10
    assert all(after[k] == v for k, v in before.items()), "a finished trial was rerun"
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    archs = [r[0] for r in conn.execute("SELECT arch FROM trials")]
    assert len(archs) == len(set(archs)) == 10  # random search: every arch once


def test_benchmark_mode_from_the_cli(tmp_path, capsys):
    run_dir = str(tmp_path / "nb")
    argv = [
        "search",
        "--space",
        "nb201",
        "--evaluator",
        "nb201-table",
        "--budget-seconds",
        "12000",
        "--executor",
        "inline",
        "--run-dir",
        run_dir,
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "test accuracy" in out and "|+|" in out
    db = sqlite3.connect(tmp_path / "nb" / "nasbeyond.db")
    costs = [r[0] for r in db.execute("SELECT cost_s FROM trials ORDER BY id")]
    assert sum(costs[:-1]) < 12000 <= sum(costs) and 60 < len(costs) < 160


@pytest.mark.parametrize(
    "strategy", ["reinforce", "tpe", "asha", "hyperband", "large-scale-evolution"]
)
def test_every_strategy_searches_and_resumes_from_the_cli(tmp_path, strategy, capsys):
    run_dir = str(tmp_path / strategy)
    extra = ["--strategy-arg", "max_budget=3"] if strategy in ("asha", "hyperband") else []
    argv = [
        "search",
        "--space",
        "mlp",
        "--dataset",
        "digits",
        "--epochs",
        "1",
        "--strategy",
        strategy,
        *extra,
        "--trials",
        "3",
        "--executor",
        "inline",
        "--run-dir",
        run_dir,
    ]
    assert main(argv) == 0
    assert main(["resume", run_dir, "--trials", "6"]) == 0
    assert main(["show", run_dir]) == 0
    assert "6 finished trials (0 failed)" in capsys.readouterr().out


def test_text_too_long_for_a_path_is_read_as_json(capsys):
    # found by the fuzzer: a long arch text used to crash the "is it a file?" check
    arch = json.dumps([None, {"0" * 300: None}])
    assert (
        main(["evaluate", "--space", "mlp", "--dataset", "digits", "--arch", arch, "--check"]) == 2
    )
    assert "arch: expected a JSON object, got list" in capsys.readouterr().err


def test_show_failed_prints_whole_errors(tmp_path, capsys):
    from nasbeyond.run.store import SQLiteStore
    from nasbeyond.trial import Result

    run_dir = str(tmp_path / "run")
    argv = ["search", *FAST, "--trials", "1", "--executor", "inline", "--run-dir", run_dir]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["show", run_dir, "--failed"]) == 0
    assert "no failed trials" in capsys.readouterr().out
    assert main(["resume", run_dir, "--trials", "1"]) == 0
    assert "nothing left to run: 1 trials finished, trials=1" in capsys.readouterr().err
    store = SQLiteStore(run_dir, create=False)
    arch = store.trials("ok")[0].arch
    long = "ValueError: " + "x" * 120 + "\nTraceback line two"
    tid = store.start_trial(arch, None, lambda: {})
    store.finish_trial(tid, Result.failed(long, 0.5), lambda: {})
    store.close()
    capsys.readouterr()
    assert main(["show", run_dir, "--failed"]) == 0
    out = capsys.readouterr().out
    assert "2 finished trials (1 failed)" in out
    assert f"trial {tid} failed:" in out
    assert "    " + long.splitlines()[0] in out and "    Traceback line two" in out
