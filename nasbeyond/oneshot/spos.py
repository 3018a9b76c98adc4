"""SPOS (Guo et al., "Single Path One-Shot Neural Architecture Search with Uniform Sampling",
ECCV 2020): train the supernet one uniformly sampled path per minibatch, then search its
subnets with an ordinary strategy, scoring each with the weights it inherits.

1. **Supernet training**: every minibatch trains one path drawn uniformly
   (``supernet.sample_path``); SGD with Nesterov momentum, cosine learning rate. Sampling
   uniformly keeps the shared weights from favouring any path (the paper's sec. 3.2).
2. **Search**: any registered strategy (default ``evolution``, aging evolution — the paper
   uses its own genetic algorithm) runs on the one loop (``log.loop``, resumable, every
   candidate in the run's store); a candidate's reward is its validation accuracy with the
   supernet's weights after its BatchNorm statistics are recalibrated on ``recalibrate``
   training batches (the paper's sec. 3.3: shared running statistics do not fit any one path).
   The best candidate is the arch SPOS returns, to be retrained from scratch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nasbeyond.arch import Arch
from nasbeyond.exceptions import TrialError
from nasbeyond.oneshot.base import (
    InheritedWeights,
    OneShotData,
    OneShotMethod,
    SearchLog,
    Supernet,
    batches,
    check_args,
    epoch_steps,
    load_checkpoint,
    save_checkpoint,
)
from nasbeyond.registry import create, lookup, parameters, register


@register("oneshot", "spos")
class SPOS(OneShotMethod):
    """Single-path one-shot: uniform path sampling, then a strategy over inherited weights.

    Args:
        seed: fixes the sampled paths, the batch order and the strategy.
        epochs: supernet training epochs (passes over the training split).
        steps_per_epoch: at most this many minibatches per epoch (None: the whole split).
        batch_size: minibatch size of training and of BatchNorm recalibration.
        lr: peak SGD learning rate (cosine decay to zero); ``momentum`` (Nesterov),
            ``weight_decay`` (the paper's 4e-5).
        strategy: the registered strategy that searches the trained supernet (any that asks
            and tells; ``evolution`` by default).
        trials: candidates the strategy evaluates (each: one recalibration and one pass over
            the validation split, no training).
        population_size, sample_size: given to the strategy when it takes them (aging
            evolution's P and S).
        recalibrate: training batches that re-estimate BatchNorm statistics before each
            candidate's score (0: keep the running statistics).

    Raises:
        ConfigError: a non-positive count or rate, or an unknown strategy.
    """

    name = "spos"

    def __init__(
        self,
        seed: int = 0,
        epochs: int = 10,
        batch_size: int = 64,
        steps_per_epoch: int | None = None,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 4e-5,
        strategy: str = "evolution",
        trials: int = 50,
        population_size: int = 10,
        sample_size: int = 3,
        recalibrate: int = 20,
    ) -> None:
        check_args(
            "spos",
            positive={
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "trials": trials,
                "population_size": population_size,
                "sample_size": sample_size,
            },
            non_negative={"recalibrate": recalibrate},
            steps_per_epoch=steps_per_epoch,
        )
        lookup("strategy", strategy)  # an unknown name fails here, naming the allowed ones
        super().__init__(seed)
        self.steps_per_epoch = steps_per_epoch
        self.epochs, self.batch_size = int(epochs), int(batch_size)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.strategy, self.trials = strategy, int(trials)
        self.population_size, self.sample_size = int(population_size), int(sample_size)
        self.recalibrate = int(recalibrate)

    def make_strategy(self, supernet: Supernet) -> Any:
        """The search strategy over the supernet's space, seeded with ``seed``."""
        takes = parameters("strategy", self.strategy)
        given = {"population_size": self.population_size, "sample_size": self.sample_size}
        extra = {k: v for k, v in given.items() if k in takes}
        return create("strategy", self.strategy, space=supernet.space, seed=self.seed, **extra)

    def train_epoch(
        self,
        supernet: Supernet,
        data: OneShotData,
        opt: torch.optim.Optimizer,
        sched: Any,
        rng: np.random.Generator,
        epoch: int,
    ) -> dict[str, float]:
        """One pass over the training split, one uniformly drawn path per minibatch."""
        supernet.train()
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        total, correct, loss_sum = 0, 0, 0.0
        for step, (xb, yb) in enumerate(batches(data.x_train, data.y_train, self.batch_size, g)):
            if self.steps_per_epoch is not None and step >= self.steps_per_epoch:
                break
            logits = supernet(xb, supernet.sample_path(rng))
            loss = F.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"spos: loss is {float(loss)} at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            total += len(yb)
        return {"train_loss": loss_sum / max(1, total), "train_acc": correct / max(1, total)}

    def search(
        self,
        supernet: Supernet,
        data: OneShotData,
        checkpoint_dir: Path | None,
        log: SearchLog,
    ) -> Arch:
        """Train the supernet (resuming after the last epoch saved in ``checkpoint_dir``), then
        run ``strategy`` for ``trials`` candidates on the one loop and return the best arch.

        Raises:
            TrialError: no candidate was scored (every trial failed).
        """
        supernet.to(data.device)
        rng = np.random.default_rng(self.seed)
        steps = self.epochs * epoch_steps(len(data.x_train), self.batch_size, self.steps_per_epoch)
        opt = torch.optim.SGD(
            supernet.weight_parameters(),
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.momentum > 0,
            weight_decay=self.weight_decay,
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))
        start = 0
        state = load_checkpoint(checkpoint_dir)
        if state is not None:
            supernet.load_state_dict(state["supernet"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            rng.bit_generator.state = state["rng"]
            start = int(state["epoch"])
        for epoch in range(start + 1, self.epochs + 1):
            record: dict[str, Any] = {"epoch": epoch}
            record.update(self.train_epoch(supernet, data, opt, sched, rng, epoch))
            log.epoch(record)
            save_checkpoint(
                checkpoint_dir,
                {
                    "epoch": epoch,
                    "supernet": supernet.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "rng": rng.bit_generator.state,
                },
            )
        evaluator = InheritedWeights(supernet, data, self.recalibrate, self.batch_size)
        best = log.loop(self.make_strategy(supernet), evaluator, self.trials)
        if best is None:
            raise TrialError("spos: no candidate was scored; every trial failed")
        return best.arch
