"""Weight-sharing search (ENAS, DARTS, SPOS): supernets built from the Spaces and the one-shot
methods that train them. The interface is in ``base``; see its docstring."""

from nasbeyond.oneshot.base import (
    SUPERNET_MODULES,
    SUPERNETS,
    InheritedWeights,
    MemoryLog,
    OneShotData,
    OneShotMethod,
    SearchLog,
    Supernet,
    batches,
    load_checkpoint,
    make_supernet,
    path_accuracy,
    recalibrate_bn,
    register_supernet,
    require_supernet,
    save_checkpoint,
)

__all__ = [
    "SUPERNETS",
    "SUPERNET_MODULES",
    "InheritedWeights",
    "MemoryLog",
    "OneShotData",
    "OneShotMethod",
    "SearchLog",
    "Supernet",
    "batches",
    "load_checkpoint",
    "make_supernet",
    "path_accuracy",
    "recalibrate_bn",
    "register_supernet",
    "require_supernet",
    "save_checkpoint",
]
