"""The ``detection-train`` evaluator: trains an arch's detector from scratch on a detection
dataset and scores it by COCO AP on a validation split carved from the training images.

The space's ``build(arch, task)`` must return a detector module with ``loss(images, boxes,
labels) -> scalar`` and ``detect(images, score_threshold, max_detections) -> [dict(boxes,
scores, labels)]`` (the ``nas-fpn`` space's ``NasFPNDetector``). Training follows the
classification ``Trainer``: epochs or steps as budget, SGD (Nesterov) or AdamW on a cosine
schedule, weights saved per trial (children and promotions inherit them), NaN losses fail the
trial. ``--augment`` takes a learned detection policy (Zoph et al. 2019), applied per image
with its boxes by ``DetectionAugment``, its pixel magnitudes scaled to the image
(``pixel_scale``, ``"auto"`` by default: the shorter side / 640).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.data import load_detection_dataset
from nasbeyond.data.detection import DetectionDataset
from nasbeyond.evaluate import count_macs, count_params
from nasbeyond.evaluate.coco import coco_ap
from nasbeyond.exceptions import ConfigError
from nasbeyond.extras import require
from nasbeyond.registry import names, register
from nasbeyond.space import Space
from nasbeyond.train.trainer import (
    OPTIMIZERS,
    check_precision,
    constraint_violation,
    genome_lr,
    inherit,
    load_weights,
    make_optimizer,
    optimise,
    save_weights,
    weights_path,
)
from nasbeyond.trial import Budget, Context, Result, TaskShape

# Peak learning rates when neither ``lr`` nor the arch's ``hparams.lr`` sets one. SGD: RetinaNet's
# 0.01 (Lin et al., ICCV 2017, batch 16), also FCOS's; AdamW: Adam's own default 1e-3.
DEFAULT_SGD_LR = 0.01
DEFAULT_ADAM_LR = 1e-3
WARMUP_STEPS = 50  # linear warm-up (as RetinaNet and FCOS), capped at a tenth of the budget

Boxes = list[torch.Tensor]
BatchAugment = Callable[
    [torch.Tensor, Boxes, Boxes], tuple[torch.Tensor, Boxes, Boxes]
]  # (images, boxes, labels) -> the same, augmented


@dataclass(frozen=True)
class DetectionSplits:
    """Training and validation images (N, C, H, W) with per-image boxes (K, 4) and labels (K,)."""

    images_train: torch.Tensor
    boxes_train: Boxes
    labels_train: Boxes
    images_val: torch.Tensor
    boxes_val: Boxes
    labels_val: Boxes


def check_detection_augment(spec: str | None) -> None:
    """``spec`` is unset, ``none``, a published detection policy (``detection_v0`` ..
    ``detection_v3``) or a policy JSON file.

    Raises:
        ConfigError: anything else (the message names the allowed values)."""
    if spec is None or spec == "none":
        return
    from nasbeyond.augment.detection import load_detection_policy

    if not isinstance(spec, str):
        raise ConfigError(f"augment: {spec!r}; allowed: none, detection_v0..detection_v3, FILE")
    try:
        load_detection_policy(spec)
    except ConfigError as e:
        raise ConfigError(
            f"augment: {spec!r} for detection-train ({e}); allowed: none, detection_v0 .. "
            "detection_v3 or a detection policy JSON file"
        ) from None


@register("evaluator", "detection-train")
@dataclass
class DetectionTrainer:
    """Trains each arch's detector from scratch; the reward is its validation COCO AP.

    Args:
        space: the space whose archs are built (``build`` returns a detector, see the module).
        dataset: a registered detection dataset (``digit-scenes``, ``coco-folder``);
            ``data_dir`` and ``dataset_args`` go to its loader.
        epochs: default budget (may be fractional); a trial's Budget overrides it.
        steps: a step budget instead of epochs.
        batch_size: images per step.
        optimizer: ``sgd`` (Nesterov momentum) or ``adam`` (AdamW); linear warm-up over
            ``WARMUP_STEPS`` (at most a tenth of the budget), then cosine decay to zero.
        lr: peak learning rate; unset: ``DEFAULT_SGD_LR`` (0.01) or ``DEFAULT_ADAM_LR``.
        momentum, weight_decay: SGD's momentum; both optimizers' L2 / decoupled weight decay.
        clip_norm: gradients are clipped to this global L2 norm (0: no clipping).
        val_fraction: share of the training images held out for the reward (seed 0).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``.
        precision: ``fp32`` or ``bf16`` (autocast for the forward pass and loss).
        augment: ``none``, ``detection_v0`` .. ``detection_v3`` or a policy JSON file: a learned
            detection policy applied per training image with its boxes.
        pixel_scale: multiplies the policy's pixel magnitudes (translate 250 / 120 px, Cutout
            pad 100 / 50 px at level 10, set for 640-px COCO images): ``"auto"`` (default) is
            the image's shorter side / 640, 0.1 on 64-px scenes; 1.0 is the reference code's
            (``--evaluator-arg pixel_scale=1.0``).
        score_threshold, max_detections: passed to the detector's ``detect`` when scoring
            (COCO scores at most 100 detections per image).
        max_params, max_macs: hard constraints; a model over them scores 0 untrained.
    """

    space: Space
    dataset: str = "digit-scenes"
    data_dir: str | None = None
    dataset_args: dict[str, Any] = field(default_factory=dict)
    epochs: float = 2.0
    steps: int | None = None
    batch_size: int = 16
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    clip_norm: float = 10.0
    val_fraction: float = 0.15
    device: str = "auto"
    precision: str = "fp32"
    augment: str | None = None
    pixel_scale: float | str = "auto"
    score_threshold: float = 0.05
    max_detections: int = 100
    max_params: float | None = None
    max_macs: float | None = None

    check_augment = staticmethod(check_detection_augment)  # RunConfig checks --augment with it
    score_name: ClassVar[str] = "AP"  # what the reward is, in the CLI's lines

    def __post_init__(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", str(self.device)):
            raise ConfigError(f"device is {self.device!r}; allowed: auto, cpu, cuda, cuda:N, mps")
        check_precision(self.precision, self.device)
        if self.dataset not in names("dataset"):
            raise ConfigError(
                f"dataset: unknown dataset {self.dataset!r}; allowed: {', '.join(names('dataset'))}"
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer is {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
        # the reward is COCO AP: a missing extra fails the search at its start, not each trial
        require("pycocotools", "detection", "evaluator", "detection-train (COCO AP)")
        check_detection_augment(self.augment)
        from nasbeyond.augment.detection import check_pixel_scale

        check_pixel_scale(self.pixel_scale)
        checks = [
            ("epochs", self.epochs > 0, "a positive number"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("steps", self.steps is None or self.steps >= 1, "an integer >= 1"),
            ("lr", self.lr is None or self.lr > 0, "a positive number"),
            ("clip_norm", self.clip_norm >= 0, "a number >= 0"),
            ("val_fraction", 0 < self.val_fraction < 1, "a number between 0 and 1"),
            ("score_threshold", 0 <= self.score_threshold < 1, "a number in 0..1"),
            ("max_detections", self.max_detections >= 1, "an integer >= 1"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise ConfigError(f"{name} is {getattr(self, name)}; allowed: {allowed}")

    def torch_device(self) -> torch.device:
        """``auto`` is the first CUDA GPU when there is one, else the CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # -- data ---------------------------------------------------------------------------
    def data(self) -> DetectionDataset:
        return load_detection_dataset(self.dataset, self.data_dir, **self.dataset_args)

    def task(self) -> TaskShape:
        return self.data().task

    def build_model(self, arch: Arch, task: TaskShape) -> nn.Module:
        """The detector of ``arch``; ConfigError if the space builds something else."""
        model = self.space.build(arch, task)
        if not (
            callable(getattr(model, "loss", None)) and callable(getattr(model, "detect", None))
        ):
            raise ConfigError(
                f"space: {self.space.name!r} builds {type(model).__name__}, not a detector; "
                "detection-train needs a space whose models have loss() and detect() (nas-fpn)"
            )
        return model

    def splits(self) -> DetectionSplits:
        """Training and validation images on the device: ``val_fraction`` of the training
        images (at least one), drawn with seed 0, so every trial is scored on the same ones."""
        d = self.data()
        n = len(d.images_train)
        order = np.random.default_rng(0).permutation(n)
        n_val = max(1, round(n * self.val_fraction))
        if n - n_val < 1:
            raise ConfigError(
                f"val_fraction: {d.name!r} has {n} training images; a validation split needs "
                "at least 2"
            )
        val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
        if not any(len(d.boxes_train[i]) for i in val):
            raise ConfigError(f"val_fraction: the validation images of {d.name!r} hold no object")
        dev = self.torch_device()

        def pick(idx: np.ndarray) -> tuple[torch.Tensor, Boxes, Boxes]:
            t = torch.from_numpy(idx)
            return (
                d.images_train[t].to(dev),
                [d.boxes_train[i].to(dev) for i in idx],
                [d.labels_train[i].to(dev) for i in idx],
            )

        return DetectionSplits(*pick(train), *pick(val))

    def augmenter(self, seed: int) -> BatchAugment | None:
        """The per-image detection augmentation of ``augment`` on standardised batches: undo
        the standardisation, apply the policy to each image (as 8-bit PIL) with its boxes and
        labels (boxes that leave the image are dropped), standardise again."""
        if not self.augment or self.augment == "none":
            return None
        from PIL import Image

        from nasbeyond.augment.detection import DetectionAugment

        policy = DetectionAugment(self.augment, seed=seed, pixel_scale=self.pixel_scale)
        d = self.data()
        mean = torch.tensor(d.pixel_mean).view(-1, 1, 1)
        std = torch.tensor(d.pixel_std).view(-1, 1, 1)

        def apply(images: torch.Tensor, boxes: Boxes, labels: Boxes) -> tuple[Any, Boxes, Boxes]:
            dev = images.device
            out: tuple[list[torch.Tensor], Boxes, Boxes] = ([], [], [])
            for img, b, lab in zip(images.cpu(), boxes, labels, strict=True):
                pixels = ((img * std + mean).clamp(0, 1) * 255).round().to(torch.uint8)
                hwc = pixels.permute(1, 2, 0).numpy()
                pil = Image.fromarray(hwc[..., 0] if hwc.shape[2] == 1 else hwc)
                pil, nb, nl = policy(pil, b.cpu().numpy(), lab.cpu().numpy())
                arr = np.asarray(pil, dtype=np.float32).reshape(hwc.shape) / 255.0
                out[0].append((torch.from_numpy(arr).permute(2, 0, 1) - mean) / std)
                out[1].append(torch.as_tensor(nb, dtype=torch.float32).reshape(-1, 4).to(dev))
                out[2].append(torch.as_tensor(nl, dtype=torch.int64).reshape(-1).to(dev))
            return torch.stack(out[0]).to(dev), out[1], out[2]

        return apply

    # -- training -----------------------------------------------------------------------
    def fit(
        self,
        model: nn.Module,
        images: torch.Tensor,
        boxes: Boxes,
        labels: Boxes,
        budget: Budget,
        seed: int,
        lr: float | None = None,
        augment: BatchAugment | None = None,
    ) -> tuple[float, int]:
        """Train the detector ``model`` in place on ``images``' device, moving it there first.

        Args:
            model: a detector (``loss(images, boxes, labels)`` -> scalar tensor).
            images: (N, C, H, W) float32; boxes: N tensors (K_i, 4) xyxy pixels; labels: N
                tensors (K_i,) int64.
            budget: ``steps`` or ``epochs``; unset ones fall back to the trainer's.
            seed: fixes the batch order (and nothing else).
            lr: peak learning rate (None: ``lr``, then the optimizer's default).
            augment: transforms each training batch with its boxes and labels.

        Returns:
            The mean training loss of the last (possibly partial) epoch and the steps taken.

        Raises:
            TrialError: the loss became NaN or infinite.
        """
        dev = images.device
        model.to(dev)
        n = len(images)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        total = budget.steps or self.steps
        total = total or max(1, round((budget.epochs or self.epochs) * steps_per_epoch))
        warmup = min(WARMUP_STEPS, max(1, total // 10))
        opt = make_optimizer(self, model, lr, DEFAULT_SGD_LR, DEFAULT_ADAM_LR)

        def schedule(s: int) -> float:
            if s < warmup:
                return (s + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min(s, total) / total))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        gen = torch.Generator().manual_seed(seed)

        def epoch_losses(limit: int) -> Iterator[torch.Tensor]:
            order = torch.randperm(n, generator=gen)
            for i in range(0, min(n, limit * self.batch_size), self.batch_size):
                idx = order[i : i + self.batch_size]
                xb = images[idx.to(dev)]
                bb = [boxes[j] for j in idx.tolist()]
                lb = [labels[j] for j in idx.tolist()]
                if augment is not None:
                    xb, bb, lb = augment(xb, bb, lb)
                with torch.autocast(dev.type, torch.bfloat16, enabled=self.precision == "bf16"):
                    loss = model.loss(xb, bb, lb)  # type: ignore[operator]
                yield loss

        def clip() -> None:
            nn.utils.clip_grad_norm_(model.parameters(), self.clip_norm)

        model.train()
        return optimise(
            opt,
            sched,
            total,
            steps_per_epoch,
            epoch_losses,
            dev,
            clip if self.clip_norm > 0 else None,
        )

    @torch.no_grad()
    def detections(
        self, model: nn.Module, images: torch.Tensor, batch: int = 64
    ) -> list[dict[str, torch.Tensor]]:
        """The detector's ``detect`` on ``images`` (N, C, H, W), a batch at a time, on the
        CPU: per image a dict of boxes (D, 4), scores (D,), labels (D,)."""
        model.to(images.device).eval()
        found: list[dict[str, torch.Tensor]] = []
        for i in range(0, len(images), batch):
            for det in model.detect(  # type: ignore[operator]
                images[i : i + batch],
                score_threshold=self.score_threshold,
                max_detections=self.max_detections,
            ):
                found.append({k: v.detach().cpu() for k, v in det.items()})
        return found

    def average_precision(
        self, model: nn.Module, images: torch.Tensor, boxes: Boxes, labels: Boxes
    ) -> dict[str, float]:
        """COCO metrics (``nasbeyond.evaluate.coco.coco_ap``) of ``model`` on these images."""
        preds = self.detections(model, images)
        truth = [(b.cpu(), lab.cpu()) for b, lab in zip(boxes, labels, strict=True)]
        w, h = int(images.shape[3]), int(images.shape[2])
        return coco_ap(truth, preds, (w, h), num_classes=self.data().num_classes)

    # -- one trial ----------------------------------------------------------------------
    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        """Train ``arch``'s detector from scratch (or from its parent's weights) and score it.

        Returns:
            Result: reward = validation AP (COCO, IoU 0.50:0.95) in 0..1; metrics ``AP``,
            ``AP50``, ``AP75`` (validation), ``train_loss``, ``inherited_tensors``, ``steps``,
            ``epochs``, ``params``, ``macs`` and ``train_s``. A model over a hard constraint
            scores 0 without training.

        Raises:
            TrialError: the training loss became NaN or infinite.
        """
        start = time.perf_counter()
        torch.manual_seed(ctx.seed)
        task = self.task()
        model = self.build_model(arch, task)
        size = {"params": count_params(model), "macs": count_macs(model, task.input_shape)}
        broken = constraint_violation(size["params"], size["macs"], self.max_params, self.max_macs)
        if broken:
            return Result("ok", 0.0, {**size, "constraint": broken}, time.perf_counter() - start)
        s = self.splits()
        inherited = 0
        if ctx.parent is not None and ctx.run_dir:
            inherited, complete = inherit(model, weights_path(ctx.run_dir, ctx.parent))
            total, done = budget.epochs or self.epochs, ctx.parent_budget or 0.0
            if complete and total > done:  # a promotion trains only the epochs left
                budget = Budget(epochs=total - done)
        train_loss, steps = self.fit(
            model,
            s.images_train,
            s.boxes_train,
            s.labels_train,
            budget,
            ctx.seed,
            lr=genome_lr(arch),
            augment=self.augmenter(ctx.seed),
        )
        ap = self.average_precision(model, s.images_val, s.boxes_val, s.labels_val)
        if ctx.run_dir:
            save_weights(model, weights_path(ctx.run_dir, ctx.trial_id))
        metrics = {
            "AP": ap["AP"],
            "AP50": ap["AP50"],
            "AP75": ap["AP75"],
            "train_loss": train_loss,
            "inherited_tensors": inherited,
            "steps": steps,
            "epochs": round(steps / math.ceil(len(s.images_train) / self.batch_size), 4),
            **size,
            "train_s": time.perf_counter() - start,
        }
        return Result("ok", ap["AP"], metrics, metrics["train_s"])

    # -- final report -------------------------------------------------------------------
    def load_model(self, arch: Arch, weights: str | Path) -> nn.Module:
        model = self.build_model(arch, self.task())
        model.load_state_dict(load_weights(weights))
        return model.eval().to(self.torch_device())

    def retrain(self, arch: Arch, epochs: float, seed: int, out_dir: str | Path) -> Path:
        """Train ``arch`` afresh on all training images (train + validation) for ``epochs``;
        returns the path of the saved weights (``out_dir/final.pt``)."""
        torch.manual_seed(seed)
        d = self.data()
        dev = self.torch_device()
        model = self.build_model(arch, d.task)
        self.fit(
            model,
            d.images_train.to(dev),
            [b.to(dev) for b in d.boxes_train],
            [lab.to(dev) for lab in d.labels_train],
            Budget(epochs=epochs),
            seed,
            lr=genome_lr(arch),
            augment=self.augmenter(seed),
        )
        return save_weights(model, Path(out_dir) / "final.pt")

    def test_metrics(self, arch: Arch, weights: str | Path) -> dict[str, float]:
        """COCO metrics of a trained arch on the test split (the only place it is read)."""
        d = self.data()
        dev = self.torch_device()
        model = self.load_model(arch, weights)
        return self.average_precision(model, d.images_test.to(dev), d.boxes_test, d.labels_test)

    def test(self, arch: Arch, weights: str | Path) -> float:
        """Test AP (COCO, IoU 0.50:0.95) of a trained arch, in 0..1."""
        return self.test_metrics(arch, weights)["AP"]
