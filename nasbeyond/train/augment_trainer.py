"""The ``augment-train`` evaluator: scores an augmentation candidate by training a fixed child
network with it (the proxy task of AutoAugment, Cubuk et al., CVPR 2019). It is the trainer
with three hooks overridden: the model trained (the child, whatever the arch), the batch
transform (the arch's own), and the training split (a stratified subset)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from nasbeyond.arch import Arch
from nasbeyond.augment.pipeline import Transform, batch_augmenter
from nasbeyond.augment.transforms import TransformModule
from nasbeyond.data import stratified_split
from nasbeyond.registry import register
from nasbeyond.space import Space, make_space
from nasbeyond.train.trainer import Splits, Trainer
from nasbeyond.trial import TaskShape

# A small fixed child network of the proxy task: three conv layers, two of them downsampling.
CHILD_ARCH: dict[str, Any] = {
    "layers": [
        {"kh": 3, "kw": 3, "filters": 36, "stride": 1, "skips": []},
        {"kh": 3, "kw": 3, "filters": 48, "stride": 2, "skips": []},
        {"kh": 3, "kw": 3, "filters": 64, "stride": 2, "skips": []},
    ]
}


@register("evaluator", "augment-train")
@dataclass
class AugmentTrainer(Trainer):
    """Scores an augmentation candidate (an arch of the ``augment-policy`` or ``randaugment``
    space) by training a fixed child model with it on a reduced training set (the proxy task of
    AutoAugment) and returning the validation accuracy.

    Args (beyond the trainer's):
        child_space: the space of the child model; ``child_arch`` its arch (JSON);
            default a 3-layer CNN of the macro space.
        subset: training examples used per trial (stratified; 0 = all).
    """

    child_space: str = "macro-cnn"
    child_arch: dict[str, Any] | None = None
    subset: int = 4000

    def _child(self) -> tuple[Space, Arch]:
        space = make_space(self.child_space, {})
        return space, space.validate(self.child_arch or CHILD_ARCH)

    def build_model(self, arch: Arch, task: TaskShape) -> torch.nn.Module:
        space, child = self._child()
        return space.build(child, task)

    def augmenter(self, arch: Arch, seed: int) -> Transform | None:
        transform = self.space.build(arch, self.task())
        if isinstance(transform, TransformModule):
            transform.reseed(seed)
        return batch_augmenter(transform, self.data())

    def splits(self) -> Splits:
        s = super().splits()
        if not self.subset or self.subset >= len(s.y_train):
            return s
        _, keep = stratified_split(s.y_train.cpu().numpy(), self.subset / len(s.y_train), seed=0)
        idx = torch.from_numpy(np.sort(keep)).to(s.x_train.device)
        return Splits(s.x_train[idx], s.y_train[idx], s.x_val, s.y_val)
