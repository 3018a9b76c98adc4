"""The trainer: build -> fit on the training split -> score on the validation split.

It is the default evaluator. The validation split is carved once (fixed seed) from the training
data; the test split is touched only by ``Trainer.test`` for the final report.
"""

from __future__ import annotations

import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from nasbeyond._paths import is_file
from nasbeyond.arch import Arch
from nasbeyond.data import load_dataset, stratified_split
from nasbeyond.data._base import Dataset
from nasbeyond.data.stream import ImageStream
from nasbeyond.evaluate import count_macs, count_params, measure_latency
from nasbeyond.evaluate.measure import LATENCY_BACKENDS, require_cuda
from nasbeyond.exceptions import ConfigError, StoreError, TrialError
from nasbeyond.extras import require
from nasbeyond.registry import names, register
from nasbeyond.space import Space
from nasbeyond.trial import Budget, Context, Result, TaskShape

OPTIMIZERS = ("adam", "sgd")
# Peak learning rates when neither the trainer (``lr``) nor the arch (``hparams.lr``) sets one;
# both decay to zero on a cosine. SGD: the peak of ENAS's cosine schedule for the networks it
# trains (Pham et al., ICML 2018: Nesterov momentum, lr_max 0.05). AdamW: Adam's own default
# (Kingma & Ba, ICLR 2015), also torch's. Every seeded figure in README and bench/ was made
# with these two values: changing one changes them all.
DEFAULT_SGD_LR = 0.05
DEFAULT_ADAM_LR = 1e-3
PRECISIONS = ("fp32", "bf16")
# The training loss stays on the device; it is read (one host synchronisation) every this many
# steps and at the end of each epoch, where a NaN or infinite loss fails the trial.
FINITE_CHECK_EVERY = 50

Inputs = torch.Tensor | ImageStream  # a float32 tensor, or images streamed from disk


@dataclass(frozen=True)
class Splits:
    x_train: Inputs
    y_train: torch.Tensor
    x_val: Inputs
    y_val: torch.Tensor


