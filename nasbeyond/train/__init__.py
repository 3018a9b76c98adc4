"""Training from scratch: the default evaluator."""

from nasbeyond.train.trainer import Trainer, weights_path

__all__ = ["Trainer", "weights_path"]
