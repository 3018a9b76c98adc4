"""The detection-train evaluator on a stand-in detector (one box per image), and the detection
search from the command line (search, resume, show) with exit status 2 on bad input."""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from nasbeyond.arch import Arch
from nasbeyond.cli import main
from nasbeyond.exceptions import ConfigError
from nasbeyond.space import Decision, Space
from nasbeyond.train.detection_trainer import DetectionTrainer
from nasbeyond.trial import Budget, Context, TaskShape

TINY = {"size": 32, "train_images": 12, "test_images": 4, "max_objects": 2}


class OneBoxDetector(nn.Module):
    """A stand-in for the contract: predicts one box (sigmoid of a pooled conv) and its class
    per image; the loss pulls it to the first ground-truth object."""

    def __init__(self, task: TaskShape, width: int) -> None:
        super().__init__()
        self.size = float(task.input_shape[-1])
        self.conv = nn.Conv2d(task.input_shape[0], width, 3, padding=1)
        self.head = nn.Linear(width, 4 + task.num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(F.relu(self.conv(images)).mean((2, 3)))

    def loss(self, images: torch.Tensor, boxes: Sequence[torch.Tensor], labels: Any) -> Any:
        out = self(images)
        has = [i for i, b in enumerate(boxes) if len(b)]
        target = torch.stack([boxes[i][0] for i in has]) / self.size
        box = F.l1_loss(out[has, :4].sigmoid(), target)
        return box + F.cross_entropy(out[has, 4:], torch.stack([labels[i][0] for i in has]))

    @torch.no_grad()
    def detect(self, images: torch.Tensor, score_threshold: float = 0.05, max_detections=100):
        out = self(images)
        scores, labels = out[:, 4:].softmax(1).max(1)
        boxes = out[:, :4].sigmoid() * self.size
        x0, x1 = torch.minimum(boxes[:, 0], boxes[:, 2]), torch.maximum(boxes[:, 0], boxes[:, 2])
        y0, y1 = torch.minimum(boxes[:, 1], boxes[:, 3]), torch.maximum(boxes[:, 1], boxes[:, 3])
        boxes = torch.stack([x0, y0, x1 + 1, y1 + 1], 1)
        return [
            {"boxes": boxes[i : i + 1], "scores": scores[i : i + 1], "labels": labels[i : i + 1]}
            for i in range(len(images))
        ]


class OneBoxSpace(Space):
    """One decision: the detector's conv width."""

    name = "one-box"
    WIDTHS = (4, 8)

    def sample(self, rng: np.random.Generator) -> Arch:
        return {"width": int(rng.choice(self.WIDTHS))}

    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        return {"width": 12 - arch["width"]}

    def decisions(self) -> list[Decision]:
        return [Decision("width", self.WIDTHS)]

    def from_choices(self, choices: Sequence[int]) -> Arch:
        return {"width": self.WIDTHS[choices[0]]}

    def validate(self, arch: Arch) -> Arch:
        return arch

    def build(self, arch: Arch, task: TaskShape) -> nn.Module:
        return OneBoxDetector(task, arch["width"])


def _trainer(**kw: Any) -> DetectionTrainer:
    kw = {"space": OneBoxSpace(), "dataset_args": TINY, "steps": 2, "batch_size": 4, **kw}
    return DetectionTrainer(**kw)


def test_trains_scores_saves_and_tests(tmp_path) -> None:
    ev = _trainer(optimizer="adam", lr=0.01)
    ctx = Context(trial_id=1, seed=0, run_dir=str(tmp_path))
    r = ev({"width": 4}, Budget(), ctx)
    assert r.status == "ok" and 0.0 <= r.reward <= 1.0 and r.reward == r.metrics["AP"]
    assert {"AP", "AP50", "AP75", "train_loss", "params", "macs"} <= set(r.metrics)
    assert r.metrics["steps"] == 2 and r.metrics["epochs"] == pytest.approx(2 / 3, abs=1e-3)
    # the same seed gives the same trial, in a pickled copy too (workers get one)
    again = pickle.loads(pickle.dumps(ev))({"width": 4}, Budget(), Context(2, 0, str(tmp_path)))
    assert again.metrics["train_loss"] == r.metrics["train_loss"]
    weights = tmp_path / "weights" / "trial_1.pt"
    test_ap = ev.test({"width": 4}, weights)
    assert 0.0 <= test_ap <= 1.0 and set(ev.test_metrics({"width": 4}, weights)) >= {"AP50"}
    final = ev.retrain({"width": 4}, 0.5, seed=0, out_dir=tmp_path / "final")
    assert final.exists()


def test_detection_augment_keeps_boxes_with_their_images() -> None:
    ev = _trainer(augment="detection_v1")
    d = ev.data()
    apply = ev.augmenter(seed=0)
    assert apply is not None
    images, boxes, labels = apply(d.images_train[:4], d.boxes_train[:4], d.labels_train[:4])
    assert images.shape == d.images_train[:4].shape and len(boxes) == len(labels) == 4
    assert not torch.equal(images, d.images_train[:4])  # v1's sub-policies change pixels
    for b, lab in zip(boxes, labels, strict=True):
        assert b.shape == (len(lab), 4) and lab.dtype == torch.int64
        assert bool((b[:, 2:] > b[:, :2]).all()) and bool((b >= 0).all() and (b <= 32).all())
    r = ev({"width": 8}, Budget(), Context(1, 0))
    assert r.status == "ok"


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"augment": "randaugment:2,9"}, "augment: 'randaugment:2,9' for detection-train"),
        ({"optimizer": "lbfgs"}, "optimizer is 'lbfgs'; allowed: adam, sgd"),
        ({"val_fraction": 1.5}, "val_fraction is 1.5; allowed"),
        ({"dataset": "nope"}, "dataset: unknown dataset 'nope'"),
    ],
)
def test_bad_settings_are_config_errors(kw, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _trainer(**kw)


def test_a_space_of_classifiers_or_a_classification_dataset_is_refused() -> None:
    from nasbeyond.space import make_space

    ev = _trainer(space=make_space("mlp", {}))
    with pytest.raises(ConfigError, match="not a detector; detection-train needs"):
        ev.build_model(ev.space.sample(np.random.default_rng(0)), ev.task())
    with pytest.raises(ConfigError, match="'digits' has no boxes"):
        _trainer(dataset="digits", dataset_args={}).task()


DATA_ARGS = [f"--dataset-arg={k}={v}" for k, v in TINY.items()]
SEARCH = ["--space", "nas-fpn", "--evaluator", "detection-train", "--dataset", "digit-scenes"]
SMALL = ["--space-arg", "channels=16", "--space-arg", "head_convs=1"]  # a cheap detector


def test_nas_fpn_search_resumes_and_shows_from_the_cli(tmp_path, capsys) -> None:
    run = str(tmp_path / "run")
    budget = ["--steps", "1", "--batch-size", "4", "--executor", "inline", "--trials", "1"]
    argv = ["search", *SEARCH, *SMALL, *DATA_ARGS, *budget, "--strategy", "evolution"]
    argv += ["--run-dir", run]
    assert main(argv) == 0
    assert "validation AP:" in capsys.readouterr().out
    assert main(["resume", run, "--trials", "2"]) == 0
    assert main(["show", run]) == 0
    out = capsys.readouterr().out
    assert "2 finished trials (0 failed)" in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--augment", "crop-flip"], "augment: 'crop-flip' for detection-train"),
        (["--dataset-arg", "size=8"], "dataset_args: size is 8; allowed: an integer in 16..256"),
        (["--dataset", "digits"], "dataset: 'digits' has no boxes"),
    ],
)
def test_bad_detection_flags_exit_2(extra, message, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["search", *SEARCH, *extra, "--check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_detection_dataset_with_the_classification_trainer_exits_2(tmp_path, capsys) -> None:
    argv = ["search", "--space", "mlp", "--dataset", "digit-scenes", *DATA_ARGS, "--check"]
    assert main([*argv, "--run-dir", str(tmp_path / "r")]) == 2
    assert "is a detection dataset" in capsys.readouterr().err


def test_check_summarises_the_detection_data(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["search", *SEARCH, *SMALL, *DATA_ARGS, "--check"]) == 0
    out = capsys.readouterr().out
    assert "rows: 16 images: 12 train (validation is drawn from these), 4 test" in out
    assert "task: object detection: boxes of 10 classes, scored by COCO AP" in out


def test_missing_pycocotools_stops_the_search_at_its_start(monkeypatch) -> None:
    # the reward is COCO AP: without the extra, the evaluator refuses to start (no trial runs)
    monkeypatch.setitem(__import__("sys").modules, "pycocotools", None)
    with pytest.raises(ConfigError, match=r"pip install nasbeyond\[detection\]"):
        _trainer()
