"""The video-train evaluator reports top-1 accuracy and the learned connection weights; the
AssembleNet search runs, resumes, shows and draws from the command line; bad input exits 2."""

from __future__ import annotations

import json
import sqlite3

import pytest

from nasbeyond.cli import main
from nasbeyond.space.assemblenet import AssembleNetSpace, late_fusion
from nasbeyond.train.video_trainer import VideoTrainer
from nasbeyond.trial import Budget, Context

CLIPS = ["train=24", "test=8", "frames=4", "size=24"]
DATA = [arg for a in CLIPS for arg in ("--dataset-arg", a)]
BASE = [
    "search",
    "--space",
    "assemblenet",
    "--dataset",
    "moving-digits",
    "--evaluator",
    "video-train",
    "--steps",
    "1",
    "--batch-size",
    "8",
    "--executor",
    "inline",
    "--seed",
    "0",
]
SEARCH = [*BASE, *DATA]


def test_reports_accuracy_and_connection_weights():
    space = AssembleNetSpace()
    ev = VideoTrainer(
        space=space,
        dataset_args={"train": 24, "test": 8, "frames": 4, "size": 24},
        steps=2,
        batch_size=8,
        device="cpu",
    )
    result = ev(late_fusion(8), Budget(), Context(trial_id=1, seed=0))
    assert result.status == "ok" and 0 <= result.reward <= 1
    assert result.metrics["val_acc"] == result.reward and result.metrics["steps"] == 2
    weights = result.metrics["connections"]
    assert set(weights) >= {"b0<-s0", "b4<-s1", "out<-b3", "out<-b7"} and len(weights) == 10
    assert all(0 < w < 1 for w in weights.values())
    assert any(w != 0.5 for w in weights.values())  # they were trained


def test_search_resume_show_draw(tmp_path, capsys):
    run = str(tmp_path / "run")
    assert main([*SEARCH, "--trials", "2", "--run-dir", run]) == 0
    assert main(["resume", run, "--trials", "3"]) == 0
    db = sqlite3.connect(tmp_path / "run" / "nasbeyond.db")
    rows = db.execute("SELECT status, metrics FROM trials ORDER BY id").fetchall()
    db.close()
    assert [s for s, _ in rows] == ["ok"] * 3
    assert all("connections" in json.loads(m) for _, m in rows)
    capsys.readouterr()
    assert main(["show", run]) == 0
    assert "3 finished trials (0 failed)" in capsys.readouterr().out
    svg = tmp_path / "best.svg"
    assert main(["draw", run, "--output", str(svg)]) == 0
    assert "classifier" in svg.read_text() and "s0 frames" in svg.read_text()
    fused = tmp_path / "fusion.svg"
    arch = json.dumps(late_fusion())
    assert main(["draw", "--space", "assemblenet", "--arch", arch, "--output", str(fused)]) == 0
    assert "b7 L4 16c d2" in fused.read_text()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([*DATA, "--dataset-arg", "labels=colour"], "labels"),
        (["--dataset", "digits"], "needs clips"),
        (["--dataset", "video-folder"], "needs a folder"),
        (["--space-arg", "max_blocks=9"], "max_blocks"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, words):
    code = main([*BASE, "--trials", "1", "--run-dir", str(tmp_path / "r"), *args])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
