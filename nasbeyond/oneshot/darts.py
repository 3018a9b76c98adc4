"""DARTS (Liu, Simonyan & Yang, "DARTS: Differentiable Architecture Search", ICLR 2019) with a
guard against its collapse into parameter-free ops.

Every edge of the supernet is a softmax-weighted mix of its ops; weights ``w`` (SGD, momentum,
cosine decay) and architecture parameters ``alpha`` (Adam) alternate, one step each per
minibatch: alpha descends the validation loss, w the training loss. ``order=1`` takes
``grad_alpha L_val(w, alpha)``; ``order=2`` the unrolled gradient of the paper's eq. 7,
``grad_alpha L_val(w', alpha) - xi * grad2_{alpha,w} L_train(w, alpha) grad_w' L_val(w', alpha)``
with ``w' = w - xi grad_w L_train(w, alpha)`` and the Hessian-vector product by central finite
differences (eq. 8: ``eps = 0.01 / ||grad_w' L_val||``). At the end the discrete arch is derived
from alpha (``Supernet.derive``).

Unguarded DARTS collapses: on NAS-Bench-201 its cell becomes all ``skip_connect`` (Dong & Yang,
ICLR 2020: 54.30 % CIFAR-10 test). Guards (``guard=``):

- ``darts-``: DARTS-'s auxiliary skip connection (Chu et al., "DARTS-: Robustly
  Stepping out of Performance Collapse Without Indicators", ICLR 2021): every stride-1 edge adds
  ``beta * x`` outside its mix, ``beta`` decaying linearly from ``beta0`` (1) to 0 over the
  epochs. The residual path no longer has to come from the ``skip_connect`` op, so skip stops
  winning for its optimisation advantage alone.
- ``es`` (the default: in ``bench/weight_sharing_nb201.py`` it derived the best NB201 cells of
  the three, see README): early stopping on the count of parameter-free ops (DARTS+, Liang et
  al. 2019; the indicator of DARTS-ES, Zela et al., ICLR 2020): when the derived arch has more than
  ``max_skip_or_none`` ``skip_connect`` / ``none`` edges (NB201: of 6; DARTS: in the normal
  cell), the search stops and returns the arch derived one epoch earlier.
- ``none``: the original method.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.exceptions import ConfigError
from nasbeyond.oneshot.base import (
    OneShotData,
    OneShotMethod,
    SearchLog,
    Supernet,
    batches,
    check_args,
    load_checkpoint,
    path_accuracy,
    recalibrate_bn,
    save_checkpoint,
)
from nasbeyond.registry import register

GUARDS = ("darts-", "es", "none")
EPOCH_CHECK = 512  # validation images the per-epoch relaxed accuracy is measured on


def _filled(grads: Any, params: list[nn.Parameter]) -> list[torch.Tensor]:
    """Gradients with zeros where a parameter did not take part."""
    return [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, params, strict=True)]


def skip_or_none(supernet: Supernet, arch: Arch) -> int:
    """The collapse count of ``arch`` (the supernet's own rule; 0 if it has none)."""
    count = getattr(supernet, "skip_or_none", None)
    return int(count(arch)) if callable(count) else 0


@register("oneshot", "darts")
class DARTS(OneShotMethod):
    """Differentiable architecture search on a cell supernet (``nb201`` or ``darts`` space).

    Args:
        seed: fixes the architecture parameters' initialisation and the batch order.
        epochs: supernet epochs.
        order: 1 (first-order approximation) or 2 (unrolled, finite-difference Hessian).
        guard: ``es`` (early stop, default), ``darts-`` (auxiliary skip) or ``none``.
        beta0: the auxiliary skip's starting coefficient (``darts-``).
        max_skip_or_none: the ``es`` threshold (parameter-free edges allowed).
        batch_size: minibatch of both the weight and the architecture step.
        steps_per_epoch: weight steps per epoch; unset: one pass over the training split.
        w_lr, w_lr_min, w_momentum, w_weight_decay, grad_clip: the weights' SGD (the paper's
            0.025 -> 0.001 cosine, momentum 0.9, weight decay 3e-4, gradient norm 5).
        a_lr, a_weight_decay: the architecture parameters' Adam (3e-4, betas (0.5, 0.999),
            weight decay 1e-3).
    """

    name = "darts"

    def __init__(
        self,
        seed: int = 0,
        epochs: int = 10,
        order: int = 1,
        guard: str = "es",
        beta0: float = 1.0,
        max_skip_or_none: int = 2,
        batch_size: int = 64,
        steps_per_epoch: int | None = None,
        w_lr: float = 0.025,
        w_lr_min: float = 0.001,
        w_momentum: float = 0.9,
        w_weight_decay: float = 3e-4,
        grad_clip: float = 5.0,
        a_lr: float = 3e-4,
        a_weight_decay: float = 1e-3,
    ) -> None:
        super().__init__(seed)
        if order not in (1, 2):
            raise ConfigError(f"strategy_args: darts: order={order!r}; allowed: 1 or 2")
        if guard not in GUARDS:
            raise ConfigError(
                f"strategy_args: darts: guard={guard!r}; allowed: {', '.join(GUARDS)}"
            )
        check_args(
            "darts",
            positive={"epochs": epochs, "batch_size": batch_size, "w_lr": w_lr, "a_lr": a_lr},
            non_negative={"beta0": beta0},
            steps_per_epoch=steps_per_epoch,
        )
        self.epochs = epochs
        self.order = order
        self.guard = guard
        self.beta0 = beta0
        self.max_skip_or_none = max_skip_or_none
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.w_lr = w_lr
        self.w_lr_min = w_lr_min
        self.w_momentum = w_momentum
        self.w_weight_decay = w_weight_decay
        self.grad_clip = grad_clip
        self.a_lr = a_lr
        self.a_weight_decay = a_weight_decay

    # -- the two optimizers ---------------------------------------------------------------
    def optimizers(
        self, supernet: Supernet
    ) -> tuple[torch.optim.SGD, torch.optim.Adam, torch.optim.lr_scheduler.CosineAnnealingLR]:
        if not supernet.arch_parameters():
            raise ConfigError(
                f"strategy: darts needs a supernet with architecture parameters; "
                f"{supernet.space.name!r} has none (use a cell space: nb201 or darts)"
            )
        w_opt = torch.optim.SGD(
            supernet.weight_parameters(),
            self.w_lr,
            momentum=self.w_momentum,
            weight_decay=self.w_weight_decay,
        )
        a_opt = torch.optim.Adam(
            supernet.arch_parameters(),
            self.a_lr,
            betas=(0.5, 0.999),
            weight_decay=self.a_weight_decay,
        )
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, self.epochs, self.w_lr_min)
        return w_opt, a_opt, sched

    def beta(self, epoch: int) -> float:
        """The auxiliary skip coefficient during 0-based ``epoch``: linear decay to 0."""
        if self.guard != "darts-":
            return 0.0
        return self.beta0 * (1.0 - epoch / self.epochs)

    # -- one step ----------------------------------------------------------------------------
    def arch_step(
        self,
        supernet: Supernet,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        xi: float,
        a_opt: torch.optim.Optimizer,
    ) -> None:
        """One Adam step of the architecture parameters (first or second order)."""
        alphas = supernet.arch_parameters()
        a_opt.zero_grad()
        if self.order == 1:
            F.cross_entropy(supernet(val[0]), val[1]).backward(inputs=alphas)
        else:
            grads = self.unrolled_grad(supernet, train, val, xi)
            for a, g in zip(alphas, grads, strict=True):
                a.grad = g
        a_opt.step()

    def unrolled_grad(
        self,
        supernet: Supernet,
        train: tuple[torch.Tensor, torch.Tensor],
        val: tuple[torch.Tensor, torch.Tensor],
        xi: float,
    ) -> list[torch.Tensor]:
        """DARTS eq. 7-8: the alpha gradient through one virtual SGD step of size ``xi``, the
        Hessian-vector product by central differences. Weights are restored afterwards."""
        weights = supernet.weight_parameters()
        alphas = supernet.arch_parameters()
        saved = [w.detach().clone() for w in weights]
        g_train = torch.autograd.grad(
            F.cross_entropy(supernet(train[0]), train[1]), weights, allow_unused=True
        )
        with torch.no_grad():  # w' = w - xi * (grad + weight decay), as the reference code
            for w, g in zip(weights, g_train, strict=True):
                if g is not None:
                    w.sub_(xi * (g + self.w_weight_decay * w))
        val_loss = F.cross_entropy(supernet(val[0]), val[1])
        grads = torch.autograd.grad(val_loss, alphas + weights, allow_unused=True)
        d_alpha = [
            g if g is not None else torch.zeros_like(a) for g, a in zip(grads, alphas, strict=False)
        ]
        d_w = [
            g if g is not None else torch.zeros_like(w)
            for g, w in zip(grads[len(alphas) :], weights, strict=True)
        ]
        norm = torch.sqrt(sum((g * g).sum() for g in d_w))  # type: ignore[arg-type]
        eps = 0.01 / max(float(norm), 1e-12)

        def alpha_grad_at(sign: float) -> list[torch.Tensor]:
            with torch.no_grad():
                for w, w0, g in zip(weights, saved, d_w, strict=True):
                    w.copy_(w0 + sign * eps * g)
            loss = F.cross_entropy(supernet(train[0]), train[1])
            gs = torch.autograd.grad(loss, alphas, allow_unused=True)
            return [
                g if g is not None else torch.zeros_like(a) for g, a in zip(gs, alphas, strict=True)
            ]

        plus = alpha_grad_at(1.0)
        minus = alpha_grad_at(-1.0)
        with torch.no_grad():
            for w, w0 in zip(weights, saved, strict=True):
                w.copy_(w0)
        return [
            da - xi * (p - m) / (2 * eps) for da, p, m in zip(d_alpha, plus, minus, strict=True)
        ]

    def weight_step(
        self,
        supernet: Supernet,
        train: tuple[torch.Tensor, torch.Tensor],
        w_opt: torch.optim.Optimizer,
    ) -> float:
        w_opt.zero_grad()
        loss = F.cross_entropy(supernet(train[0]), train[1])
        weights = supernet.weight_parameters()
        loss.backward(inputs=weights)
        nn.utils.clip_grad_norm_(weights, self.grad_clip)
        w_opt.step()
        return loss.item()

    # -- the search --------------------------------------------------------------------------
    def search(
        self,
        supernet: Supernet,
        data: OneShotData,
        checkpoint_dir: Path | None,
        log: SearchLog,
    ) -> Arch:
        w_opt, a_opt, sched = self.optimizers(supernet)
        start_epoch, history = 0, [supernet.derive()]
        state = load_checkpoint(checkpoint_dir)
        if state is not None:
            supernet.load_state_dict(state["supernet"])
            w_opt.load_state_dict(state["w_opt"])
            a_opt.load_state_dict(state["a_opt"])
            sched.load_state_dict(state["sched"])
            start_epoch, history = int(state["epoch"]), list(state["history"])
            if state.get("stopped"):
                return dict(history[-2] if len(history) > 1 else history[-1])
        for epoch in range(start_epoch, self.epochs):
            gen = torch.Generator().manual_seed(self.seed * 1000 + epoch)
            val_gen = torch.Generator().manual_seed(self.seed * 1000 + epoch + 500_000)
            supernet.aux_skip = self.beta(epoch)
            xi = float(w_opt.param_groups[0]["lr"])
            losses: list[float] = []
            val_iter = batches(data.x_val, data.y_val, self.batch_size, val_gen)
            supernet.train()
            limit = self.steps_per_epoch or math.ceil(len(data.x_train) / self.batch_size)
            while len(losses) < limit:
                for xb, yb in batches(data.x_train, data.y_train, self.batch_size, gen):
                    if len(losses) >= limit:
                        break
                    try:
                        vb = next(val_iter)
                    except StopIteration:
                        val_iter = batches(data.x_val, data.y_val, self.batch_size, val_gen)
                        vb = next(val_iter)
                    self.arch_step(supernet, (xb, yb), vb, xi, a_opt)
                    losses.append(self.weight_step(supernet, (xb, yb), w_opt))
            sched.step()
            x_check, y_check = data.x_val[:EPOCH_CHECK], data.y_val[:EPOCH_CHECK]
            arch = supernet.derive()
            history.append(arch)
            count = skip_or_none(supernet, arch)
            stopped = self.guard == "es" and count > self.max_skip_or_none
            record = {
                "epoch": epoch + 1,
                "train_loss": sum(losses) / len(losses),
                "relaxed_val_acc": path_accuracy(supernet, None, x_check, y_check),
                "arch": arch,
                "skip_or_none": count,
                "aux_skip": self.beta(epoch),
                "alphas": {k: a.detach().tolist() for k, a in supernet.alphas.items()},
            }
            save_checkpoint(
                checkpoint_dir,
                {
                    "epoch": epoch + 1,
                    "supernet": supernet.state_dict(),
                    "w_opt": w_opt.state_dict(),
                    "a_opt": a_opt.state_dict(),
                    "sched": sched.state_dict(),
                    "history": history,
                    "stopped": stopped,
                },
            )
            log.epoch(record)
            if stopped:
                return dict(history[-2])
        final = history[-1]
        t0 = time.perf_counter()
        recalibrate_bn(supernet, final, data.x_train, self.batch_size, 10)
        score = path_accuracy(supernet, final, data.x_val, data.y_val)
        log.candidate(final, score, time.perf_counter() - t0, derived=True)
        return dict(final)

    def describe(self) -> dict[str, Any]:
        return {"order": self.order, "guard": self.guard, "epochs": self.epochs}