@register("evaluator", "train")
@dataclass
class Trainer:
    """Trains each arch from scratch and returns its validation accuracy as the reward.

    Args:
        space: the space whose archs are built.
        dataset: a registered dataset name; ``data_dir`` and ``dataset_args`` go to its loader.
        epochs: default budget (may be fractional); a trial's Budget overrides it.
        steps: a step budget instead of epochs.
        optimizer: ``adam`` or ``sgd`` (with Nesterov momentum); cosine decay to zero.
        val_fraction: share of the training split held out for the reward.
        device: ``auto`` (the first CUDA GPU, else the CPU), ``cpu``, ``cuda``, ``cuda:N``,
            ``mps``: where the data is put; models follow their data.
        precision: ``fp32``, or ``bf16``: forward pass and loss under ``torch.autocast`` with
            bfloat16 (CUDA, or CPU; weights and optimizer state stay float32).
        channels_last: image models and batches in the channels-last memory format (NHWC),
            which cuDNN's and oneDNN's fastest convolutions use; ignored for non-image inputs.
    """

    space: Space
    dataset: str = "mnist5k"
    data_dir: str | None = None
    dataset_args: dict[str, Any] = field(default_factory=dict)
    epochs: float = 2.0
    steps: int | None = None
    batch_size: int = 32
    optimizer: str = "sgd"
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 1e-4
    val_fraction: float = 0.15
    device: str = "auto"
    measure_latency: bool = False
    max_params: float | None = None  # hard constraints, checked before training
    max_macs: float | None = None
    latency_backend: str = "torch"  # or onnxruntime (pip install nasbeyond[onnx])
    latency_predictor: str | None = None  # a `nasbeyond latency profile` file: predict instead
    augment: str | None = None  # training augmentation, e.g. randaugment:2,9 (see augment/)
    precision: str = "fp32"
    channels_last: bool = False

    def __post_init__(self) -> None:
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?|mps", str(self.device)):
            raise ConfigError(f"device is {self.device!r}; allowed: auto, cpu, cuda, cuda:N, mps")
        check_precision(self.precision, self.device)
        if not isinstance(self.channels_last, bool):
            raise ConfigError(f"channels_last is {self.channels_last!r}; allowed: true or false")
        if self.dataset not in names("dataset"):
            raise ConfigError(
                f"dataset: unknown dataset {self.dataset!r}; allowed: {', '.join(names('dataset'))}"
            )
        if self.latency_backend == "onnxruntime":  # fail here, not in every trial
            require("onnxruntime", "onnx", "latency_backend", "'onnxruntime'")
        if self.latency_backend == "cuda":
            require_cuda("latency_backend")
        if self.latency_predictor is not None and not is_file(self.latency_predictor):
            raise ConfigError(
                f"latency_predictor: {self.latency_predictor} is not a file; make one with "
                "`nasbeyond latency profile --space SPACE --output FILE`"
            )
        if self.latency_backend not in LATENCY_BACKENDS:
            raise ConfigError(
                f"latency_backend is {self.latency_backend!r}; allowed: "
                + ", ".join(LATENCY_BACKENDS)
            )
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer is {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
        checks = [
            ("epochs", self.epochs > 0),
            ("batch_size", self.batch_size >= 1),
            ("val_fraction", 0 < self.val_fraction < 1),
            ("lr", self.lr is None or self.lr > 0),
            ("steps", self.steps is None or self.steps >= 1),
        ]
        for name, ok in checks:
            if not ok:
                raise ConfigError(
                    f"{name} is {getattr(self, name)}; allowed: a positive number"
                    + (" below 1" if name == "val_fraction" else "")
                )

    def torch_device(self) -> torch.device:
        """``auto`` is the first CUDA GPU when there is one, else the CPU."""
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    # -- what a trial trains --------------------------------------------------------------
    def build_model(self, arch: Arch, task: TaskShape) -> nn.Module:
        """The network trained for ``arch``: the arch's own model."""
        return self.space.build(arch, task)

    def augmenter(self, arch: Arch, seed: int) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The batch transform used while training ``arch``: the ``augment`` setting's."""
        if not self.augment:
            return None
        from nasbeyond.augment.pipeline import batch_augmenter, parse_transform

        return batch_augmenter(parse_transform(self.augment, seed), self.data())

    # -- data ---------------------------------------------------------------------------
    def data(self) -> Dataset:
        return load_dataset(self.dataset, self.data_dir, **self.dataset_args)

    def task(self) -> TaskShape:
        return self.data().task

    def splits(self) -> Splits:
        d = self.data()
        train, val = stratified_split(d.y_train.numpy(), self.val_fraction, seed=0)
        t, v = torch.from_numpy(train), torch.from_numpy(val)
        dev = self.torch_device()
        return Splits(
            d.x_train[t].to(dev), d.y_train[t].to(dev), d.x_train[v].to(dev), d.y_train[v].to(dev)
        )

    # -- training -----------------------------------------------------------------------
    def fit(
        self,
        model: nn.Module,
        x: Inputs,
        y: torch.Tensor,
        budget: Budget,
        seed: int,
        lr: float | None = None,
        augment: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> tuple[float, int]:
        """Train ``model`` in place on ``x``'s device, moving it there first.

        The loss is summed on the device and read every ``FINITE_CHECK_EVERY`` steps and at the
        end of each epoch: no host synchronisation in between (the bare-loop speed on a GPU).

        Args:
            model: any module mapping a batch of ``x`` to ``(B, classes)`` logits; it may be on
                any device (a freshly built model is on the CPU).
            x: inputs, ``(N, ...)`` float32, or an ``ImageStream`` (images read from disk a
                batch at a time, standardised on its device); ``y``: class indices, ``(N,)``
                int64, moved to ``x``'s device if elsewhere.
            budget: ``steps`` or ``epochs`` (may be fractional); unset ones fall back to the
                trainer's ``steps``, then ``epochs``.
            seed: fixes the batch order.
            lr: peak learning rate; None: the trainer's ``lr``, then ``DEFAULT_SGD_LR`` or
                ``DEFAULT_ADAM_LR``.
            augment: transforms each training batch (on ``x``'s device).

        Returns:
            The mean training loss of the last (possibly partial) epoch and the number of
            optimizer steps taken.

        Raises:
            TrialError: the loss became NaN or infinite (the message names the steps between
                two checks where it happened).
        """
        dev = x.device
        # A model built on the CPU would otherwise meet data the trainer put on the GPU; moving
        # it before the optimizer is made keeps the optimizer's state beside the weights.
        model.to(dev)
        images = self.channels_last and len(x.shape) == 4
        if images:
            model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        y = y.to(dev)
        n = len(x)
        steps_per_epoch = max(1, math.ceil(n / self.batch_size))
        steps = budget.steps or self.steps
        total = steps or max(1, round((budget.epochs or self.epochs) * steps_per_epoch))
        opt = make_optimizer(self, model, lr)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
        )
        gen = torch.Generator().manual_seed(seed)
        loss_fn = nn.CrossEntropyLoss()

        def epoch_losses(limit: int) -> Iterator[torch.Tensor]:
            order = torch.randperm(n, generator=gen).to(dev)
            for i, xb in enumerate(_batches(x, order, self.batch_size, limit)):
                yb = y[order[i * self.batch_size : (i + 1) * self.batch_size]]
                if augment is not None:
                    xb = augment(xb)
                if images:
                    xb = xb.contiguous(memory_format=torch.channels_last)
                with self._autocast(dev):
                    loss = loss_fn(model(xb), yb)
                yield loss

        model.train()
        return optimise(opt, sched, total, steps_per_epoch, epoch_losses, dev)

    def _autocast(self, dev: torch.device) -> torch.autocast:
        """bfloat16 autocast on ``dev`` when ``precision`` is ``bf16``, else a no-op."""
        return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    @staticmethod
    @torch.no_grad()
    def accuracy(model: nn.Module, x: Inputs, y: torch.Tensor, batch: int = 500) -> float:
        """Share of ``x`` (``(N, ...)``, a tensor or an ``ImageStream``) whose argmax logit is
        ``y`` (``(N,)``), in 0..1; the model is moved to ``x``'s device and left in eval mode."""
        model.to(x.device).eval()
        y = y.to(x.device)
        order = torch.arange(len(x), device=x.device)
        correct = torch.zeros((), dtype=torch.int64, device=x.device)
        for i, xb in enumerate(_batches(x, order, batch)):
            correct += (model(xb).argmax(1) == y[i * batch : (i + 1) * batch]).sum()
        return int(correct) / max(1, len(x))

    # -- one trial, step by step --------------------------------------------------------
    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        """Train ``arch`` from scratch (or from its parent's weights) and score it.

        Returns:
            Result: reward = validation accuracy; metrics as ``_metrics`` lists them. An arch
            that breaks a hard constraint scores 0 without training.

        Raises:
            TrialError: the training loss became NaN or infinite.
        """
        start = time.perf_counter()
        torch.manual_seed(ctx.seed)  # fixes the initial weights (and dropout) of this trial
        task = self.task()
        model = self.build_model(arch, task)
        size = {"params": count_params(model), "macs": count_macs(model, task.input_shape)}
        broken = self._check_constraints(size)
        if broken:
            # Infeasible: reward 0 without training, so every strategy learns to avoid it.
            cost = time.perf_counter() - start
            return Result("ok", 0.0, {**size, "constraint": broken}, cost)
        s = self.splits()
        inherited, budget = self._inherit(model, budget, ctx)
        train_loss, steps = self.fit(
            model,
            s.x_train,
            s.y_train,
            budget,
            ctx.seed,
            lr=genome_lr(arch),
            augment=self.augmenter(arch, ctx.seed),
        )
        val_acc = self.accuracy(model, s.x_val, s.y_val)
        if ctx.run_dir:
            save_weights(model, weights_path(ctx.run_dir, ctx.trial_id))
        latency = self._latency(model, task)
        metrics = self._metrics(
            val_acc=val_acc,
            train_loss=train_loss,
            inherited=inherited,
            steps=steps,
            n_train=len(s.x_train),
            size=size,
            latency=latency,
            train_s=time.perf_counter() - start,
        )
        return Result("ok", val_acc, metrics, metrics["train_s"])

    def _check_constraints(self, size: dict[str, int]) -> str | None:
        """Which hard constraint (``max_params``, ``max_macs``) the model breaks, or None."""
        return constraint_violation(size["params"], size["macs"], self.max_params, self.max_macs)

    def _inherit(self, model: nn.Module, budget: Budget, ctx: Context) -> tuple[int, Budget]:
        """Start from the parent trial's saved weights where names and shapes match. Returns how
        many tensors were copied and the budget left to train: a promotion of the same model
        (successive halving) trains only the epochs its parent did not."""
        if ctx.parent is None or not ctx.run_dir:
            return 0, budget
        inherited, complete = inherit(model, weights_path(ctx.run_dir, ctx.parent))
        total = budget.epochs or self.epochs
        done = ctx.parent_budget or 0.0
        if complete and total > done:
            budget = Budget(epochs=total - done)
        return inherited, budget

    def _latency(self, model: nn.Module, task: TaskShape) -> dict[str, float | str]:
        """Latency metrics when ``measure_latency`` is set: milliseconds of a batch-1 forward
        pass on the CPU, predicted from a profile when ``latency_predictor`` names one, else
        measured (median and interquartile range)."""
        if not self.measure_latency:
            return {}
        if self.latency_predictor:
            from nasbeyond.evaluate.latency import LatencyPredictor

            predictor = LatencyPredictor.load(self.latency_predictor)
            return {
                "latency_ms": predictor.predict(model.cpu(), task.input_shape),
                "latency_source": "predicted",
            }
        lat, iqr = measure_latency(model, task.input_shape, backend=self.latency_backend)
        return {"latency_ms": lat, "latency_iqr_ms": iqr, "latency_source": "measured"}

    def _metrics(
        self,
        *,
        val_acc: float,
        train_loss: float,
        inherited: int,
        steps: int,
        n_train: int,
        size: dict[str, int],
        latency: dict[str, float | str],
        train_s: float,
    ) -> dict[str, Any]:
        """A trial's metrics, in the order the store and reports show them; ``epochs`` is the
        steps taken over the steps of one epoch of ``n_train`` examples, ``train_s`` the
        trial's wall-clock seconds."""
        return {
            "val_acc": val_acc,
            "train_loss": train_loss,
            "inherited_tensors": inherited,
            "steps": steps,
            "epochs": round(steps / math.ceil(n_train / self.batch_size), 4),
            **size,
            "train_s": train_s,
            **latency,
        }

    # -- final report -------------------------------------------------------------------
    def load_model(self, arch: Arch, weights: str | Path) -> nn.Module:
        model = self.build_model(arch, self.task())
        model.load_state_dict(load_weights(weights))
        return model.eval().to(self.torch_device())

    def retrain(self, arch: Arch, epochs: float, seed: int, out_dir: str | Path) -> Path:
        """Train ``arch`` afresh on the whole training split (train + validation) for ``epochs``;
        returns the path of the saved weights."""
        torch.manual_seed(seed)
        d = self.data()
        dev = self.torch_device()
        model = self.build_model(arch, d.task)
        self.fit(
            model,
            d.x_train.to(dev),
            d.y_train.to(dev),
            Budget(epochs=epochs),
            seed,
            lr=genome_lr(arch),
            augment=self.augmenter(arch, seed),
        )
        return save_weights(model, Path(out_dir) / "final.pt")

    def test(self, arch: Arch, weights: str | Path) -> float:
        """Test accuracy of a trained arch: the only place the test split is read."""
        d = self.data()
        dev = self.torch_device()
        return self.accuracy(self.load_model(arch, weights), d.x_test.to(dev), d.y_test.to(dev))


def _batches(
    x: Inputs, order: torch.Tensor, batch_size: int, limit: int | None = None
) -> Iterator[torch.Tensor]:
    """Batches of ``x`` in ``order`` (on ``x``'s device), at most ``limit`` of them: slices of
    an in-memory tensor, or standardised batches read by an ``ImageStream``."""
    stop = len(order) if limit is None else min(len(order), limit * batch_size)
    if isinstance(x, ImageStream):
        yield from x.batches(order[:stop], batch_size)
        return
    for i in range(0, stop, batch_size):
        yield x[order[i : i + batch_size]]


class OptimizerSettings(Protocol):
    """The trainer fields ``make_optimizer`` reads (``Trainer``, ``DetectionTrainer``)."""

    optimizer: str
    lr: float | None
    momentum: float
    weight_decay: float


def make_optimizer(
    settings: OptimizerSettings,
    model: nn.Module,
    lr: float | None = None,
    default_sgd_lr: float = DEFAULT_SGD_LR,
    default_adam_lr: float = DEFAULT_ADAM_LR,
) -> torch.optim.Optimizer:
    """``settings.optimizer`` over ``model``'s parameters: ``adam`` = AdamW, else SGD with
    Nesterov momentum. The learning rate is ``lr``, else ``settings.lr``, else the default of
    the chosen optimizer (a task's trainer passes its own: detection uses RetinaNet's 0.01)."""
    lr = lr or settings.lr
    if settings.optimizer == "adam":
        return torch.optim.AdamW(
            model.parameters(), lr=lr or default_adam_lr, weight_decay=settings.weight_decay
        )
    return torch.optim.SGD(
        model.parameters(),
        lr=lr or default_sgd_lr,
        momentum=settings.momentum,
        nesterov=True,
        weight_decay=settings.weight_decay,
    )


def optimise(
    opt: torch.optim.Optimizer,
    sched: torch.optim.lr_scheduler.LRScheduler,
    total: int,
    steps_per_epoch: int,
    epoch_losses: Callable[[int], Iterator[torch.Tensor]],
    device: torch.device,
    clip: Callable[[], object] | None = None,
) -> tuple[float, int]:
    """The training loop every trainer shares: ``total`` optimizer steps over epochs.

    Args:
        opt, sched: the optimizer and its per-step learning-rate schedule.
        total: optimizer steps to take; ``steps_per_epoch``: batches in one full epoch.
        epoch_losses: ``epoch_losses(limit)`` starts one epoch (a fresh batch order) and yields
            each batch's loss, a scalar float tensor on ``device`` whose graph reaches the
            model, computed lazily, at most ``limit`` of them.
        clip: called between backward and step (gradient clipping), if given.

    The losses are summed on ``device`` and read (one host synchronisation) every
    ``FINITE_CHECK_EVERY`` steps and at the end of each epoch.

    Returns:
        The mean loss of the last (possibly partial) epoch and ``total``.

    Raises:
        TrialError: the loss became NaN or infinite (naming the steps between two checks).
    """
    # Once a loss is NaN or infinite, so is the sum: finite at one check and not at the next
    # names the steps in between.
    epoch = torch.zeros((), device=device)
    first, taken, step = 0, 0, 0  # first step since the last check; steps taken this epoch
    while step < total:
        epoch.zero_()
        taken = 0
        for loss in epoch_losses(total - step):
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip is not None:
                clip()
            opt.step()
            sched.step()
            epoch += loss.detach().float()
            step, taken = step + 1, taken + 1
            if step - first >= FINITE_CHECK_EVERY or taken == steps_per_epoch:
                _check_finite(epoch, first, step)
                first = step
        _check_finite(epoch, first, step)  # a budget that ends mid-epoch
    return float(epoch) / max(1, taken), total


def _check_finite(total: torch.Tensor, first: int, step: int) -> None:
    """Raise if ``total``, the epoch's summed losses, finite when checked before step
    ``first``, is NaN or infinite after step ``step - 1`` (one host synchronisation: the only
    one of those steps)."""
    if step > first and not math.isfinite(value := float(total)):
        raise TrialError(
            f"training loss became {value} between steps {first} and {step - 1} "
            f"(checked every {FINITE_CHECK_EVERY} steps and at the end of each epoch)"
        )


def check_precision(precision: str, device: str) -> None:
    """``precision`` is fp32 or bf16, and bf16 runs on ``device``.

    Raises:
        ConfigError: another value; bf16 on mps, or on a CUDA GPU without bfloat16 (before
            Ampere)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"precision: {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision != "bf16":
        return
    if device == "mps":
        raise ConfigError("precision: bf16 autocast is not supported on mps; use fp32")
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda and torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        raise ConfigError(
            f"precision: bf16 but {torch.cuda.get_device_name()} has no bfloat16 support; use fp32"
        )


def constraint_violation(
    params: int, macs: int, max_params: float | None, max_macs: float | None
) -> str | None:
    """Which hard constraint a model breaks, as text, or None."""
    if max_params is not None and params > max_params:
        return f"params {params:,} > max_params {max_params:,.0f}"
    if max_macs is not None and macs > max_macs:
        return f"macs {macs:,} > max_macs {max_macs:,.0f}"
    return None


def save_weights(model: nn.Module, path: str | Path) -> Path:
    """Save ``model``'s state dict at ``path`` (parents created), atomically: written to a
    temporary file beside it, then renamed, so a worker killed mid-write never leaves half a
    file under the real name for a resumed run or a child trial to read. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    return path


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """A saved state dict, read with ``weights_only=True``: plain tensors only, never code."""
    try:
        state = torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise StoreError(f"weights: {path} does not exist") from None
    except Exception as e:  # UnpicklingError, RuntimeError: a foreign or tampered file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise StoreError(f"weights: refusing to load {path} ({first})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise StoreError(f"weights: {path} is not a state dict of tensors")
    return state


def genome_lr(arch: Arch) -> float | None:
    """The learning rate an arch carries in its genome (``{"hparams": {"lr": ..}}``), if any."""
    hp = arch.get("hparams")
    return float(hp["lr"]) if isinstance(hp, dict) and "lr" in hp else None


def inherit(model: nn.Module, path: str | Path) -> tuple[int, bool]:
    """Copy into ``model`` every tensor of the saved state whose name and shape match (weight
    inheritance, Real et al. 2017). Returns how many were copied and whether that was all of
    both sides (the same architecture)."""
    saved = load_weights(path)
    own = model.state_dict()
    match = {k: v for k, v in saved.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(match, strict=False)
    return len(match), len(match) == len(own) == len(saved)


def weights_path(run_dir: str | Path, trial_id: int) -> Path:
    return Path(run_dir) / "weights" / f"trial_{trial_id}.pt"
