"""NAS-Bench-201 benchmark mode: look results up instead of training, and charge the training
time the benchmark measured, as the paper's non-weight-sharing protocol does.

Fidelities: 12 epochs (the search signal, ``cifar10_valid_acc_12ep``; cost 12 x train s/epoch +
one validation pass) and 200 epochs (``cifar10valid_valid_acc_200ep``; cost 200 x train s/epoch
+ a pass). A trial promoted from 12 to 200 epochs pays only the 188 further epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

from nasbeyond.arch import Arch
from nasbeyond.benchdata import latency_devices, load_table
from nasbeyond.exceptions import ConfigError
from nasbeyond.registry import register
from nasbeyond.space.nb201 import to_arch_str
from nasbeyond.trial import Budget, Context, Result

DATASETS = ("cifar10", "cifar100", "imagenet16")
FIDELITIES = (12, 200)


@register("evaluator", "nb201-table")
@dataclass
class NB201TableEvaluator:
    """Reward: the searched dataset's 12-epoch validation accuracy (0..1), or the 200-epoch one
    (cifar10 only) when the trial's budget is 200 epochs. Metrics carry every dataset's 200-epoch
    test accuracy (%) for reporting; ``cost_s`` is the training time the benchmark measured
    (charged, not spent).

    Args:
        dataset: the dataset whose validation accuracy is the search signal.
        latency_device: one of the 27 devices of ``nb201_latency_ms.csv`` (e.g. pixel3,
            raspi4, titan_rtx_1); its latency is reported as the ``latency_ms`` metric.
    """

    dataset: str = "cifar10"
    latency_device: str | None = None

    def __post_init__(self) -> None:
        if self.latency_device is not None:
            devices = latency_devices()
            if self.latency_device not in devices:
                raise ConfigError(
                    f"latency_device: {self.latency_device!r}; allowed: {', '.join(devices)}"
                )
        if self.dataset not in DATASETS:
            raise ConfigError(
                f"dataset: nb201-table knows {', '.join(DATASETS)}; got {self.dataset!r}"
            )

    def __call__(self, arch: Arch, budget: Budget, ctx: Context) -> Result:
        t = load_table()
        i = t.index[to_arch_str(arch)]
        epochs = budget.epochs or 12
        if epochs not in FIDELITIES:
            raise ConfigError(f"epochs: nb201-table has fidelities 12 and 200, got {epochs:g}")
        if epochs == 200 and self.dataset != "cifar10":
            raise ConfigError("epochs: the 200-epoch validation signal exists for cifar10 only")
        already = ctx.parent_budget or 0.0
        train_s = float(t.cols["cifar10valid_train_s_per_epoch"][i])
        cost = (epochs - already) * train_s + float(t.cols["cifar10valid_valid_s_per_pass"][i])
        signal = (
            "cifar10valid_valid_acc_200ep" if epochs == 200 else f"{self.dataset}_valid_acc_12ep"
        )
        reward = float(t.cols[signal][i]) / 100
        metrics = {"val_acc": reward, "epochs": epochs, "nb201_index": i}
        for d in DATASETS:
            metrics[f"{d}_test_acc_200ep"] = float(t.cols[f"{d}_test_acc_200ep"][i])
        if self.latency_device is not None:
            metrics["latency_ms"] = float(t.cols[f"latency_ms_{self.latency_device}"][i])
        return Result("ok", reward, metrics, cost)

    def test(self, arch: Arch, weights: object = None) -> float:
        """The 200-epoch test accuracy (0..1) the benchmark reports for ``arch``."""
        t = load_table()
        return float(t.cols[f"{self.dataset}_test_acc_200ep"][t.index[to_arch_str(arch)]]) / 100
