"""ENAS (Pham et al., "Efficient Neural Architecture Search via Parameter Sharing", ICML 2018):
an LSTM controller samples paths of one supernet; the shared weights and the controller are
trained in alternation, and the final arch is the best of a few sampled paths.

Each epoch has two phases, as in the paper (sec. 2.2):

1. **Shared weights** ``w``: one pass over the training split; every minibatch trains the path
   the controller samples for it (SGD with Nesterov momentum, cosine learning rate, gradient
   norm clipped at 5).
2. **Controller** ``theta``: ``controller_steps`` samples; each path's reward is its accuracy
   on one validation minibatch with the current shared weights; REINFORCE with an
   exponential-moving-average baseline and an entropy bonus, Adam. The controller is the
   registered ``reinforce`` strategy (``nasbeyond.strategy._reinforce``), driven by ask/tell.

At the end ``final_samples`` paths are drawn from the trained policy and scored on the whole
validation split with inherited weights (BatchNorm recalibrated on training batches, as
``InheritedWeights`` does); the best is the arch ENAS returns, to be retrained from scratch.

Rewards during the search use BatchNorm in training mode (the minibatch's own statistics):
the running statistics of a supernet mix every path's, so they would score a path by others'.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from nasbeyond.arch import Arch, arch_key
from nasbeyond.exceptions import ConfigError
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
from nasbeyond.registry import create, register
from nasbeyond.trial import Budget, Context, Trial


class Policy(Protocol):
    """What ENAS needs of its controller: the ``reinforce`` strategy's ask / tell, ``sample``
    (a draw that proposes nothing) and its JSON state."""

    def ask(self) -> Arch | None: ...
    def tell(self, trial: Trial) -> None: ...
    def sample(self) -> Arch: ...
    def state_dict(self) -> dict[str, Any]: ...
    def load_state_dict(self, state: dict[str, Any]) -> None: ...


@register("oneshot", "enas")
class ENAS(OneShotMethod):
    """ENAS's alternating training of shared weights and an LSTM controller.

    Args:
        seed: fixes the controller's initial weights, its draws and the batch order.
        epochs: supernet epochs (each: one pass over the training split, then the controller).
        steps_per_epoch: at most this many minibatches per epoch (None: the whole split).
        batch_size: minibatch size of both phases.
        lr: peak SGD learning rate of the shared weights (cosine decay to zero over all
            epochs); ``momentum`` (Nesterov), ``weight_decay``; gradients clipped at norm 5.
        controller_steps: controller updates per epoch (one sampled path each; the paper runs
            2,000 per epoch for 310 epochs, far beyond two CPU cores).
        controller_lr: Adam's learning rate for the controller. The paper's 0.00035 barely
            moves a policy in a few hundred steps, hence the larger default here.
        hidden: LSTM width.
        entropy_weight: weight of the policy's entropy in the controller's loss (the paper's
            1e-4).
        baseline_decay: decay of the reward's moving-average baseline (the ENAS code's 0.99).
        tanh_constant: controller logits squashed to +-tanh_constant (the ENAS code's 2.5).
        final_samples: paths drawn from the trained policy and scored on the validation split.
        recalibrate: training batches that re-estimate BatchNorm statistics before each final
            score (0: keep the running statistics).
    """

    name = "enas"

    def __init__(
        self,
        seed: int = 0,
        epochs: int = 10,
        batch_size: int = 64,
        steps_per_epoch: int | None = None,
        lr: float = 0.05,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        controller_steps: int = 50,
        controller_lr: float = 0.005,
        hidden: int = 64,
        entropy_weight: float = 1e-4,
        baseline_decay: float = 0.99,
        tanh_constant: float = 2.5,
        final_samples: int = 10,
        recalibrate: int = 20,
    ) -> None:
        check_args(
            "enas",
            positive={
                "epochs": epochs,
                "batch_size": batch_size,
                "lr": lr,
                "controller_lr": controller_lr,
                "hidden": hidden,
                "final_samples": final_samples,
            },
            non_negative={"controller_steps": controller_steps, "recalibrate": recalibrate},
            steps_per_epoch=steps_per_epoch,
        )
        if not 0 <= baseline_decay < 1:
            raise ConfigError(
                f"strategy_args: enas: baseline_decay is {baseline_decay}; allowed: 0 <= x < 1"
            )
        super().__init__(seed)
        self.steps_per_epoch = steps_per_epoch
        self.epochs, self.batch_size = int(epochs), int(batch_size)
        self.lr, self.momentum, self.weight_decay = lr, momentum, weight_decay
        self.controller_steps, self.controller_lr, self.hidden = (
            int(controller_steps),
            controller_lr,
            int(hidden),
        )
        self.entropy_weight, self.baseline_decay = entropy_weight, baseline_decay
        self.tanh_constant = tanh_constant
        self.final_samples, self.recalibrate = int(final_samples), int(recalibrate)

    # -- parts --------------------------------------------------------------------------------
    def controller(self, supernet: Supernet) -> Policy:
        """A fresh ``reinforce`` strategy over the supernet's space (one update per reward)."""
        policy: Policy = create(
            "strategy",
            "reinforce",
            space=supernet.space,
            seed=self.seed,
            lr=self.controller_lr,
            hidden=self.hidden,
            batch_size=1,
            tanh_constant=self.tanh_constant,
            baseline_decay=self.baseline_decay,
            entropy_weight=self.entropy_weight,
        )
        return policy

    def _optimizer(
        self, supernet: Supernet, steps: int
    ) -> tuple[torch.optim.SGD, torch.optim.lr_scheduler.CosineAnnealingLR]:
        opt = torch.optim.SGD(
            supernet.weight_parameters(),
            lr=self.lr,
            momentum=self.momentum,
            nesterov=self.momentum > 0,
            weight_decay=self.weight_decay,
        )
        return opt, torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, steps))

    def train_weights(
        self,
        supernet: Supernet,
        policy: Policy,
        data: OneShotData,
        opt: torch.optim.Optimizer,
        sched: Any,
        epoch: int,
    ) -> dict[str, float]:
        """Phase 1: one epoch of the shared weights, one controller-sampled path per batch."""
        supernet.train()
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        total, correct, loss_sum, steps = 0, 0, 0.0, 0
        for step, (xb, yb) in enumerate(batches(data.x_train, data.y_train, self.batch_size, g)):
            if self.steps_per_epoch is not None and step >= self.steps_per_epoch:
                break
            arch = policy.sample()
            logits = supernet(xb, arch)
            loss = F.cross_entropy(logits, yb)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"enas: loss is {float(loss)} at epoch {epoch}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(supernet.weight_parameters(), 5.0)
            opt.step()
            sched.step()
            steps += 1
            loss_sum += float(loss.detach()) * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            total += len(yb)
        return {
            "train_loss": loss_sum / max(1, total),
            "train_acc": correct / max(1, total),
            "weight_steps": steps,
        }

    def train_controller(
        self, supernet: Supernet, policy: Policy, data: OneShotData, epoch: int, first_id: int
    ) -> dict[str, float]:
        """Phase 2: ``controller_steps`` REINFORCE updates; the reward of a sampled path is its
        accuracy on one validation minibatch (BatchNorm on batch statistics)."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch + 500_009)
        n_val = len(data.x_val)
        rewards = []
        supernet.train()
        with torch.no_grad():
            for k in range(self.controller_steps):
                arch = policy.ask()
                if arch is None:
                    break
                idx = torch.randint(n_val, (min(self.batch_size, n_val),), generator=g)
                idx = idx.to(data.device)
                pred = supernet(data.x_val[idx], arch).argmax(1)
                reward = float((pred == data.y_val[idx]).float().mean())
                with torch.enable_grad():
                    policy.tell(Trial(first_id + k, arch, "ok", reward))
                rewards.append(reward)
        return {
            "controller_steps": len(rewards),
            "reward_mean": float(np.mean(rewards)) if rewards else math.nan,
        }

    # -- the search ---------------------------------------------------------------------------
    def search(
        self,
        supernet: Supernet,
        data: OneShotData,
        checkpoint_dir: Path | None,
        log: SearchLog,
    ) -> Arch:
        """Alternate the two phases for ``epochs`` epochs (resuming after the last finished
        epoch saved in ``checkpoint_dir``), then return the best of ``final_samples`` paths
        drawn from the policy, by validation accuracy with inherited weights."""
        supernet.to(data.device)
        torch.manual_seed(self.seed)
        policy = self.controller(supernet)
        steps_per_epoch = epoch_steps(len(data.x_train), self.batch_size, self.steps_per_epoch)
        opt, sched = self._optimizer(supernet, self.epochs * steps_per_epoch)
        start = 0
        state = load_checkpoint(checkpoint_dir)
        if state is not None:
            supernet.load_state_dict(state["supernet"])
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            policy.load_state_dict(state["controller"])
            start = int(state["epoch"])
        for epoch in range(start + 1, self.epochs + 1):
            record: dict[str, Any] = {"epoch": epoch}
            record.update(self.train_weights(supernet, policy, data, opt, sched, epoch))
            first_id = (epoch - 1) * self.controller_steps
            record.update(self.train_controller(supernet, policy, data, epoch, first_id))
            log.epoch(record)
            save_checkpoint(
                checkpoint_dir,
                {
                    "epoch": epoch,
                    "supernet": supernet.state_dict(),
                    "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(),
                    "controller": policy.state_dict(),
                },
            )
        return self.select(supernet, policy, data, log)

    def select(self, supernet: Supernet, policy: Policy, data: OneShotData, log: SearchLog) -> Arch:
        """The best of ``final_samples`` distinct policy draws by inherited-weight validation
        accuracy (ties: the first drawn); each scored path is logged as a candidate."""
        score = InheritedWeights(supernet, data, self.recalibrate, self.batch_size)
        seen: set[str] = set()
        best: tuple[float, Arch] | None = None
        for k in range(self.final_samples * 5):  # distinct draws; a sharp policy repeats
            if len(seen) >= self.final_samples:
                break
            arch = policy.sample()
            if arch_key(arch) in seen:
                continue
            seen.add(arch_key(arch))
            t = time.perf_counter()
            result = score(arch, Budget(), Context(k, self.seed))
            acc = float(result.reward or 0.0)
            log.candidate(arch, acc, time.perf_counter() - t, val_acc=acc, method="enas")
            if best is None or acc > best[0]:
                best = (acc, arch)
        assert best is not None  # final_samples >= 1 and the first draw is always new
        return best[1]
