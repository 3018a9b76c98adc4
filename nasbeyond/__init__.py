"""nasbeyond: one search loop for neural architectures, augmentation policies and pipelines."""

__version__ = "0.1.0"
