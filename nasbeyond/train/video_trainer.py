"""The ``video-train`` evaluator: the trainer on clips, reporting what AssembleNet's search
learns besides accuracy, the weights of the connections (Ryoo et al. 2019).

It is ``Trainer`` unchanged (top-1 validation accuracy is the reward) with moving-digits as
its default dataset, and one addition: after training, the learned connection weights
``sigmoid(w)`` of every edge of the network go into the trial's metrics as ``connections``
(``{"b3<-s0": 0.62, ..., "out<-b7": 0.55}``), where ``Space.after_training`` (the
Lamarckian step of evolution) reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import nn

from nasbeyond.arch import Arch
from nasbeyond.registry import register
from nasbeyond.train.trainer import Trainer
from nasbeyond.trial import Budget, Context, Result, TaskShape


@register("evaluator", "video-train")
@dataclass
class VideoTrainer(Trainer):
    """``Trainer`` on video clips ``(S, T, H, W)``; see the module docstring.

    Metrics: the trainer's (``val_acc`` is top-1 accuracy on the validation split, 0..1), plus
    ``connections`` when the model has ``connection_weights()`` (an ``assemblenet`` network).
    """

    dataset: str = "moving-digits"
    _built: list[nn.Module] = field(default_factory=list, init=False, repr=False, compare=False)

    def build_model(self, arch: Arch, task: TaskShape) -> nn.Module:
        model = super().build_model(arch, task)
        self._built[:] = [model]  # the trial's model, read back after training
        return model

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        self._built.clear()
        result = super().__call__(arch, budget, ctx)
        model = self._built[0] if self._built else None
        self._built.clear()
        weights = getattr(model, "connection_weights", None)
        if result.status != "ok" or "constraint" in result.metrics or not callable(weights):
            return result
        metrics = {**result.metrics, "connections": weights()}
        return Result(result.status, result.reward, metrics, result.cost_s)
