"""The ``augment-train`` evaluator: the trainer scoring an augmentation candidate by training a
fixed child network with it on a stratified subset."""

from __future__ import annotations

import numpy as np
import torch

from nasbeyond.evaluate import count_params
from nasbeyond.registry import create, lookup
from nasbeyond.space import MacroCNNSpace, make_space
from nasbeyond.train import CHILD_ARCH, AugmentTrainer, Trainer
from nasbeyond.trial import Budget, Context


def test_registered_under_its_name_from_the_train_package():
    assert lookup("evaluator", "augment-train") is AugmentTrainer
    assert AugmentTrainer.__module__ == "nasbeyond.train.augment_trainer"


def test_trains_the_child_on_a_subset_with_the_candidate():
    space = make_space("randaugment")
    ev = create("evaluator", "augment-train", space=space, dataset="digits", subset=300)
    s = ev.splits()
    assert abs(len(s.x_train) - 300) <= 10  # stratified: rounded per class
    assert torch.equal(s.x_val, Trainer.splits(ev).x_val)  # the reward's split stays whole
    assert sorted(set(s.y_train.tolist())) == list(range(10))  # stratified: every class kept
    arch = space.sample(np.random.default_rng(0))
    r = ev(arch, Budget(steps=5), Context(1, 0))
    child = MacroCNNSpace().build(CHILD_ARCH, ev.task())
    assert r.status == "ok" and r.metrics["params"] == count_params(child)
    assert r.metrics["steps"] == 5 and 0 <= r.reward <= 1
    assert ev.augmenter(arch, 0) is not None
