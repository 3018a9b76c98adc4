"""Training from scratch: the default evaluator, and the augmentation evaluator built on it."""

from nasbeyond.train.augment_trainer import CHILD_ARCH, AugmentTrainer
from nasbeyond.train.trainer import Trainer, save_weights, weights_path

__all__ = ["CHILD_ARCH", "AugmentTrainer", "Trainer", "save_weights", "weights_path"]
